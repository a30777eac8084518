"""Property tests: Slice, Gather, Expand and Reshape on random arguments agree with onnxruntime."""

from __future__ import annotations

import pathlib
import sys

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from op_harness import check_node  # noqa: E402

INT64_MAX, INT64_MIN = np.iinfo(np.int64).max, np.iinfo(np.int64).min
SETTINGS = settings(max_examples=60, deadline=None)

shapes = st.lists(st.integers(0, 5), min_size=1, max_size=4).map(tuple)


def data_of(shape):
    return np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)


bound = st.one_of(st.integers(-8, 8), st.sampled_from([INT64_MAX, INT64_MIN, 2**31 - 1, -2**31]))


@st.composite
def slice_args(draw):
    """A shape and per-axis starts/ends/steps, incl. negatives, out-of-range and sentinels."""
    shape = draw(shapes)
    rank = len(shape)
    axes = draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True))
    axes = [a - rank if draw(st.booleans()) else a for a in axes]
    n = len(axes)
    starts = draw(st.lists(bound, min_size=n, max_size=n))
    ends = draw(st.lists(bound, min_size=n, max_size=n))
    steps = draw(st.lists(st.integers(-3, 3).filter(bool), min_size=n, max_size=n))
    return shape, starts, ends, axes, steps


@SETTINGS
@given(slice_args())
def test_slice_matches_onnxruntime(args):
    shape, starts, ends, axes, steps = args
    inputs = {"x": data_of(shape), "starts": np.array(starts, np.int64),
              "ends": np.array(ends, np.int64), "axes": np.array(axes, np.int64),
              "steps": np.array(steps, np.int64)}
    check_node("Slice", inputs, opset=13)


@st.composite
def gather_args(draw):
    shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    dim = shape[axis]
    ind_shape = draw(st.lists(st.integers(0, 3), max_size=2).map(tuple))
    indices = draw(st.lists(st.integers(-dim, dim - 1), min_size=int(np.prod(ind_shape)),
                            max_size=int(np.prod(ind_shape))))
    return shape, axis, np.array(indices, np.int64).reshape(ind_shape)


@SETTINGS
@given(gather_args())
def test_gather_matches_onnxruntime(args):
    shape, axis, indices = args
    check_node("Gather", {"x": data_of(shape), "i": indices}, {"axis": axis}, opset=13)


@st.composite
def expand_args(draw):
    """An input shape and a target that broadcasts with it (each dim: equal, 1 on either side)."""
    out = draw(st.lists(st.integers(0, 4), min_size=0, max_size=4))
    in_rank = draw(st.integers(0, len(out)))
    in_shape = tuple(draw(st.sampled_from([d, 1])) for d in out[len(out) - in_rank:])
    target = [draw(st.sampled_from([d, 1])) if i >= len(out) - in_rank else d
              for i, d in enumerate(out)]
    target = target[draw(st.integers(0, len(out) - in_rank)):]   # target may be shorter
    return in_shape, target


@SETTINGS
@given(expand_args())
def test_expand_matches_onnxruntime(args):
    in_shape, target = args
    check_node("Expand", {"x": data_of(in_shape), "shape": np.array(target, np.int64)}, opset=13)


@st.composite
def reshape_args(draw):
    """A shape and a target of the same size, some dims written as 0 (copy) or -1 (infer)."""
    shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=4))
    size = int(np.prod(shape))
    target = []
    rest = size
    for _ in range(draw(st.integers(0, 3))):
        d = draw(st.sampled_from([f for f in range(1, rest + 1) if rest % f == 0]))
        target.append(d)
        rest //= d
    target.append(rest)
    target = draw(st.permutations(target))
    target = [0 if i < len(shape) and d == shape[i] and draw(st.booleans()) else d
              for i, d in enumerate(target)]
    if draw(st.booleans()):
        target[draw(st.integers(0, len(target) - 1))] = -1
    return tuple(shape), target


@SETTINGS
@given(reshape_args())
def test_reshape_matches_onnxruntime(args):
    shape, target = args
    check_node("Reshape", {"x": data_of(shape), "shape": np.array(target, np.int64)}, opset=14)
