"""The schemas: bad com.example nodes are rejected at session creation, naming the node."""

from __future__ import annotations

import onnx
import pytest
from onnx import TensorProto, helper

from ronn_core.errors import ModelError, NoKernelError
from ronn_example.demo import _model, rotary_model, swiglu_model


def one_node(op, inputs, **attrs):
    node = helper.make_node(op, inputs, ["y"], domain="com.example", name="my_node", **attrs)
    return _model([node], [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 3, 4, 8])
                           for n in inputs if n],
                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])


def test_missing_required_input_names_the_node(session_of):
    with pytest.raises(ModelError, match=r"my_node \(SwiGLU\).*required input 1 \('gate'\)"):
        session_of(one_node("SwiGLU", ["x"]))


def test_unknown_attribute_names_the_node_and_the_known_ones(session_of):
    with pytest.raises(ModelError, match=r"my_node \(SwiGLU\).*unknown attribute 'alpha'.*beta"):
        session_of(one_node("SwiGLU", ["x", "g"], alpha=1.0))


def test_attribute_of_the_wrong_type(session_of):
    with pytest.raises(ModelError, match=r"my_node \(RotaryEmbedding\).*'interleaved'.*int"):
        session_of(one_node("RotaryEmbedding", ["x"], interleaved="yes"))


def test_too_many_inputs(session_of):
    with pytest.raises(ModelError, match=r"my_node.*at most 2 inputs"):
        session_of(one_node("SwiGLU", ["x", "g", "h"]))


def test_infer_rejects_odd_rotary_dim(session_of):
    with pytest.raises(ModelError, match=r"rope \(RotaryEmbedding\).*rotary_dim 3"):
        session_of(rotary_model(rotary_dim=3))


def test_infer_rejects_wrong_rank_and_position_type(session_of):
    with pytest.raises(ModelError, match="batch, seq, heads, head_dim"):
        session_of(rotary_model(shape=(2, 4, 8), with_positions=False))
    model = rotary_model()
    model.graph.input[1].type.tensor_type.elem_type = TensorProto.INT32
    with pytest.raises(ModelError, match="position_ids must be int64"):
        session_of(model)


def test_infer_types_the_outputs(session_of):
    """onnx cannot type com.example outputs; the schemas' infer functions do."""
    model = _model([helper.make_node("SwiGLU", ["x", "g"], ["h"], domain="com.example"),
                    helper.make_node("RotaryEmbedding", ["h"], ["r"], domain="com.example"),
                    helper.make_node("Identity", ["r"], ["y"])],
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "s", 1, 8]),
                    helper.make_tensor_value_info("g", TensorProto.FLOAT, [1, "s", 2, 1])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    session = session_of(model, optimization_level="O0")
    assert str(session.graph.value("h").type) == "tensor(float)[b, s, 2, 8]"
    assert str(session.graph.value("r").type) == "tensor(float)[b, s, 2, 8]"


def test_without_the_plugin_the_error_says_what_to_install(session_of, bare_runtime):
    with pytest.raises(NoKernelError) as info:
        session_of(swiglu_model(), rt=bare_runtime)
    message = str(info.value)
    assert "'SwiGLU'" in message and "'com.example'" in message
    assert "pip install ronn-example" in message


def test_infer_rejects_shapes_that_do_not_broadcast(session_of):
    model = _model([helper.make_node("SwiGLU", ["x", "g"], ["y"], domain="com.example",
                                     name="mlp_act")],
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8]),
                    helper.make_tensor_value_info("g", TensorProto.FLOAT, [2, 7])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    with pytest.raises(ModelError, match=r"mlp_act \(SwiGLU\).*\[2, 8\] and \[2, 7\]"):
        session_of(model)
