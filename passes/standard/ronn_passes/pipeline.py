"""Run a selection of passes over a graph outside a session, recording what each did."""

from __future__ import annotations

import time
from typing import Iterable

from ronn_core.graph import Graph
from ronn_core.passes import PassContext, PassRecord, select_passes


def optimize(graph: Graph, level: str = "O2", *, providers: Iterable[str] = ("cpu",),
             enable: Iterable[str] = (), disable: Iterable[str] = (), runtime=None,
             ir_version: int | None = None) -> list[PassRecord]:
    """Optimize ``graph`` in place with the runtime's passes up to ``level``; return the log.

    ``ir_version`` (the model's) lets ``freeze-initializers`` treat IR < 4 initializers as the
    constants they are there.
    """
    if runtime is None:
        from ronn_core.runtime import default_runtime
        runtime = default_runtime()
    providers = list(providers)
    chosen = select_passes(runtime.passes, level, providers=providers, enable=list(enable),
                           disable=list(disable))
    options = {"runtime": runtime}
    if ir_version is not None:
        options["ir_version"] = ir_version
    ctx = PassContext(providers=providers, options=options)
    for p in chosen:
        before, start = len(graph.nodes), time.perf_counter()
        changed = bool(p.run(graph, ctx))
        ctx.log.append(PassRecord(p.name, changed, before, len(graph.nodes),
                                  time.perf_counter() - start))
    graph.toposort()
    return ctx.log
