"""O3: sibling convolutions that read the same input become one Conv and a Split.

Inception's branches start with several 1x1 convs of one input (64, 96 and 16 channels of the
same 192-channel map); ResNet's first block of a stage has two. Their weights are stacked along
the output channels, so one GEMM reads the input once, at the larger M BLAS runs faster, and a
``Split`` hands each branch its channels (views on the cpu provider). Conditions: plain ``Conv``
or ``com.ronn::FusedConv`` without a residual, one group, constant weights (and bias), the same
kernel, strides, pads, dilations, dtype and activation; every provider of the session is
``cpu`` (other providers' Split may copy).
"""

from __future__ import annotations

import numpy as np

from ronn_core.graph import Graph, Node
from ronn_core.types import TensorType
from ronn_passes import util
from ronn_passes.siblings import SiblingMerge, replace

_GEOMETRY = ("strides", "pads", "dilations", "auto_pad", "activation", "activation_params")


class SiblingConvMerge(SiblingMerge):
    name = "sibling-conv-merge"
    after = ("conv-affine-fusion", "bn-affine-fusion", "residual-fusion", "activation-fusion")

    @staticmethod
    def _key(graph: Graph, node: Node):
        """What siblings must share to merge, or None when ``node`` cannot."""
        fused = node.domain == util.RONN_DOMAIN and node.op_type == "FusedConv"
        if not (fused or (not node.domain and node.op_type == "Conv")) or len(node.outputs) != 1 \
                or len(node.inputs) not in (2, 3) or int(util.attr(node, "group", 1)) != 1:
            return None
        w = util.const(graph, node.inputs[1])
        bias = node.inputs[2] if len(node.inputs) > 2 else ""
        if w is None or w.ndim < 3 or (bias and util.const(graph, bias) is None) \
                or util.used_by_subgraph(graph, node.outputs[0]) \
                or node.outputs[0] in util.outputs_set(graph):
            return None
        shape = list(util.attr(node, "kernel_shape") or w.shape[2:])
        if shape != list(w.shape[2:]):
            return None
        return (node.op_type, node.domain, w.dtype.str, tuple(w.shape[1:])) + tuple(
            repr(util.attr(node, name)) for name in _GEOMETRY)

    @staticmethod
    def _merge(graph: Graph, group: list[Node]) -> None:
        first = group[0]
        weights = [util.const(graph, n.inputs[1]) for n in group]
        sizes = [int(w.shape[0]) for w in weights]
        biases = [util.const(graph, n.inputs[2]) if len(n.inputs) > 2 and n.inputs[2]
                  else np.zeros(size, weights[0].dtype) for n, size in zip(group, sizes)]
        w_name = util.new_constant(graph, f"{first.name}_siblings_w", np.concatenate(weights))
        b_name = util.new_constant(graph, f"{first.name}_siblings_b",
                                   np.concatenate([np.asarray(b, weights[0].dtype).reshape(-1)
                                                   for b in biases]))
        merged_out = graph.unique_name(f"{first.outputs[0]}_siblings")
        merged = util.make_node(graph, first.op_type, [first.inputs[0], w_name, b_name],
                                [merged_out], domain=first.domain,
                                name=graph.unique_name(f"{first.name}_siblings"),
                                attributes=dict(first.attributes), like=first)
        outputs = [n.outputs[0] for n in group]
        split = util.split_node(graph, merged_out, outputs, sizes, axis=1,
                                name=graph.unique_name(f"{first.name}_split"))
        _type_merged(graph, merged_out, outputs[0], sum(sizes))
        replace(graph, group, merged, split)


def _type_merged(graph: Graph, merged: str, sibling: str, channels: int) -> None:
    """The merged output's type: a sibling's, with ``channels`` output channels."""
    t = util.tensor_type(graph, sibling)
    if t is not None and t.shape is not None and len(t.shape) > 1:
        shape = (t.shape[0], channels) + tuple(t.shape[2:])
        graph.value(merged).type = TensorType(t.elem_type, shape)
    elif t is not None:
        graph.value(merged).type = TensorType(t.elem_type, None)
