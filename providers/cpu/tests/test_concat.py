"""The cpu provider's Concat (parallel block copies) against numpy's concatenate."""

from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from onnx import helper

import ronn
from ronn_cpu.kernels import activations
from ronn_cpu.kernels.concat import build_concat
from ronn_core.errors import RonnError


def reference(*xs):
    raise AssertionError("the fast path should have taken these inputs")


@settings(max_examples=80, deadline=None)
@given(ndim=st.integers(1, 4), data=st.data(), count=st.integers(1, 4),
       dtype=st.sampled_from([np.float32, np.float64, np.int64, np.int8, np.bool_, np.float16]),
       parallel=st.booleans(), seed=st.integers(0, 99))
def test_concat_matches_numpy(ndim, data, count, dtype, parallel, seed):
    rng = np.random.default_rng(seed)
    base = data.draw(st.lists(st.integers(0, 5), min_size=ndim, max_size=ndim))
    axis = data.draw(st.integers(-ndim, ndim - 1))
    xs = []
    for _ in range(count):
        shape = list(base)
        shape[axis] = data.draw(st.integers(0, 6))
        xs.append((rng.standard_normal(shape) * 10).astype(dtype))
    if data.draw(st.booleans()) and xs[0].ndim > 1:              # a non-contiguous input
        xs[0] = np.asfortranarray(xs[0])
    with patch.object(activations, "PARALLEL_MIN", 0 if parallel else activations.PARALLEL_MIN):
        got = build_concat(axis, reference)(*xs)
    want = np.concatenate(xs, axis=axis)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_mismatched_inputs_go_to_the_reference_kernel():
    seen = []

    def ref(*xs):
        seen.append(len(xs))
        return "reference"
    run = build_concat(1, ref)
    assert run(np.ones((2, 3), np.float32), np.ones((3, 3), np.float32)) == "reference"
    assert run(np.ones((2, 3), np.float32), np.ones((2, 3), np.float64)) == "reference"
    assert run(np.ones(3, np.float32)) == "reference"                    # axis out of range
    assert seen == [2, 2, 1]


def test_concat_node_in_a_session_and_its_error_for_bad_shapes():
    node = helper.make_node("Concat", ["a", "b"], ["y"], axis=1)
    info = helper.make_tensor_value_info
    graph = helper.make_graph([node], "cat", [info("a", 1, None), info("b", 1, None)],
                              [helper.make_empty_tensor_value_info("y")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    session = ronn.Model.load(model.SerializeToString()).create_session(providers=["cpu"])
    a = np.arange(2 * 64 * 20 * 20, dtype=np.float32).reshape(2, 64, 20, 20)
    b = -a[:, :32]
    np.testing.assert_array_equal(session.run({"a": a, "b": b})["y"],
                                  np.concatenate([a, b], axis=1))
    with pytest.raises(RonnError, match="Concat"):
        session.run({"a": a, "b": b[:1]})
