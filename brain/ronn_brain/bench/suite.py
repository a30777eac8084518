"""The ``brain`` bench suite: set-up (train + export), then the three measurements."""

from __future__ import annotations

import tempfile
import time

from ronn_brain.bench.cache_bench import bench_cache
from ronn_brain.bench.cascade_bench import bench_cascade
from ronn_brain.bench.continual_bench import bench_continual
from ronn_brain.bench.data import load_digits_split
from ronn_brain.bench.models import train_models


def measure(*, threads=None, runs: int = 5, quick: bool = False, model_dir=None) -> dict:
    """Every measurement as a nested dict (``benchmarks/brain/run.py`` writes it out)."""
    data = load_digits_split()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        models = train_models(data, model_dir or tmp, quick=quick)
        report = {"quick": quick, "threads": threads, "runs": runs, "models": models.info,
                  "data": {"train": len(data.y_train), "val": len(data.y_val),
                           "test": len(data.y_test)}}
        report["setup_s"] = time.perf_counter() - start
        report["cascade"] = bench_cascade(data, models, runs=max(1, runs if not quick else 2),
                                          threads=threads,
                                          batches=(1,) if quick else (1, 32))
        report["cache"] = bench_cache(data, models, length=300 if quick else 1500,
                                      threads=threads, runs=1 if quick else 3)
        report["continual"] = bench_continual(data, models, epochs=1 if quick else 3)
    return report


def rows(report: dict) -> list[dict]:
    """The report as table rows sharing the keys benchmark / setting / measure / value / target."""
    out = []
    quick = report["quick"]

    def add(bench, setting, measure_, value, target=""):
        if quick and bench == "cascade" and target:
            target = f"{target} (full run; quick models are both cheap)"
        out.append({"benchmark": bench, "setting": setting, "measure": measure_,
                     "value": value, "target": target})

    c = report["cascade"]
    for batch, r in c["batches"].items():
        s = f"batch {batch}, min_top_prob {c['threshold']}"
        add("cascade", s, "speedup vs always-full", r["speedup"], ">= 2")
        add("cascade", s, "accuracy loss (pp)", r["accuracy_loss_pp"], "<= 1")
        add("cascade", s, "fraction routed to full", r["fraction_full"])
        add("cascade", s, "agreement with full", r["agreement_with_full"])
    for t in report["cache"]["thresholds"]:
        s = f"threshold {t['threshold']:.3g} ({t['threshold_x_nn_median']} x NN median)"
        add("cache", s, "hit rate", t["hit_rate"])
        add("cache", s, "introduced error", t["introduced_error"])
        add("cache", s, "exact repeats identical",
            f"{t['exact_repeats_identical']}/{t['exact_repeats']}", "all")
    for name in ("plain", "ewc", "replay", "ewc+replay"):
        r = report["continual"][name]
        add("continual", name, "first-split accuracy after second", r["acc_first_after_B"])
        add("continual", name, "forgetting (pp)", r["forgetting_pp"])
    add("continual", "plain / ewc+replay", "forgetting reduction",
        report["continual"]["forgetting_reduction"], ">= 2")
    return out


def run_suite(*, threads=None, runs: int = 5, quick: bool = False) -> list[dict]:
    return rows(measure(threads=threads, runs=runs, quick=quick))
