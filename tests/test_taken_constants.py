"""Constants a factory kernel takes (``KernelBuild.take``): the step reads nothing in their
place, and the plan and the session's graph let them go, unless another step reads them."""

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

import ronn
from ronn_core import kernel
from ronn_core.context import KernelBuild
from ronn_tests import make_plugin

SCALE = np.array([2.0, -1.0, 0.5], np.float32)
run_inputs: list = []


@kernel("ScaleBy", domain="test.take", factory=True)
def scale_by(build):
    scale = build.take(1).copy()

    def run(x, taken=None):
        run_inputs.append(taken)
        return x * scale
    return run


def scale_model(also_mul: bool) -> bytes:
    nodes = [helper.make_node("ScaleBy", ["x", "W"], ["y"], domain="test.take")]
    if also_mul:
        nodes.append(helper.make_node("Mul", ["y", "W"], ["z"]))
    out = "z" if also_mul else "y"
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [2, 3])], [helper.make_tensor_value_info(
            out, TensorProto.FLOAT, [2, 3])], [numpy_helper.from_array(SCALE, "W")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                   helper.make_opsetid("test.take", 1)]
                             ).SerializeToString()


@pytest.fixture
def runtime(make_runtime):
    return make_runtime(make_plugin("take_ops", ronn_operators=lambda r: r(scale_by)))


def test_a_taken_constant_is_let_go_by_the_plan_and_the_session_graph(runtime):
    model = ronn.Model.load(scale_model(also_mul=False))
    session = model.create_session(runtime=runtime)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    run_inputs.clear()
    np.testing.assert_array_equal(session.run({"x": x})["y"], x * SCALE)
    assert run_inputs == [None]                         # the step passed nothing for W
    assert "W" not in session.plan.constant_names
    assert session.graph.value("W").constant is None
    np.testing.assert_array_equal(model.graph.value("W").constant, SCALE)   # model untouched
    again = model.create_session(runtime=runtime)        # and a second session works
    np.testing.assert_array_equal(again.run({"x": x})["y"], x * SCALE)


def test_a_constant_another_step_reads_is_kept(runtime):
    session = ronn.Model.load(scale_model(also_mul=True)).create_session(runtime=runtime)
    x = np.ones((2, 3), np.float32)
    np.testing.assert_array_equal(session.run({"x": x})["z"], x * SCALE * SCALE)
    assert "W" in session.plan.constant_names
    np.testing.assert_array_equal(session.graph.value("W").constant, SCALE)


def test_take_refuses_an_input_that_is_not_a_constant():
    build = KernelBuild(node="n", attributes={}, constants=[None, SCALE], input_types=[],
                        output_types=[])
    with pytest.raises(LookupError, match="input 0"):
        build.take(0)
    assert build.take(1) is SCALE and build.taken == {1}


def test_the_cpu_conv_takes_its_weights_and_still_matches_the_reference():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((32, 16, 3, 3)).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "W", "B"], ["y"], pads=[1, 1, 1, 1])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16, 12, 12])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 32, 12, 12])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")])
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model = ronn.Model.load(onnx_model.SerializeToString())
    x = rng.standard_normal((1, 16, 12, 12)).astype(np.float32)
    session = model.create_session()
    assert session.graph.value("W").constant is None and session.graph.value("B").constant is None
    expected = ReferenceEvaluator(onnx_model).run(None, {"x": x})[0]
    np.testing.assert_allclose(session.run({"x": x})["y"], expected, rtol=1e-4, atol=1e-4)
