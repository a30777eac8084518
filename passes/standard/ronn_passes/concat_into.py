"""O3: convolutions that feed a channel Concat write straight into its output.

SqueezeNet's fire modules and Inception's blocks concatenate the outputs of several convs along
the channels, and the Concat copies each of them once more. Here every such conv becomes a
``com.ronn::FusedConv`` with ``concat_channels`` (the Concat's channel count) and
``concat_offset`` (its first channel): the first allocates the whole output and writes its
channels; each next one takes that buffer as its fifth input (``into``) and writes its own in
place; a ``com.ronn::ConcatInto`` copies in the inputs no conv made (an Inception block's
branch that a Split hands over) and yields the Concat's output. Each node is the only reader of
the buffer it is given, so nothing ever reads a half-written one.

Conditions: a 4-D Concat along the channels, every input's channel count known; a conv input is
the output of a ``Conv`` or ``FusedConv`` with constant 4-D weights that only the Concat reads
(once); at least one; every provider of the session is ``cpu``.
"""

from __future__ import annotations

from onnx import AttributeProto

from ronn_core.graph import Graph, Node
from ronn_core.types import TensorType
from ronn_passes import util


class ConcatInto(util.CpuOnlyPass):
    name = "concat-into"
    after = ("residual-fusion", "activation-fusion", "sibling-conv-merge")

    def rewrite(self, graph: Graph, ctx) -> bool:
        changed = False
        for node in list(graph.nodes):
            if node.op_type == "Concat" and not node.domain and self._rewrite(graph, node):
                changed = True
        return changed

    def _rewrite(self, graph: Graph, concat: Node) -> bool:
        if len(concat.outputs) != 1 or len(concat.inputs) < 2:
            return False
        out_type = util.tensor_type(graph, concat.outputs[0])
        if out_type is None or out_type.rank != 4 or int(util.attr(concat, "axis", 1)) % 4 != 1:
            return False
        channels = [_channels(graph, name) for name in concat.inputs]
        if None in channels:
            return False
        convs = {i: conv for i, name in enumerate(concat.inputs)
                 if (conv := _conv_writing(graph, name, concat)) is not None}
        if not convs:
            return False
        offsets = [sum(channels[:i]) for i in range(len(channels))]
        total = sum(channels)
        others = [i for i in range(len(concat.inputs)) if i not in convs]
        shape = out_type.shape if out_type.shape is not None else (None,) * 4
        buffer_type = TensorType(out_type.elem_type, (shape[0], total, shape[2], shape[3]))
        nodes, buffer = [], ""
        for i in sorted(convs):
            last = i == max(convs) and not others
            out = concat.outputs[0] if last else graph.unique_name(f"{concat.outputs[0]}_into")
            nodes.append(_conv_into(graph, convs[i], buffer, out, total, offsets[i]))
            if not last:
                graph.value(out).type = buffer_type
            buffer = out
        if others:
            copy = util.make_node(graph, "ConcatInto",
                                  [buffer] + [concat.inputs[i] for i in others],
                                  [concat.outputs[0]], domain=util.RONN_DOMAIN,
                                  name=graph.unique_name(f"{concat.name}_into"),
                                  attributes={"offsets": [offsets[i] for i in others]})
            copy.attribute_types["offsets"] = AttributeProto.INTS
            nodes.append(copy)
        for conv in convs.values():
            util.remove(graph, conv)
            util.forget(graph, conv.outputs[0])
        position = graph.nodes.index(concat)
        util.remove(graph, concat)
        util.insert(graph, position, nodes)
        return True


def _channels(graph: Graph, name: str) -> int | None:
    t = util.tensor_type(graph, name)
    if t is None or t.shape is None or len(t.shape) != 4 or not isinstance(t.shape[1], int):
        return None
    return t.shape[1]


def _conv_writing(graph: Graph, name: str, concat: Node) -> Node | None:
    """The conv producing ``name`` when it may write into the Concat's output instead."""
    conv = util.producer(graph, name)
    if conv is None or len(conv.outputs) != 1 or util.only_consumer(graph, name) is not concat:
        return None
    plain = not conv.domain and conv.op_type == "Conv"
    fused = conv.domain == util.RONN_DOMAIN and conv.op_type == "FusedConv"
    if not (plain or fused) or len(conv.inputs) > 4 or "concat_channels" in conv.attributes:
        return None
    w = util.const(graph, conv.inputs[1]) if len(conv.inputs) > 1 else None
    return conv if w is not None and w.ndim == 4 else None


def _conv_into(graph: Graph, conv: Node, buffer: str, out: str, total: int,
               offset: int) -> Node:
    """``conv`` as a FusedConv writing channels ``offset...`` of a ``total``-channel buffer."""
    attrs = dict(conv.attributes)
    if conv.op_type == "Conv":
        attrs.update(activation="Identity", activation_params=[])
    attrs.update(concat_channels=total, concat_offset=offset)
    inputs = list(conv.inputs) + [""] * (4 - len(conv.inputs))
    if buffer:
        inputs.append(buffer)
    while not inputs[-1]:
        inputs.pop()
    node = util.make_node(graph, "FusedConv", inputs, [out], domain=util.RONN_DOMAIN,
                          name=graph.unique_name(f"{conv.name}_into"), attributes=attrs,
                          like=conv)
    node.attribute_types.update(activation=AttributeProto.STRING,
                                activation_params=AttributeProto.FLOATS,
                                concat_channels=AttributeProto.INT,
                                concat_offset=AttributeProto.INT)
    return node
