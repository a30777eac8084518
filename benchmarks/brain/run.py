"""Run the brain benchmarks and write ``results.md`` and ``results.json`` beside this file.

    .venv/bin/python benchmarks/brain/run.py [--quick] [--runs N] [--threads N]

The same measurements run as ``ronn bench --suite brain [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from ronn_brain.bench.report import markdown
from ronn_brain.bench.suite import measure

HERE = Path(__file__).resolve().parent


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small models, short workloads")
    p.add_argument("--runs", type=int, default=5, help="timed passes (best is reported)")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1: "
                   "the machine is shared; every comparison uses the same count)")
    p.add_argument("--out", default=str(HERE), help="folder for results.md / results.json")
    args = p.parse_args(argv)
    report = measure(threads=args.threads, runs=args.runs, quick=args.quick)
    report["when"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    report["machine"] = f"{platform.machine()}, {platform.processor() or 'cpu'}, python " \
                        f"{platform.python_version()}"
    out = Path(args.out)
    (out / "results.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / "results.md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
