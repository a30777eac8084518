"""Chains of small Gemms fused into one step (gemm_chain.py): the same numbers as the steps one
by one, bit for bit, and against the reference kernels; only chains nothing else reads into."""

from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from onnx import helper, numpy_helper

import ronn
from cpu_harness import REFERENCE, then_activation
from ronn_cpu.kernels import gemm_chain

ACTIVATIONS = ["Relu", "LeakyRelu", "Sigmoid", "Tanh", None]


def mlp(widths, activations, *, dtype=np.float32, bias=True, trans_b=False, seed=0,
        extra_output=None, side_reader=None):
    """Gemm (+ activation) layers ``widths[0] -> widths[1] -> ...`` on a symbolic batch."""
    rng = np.random.default_rng(seed)
    nodes, inits, x = [], [], "x"
    for i, (k, n) in enumerate(zip(widths, widths[1:])):
        w = (rng.standard_normal((n, k) if trans_b else (k, n)) / np.sqrt(k)).astype(dtype)
        inputs = [x, f"w{i}"]
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        if bias:
            inits.append(numpy_helper.from_array(rng.standard_normal(n).astype(dtype), f"b{i}"))
            inputs.append(f"b{i}")
        nodes.append(helper.make_node("Gemm", inputs, [f"g{i}"], transB=int(trans_b)))
        x = then_activation(nodes, f"g{i}", activations[i % len(activations)], i)
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    outputs = [helper.make_tensor_value_info(x, elem, None)]
    if extra_output:
        outputs.append(helper.make_tensor_value_info(extra_output, elem, None))
    if side_reader:
        nodes.append(helper.make_node("Neg", [side_reader], ["side"]))
        outputs.append(helper.make_tensor_value_info("side", elem, None))
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info(
        "x", elem, ["batch", widths[0]])], outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def sessions(data):
    fused = ronn.Model.load(data).create_session(threads=1)
    reference = ronn.Model.load(data).create_session(optimization_level="O0",
                                                     runtime=REFERENCE)
    return fused, reference


def chain_steps(session) -> list:
    return [s for s in session.plan.steps if isinstance(s.fn, gemm_chain.ChainStep)]


@settings(max_examples=30, deadline=None)
@given(widths=st.lists(st.integers(1, 40), min_size=3, max_size=6),
       activations=st.lists(st.sampled_from(ACTIVATIONS), min_size=1, max_size=3),
       batch=st.integers(1, 4), bias=st.booleans(), trans_b=st.booleans(),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 999))
def test_a_fused_chain_matches_its_steps_bit_for_bit(widths, activations, batch, bias,
                                                      trans_b, dtype, seed):
    data = mlp(widths, activations, dtype=dtype, bias=bias, trans_b=trans_b, seed=seed)
    fused, reference = sessions(data)
    x = np.random.default_rng(seed).standard_normal((batch, widths[0])).astype(dtype)
    [step] = chain_steps(fused)
    assert len(step.nodes) == len(widths) - 1           # every layer, activations fused in
    calls = []
    real = gemm_chain.chain
    with patch.object(gemm_chain, "chain", lambda *a: (calls.append(1), real(*a))[1]):
        got = fused.run({"x": x})
    assert calls == [1]                   # one call ran every layer
    one_by_one = x
    for fn in step.fn.fns:                # the steps it replaced, in turn
        one_by_one = fn(one_by_one)
    name = next(iter(got))
    np.testing.assert_array_equal(got[name], one_by_one)
    np.testing.assert_allclose(got[name], reference.run({"x": x})[name], rtol=1e-4, atol=1e-5)


def test_a_batch_too_wide_for_the_chain_runs_the_steps():
    data = mlp([32, 48, 48, 8], ["Relu"])
    fused, reference = sessions(data)
    [step] = chain_steps(fused)
    x = np.random.default_rng(1).standard_normal((64, 32)).astype(np.float32)
    assert x.shape[0] > step.fn.rows_max
    np.testing.assert_allclose(fused.run({"x": x})["a2"], reference.run({"x": x})["a2"],
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("where", ["graph output", "second reader"])
def test_a_link_read_elsewhere_ends_the_chain(where):
    """``a0`` is also a graph output, or read by another node: the chain breaks after it."""
    kwargs = {"extra_output": "a0"} if where == "graph output" else {"side_reader": "a0"}
    data = mlp([16, 24, 24, 24, 8], ["Relu"], **kwargs)
    fused, reference = sessions(data)
    steps = chain_steps(fused)
    assert len(steps) == 1 and len(steps[0].nodes) == 3      # the three layers after a0
    assert "a0" not in {n.outputs[0] for n in steps[0].nodes}
    x = np.random.default_rng(2).standard_normal((2, 16)).astype(np.float32)
    got, want = fused.run({"x": x}), reference.run({"x": x})
    assert set(got) == set(want)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=1e-5)


def test_one_small_gemm_is_no_chain():
    data = mlp([16, 8], ["Relu"])
    fused, _ = sessions(data)
    assert not chain_steps(fused)
