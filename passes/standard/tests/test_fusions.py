"""O2 fusions into standard ops and O3 activation fusion into com.ronn fused ops."""

import numpy as np
import pytest
from onnx import helper

from ronn_passes_tests import (assert_same_outputs, assert_typed, make_model, ops, rand,
                               run_passes, tensor)


def conv_model(follower_nodes, out="y", extra=None, bias=True):
    inits = {"w": rand(4, 3, 3, 3, seed=1), **(extra or {})}
    ins = ["x", "w"]
    if bias:
        inits["b"] = rand(4, seed=2)
        ins.append("b")
    nodes = [helper.make_node("Conv", ins, ["c"], pads=[1, 1, 1, 1]), *follower_nodes]
    return make_model(nodes, [tensor("x", [1, 3, 5, 5])], [tensor(out, [1, 4, 5, 5])],
                      initializers=inits)


def bn_params():
    rng = np.random.default_rng(3)
    return {"s": rng.uniform(0.5, 1.5, 4).astype(np.float32),
            "bb": rng.normal(size=4).astype(np.float32),
            "m": rng.normal(size=4).astype(np.float32),
            "v": rng.uniform(0.5, 1.5, 4).astype(np.float32)}


@pytest.mark.parametrize("bias", [True, False])
def test_conv_batchnorm_folds(bias):
    model = conv_model([helper.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"],
                                         ["y"], epsilon=1e-3)], extra=bn_params(), bias=bias)
    graph, out, changed = run_passes(model, ["conv-affine-fusion"])
    assert changed["conv-affine-fusion"] and ops(graph) == {"Conv": 1}
    assert_typed(graph)
    assert_same_outputs(model, out, {"x": rand(1, 3, 5, 5)})


def test_conv_mul_add_chain_folds():
    model = conv_model([helper.make_node("Mul", ["c", "k"], ["d"]),
                        helper.make_node("Add", ["d", "a"], ["y"])],
                       extra={"k": rand(4, 1, 1, seed=5), "a": rand(1, 4, 1, 1, seed=6)})
    graph, out, _ = run_passes(model, ["conv-affine-fusion"])
    assert ops(graph) == {"Conv": 1}
    assert_same_outputs(model, out, {"x": rand(1, 3, 5, 5)})


def test_conv_add_of_a_non_channel_constant_is_left_alone():
    model = conv_model([helper.make_node("Add", ["c", "a"], ["y"])],
                       extra={"a": rand(1, 1, 5, 5, seed=6)})
    graph, _, changed = run_passes(model, ["conv-affine-fusion"])
    assert not changed["conv-affine-fusion"] and ops(graph) == {"Conv": 1, "Add": 1}


def test_conv_output_read_twice_is_not_folded():
    model = make_model([helper.make_node("Conv", ["x", "w"], ["c"]),
                        helper.make_node("Mul", ["c", "k"], ["y"]),
                        helper.make_node("Relu", ["c"], ["z"])],
                       [tensor("x", [1, 3, 5, 5])], [tensor("y", None), tensor("z", None)],
                       initializers={"w": rand(4, 3, 3, 3), "k": rand(4, 1, 1)})
    graph, _, _ = run_passes(model, ["conv-affine-fusion"])
    assert ops(graph) == {"Conv": 1, "Mul": 1, "Relu": 1}


def bn_model(follower_nodes, extra=None):
    bn = helper.make_node("BatchNormalization", ["x", "s", "bb", "m", "v"], ["n"], epsilon=1e-3)
    return make_model([bn, *follower_nodes], [tensor("x", [1, 4, 5, 5])],
                      [tensor("y", [1, 4, 5, 5])], initializers={**bn_params(), **(extra or {})})


def test_batchnorm_mul_add_chain_folds_into_the_batchnorm():
    model = bn_model([helper.make_node("Mul", ["n", "k"], ["d"]),
                      helper.make_node("Add", ["a", "d"], ["e"]),
                      helper.make_node("Relu", ["e"], ["y"])],
                     extra={"k": rand(4, 1, 1, seed=5), "a": rand(1, 4, 1, 1, seed=6)})
    graph, out, changed = run_passes(model, ["bn-affine-fusion"])
    assert changed["bn-affine-fusion"] and ops(graph) == {"BatchNormalization": 1, "Relu": 1}
    assert_typed(graph)
    assert_same_outputs(model, out, {"x": rand(1, 4, 5, 5)})


@pytest.mark.parametrize("shape", [(1, 1, 5, 5), (5,)])
def test_batchnorm_add_of_a_non_channel_constant_is_left_alone(shape):
    model = bn_model([helper.make_node("Add", ["n", "a"], ["y"])], extra={"a": rand(*shape)})
    graph, _, changed = run_passes(model, ["bn-affine-fusion"])
    assert not changed["bn-affine-fusion"] and ops(graph) == {"BatchNormalization": 1, "Add": 1}


def test_batchnorm_output_read_twice_is_not_folded():
    bn = helper.make_node("BatchNormalization", ["x", "s", "bb", "m", "v"], ["n"])
    model = make_model([bn, helper.make_node("Mul", ["n", "k"], ["y"]),
                        helper.make_node("Relu", ["n"], ["z"])],
                       [tensor("x", [1, 4, 5, 5])], [tensor("y", None), tensor("z", None)],
                       initializers={**bn_params(), "k": rand(4, 1, 1)})
    graph, _, changed = run_passes(model, ["bn-affine-fusion"])
    assert not changed["bn-affine-fusion"]


@pytest.mark.parametrize("c_shape", [(5,), (1, 5), (3, 5), (3, 1)])
def test_matmul_add_becomes_gemm(c_shape):
    model = make_model([helper.make_node("MatMul", ["a", "b"], ["ab"]),
                        helper.make_node("Add", ["ab", "c"], ["y"])],
                       [tensor("a", [3, 4])], [tensor("y", [3, 5])],
                       initializers={"b": rand(4, 5, seed=1), "c": rand(*c_shape, seed=2)})
    graph, out, changed = run_passes(model, ["matmul-add-fusion"])
    assert changed["matmul-add-fusion"] and ops(graph) == {"Gemm": 1}
    assert_typed(graph)
    assert_same_outputs(model, out, {"a": rand(3, 4)})


def test_batched_matmul_add_is_not_a_gemm():
    model = make_model([helper.make_node("MatMul", ["a", "b"], ["ab"]),
                        helper.make_node("Add", ["ab", "c"], ["y"])],
                       [tensor("a", [2, 3, 4])], [tensor("y", [2, 3, 5])],
                       initializers={"b": rand(4, 5), "c": rand(5)})
    graph, _, _ = run_passes(model, ["matmul-add-fusion"])
    assert ops(graph) == {"MatMul": 1, "Add": 1}


def test_transposes_cancel_and_merge():
    model = make_model([helper.make_node("Transpose", ["x"], ["t1"], perm=[0, 2, 1]),
                        helper.make_node("Transpose", ["t1"], ["t2"], perm=[0, 2, 1]),
                        helper.make_node("Relu", ["t2"], ["r"]),
                        helper.make_node("Transpose", ["r"], ["t3"], perm=[1, 0, 2]),
                        helper.make_node("Transpose", ["t3"], ["y"], perm=[0, 2, 1])],
                       [tensor("x", [2, 3, 4])], [tensor("y", None)])
    graph, out, changed = run_passes(model, ["transpose-cancellation"])
    assert changed["transpose-cancellation"]
    assert ops(graph) == {"Relu": 1, "Transpose": 1}
    assert_same_outputs(model, out, {"x": rand(2, 3, 4)})


def test_reshapes_collapse():
    model = make_model([helper.make_node("Reshape", ["x", "s1"], ["a"]),
                        helper.make_node("Reshape", ["a", "s2"], ["b"]),
                        helper.make_node("Relu", ["b"], ["y"])],
                       [tensor("x", [2, 3, 4])], [tensor("y", None)],
                       initializers={"s1": np.array([6, 4], np.int64),
                                     "s2": np.array([4, -1], np.int64)})
    graph, out, _ = run_passes(model, ["reshape-cancellation"])
    assert ops(graph) == {"Reshape": 1, "Relu": 1}
    assert_same_outputs(model, out, {"x": rand(2, 3, 4)})


ACTIVATIONS = [
    ("Relu", {}, []), ("Sigmoid", {}, []), ("LeakyRelu", {"alpha": 0.2}, []),
    ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}, []), ("Clip", {}, ["lo", "hi"]),
    ("Gelu", {}, []), ("Tanh", {}, []),
]


@pytest.mark.parametrize("act,attrs,extra", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
@pytest.mark.parametrize("producer", ["Conv", "Gemm", "MatMul"])
def test_activation_fuses_into_fused_op(producer, act, attrs, extra):
    inits = {"lo": np.array(-0.5, np.float32), "hi": np.array(0.7, np.float32)}
    if producer == "Conv":
        head = helper.make_node("Conv", ["x", "w", "b"], ["p"], pads=[1, 1, 1, 1])
        inits.update(w=rand(4, 3, 3, 3, seed=1), b=rand(4, seed=2))
        x = tensor("x", [1, 3, 5, 5])
        feeds = {"x": rand(1, 3, 5, 5)}
    else:
        head = (helper.make_node("Gemm", ["x", "w", "b"], ["p"], transB=1) if producer == "Gemm"
                else helper.make_node("MatMul", ["x", "w"], ["p"]))
        inits.update(w=rand(6, 4, seed=1) if producer == "Gemm" else rand(4, 6, seed=1),
                     b=rand(6, seed=2))
        x = tensor("x", [3, 4])
        feeds = {"x": rand(3, 4)}
    node = helper.make_node(act, ["p", *extra], ["y"], **attrs)
    model = make_model([head, node], [x], [tensor("y", None)], initializers=inits, opset=20)
    graph, out, changed = run_passes(model, ["activation-fusion"])
    assert changed["activation-fusion"]
    assert ops(graph) == {f"com.ronn::Fused{producer}": 1}
    fused = graph.nodes[0]
    assert fused.attributes["activation"] == act and fused.version == 1
    assert graph.opsets["com.ronn"] == 1
    assert_typed(graph)
    assert_same_outputs(model, out, feeds, ort=False)


def test_activation_reading_a_shared_output_is_not_fused():
    model = make_model([helper.make_node("MatMul", ["x", "w"], ["p"]),
                        helper.make_node("Relu", ["p"], ["y"])],
                       [tensor("x", [3, 4])], [tensor("y", None), tensor("p", None)],
                       initializers={"w": rand(4, 6)})
    graph, _, changed = run_passes(model, ["activation-fusion"])
    assert not changed["activation-fusion"]


def bn_relu_model(training_mode=0):
    p = bn_params()
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "bb", "m", "v"], ["n"],
                              epsilon=1e-3, training_mode=training_mode),
             helper.make_node("Relu", ["n"], ["y"])]
    return make_model(nodes, [tensor("x", [2, 4, 5, 5])], [tensor("y", [2, 4, 5, 5])],
                      initializers=p)


def test_batchnorm_relu_folds_into_fused_batch_normalization():
    model = bn_relu_model()
    graph, out, changed = run_passes(model, ["activation-fusion"])
    assert changed["activation-fusion"]
    assert ops(graph) == {"com.ronn::FusedBatchNormalization": 1}
    assert graph.nodes[0].attributes["activation"] == "Relu"
    assert_typed(graph)
    assert_same_outputs(model, out, {"x": rand(2, 4, 5, 5)})


def test_batchnorm_relu_stays_apart_outside_cpu_only_sessions():
    from ronn_core.onnx_io import load
    from ronn_core.passes import PassContext
    from ronn_passes.activation_fusion import ActivationFusion
    graph = load(bn_relu_model().SerializeToString()).graph
    assert not ActivationFusion().run(graph, PassContext(providers=["gpu", "cpu"]))
    assert ops(graph) == {"BatchNormalization": 1, "Relu": 1}
