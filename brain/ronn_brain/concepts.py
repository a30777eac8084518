"""A concept graph: labels or clusters as nodes, co-occurrence and similarity as weighted edges."""

from __future__ import annotations

import heapq
import threading
from typing import Iterable

import numpy as np


class ConceptGraph:
    """Concepts with centroids; ``edge weight = cooccurrence share + similarity``.

    Episodes with a label become concept ``"label:N"``; unlabelled ones join the nearest cluster
    concept within ``cluster_radius`` (or found a new ``"cluster:K"``). Episodes less than
    ``window_s`` apart co-occur. Similarity edges link each concept to its ``neighbors`` most
    similar concepts, ``exp(-distance / median distance)``.
    """

    def __init__(self, *, window_s: float = 5.0, cluster_radius: float = 1.0, neighbors: int = 3):
        self.window_s = window_s
        self.cluster_radius = cluster_radius
        self.neighbors = neighbors
        self._lock = threading.RLock()
        self.centroids: dict[str, np.ndarray] = {}
        self.counts: dict[str, int] = {}
        self.cooccur: dict[tuple[str, str], float] = {}
        self.similar: dict[tuple[str, str], float] = {}
        self._clusters = 0
        self._last: tuple[float, str] | None = None

    # -- building -----------------------------------------------------------------------------

    def add_episodes(self, episodes: Iterable) -> list[str]:
        """Fold episodes (oldest first) into the graph; returns the concept of each."""
        names = []
        with self._lock:
            for ep in sorted(episodes, key=lambda e: e.time):
                name = self._concept_for(ep.label, ep.embedding)
                vec = np.asarray(ep.embedding, dtype=np.float64)
                n = self.counts.get(name, 0)
                weight = 1 + ep.hits
                c = self.centroids.get(name)
                self.centroids[name] = vec if c is None else c + (vec - c) * weight / (n + weight)
                self.counts[name] = n + weight
                if self._last is not None and abs(ep.time - self._last[0]) <= self.window_s \
                        and self._last[1] != name:
                    key = tuple(sorted((name, self._last[1])))
                    self.cooccur[key] = self.cooccur.get(key, 0.0) + 1.0
                self._last = (ep.time, name)
                names.append(name)
            self._similarity()
        return names

    def _concept_for(self, label: int, embedding) -> str:
        if label >= 0:
            return f"label:{label}"
        clusters = [k for k in self.centroids if k.startswith("cluster:")]
        if clusters:
            d = [float(np.linalg.norm(self.centroids[k] - embedding)) for k in clusters]
            best = int(np.argmin(d))
            if d[best] <= self.cluster_radius:
                return clusters[best]
        self._clusters += 1
        return f"cluster:{self._clusters - 1}"

    def _similarity(self) -> None:
        names = sorted(self.centroids)
        self.similar = {}
        if len(names) < 2:
            return
        c = np.stack([self.centroids[k] for k in names])
        d = np.sqrt(((c[:, None, :] - c[None, :, :]) ** 2).sum(-1))
        scale = float(np.median(d[np.triu_indices(len(names), 1)])) or 1.0
        for i, a in enumerate(names):
            order = [j for j in np.argsort(d[i]) if j != i][: self.neighbors]
            for j in order:
                key = tuple(sorted((a, names[j])))
                self.similar[key] = float(np.exp(-d[i, j] / scale))

    # -- querying -----------------------------------------------------------------------------

    def weights(self) -> dict[str, dict[str, float]]:
        """Adjacency: ``{a: {b: weight}}``; co-occurrence counts are normalised by the largest."""
        with self._lock:
            top = max(self.cooccur.values(), default=1.0)
            adj: dict[str, dict[str, float]] = {k: {} for k in self.centroids}
            for (a, b), w in self.cooccur.items():
                adj[a][b] = adj[a].get(b, 0.0) + w / top
                adj[b][a] = adj[b].get(a, 0.0) + w / top
            for (a, b), w in self.similar.items():
                adj[a][b] = adj[a].get(b, 0.0) + w
                adj[b][a] = adj[b].get(a, 0.0) + w
        return adj

    def related(self, concept: str, hops: int = 2) -> dict[str, float]:
        """Concepts reachable in at most ``hops`` steps, scored by the strongest path
        (product of edge weights normalised per node), strongest first."""
        adj = self._normalised()
        if concept not in adj:
            return {}
        best = {concept: 1.0}
        heap = [(-1.0, 0, concept)]
        while heap:
            neg, depth, node = heapq.heappop(heap)
            if -neg < best.get(node, 0.0) or depth == hops:
                continue
            for nxt, w in adj[node].items():
                s = -neg * w
                if s > best.get(nxt, 0.0):
                    best[nxt] = s
                    heapq.heappush(heap, (-s, depth + 1, nxt))
        best.pop(concept)
        return dict(sorted(best.items(), key=lambda kv: -kv[1]))

    def path(self, start: str, goal: str, hops: int = 4) -> list[str] | None:
        """The strongest path from ``start`` to ``goal`` within ``hops`` steps."""
        adj = self._normalised()
        if start not in adj or goal not in adj:
            return None
        best = {start: (1.0, [start])}
        frontier = [start]
        for _ in range(hops):
            nxt_frontier = []
            for node in frontier:
                score, route = best[node]
                for nxt, w in adj[node].items():
                    if nxt in route:
                        continue
                    if score * w > best.get(nxt, (0.0, None))[0]:
                        best[nxt] = (score * w, route + [nxt])
                        nxt_frontier.append(nxt)
            frontier = nxt_frontier
        return best.get(goal, (0.0, None))[1]

    def activate(self, seeds: dict[str, float], *, decay: float = 0.5, steps: int = 3,
                 floor: float = 1e-3) -> dict[str, float]:
        """Spreading activation: each step every node passes ``decay`` x its activation to its
        neighbours in proportion to edge weight. Returns activations above ``floor``."""
        adj = self._normalised()
        act = {k: float(v) for k, v in seeds.items() if k in adj}
        for _ in range(steps):
            new = dict(act)
            for node, a in act.items():
                for nxt, w in adj[node].items():
                    new[nxt] = new.get(nxt, 0.0) + decay * a * w
            act = new
        return dict(sorted(((k, v) for k, v in act.items() if v >= floor),
                           key=lambda kv: -kv[1]))

    def _normalised(self) -> dict[str, dict[str, float]]:
        adj = self.weights()
        out = {}
        for a, nbrs in adj.items():
            total = sum(nbrs.values()) or 1.0
            out[a] = {b: w / total for b, w in nbrs.items()}
        return out

    def __len__(self) -> int:
        with self._lock:
            return len(self.centroids)

    # -- persistence --------------------------------------------------------------------------

    def to_json(self) -> dict:
        with self._lock:
            return {"centroids": {k: v.tolist() for k, v in self.centroids.items()},
                    "counts": self.counts, "clusters": self._clusters,
                    "cooccur": [[a, b, w] for (a, b), w in self.cooccur.items()]}

    def load_json(self, data: dict) -> None:
        with self._lock:
            self.centroids = {k: np.array(v) for k, v in data["centroids"].items()}
            self.counts = {k: int(v) for k, v in data["counts"].items()}
            self._clusters = int(data["clusters"])
            self.cooccur = {(a, b): float(w) for a, b, w in data["cooccur"]}
            self._similarity()
