"""Working memory: a bounded buffer of recent requests and results, scored by importance."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ronn_brain.options import Options, save_at_exit
from ronn_brain.rows import confidence, probabilities, row_digests
from ronn_core.modules import SessionModule


@dataclass
class Item:
    """One remembered request: its digest, inputs, outputs, and how much it matters."""

    key: str
    feeds: dict[str, np.ndarray]
    outputs: dict[str, np.ndarray]
    first_seen: float
    last_seen: float
    count: int = 1
    importance: float = 0.5
    notes: dict[str, Any] = field(default_factory=dict)


class WorkingMemoryModule(SessionModule):
    """``[modules.working]``: remembers the last ``capacity`` distinct requests.

    Score = w_recency * 2^(-age / half_life_s) + w_frequency * log(1+count)/log(1+max count)
    + w_importance * importance. Importance defaults to the answer's uncertainty (normalised
    entropy of the first output read as class probabilities); other modules set it with
    ``mark(key, importance)``. When full, the lowest-scoring item is evicted.
    """

    name = "working"

    def __init__(self, session, config):
        super().__init__(session, config)
        self.opts = Options(self.name, session, config, {
            "capacity": ((int,), 256), "half_life_s": ((float,), 60.0),
            "w_recency": ((float,), 1.0), "w_frequency": ((float,), 1.0),
            "w_importance": ((float,), 1.0), "keep_inputs": ((bool,), True)})
        self.opts.positive("capacity")
        self.opts.positive("half_life_s")
        self._lock = threading.RLock()
        self._items: dict[str, Item] = {}
        self._load()
        if self.opts.state is not None:
            save_at_exit(self._save)

    # -- the session hook ---------------------------------------------------------------------

    def run(self, feeds, call_next):
        outputs = call_next(feeds)
        self.remember(feeds, outputs)
        return outputs

    def close(self) -> None:
        self._save()

    # -- reading and writing ------------------------------------------------------------------

    def remember(self, feeds: dict[str, Any], outputs: dict[str, Any]) -> str:
        key = row_digests(feeds, None)[0]
        now = time.time()
        importance = _uncertainty(outputs)
        with self._lock:
            item = self._items.get(key)
            if item is None:
                kept = {k: np.array(v) for k, v in feeds.items()} if self.opts.keep_inputs else {}
                self._items[key] = Item(key, kept, {k: np.array(v) for k, v in outputs.items()
                                                    if isinstance(v, np.ndarray)},
                                        now, now, 1, importance)
                self._evict()
            else:
                item.count += 1
                item.last_seen = now
        return key

    def mark(self, key: str, importance: float, **notes: Any) -> None:
        """Set an item's importance (0..1) and attach notes (what another module learned)."""
        with self._lock:
            item = self._items.get(key)
            if item is not None:
                item.importance = float(min(max(importance, 0.0), 1.0))
                item.notes.update(notes)

    def get(self, key: str) -> Item | None:
        with self._lock:
            return self._items.get(key)

    def key_of(self, feeds: dict[str, Any]) -> str:
        return row_digests(feeds, None)[0]

    def items(self) -> list[tuple[float, Item]]:
        """``(score, item)`` pairs, most important first (a snapshot)."""
        with self._lock:
            scored = self._scores(time.time())
        return sorted(scored, key=lambda s: -s[0])

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    # -- scoring ------------------------------------------------------------------------------

    def _scores(self, now: float) -> list[tuple[float, Item]]:
        o = self.opts
        top = max((i.count for i in self._items.values()), default=1)
        out = []
        for item in self._items.values():
            recency = 2.0 ** (-(now - item.last_seen) / o.half_life_s)
            frequency = math.log1p(item.count) / math.log1p(top) if top > 0 else 0.0
            out.append((o.w_recency * recency + o.w_frequency * frequency
                        + o.w_importance * item.importance, item))
        return out

    def _evict(self) -> None:
        while len(self._items) > self.opts.capacity:
            score, worst = min(self._scores(time.time()), key=lambda s: s[0])
            del self._items[worst.key]

    # -- persistence --------------------------------------------------------------------------

    def _save(self) -> None:
        if self.opts.state is None:
            return
        with self._lock:
            items = list(self._items.values())
        meta, arrays = [], {}
        for n, item in enumerate(items):
            meta.append({"key": item.key, "first_seen": item.first_seen,
                         "last_seen": item.last_seen, "count": item.count,
                         "importance": item.importance, "feeds": sorted(item.feeds),
                         "outputs": sorted(item.outputs),
                         "notes": {k: v for k, v in item.notes.items()
                                   if isinstance(v, (int, float, str, bool))}})
            for k, v in item.feeds.items():
                arrays[f"{n}/in/{k}"] = v
            for k, v in item.outputs.items():
                arrays[f"{n}/out/{k}"] = v
        self.opts.state.save_arrays(arrays)
        self.opts.state.save_json({"items": meta})

    def _load(self) -> None:
        if self.opts.state is None:
            return
        meta, arrays = self.opts.state.load_json(), self.opts.state.load_arrays()
        if not meta or arrays is None:
            return
        for n, m in enumerate(meta["items"]):
            self._items[m["key"]] = Item(
                m["key"], {k: arrays[f"{n}/in/{k}"] for k in m["feeds"]},
                {k: arrays[f"{n}/out/{k}"] for k in m["outputs"]}, m["first_seen"],
                m["last_seen"], m["count"], m["importance"], dict(m["notes"]))
        self._evict()


def _uncertainty(outputs: dict[str, Any]) -> float:
    for value in outputs.values():
        if isinstance(value, np.ndarray) and value.size > 1 and value.dtype.kind == "f":
            return float(confidence(probabilities(value))["entropy"].mean())
    return 0.5
