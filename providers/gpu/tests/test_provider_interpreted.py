"""The gpu provider end to end on ``HostBackend`` (numpy + Triton interpreter): partitioning,
fusion, kernels, precision modes, CUDA-graph plumbing; outputs against onnxruntime's CPU."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import triton  # noqa: E402,F401  (CI installs it: the tests must fail, not skip, without it)
import torch  # noqa: E402,F401

from ronn import zoo, zoo_builders  # noqa: E402
from ronn_core.errors import ConfigValueError  # noqa: E402


def _ort(model, feeds):
    model.ir_version = min(model.ir_version, 8)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def _small_bert():
    m = zoo_builders.bert_encoder(layers=1, hidden=64, heads=2, ffn=128)
    m.ir_version = 8
    return m


def test_bert_encoder_all_on_gpu_matches_onnxruntime(session_of):
    model = _small_bert()
    session = session_of(model)
    assert {p.provider for p in session.placement} == {"gpu"}
    ops = {p.op_type for p in session.placement}
    assert {"Attention", "SkipLayerNormalization"} <= ops
    x = np.random.default_rng(0).standard_normal((2, 7, 64)).astype(np.float32)
    got = session.run({"x": x})
    np.testing.assert_allclose(list(got.values())[0], _ort(model, {"x": x})[0], atol=1e-4)


def test_squeezenet_on_gpu_matches_onnxruntime(session_of):
    model = zoo.light_model("squeezenet")
    session = session_of(model)
    assert {p.provider for p in session.placement} == {"gpu"}
    x = np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32)
    got = list(session.run({"data_0": x}).values())[0]
    np.testing.assert_allclose(got, _ort(model, {"data_0": x})[0], atol=1e-5)


def _chain_model():
    """Add(x, bias) -> Relu -> Mul(., 2) -> Sigmoid, then an op gpu lacks (Cos), then Neg."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 8])
    inits = [numpy_helper.from_array(np.linspace(-1, 1, 8).astype(np.float32), "bias"),
             numpy_helper.from_array(np.array(2.0, np.float32), "two")]
    nodes = [helper.make_node("Add", ["x", "bias"], ["a"]), helper.make_node("Relu", ["a"], ["r"]),
             helper.make_node("Mul", ["r", "two"], ["m"]), helper.make_node("Sigmoid", ["m"], ["s"]),
             helper.make_node("Cos", ["s"], ["c"]), helper.make_node("Neg", ["c"], ["y"])]
    m = helper.make_model(helper.make_graph(nodes, "chain", [x], [y], inits),
                          opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def test_fusion_and_partition_boundaries(session_of):
    model = _chain_model()
    session = session_of(model, optimization_level="O1")
    labels = [s.label or s.op_type for s in session.plan.steps]
    assert "FusedElementwise" in labels
    fused = next(s for s in session.plan.steps if s.label == "FusedElementwise")
    assert [n.op_type for n in fused.nodes] == ["Add", "Relu", "Mul", "Sigmoid"]
    where = {p.op_type: p.provider for p in session.placement}
    assert where["Cos"] == "cpu" and where["Add"] == "gpu" and where["Neg"] == "gpu"
    # device copies only at the partition boundaries: in, gpu->cpu before Cos, cpu->gpu, out
    gpu_copies = [s.label for s in session.plan.steps if s.provider == "gpu" and not s.nodes]
    assert gpu_copies == ["CopyToDevice", "CopyToHost", "CopyToDevice", "CopyToHost"]
    x = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    np.testing.assert_allclose(session.run({"x": x})["y"], _ort(model, {"x": x})[0], atol=1e-6)


def test_float16_and_bfloat16_accuracy_report(interp_runtime):
    from ronn_gpu.precision import accuracy_report
    import ronn
    model = ronn.Model.load(_small_bert().SerializeToString())
    x = np.random.default_rng(0).standard_normal((1, 5, 64)).astype(np.float32)
    rows = accuracy_report(model, {"x": x}, runtime=interp_runtime)
    by = {r["precision"]: r for r in rows}
    assert set(by) == {"float16", "bfloat16"}
    for r in rows:            # reduced precision changes results, but boundedly
        assert 0 < r["max_rel_error"] < 0.1
    assert by["bfloat16"]["max_abs_error"] > by["float16"]["max_abs_error"]


def test_bfloat16_rounding():
    from ronn_gpu.precision import round_to_bfloat16
    x = np.array([1.0, 1.00390625, 1.01171875, -3.14159, np.nan], np.float32)
    r = round_to_bfloat16(np, x)
    bits = r.view(np.uint32)
    assert np.all(bits[:4] & 0xFFFF == 0)
    np.testing.assert_array_equal(r[:3], [1.0, 1.0, 1.015625])   # ties to even
    assert np.isnan(r[4])


def test_cuda_graph_step_requires_static_shapes(session_of):
    model = _small_bert()
    session = session_of(model, provider_options={"gpu": {"cuda_graph": True}})
    assert [s.label for s in session.plan.steps if s.provider == "gpu"].count("CudaGraph") == 1
    x = np.random.default_rng(0).standard_normal((2, 7, 64)).astype(np.float32)
    ref = _ort(model, {"x": x})[0]
    for _ in range(2):        # capture, then replay
        np.testing.assert_allclose(list(session.run({"x": x}).values())[0], ref, atol=1e-4)
    with pytest.raises(ConfigValueError, match="static shapes"):
        session.run({"x": x[:, :3]})


def test_output_device_keeps_outputs_on_device(session_of):
    model = _chain_model()
    session = session_of(model, optimization_level="O1")
    labels = [s.label for s in session.plan.keeping_outputs_on_device().steps]
    assert "KeepOnDevice" in labels and labels.count("CopyToHost") == 1   # only the boundary
    x = np.random.default_rng(0).standard_normal((2, 8)).astype(np.float32)
    np.testing.assert_allclose(session.run({"x": x}, output_device="cuda")["y"],
                               _ort(model, {"x": x})[0], atol=1e-6)


def test_a_model_optimized_for_cpu_leaves_its_concat_into_chain_to_cpu(session_of,
                                                                        interp_runtime):
    """``ronn optimize`` (cpu) writes FusedConvs with ``concat_channels``; the gpu provider
    does not claim them (cpu runs the chain into the shared buffer), the rest stays on gpu."""
    from ronn_core.onnx_io import load
    from ronn_passes.pipeline import optimize
    model = zoo.light_model("squeezenet", seed=3)
    model.ir_version = 8
    graph = load(model.SerializeToString()).graph
    optimize(graph, "O3", providers=["cpu"], runtime=interp_runtime)
    optimized = graph.to_onnx(ir_version=8)
    session = session_of(optimized, optimization_level="O0")
    placed = {(p.op_type, p.provider) for p in session.placement}
    assert ("FusedConv", "cpu") in placed and ("FusedConv", "gpu") in placed
    assert all(p.provider == "cpu" for p in session.placement if p.op_type == "ConcatInto")
    x = np.random.default_rng(4).standard_normal((1, 3, 224, 224)).astype(np.float32)
    got = list(session.run({"data_0": x}).values())[0]
    np.testing.assert_allclose(got, _ort(model, {"data_0": x})[0], atol=1e-5)
