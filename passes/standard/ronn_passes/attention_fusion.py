"""O3: scaled dot-product attention into ``com.ronn::Attention``.

    MatMul(Softmax(Add?(Mul|Div?(MatMul(Q, K_t), scale), mask), axis=last), V)

becomes ``com.ronn::Attention(Q, K_t, V, [mask]; scale, scale_op)``. The kernel does the same
operations in the same order (so broadcasting of the mask is unchanged). Conditions: the softmax is
over the last axis (for opset < 13 the rank must be known so ``axis = rank - 1``), the scale is a
scalar constant, and every intermediate has one reader.
"""

from __future__ import annotations

from onnx import AttributeProto

from ronn_core.graph import Graph, Node
from ronn_passes import util


def _last_axis_softmax(graph: Graph, sm: Node) -> bool:
    axis = sm.attributes.get("axis", -1 if sm.version >= 13 else 1)
    r = util.rank(graph, sm.inputs[0])
    if axis == -1:
        return True
    return r is not None and axis % r == r - 1


def match_attention(graph: Graph, out_mm: Node):
    if out_mm.op_type != "MatMul" or out_mm.domain:
        return None
    sm = util.producer(graph, out_mm.inputs[0])
    if sm is None or sm.op_type != "Softmax" or sm.domain or not _last_axis_softmax(graph, sm):
        return None
    if util.only_consumer(graph, sm.outputs[0]) is not out_mm:
        return None
    nodes = [sm, out_mm]
    cur = util.producer(graph, sm.inputs[0])
    mask = ""
    if cur is not None and cur.op_type == "Add" and not cur.domain \
            and util.only_consumer(graph, cur.outputs[0]) is sm:
        left = util.producer(graph, cur.inputs[0])
        right = util.producer(graph, cur.inputs[1])
        if left is not None and left.op_type in ("Mul", "Div", "MatMul"):
            scores, mask = cur.inputs
        elif right is not None and right.op_type in ("Mul", "Div", "MatMul"):
            mask, scores = cur.inputs
        else:
            return None
        nodes.insert(0, cur)
        cur = util.producer(graph, scores)
    scale, scale_op = 1.0, "Mul"
    if cur is not None and cur.op_type in ("Mul", "Div") and not cur.domain \
            and util.only_consumer(graph, cur.outputs[0]) is not None:
        qk = util.producer(graph, cur.inputs[0])
        s = util.scalar(graph, cur.inputs[1])
        if (qk is None or qk.op_type != "MatMul") and cur.op_type == "Mul":
            qk = util.producer(graph, cur.inputs[1])
            s = util.scalar(graph, cur.inputs[0])
        if qk is None or qk.op_type != "MatMul" or s is None:
            return None
        scale, scale_op = s, cur.op_type
        nodes.insert(0, cur)
        cur = qk
    if cur is None or cur.op_type != "MatMul" or cur.domain \
            or util.only_consumer(graph, cur.outputs[0]) is None:
        return None
    nodes.insert(0, cur)
    q, k_t = cur.inputs
    if mask and any(mask in n.outputs for n in nodes):
        return None
    return q, k_t, out_mm.inputs[1], mask, scale, scale_op, nodes


class AttentionFusion(util.StandardPass):
    name = "attention-fusion"
    level = "O3"
    after = ("constant-folding", "noop-elimination", "matmul-add-fusion")
    before = ("activation-fusion",)

    def rewrite(self, graph: Graph, ctx) -> bool:
        changed = False
        for node in list(graph.nodes):
            if node not in graph.nodes:
                continue
            found = match_attention(graph, node)
            if found is None:
                continue
            q, k_t, v, mask, scale, scale_op, nodes = found
            types = {util.elem_type(graph, n) for n in (q, k_t, v)}
            if len(types) != 1 or types.pop() not in util.FLOAT_TYPES:
                continue
            fused = util.make_node(graph, "Attention", [q, k_t, v] + ([mask] if mask else []),
                                   [node.outputs[0]], domain=util.RONN_DOMAIN,
                                   name=graph.unique_name(f"{node.name}_attention"),
                                   attributes={"scale": float(scale), "scale_op": scale_op})
            fused.attribute_types = {"scale": AttributeProto.FLOAT,
                                     "scale_op": AttributeProto.STRING}
            util.replace_nodes(graph, nodes, fused)
            changed = True
        return changed
