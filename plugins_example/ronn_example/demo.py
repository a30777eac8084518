"""Small models that use the com.example ops, and a demo: ``python -m ronn_example.demo``.

The demo runs a one-layer "decoder block" (RoPE on queries, a SwiGLU MLP) through a RONN
session and compares it with plain numpy.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper

from ronn_example import DOMAIN

FLOAT = TensorProto.FLOAT


def _model(nodes, inputs, outputs, *, initializers=(), example: bool = True) -> onnx.ModelProto:
    opsets = [helper.make_opsetid("", 17)]
    if example:
        opsets.append(helper.make_opsetid(DOMAIN, 1))
    graph = helper.make_graph(nodes, "ronn_example", inputs, outputs,
                              initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 10
    return model


def swiglu_model(shape=("batch", 8), *, beta: float | None = None) -> onnx.ModelProto:
    """``y = com.example::SwiGLU(x, gate)``."""
    attrs = {} if beta is None else {"beta": beta}
    return _model([helper.make_node("SwiGLU", ["x", "gate"], ["y"], domain=DOMAIN,
                                    name="swiglu", **attrs)],
                  [helper.make_tensor_value_info(n, FLOAT, list(shape)) for n in ("x", "gate")],
                  [helper.make_tensor_value_info("y", FLOAT, None)])


def rotary_model(shape=("batch", "seq", 4, 16), *, with_positions: bool = True,
                 **attrs) -> onnx.ModelProto:
    """``y = com.example::RotaryEmbedding(x, position_ids)`` (ids [batch, seq], int64)."""
    inputs = [helper.make_tensor_value_info("x", FLOAT, list(shape))]
    if with_positions:
        inputs.append(helper.make_tensor_value_info("position_ids", TensorProto.INT64,
                                                    list(shape[:2])))
    return _model([helper.make_node("RotaryEmbedding", [i.name for i in inputs], ["y"],
                                    domain=DOMAIN, name="rope", **attrs)],
                  inputs, [helper.make_tensor_value_info("y", FLOAT, None)])


def silu_gate_model(shape=("batch", 8), *, order: int = 0) -> onnx.ModelProto:
    """The standard-op pattern ``Mul(Mul(x, Sigmoid(x)), gate)`` (no com.example op).

    ``order`` 0..3 picks the operand order of both Muls (the pass must fuse all four).
    """
    inner = ["x", "s"] if order % 2 == 0 else ["s", "x"]
    outer = ["h", "gate"] if order < 2 else ["gate", "h"]
    nodes = [helper.make_node("Sigmoid", ["x"], ["s"], name="sigmoid"),
             helper.make_node("Mul", inner, ["h"], name="silu"),
             helper.make_node("Mul", outer, ["y"], name="gate_mul")]
    return _model(nodes, [helper.make_tensor_value_info(n, FLOAT, list(shape))
                          for n in ("x", "gate")],
                  [helper.make_tensor_value_info("y", FLOAT, None)], example=False)


def decoder_block_model(seq: int = 6, heads: int = 2, head_dim: int = 8, hidden: int = 32,
                        seed: int = 0) -> onnx.ModelProto:
    """q = RoPE(x @ Wq viewed as heads); mlp = (x @ W1 silu-gated by x @ W3) @ W2."""
    rng = np.random.default_rng(seed)
    d = heads * head_dim
    weights = {n: (rng.standard_normal(s) / np.sqrt(s[0])).astype(np.float32)
               for n, s in (("wq", (d, d)), ("w1", (d, hidden)), ("w3", (d, hidden)),
                            ("w2", (hidden, d)))}
    shape = np.array([0, 0, heads, head_dim], np.int64)
    inits = [onnx.numpy_helper.from_array(v, n) for n, v in weights.items()]
    inits.append(onnx.numpy_helper.from_array(shape, "qshape"))
    nodes = [
        helper.make_node("MatMul", ["x", "wq"], ["q2"]),
        helper.make_node("Reshape", ["q2", "qshape"], ["q4"]),
        helper.make_node("RotaryEmbedding", ["q4"], ["q"], domain=DOMAIN, name="rope"),
        helper.make_node("MatMul", ["x", "w1"], ["a"]),
        helper.make_node("MatMul", ["x", "w3"], ["b"]),
        helper.make_node("SwiGLU", ["a", "b"], ["g"], domain=DOMAIN, name="swiglu"),
        helper.make_node("MatMul", ["g", "w2"], ["mlp"]),
    ]
    return _model(nodes, [helper.make_tensor_value_info("x", FLOAT, ["batch", seq, d])],
                  [helper.make_tensor_value_info("q", FLOAT, None),
                   helper.make_tensor_value_info("mlp", FLOAT, None)], initializers=inits)


def main() -> None:
    import ronn
    from ronn_example.kernels import rotary_embedding

    model = decoder_block_model()
    session = ronn.Model.load(model.SerializeToString()).create_session(providers=["cpu"])
    x = np.random.default_rng(1).standard_normal((2, 6, 16)).astype(np.float32)
    out = session.run({"x": x})
    w = {i.name: onnx.numpy_helper.to_array(i) for i in model.graph.initializer}
    a, b = x @ w["w1"], x @ w["w3"]
    mlp = (a / (1 + np.exp(-a)) * b) @ w["w2"]
    q = rotary_embedding((x @ w["wq"]).reshape(2, 6, 2, 8))
    for p in session.placement:
        print(p)
    print("mlp max |diff| vs numpy:", float(np.abs(out["mlp"] - mlp).max()))
    print("q   max |diff| vs numpy:", float(np.abs(out["q"] - q).max()))


if __name__ == "__main__":
    main()
