"""Elementwise fusion at compile time: chains of elementwise nodes become one Triton kernel.

A chain grows from a node through its output's only reader, while that reader is elementwise,
assigned to this provider, and reads nothing produced after the chain's first node (so the fused
step can run where the chain starts). Intermediate values are never written to memory.
"""

from __future__ import annotations

import numpy as np

from ronn_core.provider import CompileContext, Step

from ronn_gpu.ops.common import FLOATS, input_dtype

ELEMENTWISE = {"Add", "Sub", "Mul", "Div", "Relu", "Sigmoid", "Tanh", "Exp", "Log", "Neg", "Abs",
               "Sqrt", "Reciprocal", "Erf", "Max", "Min", "Sum", "LeakyRelu", "HardSigmoid",
               "Clip", "Gelu"}


def _constant(graph, name):
    v = graph.values.get(name) if name else None
    if v is None or not v.is_constant or name in graph.inputs:
        return None
    return v.constant


def fusable(node, graph) -> bool:
    if node.op_type not in ELEMENTWISE or len([o for o in node.outputs if o]) != 1:
        return False
    if node.domain not in ("", "com.ronn") or (node.domain and node.op_type != "Gelu"):
        return False
    if input_dtype(graph, node.inputs[0]) not in FLOATS:
        return False
    if node.op_type == "Clip" and node.version >= 11:
        return all(not n or _constant(graph, n) is not None for n in node.inputs[1:3])
    return True


def _attrs(node, graph) -> dict:
    attrs = dict(node.attributes)
    if node.op_type == "Clip" and node.version >= 11:
        bounds = [_constant(graph, n) if n else None for n in (list(node.inputs[1:3]) + ["", ""])[:2]]
        attrs = {"min": None if bounds[0] is None else float(np.asarray(bounds[0])),
                 "max": None if bounds[1] is None else float(np.asarray(bounds[1]))}
    return attrs


def chains(nodes: list, graph) -> list[list]:
    """Maximal fusable chains (length >= 2) among ``nodes``, in graph order."""
    mine = {id(n) for n in nodes}
    order = {id(n): i for i, n in enumerate(graph.nodes)}
    taken: set[int] = set()
    found = []
    for node in nodes:
        if id(node) in taken or not fusable(node, graph):
            continue
        chain = [node]
        head = order[id(node)]
        while True:
            out = chain[-1].outputs[0]
            readers = graph.consumers(out)
            if out in graph.outputs or len(readers) != 1:
                break
            nxt = readers[0]
            if id(nxt) not in mine or id(nxt) in taken or not fusable(nxt, graph) \
                    or nxt.implicit_inputs:
                break
            produced = {c.outputs[0] for c in chain}
            ready = all(not name or name in produced or graph.producer(name) is None
                        or order[id(graph.producer(name))] < head for name in nxt.inputs)
            if not ready:
                break
            chain.append(nxt)
        if len(chain) >= 2:
            taken.update(id(n) for n in chain)
            found.append(chain)
    return found


def fused_step(provider, chain: list, graph) -> Step:
    """One Step running ``chain`` as a single generated Triton kernel."""
    from ronn_gpu.triton_kernels.elementwise import run_fused
    backend = provider.backend
    results = {n.outputs[0]: j for j, n in enumerate(chain)}
    external: list[str] = []
    program = []
    for node in chain:
        names = list(node.inputs)
        if node.op_type == "Clip" and node.version >= 11:
            names = names[:1]
        args = []
        for name in names:
            if not name:
                continue
            if name in results and results[name] < len(program):
                args.append(("t", results[name]))
                continue
            if name not in external:
                external.append(name)
            args.append(("in", external.index(name)))
        program.append((node.op_type, args, _attrs(node, graph)))

    def run(*inputs):
        return run_fused(backend, program, inputs, out_dtype=inputs[0].dtype)
    run.program = program
    return Step(run, external, [chain[-1].outputs[0]], list(chain), provider.name,
                label="FusedElementwise")


def compile_with_fusion(provider, nodes: list, ctx: CompileContext) -> list[Step]:
    fused = chains(nodes, ctx.graph)
    in_chain = {id(n): c for c in fused for n in c}
    steps, done = [], set()
    for node in nodes:
        chain = in_chain.get(id(node))
        if chain is None:
            steps.append(provider.compile_node(node, ctx))
        elif id(chain[0]) not in done:
            done.add(id(chain[0]))
            steps.append(fused_step(provider, chain, ctx.graph))
    return steps
