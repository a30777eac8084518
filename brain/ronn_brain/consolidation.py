"""Consolidation: a background job that scores, merges, promotes and forgets episodes."""

from __future__ import annotations

import math
import threading
import time
from typing import Any

import numpy as np

from ronn_brain.options import Options
from ronn_core.errors import ConfigValueError
from ronn_core.modules import SessionModule


class ConsolidationModule(SessionModule):
    """``[modules.consolidation]``: "sleep" for the episodic store, on its own thread.

    Each cycle scores every episode (recency, frequency = hits, novelty = distance to its
    nearest other episode), merges near-duplicates (same label, closer than
    ``merge_distance``), promotes episodes hit at least ``promote_hits`` times (or labelled
    through ``learn``) to semantic memory, and forgets the lowest-scoring episodes beyond
    ``budget``. A cycle runs every ``interval_s`` seconds and after every ``every_runs`` runs;
    ``run()`` only counts and signals, so it never waits for a cycle.
    """

    name = "consolidation"

    def __init__(self, session, config):
        super().__init__(session, config)
        self.opts = Options(self.name, session, config, {
            "interval_s": ((float,), 5.0), "every_runs": ((int,), 0),
            "budget": ((int,), 10_000), "merge_distance": ((float,), 0.0),
            "promote_hits": ((int,), 1), "half_life_s": ((float,), 3600.0),
            "w_recency": ((float,), 1.0), "w_frequency": ((float,), 1.0),
            "w_novelty": ((float,), 1.0), "background": ((bool,), True)})
        self.opts.positive("interval_s", allow_zero=True)
        self.opts.positive("every_runs", allow_zero=True)
        self.opts.positive("budget")
        self.opts.positive("half_life_s")
        self.stats: dict[str, Any] = {"cycles": 0, "merged": 0, "promoted": 0, "forgotten": 0,
                                      "last_cycle_ms": 0.0, "errors": 0, "last_error": ""}
        self._runs = 0
        self._cycle_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = None
        if self.opts.background:
            self._thread = threading.Thread(target=self._loop, name="ronn-brain-consolidation",
                                            daemon=True)
            self._thread.start()

    # -- the session hook ---------------------------------------------------------------------

    def run(self, feeds, call_next):
        outputs = call_next(feeds)
        if self.opts.every_runs:
            self._runs += 1
            if self._runs % self.opts.every_runs == 0:
                self._wake.set()
        return outputs

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        for name in ("episodic", "semantic"):
            module = self._peer(name)
            if module is not None:
                module.close()

    # -- the job ------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.opts.interval_s or None)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.consolidate()
            except Exception as exc:           # keep the job alive; report it in stats
                self.stats["errors"] += 1
                self.stats["last_error"] = f"{type(exc).__name__}: {exc}"

    def consolidate(self) -> dict[str, int]:
        """One cycle, now, on the calling thread. Returns what it changed."""
        episodic = self._peer("episodic")
        if episodic is None:
            raise ConfigValueError("modules.consolidation needs the episodic module enabled on "
                                   "the same session ([modules.episodic])")
        with self._cycle_lock:
            start = time.perf_counter()
            store = episodic.store
            episodes = store.snapshot()
            scores = self.score(episodes, store)
            merged = self._merge(episodes, scores, store)
            promoted = self._promote(store)
            forgotten = self._forget(store, scores)
            self.stats["cycles"] += 1
            self.stats["merged"] += merged
            self.stats["promoted"] += promoted
            self.stats["forgotten"] += forgotten
            self.stats["last_cycle_ms"] = (time.perf_counter() - start) * 1e3
        return {"merged": merged, "promoted": promoted, "forgotten": forgotten}

    def score(self, episodes, store) -> dict[int, float]:
        """Episode id -> value: w_recency*recency + w_frequency*frequency + w_novelty*novelty."""
        if not episodes:
            return {}
        o = self.opts
        now = time.time()
        hits = np.array([e.hits for e in episodes], dtype=np.float64)
        recency = 2.0 ** (-(now - np.array([e.last_used for e in episodes])) / o.half_life_s)
        frequency = np.log1p(hits) / math.log1p(max(hits.max(), 1.0))
        near = store.nearest(np.stack([e.embedding for e in episodes]), 4)
        dist = np.array([next((d for i, d in row if i != e.id), np.inf)
                         for e, row in zip(episodes, near)])
        finite = dist[np.isfinite(dist)]
        scale = float(np.median(finite)) if finite.size and np.median(finite) > 0 else 1.0
        novelty = np.minimum(np.where(np.isfinite(dist), dist, scale * 2) / (2 * scale), 1.0)
        total = o.w_recency * recency + o.w_frequency * frequency + o.w_novelty * novelty
        self._nearest = {e.id: row for e, row in zip(episodes, near)}
        return {e.id: float(s) for e, s in zip(episodes, total)}

    def _merge(self, episodes, scores, store) -> int:
        limit = self.opts.merge_distance
        if limit <= 0:
            return 0
        merged = 0
        gone: set[int] = set()
        for ep in sorted(episodes, key=lambda e: -scores[e.id]):
            if ep.id in gone:
                continue
            for other, dist in self._nearest.get(ep.id, []):
                if other == ep.id or other in gone or dist > limit:
                    continue
                twin = store.get(other)
                if twin is not None and twin.label == ep.label and \
                        scores.get(other, 0.0) <= scores[ep.id] and store.merge(ep.id, other):
                    gone.add(other)
                    merged += 1
        return merged

    def _promote(self, store) -> int:
        semantic = self._peer("semantic")
        if semantic is None:
            return 0
        ready = [e for e in store.snapshot() if not e.promoted and
                 (e.hits >= self.opts.promote_hits or e.meta.get("taught"))]
        if ready:
            semantic.promote(ready)
            store.mark_promoted([e.id for e in ready])
        return len(ready)

    def _forget(self, store, scores) -> int:
        excess = len(store) - self.opts.budget
        if excess <= 0:
            return 0
        alive = [e.id for e in store.snapshot()]
        ranked = sorted(alive, key=lambda i: scores.get(i, float("inf")))
        return store.remove(ranked[:excess])

    def _peer(self, name: str):
        try:
            return self.session.module(name)
        except (ConfigValueError, AttributeError):
            return None
