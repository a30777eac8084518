"""Reductions and ArgMax/ArgMin against onnxruntime, over axes forms, keepdims and opsets."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from op_harness import check_node  # noqa: E402

RNG = np.random.default_rng(2)
REDUCE_OPS = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
              "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"]
# The opset from which ``axes`` is an input rather than an attribute.
AXES_INPUT_SINCE = {op: 18 for op in REDUCE_OPS} | {"ReduceSum": 13}


def positive(shape, dtype=np.float32):
    """Values in [0.5, 2): keeps ReduceProd and ReduceLogSum well conditioned."""
    return RNG.uniform(0.5, 2.0, size=shape).astype(dtype)


def check_reduce(op, x, axes, keepdims, opset, noop=None):
    """Run ``op`` with ``axes`` passed the way ``opset`` expects (attribute or input)."""
    attrs = {"keepdims": keepdims}
    if opset >= AXES_INPUT_SINCE[op]:
        inputs = {"data": x, "axes": None if axes is None else np.array(axes, np.int64)}
        if noop is not None:
            attrs["noop_with_empty_axes"] = noop
    else:
        inputs = {"data": x}
        if axes is not None:
            attrs["axes"] = list(axes)
    check_node(op, inputs, attrs, opset=opset, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op", REDUCE_OPS)
@pytest.mark.parametrize("opset", [11, 13, 18, 20])
@pytest.mark.parametrize("axes", [None, (1,), (0, 2), (-1,)], ids=str)
@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_axes_and_keepdims(op, opset, axes, keepdims):
    check_reduce(op, positive((2, 3, 4)), axes, keepdims, opset)


@pytest.mark.parametrize("op", REDUCE_OPS)
@pytest.mark.parametrize("noop", [0, 1])
def test_empty_axes_reduce_everything_or_nothing(op, noop):
    """With noop_with_empty_axes, each element is reduced alone (SumSquare gives X**2)."""
    x = RNG.uniform(-2, 2, size=(2, 3)).astype(np.float32)
    if op == "ReduceLogSum":
        x = np.abs(x) + 0.5
    check_reduce(op, x, [], 1, 18, noop=noop)


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin",
                                "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare",
                                "ReduceLogSumExp"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float64])
def test_reduce_keeps_dtype(op, dtype):
    """Integer results truncate: ReduceMean of [1, 2] is 1, ReduceL2 of [1, 2] is 2."""
    x = RNG.integers(-3, 4, size=(3, 4)).astype(dtype)
    check_reduce(op, x, (1,), 0, 13)


def test_reduce_log_sum_exp_does_not_overflow():
    x = np.array([[1000, 1000], [-1000, -np.inf]], np.float32)
    check_reduce("ReduceLogSumExp", x, (1,), 1, 18)


def test_reduce_max_of_empty_axis_is_minus_infinity():
    check_reduce("ReduceMax", np.zeros((0, 3), np.float32), (0,), 1, 13)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(REDUCE_OPS), hnp.array_shapes(min_dims=1, max_dims=4, max_side=4),
       st.data(), st.sampled_from([0, 1]), st.sampled_from([13, 18]))
def test_reductions_on_random_shapes(op, shape, draw, keepdims, opset):
    axes = draw.draw(st.none() | st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1,
                                          max_size=len(shape), unique_by=lambda a: a % len(shape)))
    check_reduce(op, positive(shape), axes, keepdims, opset)


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("keepdims", [0, 1])
@pytest.mark.parametrize("select_last_index", [0, 1])
def test_arg_extremes_with_ties(op, axis, keepdims, select_last_index):
    x = RNG.integers(0, 3, size=(3, 4, 5)).astype(np.float32)  # many ties
    attrs = {"axis": axis, "keepdims": keepdims, "select_last_index": select_last_index}
    check_node(op, {"x": x}, attrs, opset=13)


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("opset", [7, 11, 12])
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64])
def test_arg_extremes_older_opsets_and_dtypes(op, opset, dtype):
    x = RNG.permutation(24).reshape(2, 3, 4).astype(dtype)
    check_node(op, {"x": x}, {"axis": 1}, opset=opset)
