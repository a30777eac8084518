"""Load test of ``ronn serve`` (loopback only): throughput and p50/p99, dynamic batching on vs off.

    .venv/bin/python benchmarks/serving.py [--quick] [--clients 1 8 32] [--requests 300]
                                           [--seconds 8] [--rounds 5] [--json OUT]

One server subprocess serves the same MLP (1024 -> 3 x 2048 -> 10, a few ms per request) as two
models, with and without batching; closed-loop clients send binary v2 requests. Each scenario is
bounded by --requests and --seconds; each round runs both modes back to back. Reported: each
mode's best round, and the median over rounds of the paired batched/unbatched throughput ratio
(the machine may be shared: compare ratios, not absolute numbers).
Also: ``ronn bench --suite serving [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ronn_serve.loadtest import run_load_test

COLUMNS = ("clients", "batching", "requests", "errors", "throughput_rps", "p50_ms", "p99_ms",
           "mean_batch_rows", "speedup_best", "speedup_median", "loadavg_1m")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=300, help="per scenario")
    parser.add_argument("--seconds", type=float, default=8.0, help="per scenario")
    parser.add_argument("--rounds", type=int, default=5, help="paired rounds per client count")
    parser.add_argument("--timeout-ms", type=float, default=2.0, help="batching timeout_ms")
    parser.add_argument("--quick", action="store_true", help="a tiny model, 1 and 8 clients")
    parser.add_argument("--json", type=Path, help="write the rows here")
    args = parser.parse_args()
    kwargs = dict(clients=tuple(args.clients), requests=args.requests, seconds=args.seconds,
                  rounds=args.rounds, timeout_ms=args.timeout_ms)
    if args.quick:
        kwargs.update(clients=(1, 8), requests=60, seconds=5.0, rounds=1, features=64,
                      hidden=128, layers=2)
    rows = run_load_test(**kwargs, log=lambda line: print(line, file=sys.stderr, flush=True))
    print("| " + " | ".join(COLUMNS) + " |")
    print("|" + "---|" * len(COLUMNS))
    for row in rows:
        print("| " + " | ".join(str(row[c]) for c in COLUMNS) + " |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
