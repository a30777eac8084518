"""What the CPU provider's kernel tests share: a runtime whose cpu provider has no fast kernels
(every node runs the opset's reference kernel), and one-node models (standard and com.ronn)."""

from __future__ import annotations

from onnx import helper, numpy_helper

import ronn_opset_onnx.plugin
from ronn_core import Runtime, hookimpl
from ronn_cpu import CPUExecutionProvider


class ReferenceOnlyCPU:
    """The cpu provider without its fast kernels: every node runs the reference kernel."""

    @staticmethod
    @hookimpl
    def ronn_providers(register):
        register(CPUExecutionProvider)


REFERENCE = Runtime(plugins=[ronn_opset_onnx.plugin, ReferenceOnlyCPU], discover=False)


def one_node(op, x, attrs, constants=(), opset=17):
    """A model of one ``op`` node reading ``x`` and the constant inputs ``c0, c1...``."""
    inits = [numpy_helper.from_array(a, f"c{i}") for i, a in enumerate(constants)]
    node = helper.make_node(op, ["x"] + [t.name for t in inits], ["y"], **attrs)
    graph = helper.make_graph([node], op, [helper.make_tensor_value_info(
        "x", helper.np_dtype_to_tensor_dtype(x.dtype), x.shape)],
        [helper.make_empty_tensor_value_info("y")], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def ronn_node(op, feeds: dict, constants: dict, inputs: list[str], activation: str = "Relu",
              params=(), **attrs):
    """A model of one ``com.ronn`` fused node: graph inputs named and shaped after ``feeds``,
    initializers from ``constants``, ``inputs`` in order ("" for an absent one), output ``y``."""
    extra = {"activation_params": list(params)} if params else {}
    node = helper.make_node(op, inputs, ["y"], domain="com.ronn", activation=activation,
                            **extra, **attrs)
    graph = helper.make_graph(
        [node], op, [helper.make_tensor_value_info(
            name, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape) for name, v in feeds.items()],
        [helper.make_empty_tensor_value_info("y")],
        [numpy_helper.from_array(v, name) for name, v in constants.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                   helper.make_opsetid("com.ronn", 1)])


def then_activation(nodes: list, x: str, activation: str | None, i: int) -> str:
    """Append ``activation`` (LeakyRelu with alpha 0.1) on ``x`` as node ``a{i}``, if any;
    the name of the layer's output."""
    if not activation:
        return x
    attrs = {"alpha": 0.1} if activation == "LeakyRelu" else {}
    nodes.append(helper.make_node(activation, [x], [f"a{i}"], **attrs))
    return f"a{i}"
