"""Small ONNX models for tests, benchmarks and examples (float layers and BitLinear ones)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ronn_bitnet import DOMAIN, OPSET
from ronn_bitnet.packing import pack

FLOAT = TensorProto.FLOAT


def _model(nodes, inputs, outputs, initializers, bitnet: bool = False) -> onnx.ModelProto:
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(DOMAIN, OPSET)]
                                              if bitnet else [])
    graph = helper.make_graph(nodes, "bitnet", inputs, outputs, initializer=initializers)
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    return model


def matmul_model(k: int, n: int, *, weight: np.ndarray | None = None, seed: int = 0,
                 batch="batch") -> onnx.ModelProto:
    """``y = x @ W`` with x [batch, K] and a constant float32 W [K, N] (random normal / sqrt K)."""
    if weight is None:
        rng = np.random.default_rng(seed)
        weight = (rng.standard_normal((k, n), dtype=np.float32) / np.float32(np.sqrt(k)))
    return _model([helper.make_node("MatMul", ["x", "W"], ["y"], name="matmul")],
                  [helper.make_tensor_value_info("x", FLOAT, [batch, k])],
                  [helper.make_tensor_value_info("y", FLOAT, [batch, n])],
                  [numpy_helper.from_array(np.asarray(weight, np.float32), "W")])


def mlp_model(k: int = 48, hidden: int = 64, n: int = 16, seed: int = 0) -> onnx.ModelProto:
    """MatMul -> Add -> Relu -> Gemm(transB=1, C) -> Gemm(alpha, beta, C [1, N]) -> Tanh."""
    rng = np.random.default_rng(seed)
    init = {
        "w1": rng.standard_normal((k, hidden)) / np.sqrt(k),
        "b1": rng.standard_normal(hidden) * 0.1,
        "w2": rng.standard_normal((hidden, hidden)) / np.sqrt(hidden),    # transB: [N, K]
        "c2": rng.standard_normal(hidden) * 0.1,
        "w3": rng.standard_normal((hidden, n)) / np.sqrt(hidden),
        "c3": rng.standard_normal((1, n)) * 0.1,
    }
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h1"], name="fc1"),
        helper.make_node("Add", ["h1", "b1"], ["a1"], name="bias1"),
        helper.make_node("Relu", ["a1"], ["r1"], name="relu1"),
        helper.make_node("Gemm", ["r1", "w2", "c2"], ["h2"], name="fc2", transB=1),
        helper.make_node("Gemm", ["h2", "w3", "c3"], ["h3"], name="fc3", alpha=0.5, beta=2.0),
        helper.make_node("Tanh", ["h3"], ["y"], name="tanh"),
    ]
    return _model(nodes, [helper.make_tensor_value_info("x", FLOAT, ["batch", k])],
                  [helper.make_tensor_value_info("y", FLOAT, ["batch", n])],
                  [numpy_helper.from_array(v.astype(np.float32), name) for name, v in init.items()])


def bit_linear_model(t: np.ndarray, scale, bias=None, *, relu: bool = False,
                     constant_weights: bool = True, x_shape=("batch", None)) -> onnx.ModelProto:
    """``y = BitLinear(x, pack(t), scale[, bias])`` (then Relu when ``relu``); t is [N, K]."""
    n, k = t.shape
    inits = [numpy_helper.from_array(np.asarray(scale, np.float32), "scale")]
    inputs = [helper.make_tensor_value_info("x", FLOAT, [d if d else k for d in x_shape])]
    if constant_weights:
        inits.append(numpy_helper.from_array(pack(t), "W"))
    else:
        inputs.append(helper.make_tensor_value_info("W", TensorProto.UINT8, [n, (k + 3) // 4]))
    names = ["x", "W", "scale"]
    if bias is not None:
        inits.append(numpy_helper.from_array(np.asarray(bias, np.float32), "B"))
        names.append("B")
    out = "h" if relu else "y"
    nodes = [helper.make_node("BitLinear", names, [out], name="bitlinear", domain=DOMAIN,
                              in_features=k)]
    if relu:
        nodes.append(helper.make_node("Relu", ["h"], ["y"], name="relu"))
    return _model(nodes, inputs, [helper.make_tensor_value_info("y", FLOAT, None)], inits,
                  bitnet=True)
