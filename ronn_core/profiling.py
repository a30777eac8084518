"""Per-step timings of profiled runs, summarized per node and per op type, or as a Chrome trace."""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict

from ronn_core.provider import Step


class Profile:
    """Timings of every run of a profiled session."""

    def __init__(self, steps: list[Step]):
        self._steps = steps
        self._runs: list[list[tuple[int, int, int]]] = []   # (step index, start ns, duration ns)
        self._origin = time.perf_counter_ns()

    def add_run(self, events: list[tuple[int, int, int]]) -> None:
        self._runs.append(events)

    @property
    def runs(self) -> int:
        return len(self._runs)

    def _label(self, index: int) -> tuple[str, str]:
        step = self._steps[index]
        name = step.nodes[0].name if step.nodes else step.label
        return name, step.op_type

    def per_node(self) -> dict[str, float]:
        """Mean milliseconds per run spent in each node (step), slowest first."""
        return self._summarize(lambda i: self._label(i)[0])

    def per_op_type(self) -> dict[str, float]:
        """Mean milliseconds per run spent in each op type, slowest first."""
        return self._summarize(lambda i: self._label(i)[1])

    def _summarize(self, key) -> dict[str, float]:
        totals: dict[str, float] = defaultdict(float)
        for run in self._runs:
            for index, _, dur in run:
                totals[key(index)] += dur / 1e6
        n = max(len(self._runs), 1)
        return dict(sorted(((k, v / n) for k, v in totals.items()), key=lambda kv: -kv[1]))

    def chrome_trace(self) -> list[dict]:
        """Complete events (``ph: X``) in microseconds, as onnxruntime writes them."""
        events = []
        pid = os.getpid()
        for run_index, run in enumerate(self._runs):
            for index, start, dur in run:
                name, op = self._label(index)
                events.append({"name": name, "cat": "Node", "ph": "X", "pid": pid, "tid": 0,
                               "ts": (start - self._origin) / 1e3, "dur": dur / 1e3,
                               "args": {"op_name": op, "provider": self._steps[index].provider,
                                        "run": run_index}})
        return events

    def write_chrome_trace(self, path) -> None:
        with open(path, "w") as f:
            json.dump(self.chrome_trace(), f)
