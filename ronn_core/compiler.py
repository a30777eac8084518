"""From a partitioned graph to a ``Plan``: providers compile their nodes, copies join devices."""

from __future__ import annotations

from ronn_core.errors import ModelError
from ronn_core.graph import Graph
from ronn_core.partition import Placement, assign, placements
from ronn_core.plan import Plan
from ronn_core.provider import CompileContext, ExecutionProvider, Step

HOST = "cpu"


def compile_graph(graph: Graph, providers: list[ExecutionProvider], *,
                  outer: list[str] = ()) -> tuple[Plan, list[Placement]]:
    """Partition ``graph`` over ``providers`` and compile it (subgraphs recursively)."""
    owner = assign(graph, providers)
    ctx = CompileContext(graph, lambda sub: compile_graph(sub, providers,
                                                          outer=sub.free_names())[0])
    steps: list[Step] = []
    for provider in providers:
        nodes = [n for n in graph.nodes if owner[id(n)] is provider]
        if nodes:
            steps.extend(provider.compile(nodes, ctx))
    order = {id(n): i for i, n in enumerate(graph.nodes)}
    steps.sort(key=lambda s: min((order.get(id(n), 0) for n in s.nodes), default=0))
    constants = {n: v.constant for n, v in graph.values.items() if v.is_constant}
    feeds = [n for n in graph.inputs if n not in constants]
    overridable = [n for n in graph.inputs if n in constants]
    steps, constants = _insert_transfers(steps, providers, constants, graph.outputs)
    constants = _read_constants(steps, constants, graph.outputs, overridable)
    _check_order(steps, set(feeds) | set(constants) | set(outer), graph)
    plan = Plan(steps, inputs=feeds, outputs=graph.outputs, constants=constants, outer=outer,
                overridable=overridable)
    return plan, placements(graph, owner, providers)


def _read_constants(steps: list[Step], constants: dict, outputs: list[str],
                    overridable: list[str]) -> dict:
    """The constants the plan must hold: those a step reads, graph outputs and overridable
    initializers. The rest (weights a kernel took, host copies of constants moved to a device,
    unused initializers) the plan lets go."""
    read = {n for step in steps for n in step.inputs} | set(outputs) | set(overridable)
    return {n: v for n, v in constants.items() if n in read}


def _insert_transfers(steps: list[Step], providers: list[ExecutionProvider],
                      constants: dict, outputs: list[str]) -> tuple[list[Step], dict]:
    """Copy values across devices where a step reads a value living on another device."""
    if all(p.device == HOST for p in providers):
        return steps, constants
    by_name = {p.name: p for p in providers}
    where: dict[str, ExecutionProvider | None] = {}    # None: on the host
    out: list[Step] = []
    constants = dict(constants)
    for step in steps:
        provider = by_name[step.provider]
        inputs = []
        for name in step.inputs:
            src = where.get(name)
            src_device = src.device if src else HOST
            if not name or src_device == provider.device:
                inputs.append(name)
                continue
            moved = f"{name}@{provider.device}"
            if moved not in where:
                if name in constants and src is None:
                    constants[moved] = provider.to_device(constants[name])
                else:
                    out.extend(_copy_steps(name, moved, src, provider))
                where[moved] = provider
            inputs.append(moved)
        step.inputs = inputs
        out.append(step)
        for name in step.outputs:
            where[name] = provider if provider.device != HOST else None
    for name in outputs:
        src = where.get(name)
        if src is not None:
            host_name = f"{name}@device"
            for s in out:
                s.outputs = [host_name if n == name else n for n in s.outputs]
                s.inputs = [host_name if n == name else n for n in s.inputs]
            out.append(Step(src.to_host, [host_name], [name], [], src.name, label="CopyToHost",
                            output_copy=True))
    return out, constants


def _copy_steps(name: str, moved: str, src: ExecutionProvider | None,
                dst: ExecutionProvider) -> list[Step]:
    if src is None:
        return [Step(dst.to_device, [name], [moved], [], dst.name, label="CopyToDevice")]
    host = f"{name}@host"
    return [Step(src.to_host, [name], [host], [], src.name, label="CopyToHost"),
            Step(dst.to_device, [host], [moved], [], dst.name, label="CopyToDevice")]


def _check_order(steps: list[Step], available: set[str], graph: Graph) -> None:
    available = set(available)
    for step in steps:
        missing = [n for n in step.inputs if n and n not in available]
        if missing:
            label = step.nodes[0].describe() if step.nodes else step.label
            raise ModelError(f"step {label} in graph {graph.name!r} reads {missing} before any "
                             f"step produces them")
        available.update(n for n in step.outputs if n)
