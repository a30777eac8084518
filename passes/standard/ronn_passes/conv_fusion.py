"""O2: fold per-channel affine ops that follow a Conv into its weights and bias.

``Conv -> BatchNormalization``, ``Conv -> Mul(c)`` and ``Conv -> Add(c)`` become one Conv with new
weight and bias initializers, when the Conv's weight (and bias) and the other op's parameters are
constants, the Conv output has that op as its only reader, ``c`` is a per-output-channel or scalar
constant of the same float dtype, and the result is the follower's output (so its type is kept).
The original initializers are never edited in place (another node may share them).
"""

from __future__ import annotations

import numpy as np

from ronn_core.graph import Graph, Node
from ronn_passes import util


def _conv_parts(graph: Graph, conv: Node):
    """(weight, bias or None) of a Conv with constant parameters, else None."""
    if conv.op_type != "Conv" or conv.domain or len(conv.outputs) != 1:
        return None
    w = util.const(graph, conv.inputs[1]) if len(conv.inputs) > 1 else None
    if w is None or w.dtype.kind != "f" or w.ndim < 3:
        return None
    b = None
    if len(conv.inputs) > 2 and conv.inputs[2]:
        b = util.const(graph, conv.inputs[2])
        if b is None or b.dtype != w.dtype:
            return None
    return w, b


def _channel_vector(c: np.ndarray, out_rank: int, channels: int) -> np.ndarray | None:
    """``c`` as a length-``channels`` vector when it broadcasts per output channel only."""
    if c.ndim > out_rank:
        return None
    shape = (1,) * (out_rank - c.ndim) + c.shape
    if any(d != 1 for i, d in enumerate(shape) if i != 1) or shape[1] not in (1, channels):
        return None
    return np.broadcast_to(c.reshape(-1), (channels,)) if c.size in (1, channels) else None


def _rewrite(graph: Graph, conv: Node, follower: Node, w: np.ndarray, b: np.ndarray) -> None:
    w_name = util.new_constant(graph, f"{conv.inputs[1]}_fused", w)
    b_name = util.new_constant(graph, f"{conv.name or 'conv'}_bias_fused", b)
    out = follower.outputs[0]
    old = conv.outputs[0]
    util.remove(graph, follower)
    util.set_inputs(graph, conv, [conv.inputs[0], w_name, b_name])
    util.set_outputs(graph, conv, [out])
    util.forget(graph, old)


class ConvAffineFusion(util.StandardPass):
    """Conv+BatchNormalization, Conv+Mul and Conv+Add folding (one pass, repeated to a fixed
    point so ``Conv -> BN -> Mul -> Add`` folds completely)."""

    name = "conv-affine-fusion"
    level = "O2"
    after = ("constant-folding", "noop-elimination")

    def rewrite(self, graph: Graph, ctx) -> bool:
        changed = False
        for conv in list(graph.nodes):
            while conv in graph.nodes and self._fold_one(graph, conv):
                changed = True
        return changed

    def _fold_one(self, graph: Graph, conv: Node) -> bool:
        parts = _conv_parts(graph, conv)
        if parts is None:
            return False
        w, b = parts
        m = w.shape[0]
        bias = np.zeros(m, dtype=np.float64) if b is None else b.astype(np.float64)
        for op in ("BatchNormalization", "Mul", "Add"):
            nxt = util.follower(graph, conv, op)
            if nxt is None:
                continue
            if op == "BatchNormalization":
                params = _bn_params(graph, nxt, w.dtype)
                if params is None or params[0].shape != (m,):
                    return False
                scale, beta, mean, var, eps = params
                factor = scale / np.sqrt(var + eps)
                new_w = w * factor.astype(w.dtype).reshape((-1,) + (1,) * (w.ndim - 1))
                new_b = (bias - mean) * factor + beta
            else:
                other = [n for n in nxt.inputs if n != conv.outputs[0]]
                c = util.const(graph, other[0]) if len(other) == 1 else None
                if c is None or c.dtype != w.dtype:
                    return False
                vec = _channel_vector(c, w.ndim, m)
                if vec is None:
                    return False
                vec = vec.astype(np.float64)
                if op == "Mul":
                    new_w = w * vec.astype(w.dtype).reshape((-1,) + (1,) * (w.ndim - 1))
                    new_b = bias * vec
                else:
                    new_w = w
                    new_b = bias + vec
            _rewrite(graph, conv, nxt, new_w.astype(w.dtype, copy=False), new_b.astype(w.dtype))
            return True
        return False


def _bn_params(graph: Graph, bn: Node, dtype):
    """(scale, bias, mean, var, epsilon) in float64 for an inference-mode BatchNormalization."""
    if any(o for o in bn.outputs[1:]) or len(bn.inputs) != 5:
        return None
    if bn.attributes.get("training_mode", 0) or bn.attributes.get("spatial", 1) != 1:
        return None
    arrays = [util.const(graph, n) for n in bn.inputs[1:]]
    if any(a is None or a.ndim != 1 or a.dtype.kind != "f" for a in arrays):
        return None
    if len({a.shape for a in arrays}) != 1:
        return None
    scale, beta, mean, var = (a.astype(np.float64) for a in arrays)
    return scale, beta, mean, var, float(bn.attributes.get("epsilon", 1e-5))
