"""Whole models on providers=["wasm"] vs onnxruntime, and partitioning with cpu fallback."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from ronn import zoo_builders
from ronn.zoo import light_model
from ronn_core.errors import NoKernelError
from ronn_core.onnx_io import load
from ronn_core.session import Session


def _ort(data):
    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _compare(runtime, proto, feeds, rtol=1e-3, atol=1e-5):
    proto.ir_version = 8
    data = proto.SerializeToString()
    session = Session(load(data), providers=["wasm"], runtime=runtime)
    assert {p.provider for p in session.placement} == {"wasm"}
    want = _ort(data).run(None, feeds)
    for _ in range(2):             # the second run reuses freed arena blocks
        got = session.run(feeds)
        for w, (name, g) in zip(want, got.items()):
            np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=name)
    return session


@pytest.mark.parametrize("name", ["squeezenet", "resnet50"])
def test_light_cnn_matches_onnxruntime(runtime, name):
    proto = light_model(name, seed=0)
    # score the logits before the softmax too: a near-uniform softmax hides errors
    proto.graph.output.append(helper.make_tensor_value_info(
        proto.graph.node[-2].output[0], TensorProto.FLOAT, None))
    x = np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32)
    inits = {i.name for i in proto.graph.initializer}
    [feed] = [i.name for i in proto.graph.input if i.name not in inits]
    session = _compare(runtime, proto, {feed: x})
    fused = [p.op_type for p in session.placement if p.op_type == "FusedConv"]
    assert fused, "the O3 passes' com.ronn FusedConv runs on wasm"
    # residual joins: the Sum and Relu run in the epilogue of the conv that feeds them
    joins = [s.op_type for s in session.plan.steps if s.op_type.endswith("Sum+Relu")]
    assert joins == (["Conv+Sum+Relu"] * 16 if name == "resnet50" else [])


def test_bert_encoder_matches_onnxruntime(runtime):
    x = np.random.default_rng(2).standard_normal((2, 16, 256)).astype(np.float32)
    session = _compare(runtime, zoo_builders.bert_encoder(), {"x": x}, atol=1e-4)
    ops = {p.op_type for p in session.placement}
    assert {"Attention", "SkipLayerNormalization"} <= ops


def _cos_model():
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Cos", ["h"], ["c"]),
             helper.make_node("Softmax", ["c"], ["y"], axis=-1)]
    w = helper.make_tensor("w", TensorProto.FLOAT, [5, 6],
                           np.random.default_rng(0).standard_normal(30).astype(np.float32))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                         [3, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 6])],
                              [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model.SerializeToString()


def test_uncovered_ops_fall_back_to_cpu_by_partition(runtime):
    data = _cos_model()
    session = Session(load(data), providers=["wasm", "cpu"], runtime=runtime)
    assert [p.provider for p in session.placement] == ["wasm", "cpu", "wasm"]
    labels = [s.label for s in session.plan.steps if not s.nodes]
    assert "CopyToHost" in labels and "CopyToDevice" in labels
    x = np.random.default_rng(3).standard_normal((3, 5)).astype(np.float32)
    want = _ort(data).run(None, {"x": x})[0]
    np.testing.assert_allclose(session.run({"x": x})["y"], want, rtol=1e-5, atol=1e-6)


def test_wasm_alone_names_the_op_it_lacks(runtime):
    with pytest.raises(NoKernelError, match="Cos"):
        Session(load(_cos_model()), providers=["wasm"], runtime=runtime)


def test_uncovered_attributes_run_the_reference_on_arena_views(runtime):
    """Conv1d, Softmax over a middle axis and a rank-6 Transpose have no wasm kernel form: the
    provider runs the reference kernel on its arena views instead, and stays correct."""
    rng = np.random.default_rng(4)
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3], rng.standard_normal(36)
                           .astype(np.float32))
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1]),            # 1-D conv
             helper.make_node("Softmax", ["c"], ["s"], axis=1),                  # middle axis
             helper.make_node("Reshape", ["s", "shape"], ["r"]),
             helper.make_node("Transpose", ["r"], ["t"], perm=[5, 4, 3, 2, 1, 0]),
             helper.make_node("Relu", ["t"], ["y"])]
    shape = helper.make_tensor("shape", TensorProto.INT64, [6], [2, 2, 1, 2, 1, 5])
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, 3, 10])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [5, 1, 2, 1, 2, 2])], [w, shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    data = model.SerializeToString()
    session = Session(load(data), providers=["wasm"], runtime=runtime)
    assert {p.provider for p in session.placement} == {"wasm"}
    x = rng.standard_normal((1, 3, 10)).astype(np.float32)
    want = _ort(data).run(None, {"x": x})[0]
    np.testing.assert_allclose(session.run({"x": x})["y"], want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kernel,residual_first", [(1, False), (3, True)])
def test_conv_sum_relu_joins(runtime, kernel, residual_first):
    """Conv -> Sum(residual) -> Relu as one step: a 1x1 conv adds the residual in its GEMM
    epilogue; a 3x3 conv (Winograd) runs the conv, then add_relu; either input order."""
    rng = np.random.default_rng(5)
    c = 16
    w = helper.make_tensor("w", TensorProto.FLOAT, [c, c, kernel, kernel],
                           rng.uniform(-0.2, 0.2, c * c * kernel * kernel).astype(np.float32))
    b = helper.make_tensor("b", TensorProto.FLOAT, [c], rng.uniform(-1, 1, c).astype(np.float32))
    pads = [kernel // 2] * 4
    inputs = ["r", "conv"] if residual_first else ["conv", "r"]
    nodes = [helper.make_node("Relu", ["x"], ["r"]),
             helper.make_node("Conv", ["r", "w", "b"], ["conv"], pads=pads),
             helper.make_node("Sum", inputs, ["s"]),
             helper.make_node("Relu", ["s"], ["y"])]
    graph = helper.make_graph(nodes, "join", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1, c, 12, 12])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [1, c, 12, 12])], [w, b])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    x = rng.standard_normal((1, c, 12, 12)).astype(np.float32)
    session = _compare(runtime, proto, {"x": x})
    assert [s.op_type for s in session.plan.steps if s.nodes][-1] == "Conv+Sum+Relu"


def test_a_model_optimized_for_cpu_runs_its_concat_into_chain_on_the_host(runtime):
    """``ronn optimize`` (cpu) writes FusedConvs with ``concat_channels``; wasm leaves them to
    the host's reference kernel, which writes into the shared buffer."""
    from ronn_passes.pipeline import optimize
    proto = light_model("squeezenet", seed=3)
    proto.ir_version = 8
    graph = load(proto.SerializeToString()).graph
    optimize(graph, "O3", providers=["cpu"], runtime=runtime)
    optimized = graph.to_onnx(ir_version=8)
    assert sum(any(a.name == "concat_channels" for a in n.attribute)
               for n in optimized.graph.node) == 16
    session = Session(load(optimized.SerializeToString()), providers=["wasm"], runtime=runtime,
                      optimization_level="O0")
    x = np.random.default_rng(4).standard_normal((1, 3, 224, 224)).astype(np.float32)
    want = _ort(proto.SerializeToString()).run(None, {"data_0": x})[0]
    for _ in range(2):
        np.testing.assert_allclose(list(session.run({"data_0": x}).values())[0], want,
                                   rtol=1e-3, atol=1e-5)
