"""GELU, LayerNorm, SkipLayerNorm and attention pattern fusion."""

import math

import numpy as np
import pytest
from onnx import helper

from ronn_passes_tests import (assert_same_outputs, assert_typed, make_model, ops, rand,
                               run_passes, tensor)

SQRT2 = np.float32(math.sqrt(2.0))


def gelu_nodes(form: str):
    head = [helper.make_node("Div", ["x", "sqrt2"], ["d"]),
            helper.make_node("Erf", ["d"], ["e"]),
            helper.make_node("Add", ["e", "one"], ["a"])]
    if form == "A":
        tail = [helper.make_node("Mul", ["x", "a"], ["m"]),
                helper.make_node("Mul", ["m", "half"], ["y"])]
    elif form == "B":
        tail = [helper.make_node("Mul", ["a", "half"], ["m"]),
                helper.make_node("Mul", ["x", "m"], ["y"])]
    else:
        tail = [helper.make_node("Mul", ["x", "half"], ["h"]),
                helper.make_node("Mul", ["h", "a"], ["y"])]
    return head + tail


GELU_INITS = {"sqrt2": SQRT2, "one": np.float32(1.0), "half": np.float32(0.5)}


@pytest.mark.parametrize("form", ["A", "B", "C"])
def test_gelu_fuses_to_standard_gelu_at_opset_20(form):
    model = make_model(gelu_nodes(form), [tensor("x", [2, 8])], [tensor("y", [2, 8])],
                       initializers=GELU_INITS, opset=20)
    graph, out, changed = run_passes(model, ["gelu-fusion"])
    assert changed["gelu-fusion"] and ops(graph) == {"Gelu": 1}
    assert_typed(graph)
    assert_same_outputs(model, out, {"x": rand(2, 8)})


def test_gelu_before_opset_20_becomes_ronn_gelu_at_o3_only():
    model = make_model(gelu_nodes("A"), [tensor("x", [2, 8])], [tensor("y", [2, 8])],
                       initializers=GELU_INITS, opset=17)
    graph, _, changed = run_passes(model, ["gelu-fusion"])
    assert not changed["gelu-fusion"]
    graph, out, changed = run_passes(model, ["gelu-fusion", "gelu-fusion-ronn"])
    assert ops(graph) == {"com.ronn::Gelu": 1}
    assert_same_outputs(model, out, {"x": rand(2, 8)}, ort=False)


def test_gelu_with_wrong_constant_is_left_alone():
    model = make_model(gelu_nodes("A"), [tensor("x", [2, 8])], [tensor("y", [2, 8])],
                       initializers={**GELU_INITS, "half": np.float32(0.4)}, opset=20)
    graph, _, changed = run_passes(model, ["gelu-fusion"])
    assert not changed["gelu-fusion"]


def layernorm_nodes(square="Pow", beta=True):
    nodes = [helper.make_node("ReduceMean", ["x"], ["mu"], axes=[-1]),
             helper.make_node("Sub", ["x", "mu"], ["d"]),
             (helper.make_node("Pow", ["d", "two"], ["sq"]) if square == "Pow"
              else helper.make_node("Mul", ["d", "d"], ["sq"])),
             helper.make_node("ReduceMean", ["sq"], ["var"], axes=[-1]),
             helper.make_node("Add", ["var", "eps"], ["ve"]),
             helper.make_node("Sqrt", ["ve"], ["sd"]),
             helper.make_node("Div", ["d", "sd"], ["n"]),
             helper.make_node("Mul", ["n", "gamma"], ["y" if not beta else "g"])]
    if beta:
        nodes.append(helper.make_node("Add", ["g", "beta"], ["y"]))
    return nodes


LN_INITS = {"two": np.float32(2.0), "eps": np.float32(1e-5), "gamma": rand(8, seed=1),
            "beta": rand(8, seed=2)}


@pytest.mark.parametrize("square", ["Pow", "Mul"])
@pytest.mark.parametrize("beta", [True, False])
def test_layernorm_fuses_at_opset_17(square, beta):
    model = make_model(layernorm_nodes(square, beta), [tensor("x", [2, 3, 8])],
                       [tensor("y", [2, 3, 8])], initializers=LN_INITS, opset=17)
    graph, out, changed = run_passes(model, ["layernorm-fusion"])
    assert changed["layernorm-fusion"] and ops(graph) == {"LayerNormalization": 1}
    assert_typed(graph)
    assert_same_outputs(model, out, {"x": rand(2, 3, 8)})


def test_layernorm_before_opset_17_becomes_ronn_layernorm():
    model = make_model(layernorm_nodes(), [tensor("x", [2, 3, 8])], [tensor("y", [2, 3, 8])],
                       initializers=LN_INITS, opset=13)
    graph, out, _ = run_passes(model, ["layernorm-fusion", "layernorm-fusion-ronn"])
    assert ops(graph) == {"com.ronn::LayerNormalization": 1}
    assert_same_outputs(model, out, {"x": rand(2, 3, 8)}, ort=False)


@pytest.mark.parametrize("residual_read", [False, True])
def test_skip_layernorm(residual_read):
    nodes = [helper.make_node("Add", ["x", "skip"], ["s"]),
             helper.make_node("LayerNormalization", ["s", "gamma", "beta"], ["y"], axis=-1,
                              epsilon=1e-5)]
    outputs = [tensor("y", [2, 3, 8])]
    if residual_read:
        nodes.append(helper.make_node("Relu", ["s"], ["r"]))
        outputs.append(tensor("r", [2, 3, 8]))
    model = make_model(nodes, [tensor("x", [2, 3, 8]), tensor("skip", [2, 3, 8])], outputs,
                       initializers={"gamma": rand(8, seed=1), "beta": rand(8, seed=2)})
    graph, out, changed = run_passes(model, ["skip-layernorm-fusion"])
    assert changed["skip-layernorm-fusion"]
    assert ops(graph).get("com.ronn::SkipLayerNormalization") == 1
    assert "Add" not in ops(graph)
    assert_typed(graph)
    assert_same_outputs(model, out, {"x": rand(2, 3, 8), "skip": rand(2, 3, 8, seed=4)},
                        ort=False)


@pytest.mark.parametrize("scale_op", ["Mul", "Div", None])
@pytest.mark.parametrize("mask", [True, False])
def test_attention_fuses(scale_op, mask):
    nodes = [helper.make_node("MatMul", ["q", "kt"], ["qk"])]
    scores = "qk"
    if scale_op:
        nodes.append(helper.make_node(scale_op, ["qk", "scale"], ["sc"]))
        scores = "sc"
    if mask:
        nodes.append(helper.make_node("Add", [scores, "mask"], ["masked"]))
        scores = "masked"
    nodes += [helper.make_node("Softmax", [scores], ["p"], axis=-1),
              helper.make_node("MatMul", ["p", "v"], ["y"])]
    ins = [tensor("q", [2, 4, 8]), tensor("kt", [2, 8, 5]), tensor("v", [2, 5, 8])]
    if mask:
        ins.append(tensor("mask", [1, 1, 5]))
    model = make_model(nodes, ins, [tensor("y", [2, 4, 8])],
                       initializers={"scale": np.float32(0.35)})
    feeds = {"q": rand(2, 4, 8), "kt": rand(2, 8, 5, seed=1), "v": rand(2, 5, 8, seed=2)}
    if mask:
        feeds["mask"] = np.where(rand(1, 1, 5, seed=3) > 0, 0, -1e4).astype(np.float32)
    graph, out, changed = run_passes(model, ["attention-fusion"])
    assert changed["attention-fusion"] and ops(graph) == {"com.ronn::Attention": 1}
    assert_typed(graph)
    assert_same_outputs(model, out, feeds, ort=False)


@pytest.mark.parametrize("activation", [None, "Gelu", "Relu"])
@pytest.mark.parametrize("bias_shape", [[6], [1, 1, 6]])
def test_nd_matmul_bias_and_activation_fuse_into_fused_matmul(activation, bias_shape):
    nodes = [helper.make_node("MatMul", ["x", "w"], ["mm"]),
             helper.make_node("Add", ["bias", "mm"], ["y" if activation is None else "z"])]
    inits = {"w": rand(4, 6, seed=1), "bias": rand(*bias_shape, seed=2)}
    if activation == "Gelu":
        nodes += [helper.make_node(n.op_type, ["z" if i == "x" else i for i in n.input],
                                   list(n.output)) for n in gelu_nodes("A")]
        inits.update(GELU_INITS)
    elif activation == "Relu":
        nodes.append(helper.make_node("Relu", ["z"], ["y"]))
    model = make_model(nodes, [tensor("x", ["b", 3, 4])], [tensor("y", ["b", 3, 6])],
                       initializers=inits, opset=17)
    names = ["gelu-fusion", "gelu-fusion-ronn", "matmul-add-fusion", "matmul-bias-fusion"]
    graph, out, changed = run_passes(model, names)
    assert changed["matmul-bias-fusion"] and ops(graph) == {"com.ronn::FusedMatMul": 1}
    (fused,) = graph.nodes
    assert fused.attributes["activation"] == (activation or "Identity")
    assert_typed(graph)
    assert_same_outputs(model, out, {"x": rand(2, 3, 4)}, ort=False)


def test_matmul_bias_fusion_leaves_runtime_weights_and_full_biases_alone():
    nodes = [helper.make_node("MatMul", ["x", "w"], ["mm"]),
             helper.make_node("Add", ["mm", "bias"], ["y"])]
    for inits, extra in (({"bias": rand(6)}, [tensor("w", [4, 6])]),       # W is an input
                         ({"w": rand(4, 6), "bias": rand(3, 6)}, [])):     # bias varies by row
        model = make_model(nodes, [tensor("x", [2, 3, 4]), *extra], [tensor("y", [2, 3, 6])],
                           initializers=inits)
        graph, _, changed = run_passes(model, ["matmul-bias-fusion"])
        assert not changed["matmul-bias-fusion"] and ops(graph) == {"MatMul": 1, "Add": 1}
