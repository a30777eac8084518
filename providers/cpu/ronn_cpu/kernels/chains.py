"""Runs of small steps fused into one: the per-call cost of a streaming model's layers.

On one frame a layer is a few thousand multiply-adds; the Python call, numba's dispatch and the
output array of each layer cost more than the product. A kernel offers a link as its callable's
``chain_link`` (``gemm_chain.ChainLink``, ``conv_chain.ConvLinks``); ``fuse`` (the provider's
``compile``) replaces each run of ``MIN_LINKS`` or more steps of one kind, each reading only
the one before (which nothing else reads, and which is no graph output) plus constants, with
one step: the link kind's ``chain(links, fns)``. A link whose output shape the graph knows
says whether it ``fits`` a chain at that shape (a conv too large for its gather path does not).
"""

from __future__ import annotations

from ronn_core.graph import Graph
from ronn_core.provider import Step

MIN_LINKS = 2


def _readers(graph: Graph) -> dict[str, int]:
    """How many nodes read each value, graph outputs counting as one more."""
    counts: dict[str, int] = {}
    for node in graph.nodes:
        for name in node.inputs + node.implicit_inputs:
            if name:
                counts[name] = counts.get(name, 0) + 1
    for name in graph.outputs:
        counts[name] = counts.get(name, 0) + 1
    return counts


def _static_shape(graph: Graph, name: str) -> tuple[int, ...] | None:
    """The value's shape where the graph knows every dim, else None."""
    value = graph.values.get(name)
    shape = getattr(value.type, "shape", None) if value is not None and value.type else None
    if shape is None or not all(isinstance(d, int) for d in shape):
        return None
    return tuple(shape)


def fuse(steps: list[Step], graph: Graph) -> list[Step]:
    """``steps`` with each run of chainable steps as one step."""
    readers = _readers(graph)
    constant = {name for name, v in graph.values.items() if v.is_constant} - set(graph.inputs)
    out: list[Step] = []
    run: list[Step] = []

    def flush():
        if len(run) >= MIN_LINKS:
            links = [s.fn.chain_link for s in run]
            out.append(Step(links[0].chain(links, [s.fn for s in run]), [run[0].inputs[0]],
                            list(run[-1].outputs), [n for s in run for n in s.nodes],
                            run[0].provider, label="Chain"))
        else:
            out.extend(run)
        run.clear()

    for step in steps:
        link = getattr(step.fn, "chain_link", None)
        chainable = link is not None and len(step.outputs) == 1 and \
            all(not name or name in constant for name in step.inputs[1:]) and \
            link.fits(_static_shape(graph, step.outputs[0]))
        joins = chainable and run and step.inputs[0] == run[-1].outputs[0] and \
            readers.get(step.inputs[0]) == 1 and link.follows(run[-1].fn.chain_link)
        if not joins:
            flush()
        (run if chainable else out).append(step)
    flush()
    return out
