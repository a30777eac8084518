"""O3: sibling MatMuls that read the same input become one MatMul and a Split.

A transformer layer's Q, K and V projections are three products of one input with constant
weights. Their weights are stacked along the output columns, so one GEMM reads the input once
at three times the width, and a ``Split`` on the last axis hands each projection its columns
(views on the cpu provider; the Reshape into heads that follows keeps them views). Conditions:
plain ``MatMul`` or ``com.ronn::FusedMatMul``, constant 2-D weights of one dtype and depth, a
constant bias (or none), the same activation; every provider of the session is ``cpu``.
"""

from __future__ import annotations

import numpy as np

from ronn_core.graph import Graph, Node
from ronn_core.types import TensorType
from ronn_passes import util
from ronn_passes.siblings import SiblingMerge, replace

_ACTIVATION = ("activation", "activation_params")


class SiblingMatMulMerge(SiblingMerge):
    name = "sibling-matmul-merge"
    after = ("matmul-add-fusion", "attention-fusion", "matmul-bias-fusion", "gelu-fusion",
             "gelu-fusion-ronn", "activation-fusion")

    @staticmethod
    def _key(graph: Graph, node: Node):
        """What siblings must share to merge, or None when ``node`` cannot."""
        fused = node.domain == util.RONN_DOMAIN and node.op_type == "FusedMatMul"
        if not (fused or (not node.domain and node.op_type == "MatMul")) or \
                len(node.outputs) != 1 or len(node.inputs) not in ((2, 3) if fused else (2,)):
            return None
        w = util.const(graph, node.inputs[1])
        bias = node.inputs[2] if len(node.inputs) > 2 else ""
        b = util.const(graph, bias) if bias else None
        if w is None or w.ndim != 2 or w.dtype.kind != "f" or (bias and b is None) or \
                (b is not None and (b.dtype != w.dtype or b.size != w.shape[1])) or \
                util.used_by_subgraph(graph, node.outputs[0]) or \
                node.outputs[0] in util.outputs_set(graph):
            return None
        return (node.op_type, node.domain, w.dtype.str, int(w.shape[0])) + tuple(
            repr(util.attr(node, name)) for name in _ACTIVATION)

    @staticmethod
    def _merge(graph: Graph, group: list[Node]) -> None:
        first = group[0]
        weights = [util.const(graph, n.inputs[1]) for n in group]
        sizes = [int(w.shape[1]) for w in weights]
        inputs = [first.inputs[0], util.new_constant(graph, f"{first.name}_siblings_w",
                                                     np.concatenate(weights, axis=1))]
        if any(len(n.inputs) > 2 and n.inputs[2] for n in group):
            biases = [util.const(graph, n.inputs[2]) if len(n.inputs) > 2 and n.inputs[2]
                      else np.zeros(size, weights[0].dtype) for n, size in zip(group, sizes)]
            inputs.append(util.new_constant(graph, f"{first.name}_siblings_b", np.concatenate(
                [np.asarray(b, weights[0].dtype).reshape(-1) for b in biases])))
        merged_out = graph.unique_name(f"{first.outputs[0]}_siblings")
        merged = util.make_node(graph, first.op_type, inputs, [merged_out], domain=first.domain,
                                name=graph.unique_name(f"{first.name}_siblings"),
                                attributes=dict(first.attributes), like=first)
        outputs = [n.outputs[0] for n in group]
        split = util.split_node(graph, merged_out, outputs, sizes, axis=-1,
                                name=graph.unique_name(f"{first.name}_split"))
        t = util.tensor_type(graph, outputs[0])
        if t is not None:
            shape = None if t.shape is None else tuple(t.shape[:-1]) + (sum(sizes),)
            graph.value(merged_out).type = TensorType(t.elem_type, shape)
        replace(graph, group, merged, split)
