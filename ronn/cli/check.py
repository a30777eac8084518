"""``ronn check``: run the ONNX backend test suite through RONN, with progress and a summary."""

from __future__ import annotations

import re
import sys

from ronn.cli.format import emit_json, table


def register(sub) -> None:
    p = sub.add_parser("check", help="run the ONNX backend conformance suite")
    p.add_argument("-k", "--filter", help="only cases whose name matches this regex")
    p.add_argument("--kind", action="append", choices=["node", "simple", "pytorch-converted",
                                                       "pytorch-operator"],
                   help="case kinds (repeat; default: all four)")
    p.add_argument("--failures", action="store_true", help="list every failing case")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=command)


def command(args) -> int:
    from ronn import conformance
    cases = conformance.load_cases(args.kind or conformance.KINDS)
    if args.filter:
        pattern = re.compile(args.filter)
        cases = [c for c in cases if pattern.search(c.name)]
    results = conformance.run_suite(cases, progress=None if args.json else _progress())
    passed = sum(r.passed for r in results)
    ops = conformance.by_operator(results)
    if args.json:
        emit_json({"passed": passed, "total": len(results),
                   "by_operator": {k: {"passed": p, "total": t} for k, (p, t) in ops.items()},
                   "cases": [r.as_dict() for r in results]})
        return 0 if passed == len(results) else 1
    partial = [[op, f"{p}/{t}"] for op, (p, t) in ops.items() if p < t]
    if partial:
        print(table(partial, ["operator", "passed"]))
    if args.failures:
        print()
        print(table([[r.name, r.error] for r in results if not r.passed], ["case", "error"]))
    full = sum(1 for p, t in ops.values() if p == t)
    print(f"\n{passed}/{len(results)} cases passed; {full}/{len(ops)} operators pass every case")
    return 0 if passed == len(results) else 1


def _progress():
    tty = sys.stderr.isatty()
    state = {"failed": 0}

    def report(done: int, total: int, result) -> None:
        state["failed"] += not result.passed
        if tty:
            bar = "#" * (30 * done // total)
            sys.stderr.write(f"\r[{bar:<30}] {done}/{total} failed {state['failed']} "
                             f"{result.name[:40]:<40}")
            if done == total:
                sys.stderr.write("\n")
        elif done % 200 == 0 or done == total:
            sys.stderr.write(f"{done}/{total} cases, {state['failed']} failed\n")
        sys.stderr.flush()
    return report
