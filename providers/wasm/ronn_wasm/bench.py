"""Bench suite ``wasm``: latency of the wasm provider vs the cpu provider, same process, same
inputs, runs interleaved (``ronn bench --suite wasm``). The target: ResNet-50 at most 2.5x the
cpu provider. ``cputime_ratio`` compares process CPU time too (steadier on a loaded machine;
with ``--threads 1`` it is the single-thread cost)."""

from __future__ import annotations

import time

import numpy as np

from ronn_core import BenchSuite

MODELS = ["resnet50", "squeezenet", "bert"]
QUICK_MODELS = ["squeezenet"]


def _model_and_feeds(name: str):
    import ronn
    from ronn import zoo_builders
    from ronn.zoo import light_model
    proto = zoo_builders.bert_encoder() if name == "bert" else light_model(name, seed=0)
    model = ronn.Model.load(proto.SerializeToString())
    rng = np.random.default_rng(0)
    if name == "bert":
        return model, {"x": rng.standard_normal((1, 128, 256)).astype(np.float32)}
    probe = model.create_session(providers=["cpu"])
    return model, {i.name: rng.standard_normal(i.type.shape).astype(np.float32)
                   for i in probe.inputs}


def _times(session, feeds, runs: int) -> list[tuple[float, float]]:
    """(wall seconds, process CPU seconds) per run, after a warm-up run."""
    session.run(feeds)
    out = []
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        session.run(feeds)
        out.append((time.perf_counter() - start, time.process_time() - cpu))
    return out


def run(threads: int | None = None, runs: int = 15, quick: bool = False) -> list[dict]:
    rows = []
    for name in (QUICK_MODELS if quick else MODELS):
        model, feeds = _model_and_feeds(name)
        wasm = model.create_session(providers=["wasm"], threads=threads)
        cpu = model.create_session(providers=["cpu"], threads=threads)
        t_wasm, t_cpu = [], []
        for _ in range(max(1, runs // 3)):       # interleave, so load hits both alike
            t_wasm += _times(wasm, feeds, 3)
            t_cpu += _times(cpu, feeds, 3)
        w, c = min(t for t, _ in t_wasm), min(t for t, _ in t_cpu)
        wm, cm = (float(np.median([t for t, _ in ts])) for ts in (t_wasm, t_cpu))
        # CPU time: robust to a loaded machine (descheduling), but it sums over threads
        wc, cc = min(p for _, p in t_wasm), min(p for _, p in t_cpu)
        rows.append({"model": name, "wasm_ms": w * 1e3, "cpu_ms": c * 1e3,
                     "wasm_median_ms": wm * 1e3, "cpu_median_ms": cm * 1e3,
                     "ratio_best": w / c, "ratio_median": wm / cm,
                     "cputime_ratio": wc / cc,
                     "target": 2.5 if name == "resnet50" else None})
    return rows


SUITE = BenchSuite("wasm", "wasm provider latency vs the cpu provider (ResNet-50 target <= 2.5x)",
                   run)
