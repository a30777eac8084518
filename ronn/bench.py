"""Latency benchmarks of RONN against onnxruntime, measured side by side in one process.

Both runtimes get the same model bytes, the same inputs and the same thread count; they take turns
in rounds of a few runs each (one untimed run opens each turn, because onnxruntime's and OpenBLAS's
worker threads keep spinning for a while after a run and would slow the other runtime's first
run), so that machine noise hits both alike. Reported: best, median and p90 latency, and the
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
    peak_rss_mb: float | None = None            # this process (both runtimes loaded)
    ronn_rss_mb: float | None = None            # a subprocess running RONN alone
    onnxruntime_rss_mb: float | None = None     # a subprocess running onnxruntime alone
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
                profile: bool = False, feeds: dict | None = None,
                rss: bool = False, pause_s: float = 0.0) -> BenchResult:
    """Time RONN (and onnxruntime when ``compare``) on one model; with ``rss`` also measure
    each runtime's peak RSS alone, in a subprocess of its own. ``pause_s`` sleeps before every
    timed run, so that the other runtime's spinning worker threads (onnxruntime's pool spins
    after a run, OpenBLAS's too) are idle again on a machine with few cores."""
    import ronn
    name, data = resolve_model(spec)
    start = time.perf_counter()
    session = ronn.Model.load(data).create_session(optimization_level=level,
                                                   providers=providers, threads=threads,
                                                   profiling=profile)
    ronn_session_s = time.perf_counter() - start
    feeds = feeds or _feeds_for(name, session.inputs)
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
    block = max(1, min(5, runs // 3))
    done = 0
    while done < runs:                 # rounds, so noise hits both runtimes alike
        count = min(block, runs - done)
        for key, run in runners.items():
            run()                      # untimed: the other runtime's pool may still be spinning
            for _ in range(count):
                if pause_s:
                    time.sleep(pause_s)
                t = time.perf_counter()
                run()
                times[key].append(time.perf_counter() - t)
        done += count
    result = BenchResult(name, Timing.of(times["ronn"], sessions_s["ronn"]),
                         Timing.of(times["onnxruntime"], sessions_s["onnxruntime"])
                         if compare else None,
                         resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    if rss:
        result.ronn_rss_mb = isolated_peak_rss(spec, "ronn", threads=threads, level=level,
                                               data=data)
        if compare:
            result.onnxruntime_rss_mb = isolated_peak_rss(spec, "onnxruntime", threads=threads,
                                                          data=data)
    if profile:
        result.top_ops = dict(list(session.profile().per_op_type().items())[:10])
    return result


def _feeds_for(name: str, inputs) -> dict:
    from ronn.zoo import random_inputs
    if name == "built:bert":   # the zoo's encoder: batch 2, sequence 128
        hidden = inputs[0].shape[-1]
        return {"x": np.random.default_rng(0).standard_normal((2, 128, hidden), np.float32)}
    return random_inputs(inputs, seed=0)


def isolated_peak_rss(spec: str, runtime: str, *, threads: int | None = None, runs: int = 3,
                      level: str = "O3", timeout: float = 600, data: bytes | None = None) -> float:
    """Peak RSS (MB) of a fresh Python process that loads ``spec`` in ``runtime`` ("ronn" or
    "onnxruntime") alone and runs it ``runs`` times: the two runtimes' footprints compared
    without either counting the other's libraries. Both load a model file, as a deployment
    does: a ``light:``/``built:`` model (``data``, else made here) is written to one first, so
    making its random weights is not counted."""
    import json
    import subprocess
    import sys
    import tempfile
    with tempfile.TemporaryDirectory(prefix="ronn-rss-") as tmp:
        path = Path(spec)
        if not path.is_file():
            path = Path(tmp) / "model.onnx"
            path.write_bytes(data if data is not None else resolve_model(spec)[1])
        cmd = [sys.executable, "-m", "ronn.bench", spec, runtime, str(threads or 0), str(runs),
               level, str(path)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"peak-RSS child for {spec} on {runtime} failed: "
                           f"{done.stderr.strip()[-2000:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["peak_rss_mb"])


_ORT_DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64,
               "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_}


def _ort_feeds(name: str, inputs) -> dict:
    """Random feeds from onnxruntime's input metadata (symbolic dims = 1; bert: 2 x 128)."""
    rng = np.random.default_rng(0)
    feeds = {}
    for info in inputs:
        shape = [d if isinstance(d, int) else 1 for d in info.shape]
        if name == "built:bert":
            shape = [2, 128, shape[-1]]
        dtype = _ORT_DTYPES.get(info.type, np.float32)
        feeds[info.name] = rng.standard_normal(shape).astype(dtype)
    return feeds


def _rss_child(name: str, runtime: str, threads: int, runs: int, level: str,
               path: str) -> None:
    """The body of an ``isolated_peak_rss`` subprocess (model ``name`` from the file ``path``):
    prints ``{"peak_rss_mb": ...}``."""
    import json
    if runtime == "ronn":
        import ronn
        session = ronn.Model.load(path).create_session(optimization_level=level,
                                                       threads=threads or None)
        feeds = _feeds_for(name, session.inputs)
        run = lambda: session.run(feeds)   # noqa: E731
    else:
        import onnxruntime as ort          # nothing of RONN's runtime loaded in this process
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        osess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        feeds = _ort_feeds(name, osess.get_inputs())
        run = lambda: osess.run(None, feeds)   # noqa: E731
    for _ in range(runs):
        run()
    print(json.dumps({"peak_rss_mb": _own_peak_rss_mb()}))


def _own_peak_rss_mb() -> float:
    """This process's peak RSS. On Linux ``VmHWM``: ``ru_maxrss`` survives ``exec`` and so
    would count the parent's memory at the fork."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def geomean(values: list[float]) -> float:
    return float(np.exp(np.mean(np.log(values)))) if values else float("nan")


if __name__ == "__main__":   # python -m ronn.bench SPEC RUNTIME THREADS RUNS LEVEL PATH (RSS child)
    import sys
    _rss_child(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5],
               sys.argv[6])
