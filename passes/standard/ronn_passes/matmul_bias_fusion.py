"""O3: ``MatMul(A, W) -> Add(bias) [-> activation]`` becomes ``com.ronn::FusedMatMul(A, W, bias)``.

The N-D counterpart of ``matmul-add-fusion`` (which only rewrites 2-D products into Gemm): the
linear layers of transformers multiply ``[batch, seq, hidden]`` activations. Conditions: W is a
constant 2-D float, the bias is a constant that varies only along the last axis (shape ``[N]`` or
``[1, ..., 1, N]``, rank no higher than the product's), all of the same float type, and the MatMul
(and the Add, when an activation follows) has a single reader. The fused node computes
``activation(MatMul(A, W) + bias)``; ``activation="Identity"`` when none follows.
"""

from __future__ import annotations

from onnx import AttributeProto

from ronn_core.graph import Graph, Node
from ronn_passes import util
from ronn_passes.activation_fusion import activation_params


def _bias_of(graph: Graph, mm: Node, add: Node) -> str | None:
    bias = add.inputs[1] if add.inputs[0] == mm.outputs[0] else add.inputs[0]
    c = util.const(graph, bias)
    w = util.const(graph, mm.inputs[1])
    if c is None or w is None or w.ndim != 2 or c.ndim == 0 or c.shape[-1] != w.shape[1] \
            or any(d != 1 for d in c.shape[:-1]):
        return None
    out_rank = util.rank(graph, mm.outputs[0])
    if c.ndim > 1 and (out_rank is None or c.ndim > out_rank):
        return None
    types = {util.elem_type(graph, n) for n in (mm.inputs[0], mm.inputs[1], bias)}
    if len(types) != 1 or types.pop() not in (1, 11):       # float, double
        return None
    return bias


class MatMulBiasFusion(util.StandardPass):
    name = "matmul-bias-fusion"
    level = "O3"
    after = ("constant-folding", "noop-elimination", "matmul-add-fusion", "attention-fusion",
             "gelu-fusion", "gelu-fusion-ronn")
    before = ("activation-fusion", "skip-layernorm-fusion")

    def rewrite(self, graph: Graph, ctx) -> bool:
        changed = False
        for mm, add in util.pairs(graph, "MatMul", "Add"):
            bias = _bias_of(graph, mm, add)
            if bias is None:
                continue
            nodes, out, activation, params = [mm, add], add.outputs[0], "Identity", []
            act = util.only_consumer(graph, add.outputs[0])
            found = activation_params(graph, act) if act is not None else None
            if found is not None and act.inputs[0] == add.outputs[0] \
                    and util.elem_type(graph, act.outputs[0]) == util.elem_type(graph, out):
                (activation, params), out = found, act.outputs[0]
                nodes.append(act)
            fused = util.make_node(graph, "FusedMatMul", [*mm.inputs, bias], [out],
                                   domain=util.RONN_DOMAIN,
                                   name=graph.unique_name(f"{mm.name}_bias_{activation}"),
                                   attributes={"activation": activation,
                                               "activation_params": params})
            fused.attribute_types = {"activation": AttributeProto.STRING,
                                     "activation_params": AttributeProto.FLOATS}
            util.replace_nodes(graph, nodes, fused)
            changed = True
        return changed
