"""Step fusion inside the wasm provider: Add/Sum followed by its only consumer Relu becomes one
``add_relu`` kernel call (the residual joins of ResNets)."""

from __future__ import annotations

import numpy as np

from ronn_core.provider import Step

from ronn_wasm.ops_elementwise import binary


def add_relu_pairs(nodes, graph) -> dict[int, object]:
    """{id(add node): relu node} for the pairs this provider owns both halves of."""
    mine = {id(n) for n in nodes}
    uses: dict[str, list] = {}
    for node in graph.nodes:
        for name in list(node.inputs) + list(node.implicit_inputs):
            uses.setdefault(name, []).append(node)
    pairs = {}
    for node in nodes:
        if node.domain or node.op_type not in ("Add", "Sum") or len(node.inputs) != 2:
            continue
        out = node.outputs[0]
        users = uses.get(out, [])
        if (len(users) == 1 and users[0].op_type == "Relu" and not users[0].domain
                and id(users[0]) in mine and out not in graph.outputs):
            pairs[id(node)] = users[0]
    return pairs


def add_relu_step(provider, add, relu, ctx) -> Step:
    first, second = provider.compile_node(add, ctx), provider.compile_node(relu, ctx)
    arena = provider.arena

    def run(a, b):
        if getattr(a, "dtype", None) == np.float32 and getattr(b, "dtype", None) == np.float32:
            return binary(arena, "add_relu", a, b)
        return second.fn(first.fn(a, b))
    return Step(run, list(first.inputs), list(relu.outputs), [add, relu], provider.name,
                first.kernel)
