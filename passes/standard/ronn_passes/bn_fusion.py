"""O2: fold per-channel ``Mul(c)`` and ``Add(c)`` that follow a BatchNormalization into its scale
and bias (DenseNet's converted Caffe2 ``Scale`` layers: ``BN -> Mul -> Add -> Relu``).

In inference mode ``BN(x) = (x - mean) * s / sqrt(var + eps) + b``, so ``BN(x) * v`` is the same
BN with scale ``s * v`` and bias ``b * v``, and ``BN(x) + a`` the one with bias ``b + a``. Applies
when the BN's parameters are constants, its output has the Mul/Add as only reader, and ``c`` is a
scalar or per-channel constant of the same float dtype. Initializers are never edited in place.
"""

from __future__ import annotations

import numpy as np

from ronn_core.graph import Graph, Node
from ronn_passes import util
from ronn_passes.conv_fusion import _bn_params, _channel_vector


class BatchNormAffineFusion(util.StandardPass):
    """BatchNormalization+Mul and BatchNormalization+Add folding, repeated to a fixed point."""

    name = "bn-affine-fusion"
    level = "O2"
    after = ("constant-folding", "noop-elimination", "conv-affine-fusion")

    def rewrite(self, graph: Graph, ctx) -> bool:
        changed = False
        for bn in list(graph.nodes):
            while bn in graph.nodes and self._fold_one(graph, bn):
                changed = True
        return changed

    def _fold_one(self, graph: Graph, bn: Node) -> bool:
        if bn.op_type != "BatchNormalization" or bn.domain:
            return False
        scale = util.const(graph, bn.inputs[1]) if len(bn.inputs) == 5 else None
        if scale is None or _bn_params(graph, bn, scale.dtype) is None:
            return False
        nxt = util.follower(graph, bn, "Mul") or util.follower(graph, bn, "Add")
        if nxt is None:
            return False
        other = [n for n in nxt.inputs if n != bn.outputs[0]]
        c = util.const(graph, other[0]) if len(other) == 1 else None
        rank = _rank(graph, bn.inputs[0])
        if c is None or c.dtype != scale.dtype or rank is None:
            return False
        vec = _channel_vector(c, rank, scale.shape[0])
        if vec is None:
            return False
        beta = util.const(graph, bn.inputs[2])
        if nxt.op_type == "Mul":
            new_scale, new_beta = scale * vec, beta * vec
        else:
            new_scale, new_beta = scale, beta + vec
        s_name = util.new_constant(graph, f"{bn.inputs[1]}_fused", new_scale.astype(scale.dtype))
        b_name = util.new_constant(graph, f"{bn.inputs[2]}_fused", new_beta.astype(scale.dtype))
        out, old = nxt.outputs[0], bn.outputs[0]
        util.remove(graph, nxt)
        util.set_inputs(graph, bn, [bn.inputs[0], s_name, b_name, *bn.inputs[3:]])
        util.set_outputs(graph, bn, [out])
        util.forget(graph, old)
        return True


def _rank(graph: Graph, name: str) -> int | None:
    value = graph.values.get(name)
    shape = getattr(getattr(value, "type", None), "shape", None)
    return None if shape is None else len(shape)
