"""``ronn optimize IN.onnx OUT.onnx --level O2``: run the passes and write the optimized model.

Up to O2 the result is standard ONNX (ai.onnx ops only) that onnxruntime loads; O3 may add
``com.ronn`` ops that only RONN runs. A table gives the node count before and after each pass.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ronn_core.passes import LEVELS


def register(sub) -> None:
    p = sub.add_parser("optimize", help="optimize a model and write it back as ONNX",
                       description=__doc__.splitlines()[0])
    p.add_argument("input", type=Path, help="the model to optimize (.onnx)")
    p.add_argument("output", type=Path, help="where to write the optimized model")
    p.add_argument("--level", default="O2", choices=LEVELS,
                   help="optimization level (O2 keeps the model standard ONNX; default O2)")
    p.add_argument("--disable", action="append", default=[], metavar="NAME",
                   help="skip a pass by name (repeatable)")
    p.add_argument("--enable", action="append", default=[], metavar="NAME",
                   help="also run a pass above the level (repeatable)")
    p.add_argument("--provider", action="append", default=None, metavar="NAME",
                   help="providers the model is meant for (provider-specific passes; default cpu)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=command)


def command(args) -> int:
    from ronn_core.onnx_io import load
    from ronn_core.runtime import default_runtime
    from ronn_passes.pipeline import optimize

    start = time.perf_counter()
    loaded = load(args.input)
    graph = loaded.graph
    before = len(graph.nodes)
    ops_before = graph.op_histogram()
    log = optimize(graph, args.level, providers=args.provider or ["cpu"], enable=args.enable,
                   disable=args.disable, runtime=default_runtime(), ir_version=loaded.ir_version)
    foreign = sorted({n.domain for n in graph.nodes if n.domain and n.domain != "ai.onnx"})
    model = graph.to_onnx(ir_version=max(loaded.ir_version, 4), producer="ronn optimize")
    for key, value in loaded.metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    args.output.parent.mkdir(parents=True, exist_ok=True)
    import onnx
    onnx.save(model, args.output)
    seconds = time.perf_counter() - start
    after = len(graph.nodes)
    if args.json:
        from ronn.cli.format import emit_json
        emit_json({"input": str(args.input), "output": str(args.output), "level": args.level,
                   "nodes_before": before, "nodes_after": after,
                   "passes": [{"name": r.name, "changed": r.changed,
                               "nodes_before": r.nodes_before, "nodes_after": r.nodes_after,
                               "seconds": round(r.seconds, 6)} for r in log],
                   "ops_before": ops_before, "ops_after": graph.op_histogram(),
                   "domains": foreign, "seconds": round(seconds, 3)})
        return 0
    from ronn.cli.format import table
    rows = [[r.name, r.nodes_before, r.nodes_after, r.nodes_after - r.nodes_before or "",
             f"{r.seconds * 1000:.1f}"] for r in log]
    print(table(rows, ["pass", "before", "after", "delta", "ms"]))
    pct = 100.0 * (before - after) / before if before else 0.0
    print(f"\n{args.input} -> {args.output}: {before} -> {after} nodes ({pct:.1f}% fewer), "
          f"level {args.level}, {seconds:.2f} s")
    if foreign:
        print(f"note: uses non-standard domains {foreign}; only RONN runs this model",
              file=sys.stderr)
    return 0
