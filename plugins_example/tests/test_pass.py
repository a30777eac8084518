"""SwiGLUFusion: Mul(Mul(x, Sigmoid(x)), gate) becomes com.example::SwiGLU, outputs unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from ronn_example.demo import _model, silu_gate_model
from ronn_example.passes import SwiGLUFusion
from ronn_core import PassContext, TensorType
from ronn_core.onnx_io import load


def ops(session):
    return [(n.domain, n.op_type) for n in session.graph.nodes]


@pytest.mark.parametrize("order", range(4))
def test_fuses_every_operand_order_and_keeps_outputs(session_of, rng, order):
    model = silu_gate_model(order=order)
    fused = session_of(model)                              # O3: the pass runs
    plain = session_of(model, optimization_level="O2")     # the pass is O3: it does not
    assert ops(fused) == [("com.example", "SwiGLU")]
    assert ("", "Sigmoid") in ops(plain) and len(ops(plain)) == 3
    assert "example.swiglu_fusion" in [r.name for r in fused.pass_log if r.changed]
    node = fused.graph.nodes[0]
    assert node.version == 1 and fused.graph.opsets["com.example"] == 1
    assert node.inputs == ["x", "gate"] and node.outputs == ["y"]
    assert fused.graph.value("y").type == TensorType(1, ("batch", 8))
    x, g = (rng.standard_normal((3, 8)).astype(np.float32) for _ in range(2))
    np.testing.assert_allclose(fused.run({"x": x, "gate": g})["y"],
                               plain.run({"x": x, "gate": g})["y"], rtol=1e-5, atol=1e-6)


def test_can_be_disabled_by_name(session_of):
    session = session_of(silu_gate_model(), disable_passes=["example.swiglu_fusion"])
    assert ("", "Sigmoid") in ops(session)


def test_leaves_shared_intermediates_alone(session_of, rng):
    """If silu(x) is also a graph output, fusing would lose it: the pass must not fire."""
    model = silu_gate_model()
    model.graph.output.append(helper.make_tensor_value_info("h", 1, None))
    session = session_of(model)
    assert ("com.example", "SwiGLU") not in ops(session)
    x, g = (rng.standard_normal((2, 8)).astype(np.float32) for _ in range(2))
    out = session.run({"x": x, "gate": g})
    np.testing.assert_allclose(out["y"], out["h"] * g, rtol=1e-6)


def test_sigmoid_of_another_value_is_not_silu(session_of):
    nodes = [helper.make_node("Sigmoid", ["gate"], ["s"]),
             helper.make_node("Mul", ["x", "s"], ["h"]),
             helper.make_node("Mul", ["h", "gate"], ["y"])]
    model = _model(nodes, [helper.make_tensor_value_info(n, 1, [2]) for n in ("x", "gate")],
                   [helper.make_tensor_value_info("y", 1, None)], example=False)
    assert ("com.example", "SwiGLU") not in ops(session_of(model))


def test_pass_on_the_ir_directly():
    """A pass is a plain object: test it on a Graph without a session."""
    graph = load(silu_gate_model(order=3).SerializeToString()).graph
    p = SwiGLUFusion()
    assert p.run(graph, PassContext(providers=["cpu"])) is True
    assert [(n.domain, n.op_type) for n in graph.nodes] == [("com.example", "SwiGLU")]
    assert p.run(graph, PassContext(providers=["cpu"])) is False   # nothing left to fuse
