"""Episodic memory as a semantic cache: near (or identical) requests get the stored answer."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ronn_brain.embedding import Embedder
from ronn_brain.episodes import METRICS, EpisodeStore
from ronn_brain.options import Options, save_at_exit
from ronn_brain.rows import batch_rows, merge_rows, row_digests, run_rows
from ronn_core.errors import ConfigValueError
from ronn_core.modules import SessionModule


class EpisodicModule(SessionModule):
    """``[modules.episodic]``: every answered request becomes an episode (embedding -> outputs).

    A request whose digest matches a stored episode gets that episode's outputs back,
    bit-identical; one within ``threshold`` (embedding distance) of its nearest episode gets
    that episode's outputs (a near hit), and its digest becomes an alias of that episode, so
    its exact repeats return the same answer. Batched requests are handled row by row.
    """

    name = "episodic"

    def __init__(self, session, config):
        super().__init__(session, config)
        self.opts = Options(self.name, session, config, {
            "embedding_model": ((str,), None), "embedding_output": ((str,), None),
            "metric": ((str,), "l2"), "threshold": ((float,), 0.0), "cache": ((bool,), True),
            "per_row": ((bool,), True), "label_output": ((str,), None),
            "capacity": ((int,), 100_000), "hnsw_connectivity": ((int,), 16),
            "hnsw_expansion_add": ((int,), 40), "hnsw_expansion_search": ((int,), 32)})
        if self.opts.metric not in METRICS:
            raise ConfigValueError(f"modules.episodic.metric = {self.opts.metric!r} is not "
                                   f"allowed; expected one of {sorted(METRICS)}")
        self.opts.positive("threshold", allow_zero=True)
        for key in ("capacity", "hnsw_connectivity", "hnsw_expansion_add",
                    "hnsw_expansion_search"):
            self.opts.positive(key)
        outputs = [o.name for o in session.outputs]
        if self.opts.label_output is not None and self.opts.label_output not in outputs:
            raise ConfigValueError(f"modules.episodic.label_output = {self.opts.label_output!r} "
                                   f"is not an output of the model; its outputs are {outputs}")
        self.label_output = self.opts.label_output or outputs[0]
        self.embedder = Embedder(session, self.opts.existing_file("embedding_model"),
                                 self.opts.embedding_output, self.name)
        hnsw = {"connectivity": self.opts.hnsw_connectivity,
                "expansion_add": self.opts.hnsw_expansion_add,
                "expansion_search": self.opts.hnsw_expansion_search}
        loaded = EpisodeStore.load(self.opts.state, self.opts.metric, **hnsw) \
            if self.opts.state else None
        self.store = loaded or EpisodeStore(metric=self.opts.metric, **hnsw)
        self._stats_lock = threading.Lock()
        self.counts = {"rows": 0, "exact_hits": 0, "near_hits": 0, "misses": 0}
        if self.opts.state is not None:
            save_at_exit(self.save)

    # -- the session hook ---------------------------------------------------------------------

    def run(self, feeds, call_next):
        n = batch_rows(self.session, feeds) if self.opts.per_row else None
        rows = 1 if n is None else n
        digests = row_digests(feeds, n)
        found: dict[int, dict[str, np.ndarray]] = {}
        exact = near = 0
        known = [self.store.by_digest(d) for d in digests] if self.opts.cache else [None] * rows
        # embeddings only when some row is not an exact repeat (misses are stored with theirs)
        vectors = None if all(known) else self.embedder.embed(feeds, n)
        if self.opts.cache:
            nearest = self.store.nearest(vectors, 1) if self.opts.threshold > 0 and \
                vectors is not None else None
            for i, digest in enumerate(digests):
                ep = known[i]
                if ep is not None:
                    exact += 1
                elif nearest is not None and nearest[i] and \
                        nearest[i][0][1] <= self.opts.threshold:
                    ep = self.store.get(nearest[i][0][0])
                    if ep is not None:
                        near += 1
                        self.store.alias(digest, ep.id)
                if ep is not None:
                    self.store.hit(ep.id)
                    found[i] = ep.outputs
        missing = [i for i in range(rows) if i not in found]
        with self._stats_lock:
            self.counts["rows"] += rows
            self.counts["exact_hits"] += exact
            self.counts["near_hits"] += near
            self.counts["misses"] += len(missing)
        if n is None:
            if found:
                return {k: v.copy() for k, v in found[0].items()}
            outputs = call_next(feeds)
            self._store(vectors[0], digests[0], outputs)
            return outputs
        if not missing:
            return merge_rows(n, [(np.array([i]), {k: v[None] for k, v in found[i].items()})
                                  for i in found])
        if len(missing) == n:
            computed = call_next(feeds)
        else:
            computed = run_rows(call_next, feeds, np.array(missing), n)
        for j, i in enumerate(missing):
            self._store(vectors[i], digests[i], {k: np.array(v[j]) for k, v in
                                                 computed.items()})
        if not found:
            return computed
        parts = [(np.array(missing), computed)]
        parts += [(np.array([i]), {k: v[None] for k, v in found[i].items()}) for i in found]
        return merge_rows(n, parts)

    def learn(self, feeds, label):
        """Attach ground-truth labels to these requests' episodes (semantic memory uses them)."""
        n = batch_rows(self.session, feeds) if self.opts.per_row else None
        labels = np.broadcast_to(np.asarray(label), (1 if n is None else n,))
        updated = 0
        for digest, lab in zip(row_digests(feeds, n), labels):
            ep = self.store.by_digest(digest)
            if ep is not None:
                ep.label = int(lab)
                ep.meta["taught"] = True
                updated += 1
        return {"labelled": updated}

    def close(self) -> None:
        self.save()

    # -- for other modules --------------------------------------------------------------------

    def novelty(self, feeds: dict[str, Any], rows: int | None) -> np.ndarray:
        """Distance from each request row to its nearest episode (inf with no episodes)."""
        near = self.store.nearest(self.embedder.embed(feeds, rows), 1)
        return np.array([r[0][1] if r else np.inf for r in near])

    def stats(self) -> dict[str, Any]:
        with self._stats_lock:
            c = dict(self.counts)
        hits = c["exact_hits"] + c["near_hits"]
        return {**c, "hit_rate": hits / c["rows"] if c["rows"] else 0.0,
                "episodes": len(self.store)}

    def save(self) -> None:
        if self.opts.state is not None:
            self.store.save(self.opts.state)

    # -- internals ----------------------------------------------------------------------------

    def _store(self, vector: np.ndarray, digest: str, outputs: dict[str, Any]) -> None:
        outputs = {k: np.array(v) for k, v in outputs.items() if isinstance(v, np.ndarray)}
        if any(o.name not in outputs for o in self.session.outputs):
            return          # a run for some outputs only: it could not answer a full request
        value = outputs.get(self.label_output)
        label = int(np.argmax(value)) if value is not None and value.dtype.kind == "f" \
            and value.size > 1 else -1
        self.store.add(vector, outputs, digest=digest, label=label)
        excess = len(self.store) - self.opts.capacity
        if excess > 0:               # evict in chunks: removal rebuilds the digest map
            excess = max(excess, self.opts.capacity // 20)
            oldest = sorted(self.store.snapshot(), key=lambda e: (e.last_used, e.id))[:excess]
            self.store.remove([e.id for e in oldest])
