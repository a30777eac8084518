"""``ronn bench MODEL...``: latency against onnxruntime in the same process."""

from __future__ import annotations

from ronn.cli.format import emit_json, table
from ronn_core.errors import ConfigValueError


def register(sub) -> None:
    p = sub.add_parser("bench", help="benchmark models (against onnxruntime)")
    p.add_argument("models", nargs="*", help=".onnx paths, light:NAME (zoo network) or "
                                                "built:bert|mlp|conv1d")
    p.add_argument("--suite", action="append", default=[], metavar="NAME",
                   help="run a benchmark suite a plugin contributes (see --list-suites)")
    p.add_argument("--list-suites", action="store_true", help="list the installed suites")
    p.add_argument("--quick", action="store_true", help="suites: the smallest sizes only")
    p.add_argument("--compare", choices=["onnxruntime", "none"], default="onnxruntime")
    p.add_argument("--runs", type=int, default=15, help="timed runs per runtime")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, help="intra-op threads for both runtimes")
    p.add_argument("--level", default="O3", choices=["O0", "O1", "O2", "O3"])
    p.add_argument("--provider", action="append", dest="providers", metavar="NAME")
    p.add_argument("--profile", action="store_true", help="also print RONN's top ops")
    p.add_argument("--pause-ms", type=float, default=0.0,
                   help="sleep before every timed run, so that the other runtime's spinning "
                        "threads are idle (few-core machines)")
    p.add_argument("--rss", action="store_true",
                   help="also measure each runtime's peak RSS alone, in a subprocess of its own")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=command)


def command(args) -> int:
    if args.list_suites or args.suite:
        return _suites(args)
    if not args.models:
        raise ConfigValueError("name at least one model (or --suite NAME; --list-suites)")
    from ronn.bench import bench_model, geomean
    results = []
    for spec in args.models:
        results.append(bench_model(spec, runs=args.runs, warmup=args.warmup,
                                   threads=args.threads, level=args.level,
                                   providers=args.providers, compare=args.compare != "none",
                                   profile=args.profile, rss=args.rss,
                                   pause_s=args.pause_ms / 1e3))
        if not args.json:
            _print_one(results[-1], args.profile)
    ratios = [r.ratio_best for r in results if r.ratio_best]
    if args.json:
        emit_json({"results": [r.as_dict() for r in results],
                   "geomean_ratio_best": geomean(ratios) if ratios else None})
        return 0
    if len(results) > 1:
        print()
        print(table([[r.model, f"{r.ronn.best_ms:.2f}", f"{r.onnxruntime.best_ms:.2f}"
                      if r.onnxruntime else "-", f"{r.ratio_best:.2f}" if r.ratio_best else "-"]
                     for r in results], ["model", "ronn best ms", "ort best ms", "ratio"]))
        if ratios:
            print(f"\ngeometric mean ratio (best): {geomean(ratios):.2f}")
    return 0


def _print_one(r, profile: bool) -> None:
    line = (f"{r.model}: ronn best {r.ronn.best_ms:.2f} ms, median {r.ronn.median_ms:.2f}, "
            f"p90 {r.ronn.p90_ms:.2f} (session {r.ronn.session_s * 1e3:.0f} ms)")
    if r.onnxruntime:
        line += (f" | onnxruntime best {r.onnxruntime.best_ms:.2f} ms, median "
                 f"{r.onnxruntime.median_ms:.2f} | ratio best {r.ratio_best:.2f}, median "
                 f"{r.ratio_median:.2f}")
    line += f" | peak RSS {r.peak_rss_mb:.0f} MB"
    if r.ronn_rss_mb is not None:
        line += f" (alone: ronn {r.ronn_rss_mb:.0f} MB"
        line += (f", onnxruntime {r.onnxruntime_rss_mb:.0f} MB)" if r.onnxruntime_rss_mb
                 is not None else ")")
    print(line)
    if profile and r.top_ops:
        for op, ms in r.top_ops.items():
            print(f"    {op:<28} {ms:8.2f} ms")


def _suites(args) -> int:
    from ronn_core.config import nearest_hint
    from ronn_core.runtime import default_runtime
    suites = default_runtime().bench_suites
    if args.list_suites:
        rows = [[s.name, s.plugin or "", s.description] for s in suites.values()]
        print(table(rows, ["suite", "plugin", "description"]) if rows else "no bench suites "
              "installed")
        return 0
    report = {}
    for name in args.suite:
        suite = suites.get(name)
        if suite is None:
            raise ConfigValueError(f"no bench suite named {name!r}{nearest_hint(name, suites)}; "
                                   f"installed: {sorted(suites) or 'none'}")
        rows = suite.run(threads=args.threads, runs=args.runs, quick=args.quick)
        report[name] = rows
        if not args.json:
            print(f"{name}: {suite.description}")
            if rows:
                keys = list(rows[0])
                print(table([[_cell(r.get(k)) for k in keys] for r in rows], keys))
            print()
    if args.json:
        emit_json({"suites": report})
    return 0


def _cell(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
