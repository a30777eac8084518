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


def split_model(shape, axis, sizes, opset, constant=True):
    """One Split of ``x`` at ``sizes`` along ``axis``: attribute (opset < 13) or input."""
    inputs, inits, attrs = ["x"], [], {"axis": axis}
    if opset < 13:
        attrs["split"] = sizes
    elif constant:
        inits.append(helper.make_tensor("s", 7, [len(sizes)], sizes))
        inputs.append("s")
    else:
        inputs.append("s")
    outs = [f"y{i}" for i in range(len(sizes))]
    graph_inputs = [helper.make_tensor_value_info("x", 1, shape)]
    if opset >= 13 and not constant:
        graph_inputs.append(helper.make_tensor_value_info("s", 7, [len(sizes)]))
    graph = helper.make_graph([helper.make_node("Split", inputs, outs, **attrs)], "split",
                              graph_inputs, [helper.make_empty_tensor_value_info(o) for o in outs],
                              inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), data=st.data(),
       opset=st.sampled_from([11, 13, 18]), constant=st.booleans())
def test_split_returns_views_matching_numpy(shape, data, opset, constant):
    """Constant sizes: the fast kernel's views; sizes fed at run time: the reference."""
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    dim = shape[axis]
    cuts = sorted(data.draw(st.lists(st.integers(0, dim), min_size=1, max_size=3)))
    sizes = [b - a for a, b in zip([0] + cuts, cuts + [dim])]
    session = ronn.Model.load(split_model(shape, axis, sizes, opset, constant)
                              .SerializeToString()).create_session(optimization_level="O0")
    fast = session.plan.steps[0].fn.__qualname__ == "split.<locals>.run"
    assert fast == (constant or opset < 13)
    x = np.random.default_rng(len(shape)).standard_normal(shape).astype(np.float32)
    feeds = {"x": x} if constant or opset < 13 else {"x": x, "s": np.array(sizes, np.int64)}
    got = list(session.run(feeds).values())
    want = np.split(x, np.cumsum(sizes)[:-1], axis=axis)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
        assert g.shape == w.shape
        if fast and g.size:
            assert np.shares_memory(g, x)             # a view, no copy


def test_split_sizes_that_do_not_add_up_are_the_reference_error():
    session = ronn.Model.load(split_model([4, 6], 1, [2, 3], 13).SerializeToString()
                              ).create_session(optimization_level="O0")
    with pytest.raises(RonnError, match="do not add up to dim 6"):
        session.run({"x": np.zeros((4, 6), np.float32)})
