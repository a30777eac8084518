"""The episode store: (embedding -> outputs, time, metadata) with HNSW search (usearch)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from usearch.index import Index, Matches

from ronn_brain.options import StateDir

METRICS = {"l2": "l2sq", "cos": "cos"}


@dataclass
class Episode:
    id: int
    embedding: np.ndarray
    outputs: dict[str, np.ndarray]
    time: float
    digest: str = ""
    label: int = -1
    hits: int = 0
    last_used: float = 0.0
    promoted: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


class EpisodeStore:
    """Thread-safe episodes with approximate nearest-neighbour search and time-range queries.

    Distances are Euclidean (``metric="l2"``) or cosine distance (``"cos"``). Every method
    holds the store's lock only for its own bookkeeping, never while a model runs.
    """

    def __init__(self, dim: int | None = None, metric: str = "l2", *, connectivity: int = 16,
                 expansion_add: int = 40, expansion_search: int = 32):
        self.metric = metric
        self.dim = dim
        self.hnsw = {"connectivity": connectivity, "expansion_add": expansion_add,
                     "expansion_search": expansion_search}
        self._lock = threading.RLock()
        self._episodes: dict[int, Episode] = {}
        self._by_digest: dict[str, int] = {}
        self._next = 0
        self._index: Index | None = None
        self.version = 0          # bumped on every change (consolidation snapshots)

    # -- writing ------------------------------------------------------------------------------

    def add(self, embedding: np.ndarray, outputs: dict[str, np.ndarray], *, digest: str = "",
            label: int = -1, meta: dict | None = None, t: float | None = None) -> int:
        vec = np.ascontiguousarray(embedding, dtype=np.float32).reshape(-1)
        with self._lock:
            self._ensure_index(vec.shape[0])
            eid = self._next
            self._next += 1
            now = time.time() if t is None else t
            self._episodes[eid] = Episode(eid, vec, outputs, now, digest, int(label), 0, now,
                                          False, dict(meta or {}))
            if digest:
                self._by_digest[digest] = eid
            self._index.add(np.array([eid], dtype=np.uint64), vec[None, :])
            self.version += 1
            return eid

    def hit(self, eid: int) -> None:
        with self._lock:
            ep = self._episodes.get(eid)
            if ep is not None:
                ep.hits += 1
                ep.last_used = time.time()

    def remove(self, ids) -> int:
        removed = 0
        with self._lock:
            for eid in ids:
                ep = self._episodes.pop(int(eid), None)
                if ep is None:
                    continue
                self._index.remove(int(eid))
                removed += 1
            if removed:
                self._by_digest = {d: i for d, i in self._by_digest.items()
                                   if i in self._episodes}
            if removed:
                self.version += 1
        return removed

    def alias(self, digest: str, eid: int) -> None:
        """Make ``digest`` (a request answered from episode ``eid``) an exact repeat of it."""
        with self._lock:
            if digest and eid in self._episodes:
                self._by_digest[digest] = eid

    def merge(self, keep: int, drop: int) -> bool:
        """Fold ``drop`` into ``keep`` (hits add up). ``drop``'s exact repeats keep hitting only
        if the two outputs are identical, so an exact repeat always gets its own answer back."""
        with self._lock:
            a, b = self._episodes.get(keep), self._episodes.get(drop)
            if a is None or b is None or keep == drop:
                return False
            a.hits += b.hits + 1
            a.last_used = max(a.last_used, b.last_used)
            same = a.outputs.keys() == b.outputs.keys() and all(
                np.array_equal(a.outputs[k], b.outputs[k]) for k in a.outputs)
            moved = [d for d, i in self._by_digest.items() if i == drop] if same else []
            self.remove([drop])
            for d in moved:
                self._by_digest[d] = keep
            return True

    def mark_promoted(self, ids) -> None:
        with self._lock:
            for eid in ids:
                if eid in self._episodes:
                    self._episodes[eid].promoted = True

    # -- reading ------------------------------------------------------------------------------

    def by_digest(self, digest: str) -> Episode | None:
        with self._lock:
            eid = self._by_digest.get(digest)
            return None if eid is None else self._episodes.get(eid)

    def get(self, eid: int) -> Episode | None:
        with self._lock:
            return self._episodes.get(eid)

    def nearest(self, vectors: np.ndarray, k: int = 1) -> list[list[tuple[int, float]]]:
        """For each row of ``vectors``: up to ``k`` ``(episode id, distance)``, nearest first."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(vectors), -1)
        with self._lock:
            if self._index is None or not self._episodes:
                return [[] for _ in range(len(vectors))]
            found = self._index.search(vectors, min(k, len(self._episodes)))
        if isinstance(found, Matches):
            keys, dists, counts = found.keys[None, :], found.distances[None, :], [len(found.keys)]
        else:
            keys, dists, counts = found.keys, found.distances, found.counts
        out = []
        for row in range(len(vectors)):
            c = int(counts[row])
            d = dists[row][:c].astype(np.float64)
            if self.metric == "l2":
                d = np.sqrt(np.maximum(d, 0.0))
            out.append([(int(keys[row][j]), float(d[j])) for j in range(c)])
        return out

    def search(self, vector: np.ndarray, k: int = 5, *, since: float | None = None,
               until: float | None = None) -> list[tuple[Episode, float]]:
        """The ``k`` nearest episodes created within ``[since, until]``."""
        with self._lock:
            size = len(self._episodes)
        fetch = k
        while True:
            found = self.nearest(np.asarray(vector)[None, :], min(fetch, max(size, 1)))[0]
            with self._lock:
                hits = [(self._episodes[i], d) for i, d in found if i in self._episodes
                        and (since is None or self._episodes[i].time >= since)
                        and (until is None or self._episodes[i].time <= until)]
            if len(hits) >= k or fetch >= size:
                return hits[:k]
            fetch *= 4

    def between(self, since: float | None = None, until: float | None = None) -> list[Episode]:
        """Episodes created within ``[since, until]``, oldest first."""
        with self._lock:
            eps = [e for e in self._episodes.values() if (since is None or e.time >= since)
                   and (until is None or e.time <= until)]
        return sorted(eps, key=lambda e: (e.time, e.id))

    def snapshot(self) -> list[Episode]:
        with self._lock:
            return list(self._episodes.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._episodes)

    def _ensure_index(self, dim: int) -> None:
        if self._index is None:
            self.dim = self.dim or dim
            self._index = Index(ndim=self.dim, metric=METRICS[self.metric], dtype="f32",
                                **self.hnsw)
        if dim != self.dim:
            from ronn_core.errors import ConfigValueError
            raise ConfigValueError(f"episode embedding has {dim} dimensions; this store holds "
                                   f"{self.dim}-dimensional embeddings")

    # -- persistence --------------------------------------------------------------------------

    def save(self, state: StateDir) -> None:
        with self._lock:
            eps = sorted(self._episodes.values(), key=lambda e: e.id)
            by_digest = dict(self._by_digest)
            nxt = self._next
        arrays: dict[str, np.ndarray] = {
            "ids": np.array([e.id for e in eps], dtype=np.int64),
            "embeddings": (np.stack([e.embedding for e in eps]) if eps
                           else np.zeros((0, self.dim or 0), np.float32)),
            "times": np.array([e.time for e in eps]), "labels": np.array([e.label for e in eps]),
            "hits": np.array([e.hits for e in eps]), "last": np.array([e.last_used for e in eps]),
            "promoted": np.array([e.promoted for e in eps], dtype=bool)}
        names = sorted({k for e in eps for k in e.outputs})
        for name in names:
            for e in eps:
                if name in e.outputs:
                    arrays[f"out/{name}/{e.id}"] = e.outputs[name]
        state.save_arrays(arrays)
        state.save_json({"metric": self.metric, "dim": self.dim, "next": nxt,
                         "digests": {d: i for d, i in by_digest.items()},
                         "own_digest": {str(e.id): e.digest for e in eps},
                         "meta": {str(e.id): e.meta for e in eps}})

    @classmethod
    def load(cls, state: StateDir, metric: str, **hnsw) -> "EpisodeStore | None":
        info, arrays = state.load_json(), state.load_arrays()
        if info is None or arrays is None:
            return None
        store = cls(info["dim"], metric, **hnsw)
        outputs: dict[int, dict[str, np.ndarray]] = {}
        for key, value in arrays.items():
            if key.startswith("out/"):
                name, eid = key[len("out/"):].rsplit("/", 1)
                outputs.setdefault(int(eid), {})[name] = value
        for n, eid in enumerate(arrays["ids"]):
            eid = int(eid)
            ep = Episode(eid, arrays["embeddings"][n], outputs.get(eid, {}),
                         float(arrays["times"][n]), info["own_digest"].get(str(eid), ""),
                         int(arrays["labels"][n]), int(arrays["hits"][n]),
                         float(arrays["last"][n]), bool(arrays["promoted"][n]),
                         info["meta"].get(str(eid), {}))
            store._episodes[eid] = ep
        if store._episodes:
            store._ensure_index(arrays["embeddings"].shape[1])
            store._index.add(arrays["ids"].astype(np.uint64),
                             np.ascontiguousarray(arrays["embeddings"], dtype=np.float32))
        store._by_digest = {d: int(i) for d, i in info["digests"].items()
                            if int(i) in store._episodes}
        store._next = int(info["next"])
        return store
