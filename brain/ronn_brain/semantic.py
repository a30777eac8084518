"""Semantic memory: the concept graph that consolidation builds from episodes."""

from __future__ import annotations

import threading

import numpy as np

from ronn_brain.concepts import ConceptGraph
from ronn_brain.options import Options, save_at_exit
from ronn_core.modules import SessionModule


class SemanticModule(SessionModule):
    """``[modules.semantic]``: a concept graph (``self.graph``) plus a running activation.

    Each run primes the concept of its answer (argmax of the first output, ``label:N``) and
    spreads activation through the graph; ``context()`` returns what is currently active.
    Episodes arrive through ``promote(episodes)`` (the consolidation module calls it).
    """

    name = "semantic"

    def __init__(self, session, config):
        super().__init__(session, config)
        self.opts = Options(self.name, session, config, {
            "window_s": ((float,), 5.0), "cluster_radius": ((float,), 1.0),
            "neighbors": ((int,), 3), "decay": ((float,), 0.5), "steps": ((int,), 2),
            "prime": ((bool,), True)})
        self.opts.positive("neighbors")
        self.opts.fraction("decay")
        self.graph = ConceptGraph(window_s=self.opts.window_s,
                                  cluster_radius=self.opts.cluster_radius,
                                  neighbors=self.opts.neighbors)
        self._lock = threading.Lock()
        self._activation: dict[str, float] = {}
        if self.opts.state is not None:
            data = self.opts.state.load_json()
            if data:
                self.graph.load_json(data["graph"])
                self._activation = data.get("activation", {})
            save_at_exit(self.close)

    def run(self, feeds, call_next):
        outputs = call_next(feeds)
        if self.opts.prime and len(self.graph):
            first = next(iter(outputs.values()), None)
            if isinstance(first, np.ndarray) and first.dtype.kind == "f" and first.size > 1:
                flat = first.reshape(-1, first.shape[-1])
                labels = np.argmax(flat, axis=1)
                seeds = {f"label:{int(k)}": 1.0 / len(labels) for k in labels}
                spread = self.graph.activate(seeds, decay=self.opts.decay, steps=self.opts.steps)
                with self._lock:
                    merged = {k: v * (1 - self.opts.decay) for k, v in self._activation.items()}
                    for k, v in spread.items():
                        merged[k] = merged.get(k, 0.0) + v
                    self._activation = {k: v for k, v in merged.items() if v > 1e-3}
        return outputs

    def promote(self, episodes) -> list[str]:
        return self.graph.add_episodes(episodes)

    def related(self, concept: str, hops: int = 2) -> dict[str, float]:
        return self.graph.related(concept, hops)

    def context(self) -> dict[str, float]:
        """Currently active concepts, strongest first."""
        with self._lock:
            return dict(sorted(self._activation.items(), key=lambda kv: -kv[1]))

    def close(self) -> None:
        if self.opts.state is not None:
            self.opts.state.save_json({"graph": self.graph.to_json(),
                                       "activation": self.context()})
