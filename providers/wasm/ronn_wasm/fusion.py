"""Step fusion inside the wasm provider: Add/Sum followed by its only consumer Relu becomes one
``add_relu`` kernel call (the residual joins of ResNets); when one side of that Add is a plain
Conv used only there, the add and the Relu run in that conv's GEMM epilogue."""

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


def conv_feeding(add, nodes, graph, claimed):
    """(conv node, index of the Add input it produces) for a plain Conv whose only consumer is
    ``add``, or None."""
    producers = {out: n for n in nodes for out in n.outputs}
    made_by = {out: n for n in graph.nodes for out in n.outputs}
    order = {id(n): i for i, n in enumerate(graph.nodes)}
    users: dict[str, int] = {}
    for node in graph.nodes:
        for name in list(node.inputs) + list(node.implicit_inputs):
            users[name] = users.get(name, 0) + 1
    for index, name in enumerate(add.inputs):
        conv = producers.get(name)
        other = made_by.get(add.inputs[1 - index])
        if (conv is not None and conv.op_type == "Conv" and not conv.domain
                and id(conv) not in claimed and users.get(name) == 1
                and name not in graph.outputs and add.inputs[1 - index] != name
                # the step runs where the conv was: the residual must exist by then
                and (other is None or order[id(other)] < order[id(conv)])):
            return conv, index
    return None


def conv_add_relu_step(provider, conv, index, add, relu, ctx) -> Step:
    """conv -> Add -> Relu as one step: the residual (the Add's other input) is added in the
    conv's GEMM epilogue; other cases run the three kernels in turn."""
    conv_step = provider.compile_node(conv, ctx)
    join = add_relu_step(provider, add, relu, ctx)
    n_conv = len(conv_step.inputs)
    fused = getattr(conv_step.fn, "with_residual", None)

    def run(*args):
        conv_args, residual = args[:n_conv], args[n_conv]
        x, w, b = (list(conv_args) + [None])[:3]
        if fused is not None and isinstance(residual, np.ndarray):
            y = fused(x, w, b, residual)
            if y is not None:
                return y
        y = conv_step.fn(*conv_args)
        return join.fn(y, residual) if index == 0 else join.fn(residual, y)
    return Step(run, list(conv_step.inputs) + [add.inputs[1 - index]], list(relu.outputs),
                [conv, add, relu], provider.name, conv_step.kernel)
