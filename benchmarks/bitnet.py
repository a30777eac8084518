"""Issue #7's speed check: a 4096 x 4096 MatMul, float32 on ["cpu"] vs ternary on ["bitnet"].

    .venv/bin/python benchmarks/bitnet.py [--size 4096] [--batch 1] [--runs 50] [--rounds 5]
                                          [--threads N] [--json OUT]

Builds the float32 model, quantizes it with ``ronn quantize --scheme ternary`` (the real CLI),
creates one session per model and times ``session.run`` at the given batch: rounds alternate
between the two sessions, each round keeps the best of --runs, and the ratio is
float32 best / ternary best of the same round; the median over rounds is reported (the machine
may be shared: read the ratio, not the milliseconds). Also prints file sizes and which kernel
the bitnet provider chose. For the GEMV/GEMM tables: ``ronn bench --suite bitnet``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx

import ronn
from ronn.cli import main as ronn_main
from ronn_bitnet.models import matmul_model


def best_ms(session, feeds, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        session.run(feeds)
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def measure(size: int, batch: int, runs: int, rounds: int, threads: int | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = os.path.join(tmp, "f32.onnx"), os.path.join(tmp, "ternary.onnx")
        onnx.save(matmul_model(size, size), src)
        with contextlib.redirect_stdout(io.StringIO()):
            status = ronn_main(["quantize", src, dst, "--scheme", "ternary", "--no-check"])
        if status != 0:
            raise SystemExit("ronn quantize failed")
        sizes = os.path.getsize(src), os.path.getsize(dst)
        f32 = ronn.Model.load(src).create_session(providers=["cpu"], threads=threads)
        ternary = ronn.Model.load(dst).create_session(providers=["bitnet"], threads=threads)
    feeds = {"x": np.random.default_rng(0).standard_normal((batch, size), dtype=np.float32)}
    for s in (f32, ternary):                       # warm-up (and the kernel choice)
        for _ in range(3):
            s.run(feeds)
    rows = []
    for _ in range(rounds):
        a, b = best_ms(f32, feeds, runs), best_ms(ternary, feeds, runs)
        rows.append((a, b, a / b))
    [step] = ternary.plan.steps
    return {"size": size, "batch": batch, "threads": threads, "runs": runs, "rounds": rounds,
            "f32_file_bytes": sizes[0], "ternary_file_bytes": sizes[1],
            "file_ratio": sizes[1] / sizes[0],
            "f32_cpu_best_ms": min(r[0] for r in rows),
            "ternary_bitnet_best_ms": min(r[1] for r in rows),
            "speedup_median": statistics.median(r[2] for r in rows),
            "speedup_per_round": [round(r[2], 2) for r in rows],
            "kernel": step.fn.prepared.used, "loadavg_1m": os.getloadavg()[0]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--batch", type=int, nargs="+", default=[1])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    results = [measure(args.size, b, args.runs, args.rounds, args.threads) for b in args.batch]
    for r in results:
        print(f"{r['size']}x{r['size']} batch {r['batch']} threads {r['threads']}: file "
              f"{r['f32_file_bytes'] / 2**20:.1f} MiB -> {r['ternary_file_bytes'] / 2**20:.2f} "
              f"MiB (1/{1 / r['file_ratio']:.1f}); float32 on cpu {r['f32_cpu_best_ms']:.3f} ms, "
              f"ternary on bitnet {r['ternary_bitnet_best_ms']:.3f} ms (kernel {r['kernel']}); "
              f"speedup {r['speedup_median']:.2f}x (median of rounds {r['speedup_per_round']}); "
              f"load {r['loadavg_1m']:.1f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
