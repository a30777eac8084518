"""``ronn info MODEL``: inputs, outputs, opsets, op histogram, and where each op would run."""

from __future__ import annotations

from ronn.cli.format import emit_json, table
from ronn.model import Model


def register(sub) -> None:
    p = sub.add_parser("info", help="describe a model and where its ops would run")
    p.add_argument("model", help="path of an .onnx file")
    p.add_argument("--provider", action="append", dest="providers", metavar="NAME",
                   help="provider in preference order (repeat; default: cpu)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=command)


def command(args) -> int:
    model = Model.load(args.model)
    graph = model.graph
    placement: dict[str, dict[str, int]] = {}
    placement_error = None
    try:
        session = model.create_session(optimization_level="O0", providers=args.providers)
        for p in session.placement:
            key = f"{p.domain}::{p.op_type}" if p.domain else p.op_type
            placement.setdefault(key, {}).setdefault(p.provider, 0)
            placement[key][p.provider] += 1
    except Exception as exc:   # info still describes a model nothing can run yet
        placement_error = str(exc)
    data = {
        "model": str(args.model), "graph": graph.name, "ir_version": model.ir_version,
        "producer": model.producer, "opsets": {d or "ai.onnx": v for d, v in model.opsets.items()},
        "inputs": [{"name": i.name, "type": i.type_str, "shape": i.shape} for i in model.inputs],
        "outputs": [{"name": o.name, "type": o.type_str, "shape": o.shape} for o in model.outputs],
        "nodes": len(graph.nodes), "initializers": len(graph.initializers),
        "ops": graph.op_histogram(), "placement": placement, "placement_error": placement_error,
    }
    if args.json:
        emit_json(data)
        return 0
    print(f"model      {data['model']}  (graph {graph.name!r}, IR {model.ir_version}, "
          f"producer {model.producer or '?'})")
    print(f"opsets     {', '.join(f'{d} {v}' for d, v in data['opsets'].items())}")
    print(f"nodes      {data['nodes']}, initializers {data['initializers']}\n")
    print(table([[i["name"], i["type"], i["shape"]] for i in data["inputs"]],
                ["input", "type", "shape"]))
    print()
    print(table([[o["name"], o["type"], o["shape"]] for o in data["outputs"]],
                ["output", "type", "shape"]))
    print()
    rows = [[op, n, ", ".join(f"{p} x{c}" for p, c in placement.get(op, {}).items()) or "-"]
            for op, n in data["ops"].items()]
    print(table(rows, ["op", "count", "provider"]))
    if placement_error:
        print(f"\nnot runnable with the installed plugins: {placement_error}")
    return 0
