"""Chains of tiny convs fused into one step (conv_chain.py): one call per run once a shape has
been seen, bit-identical to the convs one by one, and matching the reference kernels."""

from unittest.mock import patch

import numpy as np
import onnx
from hypothesis import given, settings, strategies as st
from onnx import TensorProto, helper, numpy_helper

import ronn
from cpu_harness import REFERENCE, then_activation
from ronn_cpu.kernels import conv, conv_chain
from ronn_cpu.kernels.blas import OPENBLAS_SERIAL_MACS

ACTIVATIONS = ["Relu", "LeakyRelu", "Sigmoid", None]


def conv_stack(channels, kernel, activations, *, two_d=False, bias=True, seed=0):
    """Convs ``channels[0] -> channels[1] -> ...`` (same padding) on a symbolic length."""
    rng = np.random.default_rng(seed)
    nodes, inits, x = [], [], "x"
    spatial = [kernel, kernel] if two_d else [kernel]
    for i, (c, m) in enumerate(zip(channels, channels[1:])):
        inits.append(numpy_helper.from_array(
            (rng.standard_normal([m, c] + spatial) / np.sqrt(c * kernel)).astype(np.float32),
            f"w{i}"))
        inputs = [x, f"w{i}"]
        if bias:
            inits.append(numpy_helper.from_array(rng.standard_normal(m).astype(np.float32),
                                                 f"b{i}"))
            inputs.append(f"b{i}")
        nodes.append(helper.make_node("Conv", inputs, [f"c{i}"],
                                      pads=[kernel // 2] * (2 * len(spatial))))
        x = then_activation(nodes, f"c{i}", activations[i % len(activations)], i)
    dims = ["n", channels[0]] + (["h", "w"] if two_d else ["length"])
    graph = helper.make_graph(nodes, "stack", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, dims)], [helper.make_tensor_value_info(x, TensorProto.FLOAT,
                                                                       None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def fused_steps(session) -> list:
    return [s for s in session.plan.steps if isinstance(s.fn, conv_chain.ConvChainStep)]


@settings(max_examples=25, deadline=None)
@given(channels=st.lists(st.integers(1, 12), min_size=3, max_size=5),
       kernel=st.sampled_from([1, 3, 5]), two_d=st.booleans(),
       activations=st.lists(st.sampled_from(ACTIVATIONS), min_size=1, max_size=2),
       bias=st.booleans(), batch=st.integers(1, 3), size=st.integers(3, 8),
       seed=st.integers(0, 999))
def test_a_fused_conv_chain_matches_its_convs_bit_for_bit(channels, kernel, two_d, activations,
                                                          bias, batch, size, seed):
    data = conv_stack(channels, kernel, activations, two_d=two_d, bias=bias, seed=seed)
    fused = ronn.Model.load(data).create_session(threads=1)
    reference = ronn.Model.load(data).create_session(optimization_level="O0",
                                                     runtime=REFERENCE)
    [step] = fused_steps(fused)
    assert len(step.nodes) == len(channels) - 1
    shape = (batch, channels[0]) + ((size, size) if two_d else (size,))
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    name = fused.outputs[0] if isinstance(fused.outputs[0], str) else fused.outputs[0].name
    first = fused.run({"x": x})[name]            # one by one: the links are learned
    calls = []
    real = conv_chain.chain
    with patch.object(conv_chain, "chain", lambda *a: (calls.append(1), real(*a))[1]):
        got = fused.run({"x": x})[name]
    pixels = size * size if two_d else size
    gathers = all((c * kernel ** (1 + two_d) + 1) * pixels <= conv.GATHER_MAX_COLS and
                  m * (c * kernel ** (1 + two_d) + 1) * pixels < OPENBLAS_SERIAL_MACS
                  for c, m in zip(channels, channels[1:]))
    assert calls == ([1] if gathers else [])      # every conv on the gather path: one call
    np.testing.assert_array_equal(got, first)
    np.testing.assert_allclose(got, reference.run({"x": x})[name], rtol=1e-4, atol=1e-5)


def test_each_input_shape_gets_its_own_chain():
    data = conv_stack([4, 6, 6, 5], 3, ["Relu"])
    fused = ronn.Model.load(data).create_session(threads=1)
    reference = ronn.Model.load(data).create_session(optimization_level="O0",
                                                     runtime=REFERENCE)
    [step] = fused_steps(fused)
    rng = np.random.default_rng(0)
    for length in (7, 11, 7, 11):
        x = rng.standard_normal((2, 4, length)).astype(np.float32)
        np.testing.assert_allclose(fused.run({"x": x})["a2"], reference.run({"x": x})["a2"],
                                   rtol=1e-4, atol=1e-5)
    assert set(step.fn.plans) == {(4, 7), (4, 11)} and all(step.fn.plans.values())


def test_inputs_too_large_for_the_gather_path_run_the_convs():
    """A long input takes the column-matrix path: no chain plan, the convs one by one."""
    data = conv_stack([16, 32, 32], 3, ["Relu"])
    fused = ronn.Model.load(data).create_session(threads=1)
    reference = ronn.Model.load(data).create_session(optimization_level="O0",
                                                     runtime=REFERENCE)
    [step] = fused_steps(fused)
    x = np.random.default_rng(1).standard_normal((1, 16, 4000)).astype(np.float32)
    for _ in range(2):
        np.testing.assert_allclose(fused.run({"x": x})["a1"], reference.run({"x": x})["a1"],
                                   rtol=1e-4, atol=1e-4)
    assert step.fn.plans == {(16, 4000): None}


def test_convs_known_too_large_for_the_gather_path_are_not_chained():
    """With static shapes the chain is decided at compile time: large convs (DenseNet's pairs)
    stay separate steps, each with its own profile entry; a streaming stack is one step."""
    for length, chained in ((16, True), (4000, False)):
        model = onnx.load_from_string(conv_stack([8, 32, 32], 3, ["Relu"]))
        dims = model.graph.input[0].type.tensor_type.shape.dim
        dims[0].dim_value, dims[2].dim_value = 1, length
        session = ronn.Model.load(model.SerializeToString()).create_session(threads=1)
        assert bool(fused_steps(session)) == chained, length
