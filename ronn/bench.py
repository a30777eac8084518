"""Latency benchmarks of RONN against onnxruntime, measured side by side in one process.

Both runtimes get the same model bytes, the same inputs and the same thread count; runs alternate
in rounds so that machine noise hits both alike. Reported: best, median and p90 latency, and the
ratio ronn/onnxruntime of the best and the median.
"""

from __future__ import annotations

import gc
import resource
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np


@dataclass
class Timing:
    best_ms: float
    median_ms: float
    p90_ms: float
    runs: int
    session_s: float

    @classmethod
    def of(cls, seconds: list[float], session_s: float) -> "Timing":
        ms = sorted(s * 1e3 for s in seconds)
        return cls(ms[0], statistics.median(ms), ms[min(len(ms) - 1, int(0.9 * len(ms)))],
                   len(ms), session_s)


@dataclass
class BenchResult:
    model: str
    ronn: Timing
    onnxruntime: Timing | None = None
    peak_rss_mb: float | None = None
    top_ops: dict[str, float] = field(default_factory=dict)

    @property
    def ratio_best(self) -> float | None:
        return self.ronn.best_ms / self.onnxruntime.best_ms if self.onnxruntime else None

    @property
    def ratio_median(self) -> float | None:
        return self.ronn.median_ms / self.onnxruntime.median_ms if self.onnxruntime else None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ratio_best"], d["ratio_median"] = self.ratio_best, self.ratio_median
        return d


BUILT = ("bert", "mlp", "conv1d")


def resolve_model(spec: str) -> tuple[str, bytes]:
    """A path; ``light:NAME`` (a light zoo network, random weights); or ``built:bert``,
    ``built:mlp``, ``built:conv1d`` (models from ``ronn.zoo_builders``)."""
    if spec.startswith("light:"):
        from ronn import zoo
        return spec, zoo.light_model(spec.split(":", 1)[1], seed=0).SerializeToString()
    if spec.startswith("built:"):
        from ronn import zoo_builders as zb
        make = {"bert": zb.bert_encoder, "mlp": zb.streaming_mlp,
                "conv1d": zb.streaming_conv1d}.get(spec.split(":", 1)[1])
        if make is None:
            raise ValueError(f"unknown built model {spec!r}; choose from {BUILT}")
        return spec, make().SerializeToString()
    return spec, Path(spec).read_bytes()


def bench_model(spec: str, *, runs: int = 15, warmup: int = 2, threads: int | None = None,
                level: str = "O3", providers: list[str] | None = None, compare: bool = True,
                profile: bool = False, feeds: dict | None = None) -> BenchResult:
    """Time RONN (and onnxruntime when ``compare``) on one model."""
    import ronn
    from ronn.zoo import random_inputs
    name, data = resolve_model(spec)
    start = time.perf_counter()
    session = ronn.Model.load(data).create_session(optimization_level=level,
                                                   providers=providers, threads=threads,
                                                   profiling=profile)
    ronn_session_s = time.perf_counter() - start
    if feeds is None and name == "built:bert":   # the zoo's encoder: batch 2, sequence 128
        hidden = session.inputs[0].shape[-1]
        feeds = {"x": np.random.default_rng(0).standard_normal((2, 128, hidden), np.float32)}
    feeds = feeds or random_inputs(session.inputs, seed=0)
    runners: dict[str, Callable[[], Any]] = {"ronn": lambda: session.run(feeds)}
    sessions_s = {"ronn": ronn_session_s}
    if compare:
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or 0
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        start = time.perf_counter()
        osess = ort.InferenceSession(data, opts, providers=["CPUExecutionProvider"])
        sessions_s["onnxruntime"] = time.perf_counter() - start
        runners["onnxruntime"] = lambda: osess.run(None, feeds)
    times: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(warmup):
        for run in runners.values():
            run()
    gc.collect()
    for _ in range(runs):              # alternate, so noise hits both runtimes alike
        for key, run in runners.items():
            t = time.perf_counter()
            run()
            times[key].append(time.perf_counter() - t)
    result = BenchResult(name, Timing.of(times["ronn"], sessions_s["ronn"]),
                         Timing.of(times["onnxruntime"], sessions_s["onnxruntime"])
                         if compare else None,
                         resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if profile:
        result.top_ops = dict(list(session.profile().per_op_type().items())[:10])
    return result


def geomean(values: list[float]) -> float:
    return float(np.exp(np.mean(np.log(values)))) if values else float("nan")
