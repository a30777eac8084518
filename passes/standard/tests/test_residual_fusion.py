"""O3 residual fusion: Conv -> Add(z) [-> activation] into FusedConv with a fourth input."""

import numpy as np
import pytest
from onnx import helper

import ronn
from ronn_core.onnx_io import load
from ronn_core.passes import PassContext
from ronn_passes.residual_fusion import ResidualFusion
from ronn_passes_tests import assert_same_outputs, assert_typed, make_model, ops, rand, \
    run_passes, tensor


def residual_model(join="Add", after=("Relu",), z_shape=(1, 4, 5, 5), bias=True):
    inits = {"w": rand(4, 3, 3, 3, seed=1)}
    conv_in = ["x", "w"]
    if bias:
        inits["b"] = rand(4, seed=2)
        conv_in.append("b")
    nodes = [helper.make_node("Conv", conv_in, ["c"], pads=[1, 1, 1, 1]),
             helper.make_node(join, ["z", "c"], ["s"])]
    out = "s"
    for i, op in enumerate(after):
        nodes.append(helper.make_node(op, [out], [f"a{i}"]))
        out = f"a{i}"
    return make_model(nodes, [tensor("x", [1, 3, 5, 5]), tensor("z", list(z_shape))],
                      [tensor(out, None)], initializers=inits)


def feeds(z_shape=(1, 4, 5, 5)):
    return {"x": rand(1, 3, 5, 5, seed=3), "z": rand(*z_shape, seed=4)}


@pytest.mark.parametrize("join", ["Add", "Sum"])
@pytest.mark.parametrize("bias", [True, False])
def test_conv_add_relu_becomes_one_fused_conv_with_the_residual(join, bias):
    model = residual_model(join, bias=bias)
    graph, out, changed = run_passes(model, ["residual-fusion"])
    assert changed["residual-fusion"] and ops(graph) == {"com.ronn::FusedConv": 1}
    node = graph.nodes[0]
    assert node.inputs[3] == "z" and node.attributes["activation"] == "Relu"
    assert node.inputs[2] == ("b" if bias else "")
    assert_typed(graph)
    assert_same_outputs(model, out, feeds())


def test_without_an_activation_the_fused_conv_is_identity():
    model = residual_model(after=())
    graph, out, _ = run_passes(model, ["residual-fusion"])
    assert ops(graph) == {"com.ronn::FusedConv": 1}
    assert graph.nodes[0].attributes["activation"] == "Identity"
    assert_same_outputs(model, out, feeds())


def test_a_broadcast_residual_is_left_alone():
    model = residual_model(z_shape=(1, 4, 1, 1))
    graph, _, changed = run_passes(model, ["residual-fusion"])
    assert not changed["residual-fusion"] and ops(graph) == {"Conv": 1, "Add": 1, "Relu": 1}


def test_sessions_with_other_providers_keep_the_add():
    graph = load(residual_model().SerializeToString()).graph
    assert not ResidualFusion().run(graph, PassContext(providers=["wasm", "cpu"]))
    assert ops(graph) == {"Conv": 1, "Add": 1, "Relu": 1}


def test_cpu_session_runs_the_fused_residual_and_matches_onnxruntime():
    import onnxruntime
    model = residual_model()
    model.ir_version = 8
    session = ronn.Model.load(model.SerializeToString()).create_session()
    assert [s.op_type for s in session.plan.steps] == ["FusedConv"]
    got = session.run(feeds())["a0"]
    want = onnxruntime.InferenceSession(model.SerializeToString(),
                                        providers=["CPUExecutionProvider"]).run(None, feeds())[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_a_residual_of_the_wrong_shape_at_run_time_is_a_kernel_error():
    from ronn_core.errors import KernelError
    node = helper.make_node("FusedConv", ["x", "w", "", "z"], ["y"], domain="com.ronn",
                            pads=[1, 1, 1, 1], activation="Relu")
    model = make_model([node], [tensor("x", [1, 3, 5, 5]), tensor("z", None)],
                       [tensor("y", None)], initializers={"w": rand(4, 3, 3, 3, seed=1)})
    model.opset_import.append(helper.make_opsetid("com.ronn", 1))
    session = ronn.Model.load(model.SerializeToString()).create_session()
    good = session.run({"x": rand(1, 3, 5, 5), "z": np.zeros((1, 4, 5, 5), np.float32)})["y"]
    assert good.shape == (1, 4, 5, 5) and (good >= 0).all()
    with pytest.raises(KernelError, match=r"residual: expected float32\[1, 4, 5, 5\]"):
        session.run({"x": rand(1, 3, 5, 5), "z": rand(1, 4, 5, 6)})
