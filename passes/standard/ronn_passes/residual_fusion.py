"""O3: a residual connection after a Conv folds into ``com.ronn::FusedConv``'s fourth input.

``Add(Conv(x, w, b), z)`` (or a two-input ``Sum``), and the activation that may follow it, become
``FusedConv(x, w, b, z)`` with ``activation`` (``Identity`` when none follows): the kernel adds
``z`` in the epilogue it already makes, so the sum and the activation cost no pass of their own
(ResNet's ``Conv -> Add -> Relu``). Conditions: the Conv's only reader is the Add; ``z`` has the
Conv output's static shape and dtype (no broadcasting); ``z`` is not the Conv's own output; and
every provider of the session is one whose FusedConv kernel takes the residual (``cpu``).
"""

from __future__ import annotations

from onnx import AttributeProto

from ronn_core.graph import Graph, Node
from ronn_passes import util
from ronn_passes.activation_fusion import activation_params


class ResidualFusion(util.StandardPass):
    name = "residual-fusion"
    level = "O3"
    after = ("conv-affine-fusion", "bn-affine-fusion")
    before = ("activation-fusion",)
    takes_residual = frozenset({"cpu"})      # providers whose FusedConv takes the fourth input

    def rewrite(self, graph: Graph, ctx) -> bool:
        if not util.only_providers(ctx, self.takes_residual):
            return False
        changed = False
        for conv in list(graph.nodes):
            if conv in graph.nodes and self._fuse(graph, conv):
                changed = True
        return changed

    def _fuse(self, graph: Graph, conv: Node) -> bool:
        if conv.domain or conv.op_type != "Conv" or len(conv.outputs) != 1:
            return False
        y = conv.outputs[0]
        add = util.only_consumer(graph, y)
        if add is None or add.domain or add.op_type not in ("Add", "Sum") \
                or len(add.inputs) != 2 or len(add.outputs) != 1:
            return False
        z = add.inputs[1] if add.inputs[0] == y else add.inputs[0]
        shape = util.static_shape(graph, y)
        if z == y or shape is None or util.static_shape(graph, z) != shape \
                or not util.is_float(graph, y) or util.elem_type(graph, z) != util.elem_type(graph, y):
            return False
        last, activation, params = add, "Identity", []
        act = util.only_consumer(graph, add.outputs[0])
        if act is not None and act.inputs[0] == add.outputs[0]:
            found = activation_params(graph, act)
            if found is not None and util.elem_type(graph, act.outputs[0]) == util.elem_type(graph, y):
                last, (activation, params) = act, found
        inputs = list(conv.inputs) + [""] * (3 - len(conv.inputs)) + [z]
        attrs = dict(conv.attributes)
        attrs["activation"] = activation
        attrs["activation_params"] = params
        fused = util.make_node(graph, "FusedConv", inputs, [last.outputs[0]],
                               domain=util.RONN_DOMAIN,
                               name=graph.unique_name(f"{conv.name}_residual"),
                               attributes=attrs, like=conv)
        fused.attribute_types["activation"] = AttributeProto.STRING
        fused.attribute_types["activation_params"] = AttributeProto.FLOATS
        util.replace_nodes(graph, [conv, add] + ([last] if last is not add else []), fused)
        return True
