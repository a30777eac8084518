"""Elementwise kernels (binary, unary, activations, comparisons, Where, Cast) against onnxruntime.

Each test builds a one-node model, runs it in onnxruntime and through RONN's version resolution,
and compares dtype, shape and values (see op_harness.check_node).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from op_harness import check_node, node_model, run_onnxruntime, run_reference  # noqa: E402

RNG = np.random.default_rng(0)
FLOATS = [np.float32, np.float64]
NUMERIC = [np.float32, np.float64, np.int32, np.int64]


def data(shape, dtype, low=-5.0, high=5.0, nonzero=False):
    """Random values of ``dtype`` in [low, high] (integers rounded; no zeros if ``nonzero``)."""
    values = RNG.uniform(low, high, size=shape)
    if np.issubdtype(dtype, np.integer):
        values = np.round(values)
    if nonzero:
        values[values == 0] = 1
    return np.asarray(values, dtype=dtype)


# --- binary arithmetic -------------------------------------------------------------------------

BROADCAST_SHAPES = [((2, 3, 4), (2, 3, 4)), ((2, 3, 4), (4,)), ((2, 1, 4), (3, 1)),
                    ((), (2, 3)), ((1, 3, 1), (2, 1, 5))]


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("dtype", NUMERIC)
@pytest.mark.parametrize("shapes", BROADCAST_SHAPES, ids=str)
def test_arithmetic_broadcasts_like_numpy(op, dtype, shapes):
    a = data(shapes[0], dtype)
    b = data(shapes[1], dtype, nonzero=True)
    check_node(op, {"a": a, "b": b}, opset=14)


@pytest.mark.parametrize("op", ["Add", "Sub", "Mul", "Div"])
@pytest.mark.parametrize("opset", [7, 13, 14, 21])
def test_arithmetic_every_opset(op, opset):
    check_node(op, {"a": data((3, 4), np.float32), "b": data((4,), np.float32, nonzero=True)},
               opset=opset)


def test_integer_division_truncates_toward_zero():
    a = np.array([-7, 7, -7, 7, 6, -6], np.int32)
    b = np.array([2, -2, -2, 2, 3, 4], np.int32)
    got = check_node("Div", {"a": a, "b": b}, opset=14)[0]
    np.testing.assert_array_equal(got, [-3, -3, 3, 3, 2, -1])


def test_legacy_broadcast_aligns_b_at_axis():
    a = np.zeros((2, 3, 4, 5), np.float32)
    b = np.arange(12, dtype=np.float32).reshape(3, 4)
    (got,) = run_reference("Add", {"a": a, "b": b}, {"broadcast": 1, "axis": 1}, opset=6)
    np.testing.assert_array_equal(got, np.broadcast_to(b[:, :, None], a.shape))
    (trailing,) = run_reference("Mul", {"a": a + 1, "b": np.arange(5, dtype=np.float32)},
                                {"broadcast": 1}, opset=1)
    np.testing.assert_array_equal(trailing, np.broadcast_to(np.arange(5), a.shape))
    with pytest.raises(ValueError):
        run_reference("Sub", {"a": a, "b": b}, {"broadcast": 0}, opset=6)


@pytest.mark.parametrize("x_dtype,y_dtype", [(np.float32, np.float32), (np.float64, np.float64),
                                             (np.float32, np.int64), (np.int32, np.int32),
                                             (np.int64, np.int64), (np.int32, np.float32)])
def test_pow_result_has_the_base_type(x_dtype, y_dtype):
    x = data((3, 4), x_dtype, 0.5, 3)
    y = data((4,), y_dtype, 0, 3)
    check_node("Pow", {"x": x, "y": y}, opset=15, rtol=1e-5)


def test_pow_integer_negative_exponent_truncates():
    x = np.array([2, 1, -1, -1, 3], np.int64)
    y = np.array([-1, -5, -3, -2, 2], np.int64)
    got = check_node("Pow", {"x": x, "y": y}, opset=15)[0]
    np.testing.assert_array_equal(got, [0, 1, -1, 1, 9])


@pytest.mark.parametrize("fmod", [0, 1])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_mod_sign_follows_divisor_or_dividend(fmod, dtype):
    a = np.array([-7, 7, -7, 7, 9, -9], dtype)
    b = np.array([2, -2, -2, 2, 4, 5], dtype)
    check_node("Mod", {"a": a, "b": b}, {"fmod": fmod}, opset=13)


@pytest.mark.parametrize("dtype", FLOATS)
def test_mod_floats_use_fmod(dtype):
    check_node("Mod", {"a": data((3, 4), dtype), "b": data((4,), dtype, 1, 3)}, {"fmod": 1},
               opset=13)


@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint32, np.uint64])
def test_bit_shift(direction, dtype):
    x = np.array([1, 2, 255, 16], dtype)
    y = np.array([1, 3, 7, 2], dtype)
    check_node("BitShift", {"x": x, "y": y}, {"direction": direction}, opset=11)


@pytest.mark.parametrize("op", ["BitwiseAnd", "BitwiseOr", "BitwiseXor"])
@pytest.mark.parametrize("dtype", [np.int32, np.uint8, np.int64])
def test_bitwise(op, dtype):
    a = np.array([[0, 5, 12, 127]], dtype)
    b = np.array([[1], [6]], dtype)
    check_node(op, {"a": a, "b": b}, opset=18)
    check_node("BitwiseNot", {"a": a}, opset=18)


@pytest.mark.parametrize("op", ["Sum", "Mean", "Max", "Min"])
@pytest.mark.parametrize("opset", [8, 12, 13])
@pytest.mark.parametrize("n_inputs", [1, 2, 3])
def test_variadic_ops_broadcast_all_inputs(op, opset, n_inputs):
    shapes = [(2, 3, 4), (3, 1), (4,)][:n_inputs]
    inputs = {f"x{i}": data(s, np.float32) for i, s in enumerate(shapes)}
    check_node(op, inputs, opset=opset)


@pytest.mark.parametrize("op,dtype", [("Sum", np.float64),
                                      ("Max", np.int32), ("Max", np.int64), ("Min", np.int32),
                                      ("Min", np.float64)])
def test_variadic_ops_keep_dtype(op, dtype):
    check_node(op, {"a": data((3, 4), dtype), "b": data((4,), dtype)}, opset=13)


def test_max_and_min_propagate_nan():
    a = np.array([np.nan, 1, 2], np.float32)
    b = np.array([1, np.nan, 1], np.float32)
    check_node("Max", {"a": a, "b": b}, opset=13)
    check_node("Min", {"a": a, "b": b}, opset=13)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["Add", "Sub", "Mul", "Max", "Min", "Equal", "Less", "Greater"]),
       hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4),
       st.sampled_from([np.float32, np.int64]))
def test_binary_ops_broadcast_random_shapes(op, shapes, dtype):
    a_shape, b_shape = shapes.input_shapes
    check_node(op, {"a": data(a_shape, dtype), "b": data(b_shape, dtype)}, opset=13)


# --- unary math --------------------------------------------------------------------------------

# op -> (low, high, opset): the input range keeps every value inside the op's domain.
UNARY = {"Abs": (-5, 5, 13), "Neg": (-5, 5, 13), "Exp": (-5, 5, 13), "Log": (0.1, 5, 13),
         "Sqrt": (0, 5, 13), "Reciprocal": (0.5, 5, 13), "Floor": (-5, 5, 13),
         "Ceil": (-5, 5, 13), "Round": (-5, 5, 11), "Sign": (-5, 5, 13), "Erf": (-4, 4, 13),
         "Sin": (-5, 5, 7), "Cos": (-5, 5, 7), "Tan": (-1.5, 1.5, 7), "Asin": (-1, 1, 7),
         "Acos": (-1, 1, 7), "Atan": (-5, 5, 7), "Sinh": (-5, 5, 9), "Cosh": (-5, 5, 9),
         "Asinh": (-5, 5, 9), "Acosh": (1, 5, 9), "Atanh": (-0.99, 0.99, 9)}
# onnxruntime has no double kernel for these: compare with its float32 result instead.
ORT_FLOAT_ONLY = {"Erf", "Round", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Asinh",
                  "Acosh", "Atanh"}


def check_double_against_float32(op, x, attrs=None, *, opset):
    """The float64 kernel agrees with onnxruntime's float32 kernel to float32 precision."""
    x32 = {"x": x.astype(np.float32)}
    (expected,) = run_onnxruntime(node_model(op, x32, attrs, opset=opset), x32)
    (got,) = run_reference(op, {"x": x}, attrs, opset=opset)
    assert got.dtype == np.float64 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", sorted(UNARY))
@pytest.mark.parametrize("dtype", FLOATS)
def test_unary_math(op, dtype):
    low, high, opset = UNARY[op]
    x = data((3, 7), dtype, low, high)
    if dtype is np.float64 and op in ORT_FLOAT_ONLY:
        x = x.astype(np.float32).astype(np.float64)  # exactly representable in float32
        check_double_against_float32(op, x, opset=opset)
    else:
        check_node(op, {"x": x}, opset=opset)


@pytest.mark.parametrize("op", ["Abs", "Neg", "Sign"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_unary_integer_ops_stay_integer(op, dtype):
    check_node(op, {"x": data((4, 5), dtype)}, opset=13)


def test_round_halves_to_even():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4, 2.6], np.float32)
    got = check_node("Round", {"x": x}, opset=11)[0]
    np.testing.assert_array_equal(got, [0, 2, 2, -0, -2, -2, 2, 3])


def test_erf_is_accurate_over_its_whole_range():
    x = np.concatenate([np.linspace(-6, 6, 2001), [0.0, 1e-20, -1e-7, np.inf, -np.inf]])
    check_node("Erf", {"x": x.astype(np.float32)}, opset=13, rtol=1e-6, atol=1e-7)


def test_erf_double_is_exact():
    import math
    x = np.array([-3.0, -0.5, 1e-10, 0.7, 2.0])
    (got,) = run_reference("Erf", {"x": x}, opset=13)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, [math.erf(v) for v in x])


def test_is_nan_and_is_inf():
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -1.5], np.float32)
    check_node("IsNaN", {"x": x}, opset=13)
    for neg in (0, 1):
        for pos in (0, 1):
            check_node("IsInf", {"x": x}, {"detect_negative": neg, "detect_positive": pos},
                       opset=10)


def test_unary_keeps_zero_dim_tensors_as_arrays():
    (got,) = run_reference("Exp", {"x": np.array(1.0, np.float32)}, opset=13)
    assert isinstance(got, np.ndarray) and got.dtype == np.float32 and got.shape == ()
