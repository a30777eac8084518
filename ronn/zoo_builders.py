"""Benchmark and test models built with onnx.helper: a BERT-style encoder as torch exports it
(MatMul+Add, LayerNormalization, erf-GELU, multi-head attention through Reshape/Transpose/Softmax)
and small streaming models whose per-call overhead dominates."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class _Builder:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list = []
        self.inits: list = []
        self.count = 0

    def const(self, array, name=None) -> str:
        name = name or f"c{len(self.inits)}"
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def weight(self, *shape, scale=None) -> str:
        scale = scale or 1.0 / np.sqrt(shape[0])
        return self.const((self.rng.standard_normal(shape) * scale).astype(np.float32))

    def op(self, op_type, *inputs, **attrs) -> str:
        self.count += 1
        out = f"{op_type.lower()}_{self.count}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out

    def linear(self, x, d_in, d_out):
        return self.op("Add", self.op("MatMul", x, self.weight(d_in, d_out)),
                       self.weight(d_out, scale=0.02))

    def layer_norm(self, x, d):
        return self.op("LayerNormalization", x, self.const(np.ones(d, np.float32)),
                       self.const(np.zeros(d, np.float32)), axis=-1, epsilon=1e-5)

    def gelu(self, x):   # torch's exact GELU: 0.5 * x * (1 + erf(x / sqrt(2)))
        e = self.op("Erf", self.op("Div", x, self.const(np.float32(np.sqrt(2)))))
        return self.op("Mul", self.op("Mul", x, self.const(np.float32(0.5))),
                       self.op("Add", e, self.const(np.float32(1.0))))


def bert_encoder(*, layers: int = 6, hidden: int = 256, heads: int = 4, ffn: int = 1024,
                 seed: int = 0) -> onnx.ModelProto:
    """A BERT-style encoder; input ``x`` [batch, seq, hidden] (dims symbolic), opset 17."""
    b = _Builder(seed)
    head_dim = hidden // heads
    x = "x"
    split_shape = b.const(np.array([0, 0, heads, head_dim], np.int64))
    merge_shape = b.const(np.array([0, 0, hidden], np.int64))
    scale = b.const(np.float32(1 / np.sqrt(head_dim)))
    for _ in range(layers):
        def heads_of(t):
            return b.op("Transpose", b.op("Reshape", t, split_shape), perm=[0, 2, 1, 3])
        q, k, v = (heads_of(b.linear(x, hidden, hidden)) for _ in range(3))
        scores = b.op("Mul", b.op("MatMul", q, b.op("Transpose", k, perm=[0, 1, 3, 2])), scale)
        ctx = b.op("MatMul", b.op("Softmax", scores, axis=-1), v)
        ctx = b.op("Reshape", b.op("Transpose", ctx, perm=[0, 2, 1, 3]), merge_shape)
        x = b.layer_norm(b.op("Add", x, b.linear(ctx, hidden, hidden)), hidden)
        h = b.linear(b.gelu(b.linear(x, hidden, ffn)), ffn, hidden)
        x = b.layer_norm(b.op("Add", x, h), hidden)
    b.nodes.append(helper.make_node("Identity", [x], ["y"]))
    graph = helper.make_graph(
        b.nodes, "bert_encoder",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", hidden])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq", hidden])],
        b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def streaming_mlp(*, features: int = 64, hidden: int = 128, layers: int = 4,
                  seed: int = 0) -> onnx.ModelProto:
    """A small keyword-spotting-style MLP on one frame: per-call overhead dominates."""
    b = _Builder(seed)
    x, d = "x", features
    for _ in range(layers):
        x = b.op("Relu", b.linear(x, d, hidden))
        d = hidden
    b.nodes.append(helper.make_node("Softmax", [b.linear(x, d, 12)], ["y"], axis=-1))
    graph = helper.make_graph(
        b.nodes, "streaming_mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                 [1, features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 12])], b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def streaming_conv1d(*, channels: int = 32, frames: int = 16, layers: int = 3,
                     seed: int = 0) -> onnx.ModelProto:
    """A small 1-D conv stack over a short audio window (streaming voice-activity style)."""
    b = _Builder(seed)
    x, c = "x", 8
    for _ in range(layers):
        w = b.weight(channels, c, 3, scale=1 / np.sqrt(3 * c))
        x = b.op("Relu", b.op("Conv", x, w, b.weight(channels, scale=0.02), pads=[1, 1]))
        c = channels
    pooled = b.op("ReduceMean", x, axes=[2], keepdims=0)
    b.nodes.append(helper.make_node("Sigmoid", [b.linear(pooled, c, 1)], ["y"]))
    graph = helper.make_graph(
        b.nodes, "streaming_conv1d",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, frames])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])], b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model
