"""The benchmark pieces on the small test models: they run, and their numbers hang together."""

from __future__ import annotations

import dataclasses

import numpy as np

from ronn_brain.bench.cache_bench import bench_cache, make_stream
from ronn_brain.bench.cascade_bench import bench_cascade
from ronn_brain.bench.models import Models
from ronn_brain.bench.report import markdown
from ronn_brain.bench.suite import rows


def test_stream_has_repeats_and_near_duplicates(digits):
    xs, ys, kinds = make_stream(digits.x_test, digits.y_test, 200)
    seen = {}
    for x, y, k in zip(xs, ys, kinds):
        key = x.tobytes()
        if k == "repeat":
            assert seen[key] == y
        seen[key] = y
    assert {"fresh", "repeat", "near"} == set(kinds)


def test_cascade_and_cache_benchmarks(models, digits):
    m = Models(models["full"], models["fast"], models["embed"], models["features"],
               {"full_hidden": [64], "fast_hidden": [8], "full_params": 1, "fast_params": 1})
    small = dataclasses.replace(digits, x_test=digits.x_test[:150], y_test=digits.y_test[:150])
    cascade = bench_cascade(small, m, runs=1, threads=1, batches=(1, 16))
    for r in cascade["batches"].values():
        assert r["accuracy_loss_pp"] == 100 * (r["accuracy_full"] - r["accuracy_cascade"])
        assert 0 < r["fraction_full"] < 1 and r["speedup"] > 0
    cache = bench_cache(small, m, length=150, threads=1, runs=1, fractions=(0.0, 0.5))
    exact, near = cache["thresholds"]
    assert exact["near_hits"] == 0 and exact["introduced_error"] == 0
    assert exact["exact_repeats_identical"] == exact["exact_repeats"] == exact["exact_hits"]
    assert near["hit_rate"] > exact["hit_rate"]
    report = {"quick": True, "threads": 1, "runs": 1, "models": m.info, "setup_s": 0.0,
              "data": {"train": 1, "val": 1, "test": 1}, "cascade": cascade, "cache": cache,
              "continual": {k: {"acc_first_after_A": 0.9, "acc_first_after_B": 0.5,
                                "acc_second_after_B": 0.9, "acc_all_after_B": 0.7,
                                "forgetting_pp": 40.0} for k in
                            ("plain", "ewc", "replay", "ewc+replay")}
              | {"forgetting_reduction": 1.0}}
    table = rows(report)
    assert all(list(r) == list(table[0]) for r in table)
    assert len(table) == 4 * 2 + 3 * 2 + 2 * 4 + 1
    text = markdown(report)
    assert "| 16 |" in text and np.isfinite(cascade["batches"][1]["speedup"])
