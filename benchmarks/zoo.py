"""The #4 model zoo against onnxruntime, side by side in one process; writes results.md.

    .venv/bin/python benchmarks/zoo.py [--runs 15] [--threads 2] [--out benchmarks/results.md]

Latency is the best of ``--runs`` alternating runs per runtime (the machine is noisy: compare
best against best); models that onnxruntime runs in under a millisecond (the streaming ones,
~10 us) get ``--small-runs`` instead, for both runtimes alike: at that scale the best of 15
moved their ratio by 30% between runs. The table is meant to be pasted into the README.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from ronn.bench import bench_model, geomean
from ronn.zoo import LIGHT_NETWORKS

ZOO = [f"light:{n}" for n in LIGHT_NETWORKS] + ["built:bert", "built:mlp", "built:conv1d"]
SMALL_MS = 1.0


def _ms(value: float) -> str:
    return f"{value:.2f}" if value >= 1 else f"{value:.4f}"


def _mb(value) -> str:
    return "-" if value is None else f"{value:.0f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--small-runs", type=int, default=1500,
                        help="runs for models onnxruntime runs in under 1 ms")
    parser.add_argument("--level", default="O3")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results.md"))
    parser.add_argument("--no-rss", action="store_true",
                        help="skip the peak-RSS subprocesses (one per model and runtime)")
    parser.add_argument("models", nargs="*", default=ZOO)
    args = parser.parse_args()
    rows, ratios = [], []
    for spec in args.models:
        r = bench_model(spec, runs=args.runs, threads=args.threads, level=args.level,
                        rss=not args.no_rss)
        if r.onnxruntime.best_ms < SMALL_MS:       # a streaming model: again, with more runs
            rss = r.ronn_rss_mb, r.onnxruntime_rss_mb
            r = bench_model(spec, runs=args.small_runs, threads=args.threads, level=args.level)
            r.ronn_rss_mb, r.onnxruntime_rss_mb = rss
        ratios.append(r.ratio_best)
        rows.append(r)
        print(f"{spec:<22} ronn {_ms(r.ronn.best_ms):>9} ms  onnxruntime "
              f"{_ms(r.onnxruntime.best_ms):>9}"
              f" ms  ratio {r.ratio_best:5.2f}  session {r.ronn.session_s:.2f} s"
              f"  RSS {_mb(r.ronn_rss_mb)} / {_mb(r.onnxruntime_rss_mb)} MB", flush=True)
    lines = [f"Measured {time.strftime('%Y-%m-%d')} on {platform.machine()}, {args.threads} "
             f"threads, best of {args.runs} alternating runs ({args.small_runs} for models "
             f"onnxruntime runs in under {SMALL_MS:g} ms), level {args.level}.", "",
             "| model | ronn ms | onnxruntime ms | ratio | ronn session s | peak RSS MB ronn / "
             "onnxruntime (each alone) |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.model} | {_ms(r.ronn.best_ms)} | {_ms(r.onnxruntime.best_ms)} | "
                     f"{r.ratio_best:.2f} | {r.ronn.session_s:.2f} | {_mb(r.ronn_rss_mb)} / "
                     f"{_mb(r.onnxruntime_rss_mb)} |")
    lines += ["", f"Geometric mean ratio: **{geomean(ratios):.2f}** (target <= 1.3; "
                  f"worst {max(ratios):.2f}, target <= 2.0)."]
    args.out.write_text("\n".join(lines) + "\n")
    args.out.with_suffix(".json").write_text(json.dumps([r.as_dict() for r in rows], indent=1))
    print(f"\ngeomean {geomean(ratios):.2f}; wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
