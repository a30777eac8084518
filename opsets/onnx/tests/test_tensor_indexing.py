"""Slice, Gather*, Scatter*, Trilu, OneHot, NonZero, TopK and CumSum agree with onnxruntime."""

from __future__ import annotations

import pathlib
import sys

import numpy as np
import pytest

from op_harness import check_node, node_model, run_onnxruntime, run_reference  # noqa: E402

RNG = np.random.default_rng(1)
INT64_MAX, INT64_MIN = np.iinfo(np.int64).max, np.iinfo(np.int64).min


def rand(shape, dtype=np.float32):
    return np.asarray((RNG.random(shape) * 10).astype(dtype))


def i64(*values):
    return np.array(values, dtype=np.int64)


# --- Slice -------------------------------------------------------------------------------------

SLICE_CASES = [  # starts, ends, axes, steps on a (4, 5, 6) tensor
    ([1], [3], [0], [1]),
    ([0, 1], [4, -1], [0, 2], None),
    ([-2], [INT64_MAX], [1], [1]),            # "to the end" sentinel
    ([INT64_MAX], [INT64_MIN], [2], [-1]),    # reverse the whole axis
    ([-1], [-100], [0], [-2]),
    ([10], [-10], [1], [-1]),                 # out-of-range bounds clamp
    ([3], [1], [2], [1]),                     # empty result
    ([0, 0, 0], [4, 5, 6], [-3, -2, -1], [2, 3, 4]),
    ([1, 4], [3, 0], [0, 1], [1, -2]),
    ([0], [6], None, None),                   # default axes: the leading ones
]


@pytest.mark.parametrize("starts, ends, axes, steps, opset", [
    (*case, o) for o in (10, 11, 13) for case in SLICE_CASES
    if o >= 11 or case[2] is None or min(case[2]) >= 0])   # negative axes from opset 11
def test_slice(starts, ends, axes, steps, opset):
    inputs = {"x": rand((4, 5, 6)), "starts": i64(*starts), "ends": i64(*ends)}
    if axes is not None:
        inputs["axes"] = i64(*axes)
    if steps is not None:
        inputs["axes"] = i64(*(axes or range(len(starts))))
        inputs["steps"] = i64(*steps)
    check_node("Slice", inputs, opset=opset)


@pytest.mark.parametrize("starts, ends, axes", [([1], [3], [0]), ([0, -3], [2, 100], [1, 2]),
                                                ([2], [1], None)])
def test_slice_v1_attributes(starts, ends, axes):
    attrs = {"starts": starts, "ends": ends} if axes is None else \
        {"starts": starts, "ends": ends, "axes": axes}
    check_node("Slice", {"x": rand((4, 5, 6))}, attrs, opset=7)


@pytest.mark.parametrize("ends", [i64(INT64_MAX), np.array([2**31 - 1], np.int32)])
def test_slice_max_int_end_runs_off_the_front_with_a_negative_step(ends):
    """onnxruntime reads an INT64_MAX/INT32_MAX end as numpy's None, whatever the step's sign."""
    x = rand((4,))
    inputs = {"x": x, "starts": np.array([2], ends.dtype), "ends": ends,
              "axes": np.array([0], ends.dtype), "steps": np.array([-1], ends.dtype)}
    (out,) = check_node("Slice", inputs, opset=13)
    np.testing.assert_array_equal(out, x[2::-1])


def test_slice_int32_bounds():
    inputs = {"x": rand((4, 5)), "starts": np.array([3], np.int32),
              "ends": np.array([0], np.int32), "axes": np.array([1], np.int32),
              "steps": np.array([-1], np.int32)}
    check_node("Slice", inputs, opset=13)


# --- Gather, GatherElements, GatherND ----------------------------------------------------------

GATHER_INDICES = [np.array(1), np.array([0, 2, 1]), np.array([[1, -1], [0, 0]])]


@pytest.mark.parametrize("indices, axis, opset", [
    (i, a, o) for o in (7, 11, 13) for a in (0, 1, -1) for i in GATHER_INDICES
    if o >= 11 or (a >= 0 and (i >= 0).all())])   # negative axes and indices from opset 11
def test_gather(indices, axis, opset):
    for dtype in (np.int64, np.int32):
        check_node("Gather", {"x": rand((3, 4, 3)), "i": indices.astype(dtype)}, {"axis": axis},
                   opset=opset)


def test_gather_out_of_range_raises():
    with pytest.raises(IndexError):
        run_reference("Gather", {"x": rand((3,)), "i": i64(3)}, opset=13)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_gather_elements(axis):
    indices = RNG.integers(-3, 3, size=(2, 3))
    check_node("GatherElements", {"x": rand((3, 3)), "i": indices}, {"axis": axis}, opset=13)


@pytest.mark.parametrize("data_shape, indices, batch_dims", [
    ((2, 2), [[0, 0], [1, 1]], 0),
    ((2, 2), [[1], [0]], 0),
    ((2, 2, 2), [[0, 1], [1, 0]], 0),
    ((2, 2, 2), [[[0, 1]], [[1, 0]]], 0),
    ((2, 2, 2), [[1], [0]], 1),
    ((2, 3, 4), [[[1, -1]], [[2, 0]]], 1),
    ((2, 3, 4, 2), [[[1], [0]], [[1], [1]], [[0], [1]]], 0),
    ((2, 3, 4), [[[1], [0]], [[2], [1]]], 1),
    ((2, 3, 4), [[[1], [3], [0]], [[2], [0], [-1]]], 2),
])
def test_gather_nd(data_shape, indices, batch_dims):
    check_node("GatherND", {"x": rand(data_shape), "i": np.array(indices, np.int64)},
               {"batch_dims": batch_dims}, opset=13)


# --- ScatterElements, ScatterND ----------------------------------------------------------------

@pytest.mark.parametrize("opset, reduction", [(11, None), (13, None), (16, "none"), (16, "add"),
                                              (16, "mul"), (18, "max"), (18, "min")])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_scatter_elements(axis, reduction, opset):
    data, updates = rand((3, 4)), rand((2, 3))
    if reduction in (None, "none"):   # distinct targets: the order of duplicates is undefined
        indices = np.argsort(RNG.random((3, 3)), axis=0)[:2] if axis == 0 else \
            np.argsort(RNG.random((2, 4)), axis=1)[:, :3]
    else:                              # duplicates combine
        indices = RNG.integers(0, 3, size=(2, 3))
    attrs = {"axis": axis} if reduction is None else {"axis": axis, "reduction": reduction}
    check_node("ScatterElements", {"x": data, "i": indices.astype(np.int64), "u": updates},
               attrs, opset=opset)


def test_scatter_elements_negative_indices():
    check_node("ScatterElements", {"x": rand((2, 4)), "i": i64(-1, 0).reshape(1, 2),
                                   "u": rand((1, 2))}, {"axis": 1}, opset=13)


def test_scatter_v9_is_scatter_elements():
    check_node("Scatter", {"x": rand((3, 3)), "i": i64(2, 0, 1).reshape(1, 3),
                           "u": rand((1, 3))}, {"axis": 0}, opset=9)


@pytest.mark.parametrize("opset, reduction", [(11, None), (16, "none"), (16, "add"),
                                              (16, "mul"), (18, "max"), (18, "min")])
@pytest.mark.parametrize("indices, update_shape", [
    ([[1], [3]], (2, 3, 2)),         # whole slices
    ([[0, 1], [2, 2]], (2, 2)),      # rows
    ([[0, 0, 1], [3, 2, 0]], (2,)),  # single elements
    ([[-1, 0]], (1, 2)),
])
def test_scatter_nd(indices, update_shape, reduction, opset):
    if reduction not in (None, "none"):
        indices = indices + [indices[0]]           # a duplicate position combines
        update_shape = (update_shape[0] + 1, *update_shape[1:])
    attrs = {} if reduction is None else {"reduction": reduction}
    check_node("ScatterND", {"x": rand((4, 3, 2)), "i": np.array(indices, np.int64),
                             "u": rand(update_shape)}, attrs, opset=opset)


# --- Trilu, OneHot, NonZero --------------------------------------------------------------------

@pytest.mark.parametrize("upper", [0, 1])
@pytest.mark.parametrize("k", [None, 0, 1, -1, 5, -5])
@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (2, 5, 3)])
def test_trilu(shape, k, upper):
    inputs = {"x": rand(shape)} if k is None else {"x": rand(shape), "k": i64(k)}
    check_node("Trilu", inputs, {"upper": upper}, opset=14)


@pytest.mark.parametrize("opset", [9, 11])
@pytest.mark.parametrize("axis", [-1, 0, 1, -2])
@pytest.mark.parametrize("values_dtype", [np.float32, np.int64])
def test_one_hot(axis, values_dtype, opset):
    indices = np.array([[0, 2, 5], [1, -1, 9]], np.int64) if opset >= 11 else \
        np.array([[0, 2, 3], [1, 4, 9]], np.int64)   # out of range: all "off"
    check_node("OneHot", {"i": indices, "depth": np.array(5, np.int64),
                          "v": np.array([2, 7], values_dtype)}, {"axis": axis}, opset=opset)


def test_one_hot_float_indices_and_depth():
    check_node("OneHot", {"i": np.array([0.0, 2.0, 1.0], np.float32),
                          "depth": np.array([3.0], np.float32),
                          "v": np.array([0, 1], np.float32)}, opset=11)


@pytest.mark.parametrize("x", [
    np.array([[1, 0], [1, 1]], np.float32), np.zeros((2, 3), np.int32), np.array([0, 3, 0, 4]),
    np.array([[[True, False]], [[False, True]]]), np.array(3.0, np.float32),
    np.array(0, np.int64),
])
def test_non_zero(x):
    check_node("NonZero", {"x": x}, opset=13)


# --- TopK, CumSum ------------------------------------------------------------------------------

TIES = np.array([[3, 1, 3, 2, 3, 1], [0, 0, 5, 5, 0, 5]], np.float32)


@pytest.mark.parametrize("largest", [0, 1])
@pytest.mark.parametrize("k", [1, 3, 6])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_topk_ties_keep_index_order(k, largest, dtype):
    inputs = {"x": TIES.astype(dtype), "k": i64(k)}
    check_node("TopK", inputs, {"largest": largest}, opset=11, n_outputs=2)


@pytest.mark.parametrize("axis", [0, 1, -3])
def test_topk_axis(axis):
    check_node("TopK", {"x": rand((4, 5, 3)), "k": i64(2)}, {"axis": axis}, opset=11,
               n_outputs=2)


def test_topk_v10_input_k():
    check_node("TopK", {"x": TIES, "k": i64(4)}, opset=10, n_outputs=2)


def test_topk_v1_attribute_k():
    check_node("TopK", {"x": TIES}, {"k": 2}, opset=7, n_outputs=2)


def test_topk_unsorted_returns_the_same_elements():
    x = rand((3, 8))
    inputs = {"x": x, "k": i64(4)}
    model = node_model("TopK", inputs, {"sorted": 0}, opset=11, n_outputs=2)
    _, expected_idx = run_onnxruntime(model, inputs)
    values, indices = run_reference("TopK", inputs, {"sorted": 0}, opset=11)
    np.testing.assert_array_equal(np.sort(indices, axis=1), np.sort(expected_idx, axis=1))
    np.testing.assert_array_equal(values, np.take_along_axis(x, indices, axis=1))


@pytest.mark.parametrize("opset", [11, 14])
@pytest.mark.parametrize("exclusive", [0, 1])
@pytest.mark.parametrize("reverse", [0, 1])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_cumsum(axis, reverse, exclusive, opset):
    check_node("CumSum", {"x": rand((3, 4)), "axis": i64(axis)},
               {"exclusive": exclusive, "reverse": reverse}, opset=opset)


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.float64, np.float16])
def test_cumsum_dtypes_and_int32_axis(dtype):
    check_node("CumSum", {"x": rand((5,), dtype), "axis": np.array(0, np.int32)}, opset=14,
               rtol=1e-3)
