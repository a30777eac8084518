"""``ronn ops``: registered operators with their versions, providers and plugins."""

from __future__ import annotations

from ronn.cli.format import emit_json, table
from ronn_core.kernel_spec import normalize_domain
from ronn_core.runtime import default_runtime


def register(sub) -> None:
    p = sub.add_parser("ops", help="list registered operators")
    p.add_argument("--provider", help="only kernels a provider runs (its own and reference)")
    p.add_argument("--domain", help="only this domain (ai.onnx for the default domain)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=command)


def command(args) -> int:
    runtime = default_runtime()
    rows: dict[tuple[str, str], dict] = {}
    domain = None if args.domain is None else normalize_domain(args.domain)
    reference_ok = True
    if args.provider:
        cls = runtime.providers.get(args.provider)
        reference_ok = bool(cls and cls.uses_reference_kernels)
    for spec in runtime.kernels:
        if domain is not None and spec.domain != domain:
            continue
        if args.provider and not (spec.provider == args.provider
                                  or (spec.provider is None and reference_ok)):
            continue
        row = rows.setdefault((spec.domain, spec.op_type), {
            "domain": spec.domain or "ai.onnx", "op_type": spec.op_type, "versions": [],
            "providers": [], "plugins": []})
        if spec.since not in row["versions"]:
            row["versions"].append(spec.since)
        prov = spec.provider or "reference"
        if prov not in row["providers"]:
            row["providers"].append(prov)
        if spec.plugin not in row["plugins"]:
            row["plugins"].append(spec.plugin)
    result = [rows[k] for k in sorted(rows)]
    if args.json:
        emit_json(result)
        return 0
    print(table([[r["domain"], r["op_type"], ",".join(map(str, sorted(r["versions"]))),
                  ",".join(r["providers"]), ",".join(r["plugins"])] for r in result],
                ["domain", "op", "versions", "providers", "plugin"]))
    print(f"\n{len(result)} operators")
    return 0
