"""``ronn plugins``: every discovered plugin, what it registers, and why a broken one failed."""

from __future__ import annotations

from ronn.cli.format import emit_json, table
from ronn_core.runtime import default_runtime


def register(sub) -> None:
    p = sub.add_parser("plugins", help="list installed plugins and what they register")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=command)


def command(args) -> int:
    infos = default_runtime().plugins()
    if args.json:
        emit_json([i.as_dict() for i in infos])
        return 0
    rows = []
    for i in infos:
        what = ", ".join(_describe(k, v) for k, v in sorted(i.registered.items()) if v)
        rows.append([i.name, i.version or "", i.distribution or i.source, ",".join(i.kinds),
                     f"BROKEN: {i.error}" if i.error else what])
    print(table(rows, ["name", "version", "distribution", "kind", "registers"]))
    return 0


def _describe(kind: str, items: list[str]) -> str:
    if kind != "operators":
        return f"{kind}: {', '.join(items)}"
    schemas = sum(1 for i in items if i.startswith("schema "))
    kernels = len(items) - schemas
    return f"{kernels} kernels" + (f", {schemas} schemas" if schemas else "")
