"""O3: an activation after Conv, Gemm or MatMul folds into ``com.ronn::FusedConv``,
``com.ronn::FusedGemm`` or ``com.ronn::FusedMatMul``; after an inference BatchNormalization (a
pre-activation block: DenseNet's ``BN -> Relu -> Conv``), into
``com.ronn::FusedBatchNormalization`` in sessions whose providers all run it (``cpu``).

The fused node keeps the producer's inputs and attributes and adds ``activation`` (the activation's
op name) and ``activation_params`` (its numbers: LeakyRelu ``[alpha]``, HardSigmoid
``[alpha, beta]``, Clip ``[min, max]``). Conditions: the producer's only reader is the activation,
the activation is a float op of the same dtype, and Clip's bounds are constants.
"""

from __future__ import annotations

import numpy as np
from onnx import AttributeProto

from ronn_core.graph import Graph, Node
from ronn_passes import util

FUSED = {"Conv": "FusedConv", "Gemm": "FusedGemm", "MatMul": "FusedMatMul",
         "BatchNormalization": "FusedBatchNormalization"}
# fused ops that only these providers run (elsewhere the pair stays, on the provider's own kernels)
PROVIDERS_OF = {"BatchNormalization": frozenset({"cpu"})}
FLOAT_MAX = float(np.finfo(np.float32).max)


def activation_params(graph: Graph, act: Node) -> tuple[str, list[float]] | None:
    """(activation name, params) for a fusable activation node, else None."""
    op = act.op_type
    if act.domain == util.RONN_DOMAIN and op == "Gelu":
        return ("GeluTanh" if act.attributes.get("approximate") == "tanh" else "Gelu"), []
    if act.domain or len(act.outputs) != 1:
        return None
    if op in ("Relu", "Sigmoid", "Tanh"):
        return op, []
    if op == "Gelu":
        return ("GeluTanh" if act.attributes.get("approximate") == "tanh" else "Gelu"), []
    if op == "LeakyRelu":
        return op, [float(act.attributes.get("alpha", 0.01))]
    if op == "HardSigmoid":
        return op, [float(act.attributes.get("alpha", 0.2)), float(act.attributes.get("beta", 0.5))]
    if op == "Clip":
        if act.version < 11:
            return op, [float(act.attributes.get("min", -FLOAT_MAX)),
                        float(act.attributes.get("max", FLOAT_MAX))]
        bounds = []
        for i, default in ((1, -FLOAT_MAX), (2, FLOAT_MAX)):
            name = act.inputs[i] if len(act.inputs) > i else ""
            if not name:
                bounds.append(default)
                continue
            v = util.scalar(graph, name)
            if v is None:
                return None
            bounds.append(v)
        return op, bounds
    return None


class ActivationFusion(util.StandardPass):
    name = "activation-fusion"
    level = "O3"
    after = ("conv-affine-fusion", "matmul-add-fusion", "gelu-fusion", "gelu-fusion-ronn")

    def rewrite(self, graph: Graph, ctx) -> bool:
        changed = False
        for node in list(graph.nodes):
            if node.domain or node.op_type not in FUSED or len(node.outputs) != 1:
                continue
            if node.op_type == "Gemm" and node.version < 7:
                continue
            if node.op_type in PROVIDERS_OF and not util.only_providers(ctx,
                                                                         PROVIDERS_OF[node.op_type]):
                continue
            if node.op_type == "BatchNormalization" and (
                    node.attributes.get("training_mode", 0) or node.version < 7):
                continue
            act = util.only_consumer(graph, node.outputs[0])
            if act is None or act.inputs[0] != node.outputs[0]:
                continue
            found = activation_params(graph, act)
            if found is None or not util.is_float(graph, act.outputs[0]) \
                    or util.elem_type(graph, node.outputs[0]) != util.elem_type(graph, act.outputs[0]):
                continue
            activation, params = found
            attrs = dict(node.attributes)
            attrs.pop("training_mode", None)          # 0 here: inference only
            attrs["activation"] = activation
            attrs["activation_params"] = params
            fused = util.make_node(graph, FUSED[node.op_type], list(node.inputs),
                                   [act.outputs[0]], domain=util.RONN_DOMAIN,
                                   name=graph.unique_name(f"{node.name}_{activation}"),
                                   attributes=attrs, like=node)
            fused.attribute_types["activation"] = AttributeProto.STRING
            fused.attribute_types["activation_params"] = AttributeProto.FLOATS
            util.replace_nodes(graph, [node, act], fused)
            changed = True
        return changed
