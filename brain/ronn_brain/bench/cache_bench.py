"""Semantic cache: hit rate and introduced error on a stream with repeats and near-duplicates."""

from __future__ import annotations

import time

import numpy as np

from ronn_core.onnx_io import load
from ronn_core.session import Session


def make_stream(x: np.ndarray, y: np.ndarray, length: int, *, repeat: float = 0.3,
                near: float = 0.3, noise: float = 0.03, seed: int = 0):
    """Requests: ``repeat`` exact repeats of an earlier request, ``near`` near-duplicates (an
    earlier image plus Gaussian pixel noise of std ``noise``), the rest fresh test images."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    xs, ys, kinds, fresh = [], [], [], 0
    for _ in range(length):
        r = rng.random()
        if xs and r < repeat:
            j = int(rng.integers(len(xs)))
            xs.append(xs[j]), ys.append(ys[j]), kinds.append("repeat")
        elif xs and r < repeat + near:
            j = int(rng.integers(len(xs)))
            noisy = np.clip(xs[j] + rng.normal(0, noise, xs[j].shape), 0, 1).astype(np.float32)
            xs.append(noisy), ys.append(ys[j]), kinds.append("near")
        else:
            i = order[fresh % len(order)]
            fresh += 1
            xs.append(x[i].copy()), ys.append(int(y[i])), kinds.append("fresh")
    return np.stack(xs), np.array(ys), np.array(kinds)


def embedding_scale(models, x: np.ndarray) -> float:
    """Median distance from a test image to its nearest other test image, in embedding space."""
    s = Session(load(models.embed))
    e = s.run({"input": x})["embedding"].astype(np.float64)
    d = np.sqrt(((e[:, None, :] - e[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(d, np.inf)
    return float(np.median(d.min(1)))


def bench_cache(data, models, *, length: int = 1500, threads=None, runs: int = 3,
                fractions=(0.0, 0.25, 0.5, 1.0)) -> dict:
    """Per threshold: hit rates and error from one pass; speed-up as the best of ``runs``
    alternating passes (uncached, then cached from an empty cache)."""
    xs, ys, kinds = make_stream(data.x_test, data.y_test, length)
    full = Session(load(models.full), threads=threads)
    ref = np.concatenate([full.run({"input": xs[i:i + 1]})["probs"] for i in range(length)])
    ref_label = ref.argmax(1)
    scale = embedding_scale(models, data.x_test)
    out = {"requests": length, "kinds": {k: int((kinds == k).sum()) for k in
                                         ("fresh", "repeat", "near")},
           "embedding_nn_median": scale, "accuracy_no_cache": float((ref_label == ys).mean()),
           "timed_passes": runs, "thresholds": []}
    for frac in fractions:
        threshold = frac * scale
        t_full, t_cache = [], []
        for _ in range(runs):
            start = time.perf_counter()
            for i in range(length):
                full.run({"input": xs[i:i + 1]})
            t_full.append(time.perf_counter() - start)
            session = Session(load(models.full), threads=threads, modules={
                "episodic": {"embedding_model": str(models.embed), "threshold": threshold}})
            start = time.perf_counter()
            got = [session.run({"input": xs[i:i + 1]})["probs"] for i in range(length)]
            t_cache.append(time.perf_counter() - start)
        first: dict[bytes, np.ndarray] = {}
        identical = repeats = 0
        for i in range(length):
            key = xs[i].tobytes()
            if key in first:
                repeats += 1
                identical += bool(np.array_equal(first[key], got[i]))
            else:
                first[key] = got[i]
        got = np.concatenate(got)
        stats = session.module("episodic").stats()
        label = got.argmax(1)
        out["thresholds"].append({
            "threshold": threshold, "threshold_x_nn_median": frac,
            "hit_rate": stats["hit_rate"], "exact_hits": stats["exact_hits"],
            "near_hits": stats["near_hits"], "exact_repeats": repeats,
            "exact_repeats_identical": identical,
            "introduced_error": float((label != ref_label).mean()),
            "accuracy": float((label == ys).mean()),
            "speedup": min(t_full) / min(t_cache), "episodes": stats["episodes"]})
    return out
