"""Activations, Clip, comparisons and logic, Where, and Cast against onnxruntime."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
from onnx import TensorProto

from op_harness import check_node, node_model, run_onnxruntime, run_reference  # noqa: E402
from onnxruntime.capi.onnxruntime_pybind11_state import InvalidGraph, NotImplemented  # noqa: E402

RNG = np.random.default_rng(1)


def data(shape, dtype, low=-5.0, high=5.0):
    """Random values of ``dtype`` in [low, high] (integers rounded)."""
    values = RNG.uniform(low, high, size=shape)
    if np.issubdtype(dtype, np.integer):
        values = np.round(values)
    return np.asarray(values, dtype=dtype)


# --- activations -------------------------------------------------------------------------------

# (op, attributes, opset)
ACTIVATIONS = [
    ("Relu", {}, 14), ("Relu", {}, 7), ("LeakyRelu", {}, 16), ("LeakyRelu", {"alpha": 0.2}, 6),
    ("Sigmoid", {}, 13), ("Tanh", {}, 13), ("HardSigmoid", {}, 6),
    ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}, 6), ("HardSwish", {}, 14), ("Elu", {}, 6),
    ("Elu", {"alpha": 0.5}, 6), ("Selu", {}, 6), ("Selu", {"alpha": 1.5, "gamma": 2.0}, 6),
    ("Celu", {}, 12), ("Celu", {"alpha": 2.0}, 12), ("Softplus", {}, 7), ("Softsign", {}, 7),
    ("Gelu", {}, 20), ("Gelu", {"approximate": "tanh"}, 20), ("Mish", {}, 18),
    ("ThresholdedRelu", {}, 10), ("ThresholdedRelu", {"alpha": 0.5}, 10)]


@pytest.mark.parametrize("op,attrs,opset", ACTIVATIONS, ids=lambda v: str(v))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation(op, attrs, opset, dtype):
    x = data((4, 9), dtype, -6, 6).astype(np.float32).astype(dtype)
    try:
        check_node(op, {"x": x}, attrs, opset=opset)
    except (NotImplemented, InvalidGraph):
        # onnxruntime has no double kernel for this op: compare with its float32 result.
        assert dtype is np.float64
        x32 = {"x": x.astype(np.float32)}
        (expected,) = run_onnxruntime(node_model(op, x32, attrs, opset=opset), x32)
        (got,) = run_reference(op, {"x": x}, attrs, opset=opset)
        assert got.dtype == np.float64 and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", ["Sigmoid", "Softplus", "Tanh", "Elu", "Mish", "Gelu"])
def test_activation_extreme_inputs_do_not_overflow(op):
    x = np.array([-100, -30, -1e-8, 0, 1e-8, 30, 100], np.float32)
    check_node(op, {"x": x}, opset=20)


@pytest.mark.parametrize("dtype", [np.int32, np.int8])
def test_relu_on_integers(dtype):
    check_node("Relu", {"x": data((3, 4), dtype)}, opset=14)


@pytest.mark.parametrize("slope_shape", [(1,), (3, 1, 1), (5,), (1, 3, 4, 5)], ids=str)
def test_prelu_slope_broadcasts_to_x(slope_shape):
    x = data((2, 3, 4, 5), np.float32)
    check_node("PRelu", {"x": x, "slope": data(slope_shape, np.float32, 0, 1)}, opset=16)


def test_prelu_legacy_slope_is_per_channel():
    x = data((2, 3, 4), np.float32)
    slope = np.array([0.1, 0.2, 0.3], np.float32)
    (got,) = run_reference("PRelu", {"x": x, "slope": slope}, opset=6)
    np.testing.assert_allclose(got, np.where(x >= 0, x, x * slope[:, None]))


# --- Clip --------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
@pytest.mark.parametrize("bounds", [(-1, 2), (None, 2), (-1, None), (None, None), (3, 1)], ids=str)
def test_clip_with_optional_bound_inputs(dtype, bounds):
    low, high = (None if b is None else np.array(b, dtype) for b in bounds)
    check_node("Clip", {"x": data((3, 4), dtype), "min": low, "max": high}, opset=13)


@pytest.mark.parametrize("opset", [11, 12])
def test_clip_older_input_versions(opset):
    bounds = {"min": np.array(-0.5, np.float32), "max": np.array(0.5, np.float32)}
    check_node("Clip", {"x": data((3, 4), np.float32), **bounds}, opset=opset)


def test_clip_with_attributes_before_opset_11():
    x = data((3, 4), np.float32)
    check_node("Clip", {"x": x}, {"min": -1.0, "max": 1.5}, opset=6)
    check_node("Clip", {"x": x}, {"max": 1.5}, opset=6)


def test_clip_keeps_nan():
    x = np.array([np.nan, -3, 3], np.float32)
    check_node("Clip", {"x": x, "min": np.array(0, np.float32), "max": np.array(1, np.float32)},
               opset=13)


# --- comparisons, logic, Where ------------------------------------------------------------------

@pytest.mark.parametrize("op", ["Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_comparisons_give_bool(op, dtype):
    a = data((2, 3, 4), dtype, -2, 2)
    b = data((3, 1), dtype, -2, 2)
    check_node(op, {"a": a, "b": b}, opset=16)


@pytest.mark.parametrize("opset", [7, 9, 11, 13])
def test_comparisons_older_opsets(opset):
    a, b = data((3, 4), np.float32, -2, 2), data((4,), np.float32, -2, 2)
    for op in ("Less", "Greater"):
        check_node(op, {"a": a, "b": b}, opset=opset)
    check_node("Equal", {"a": a.astype(np.int32), "b": b.astype(np.int32)}, opset=opset)


def test_equal_on_bools_and_strings():
    check_node("Equal", {"a": np.array([True, False]), "b": np.array([True, True])}, opset=13)
    check_node("Equal", {"a": np.array(["ab", "c"], object), "b": np.array(["ab", "d"], object)},
               opset=19)


@pytest.mark.parametrize("op", ["And", "Or", "Xor"])
def test_logical_ops_broadcast(op):
    a = RNG.random((2, 3, 4)) > 0.5
    b = RNG.random((3, 1)) > 0.5
    check_node(op, {"a": a, "b": b}, opset=7)
    check_node("Not", {"a": a}, opset=1)


def test_legacy_comparison_broadcast_attribute():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    (got,) = run_reference("Greater", {"a": a, "b": np.array([1, 4], np.float32)},
                           {"broadcast": 1, "axis": 0}, opset=1)
    np.testing.assert_array_equal(got, [[False, False, True], [False, False, True]])


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.uint8])
@pytest.mark.parametrize("opset", [9, 16])
def test_where_broadcasts_condition_and_branches(dtype, opset):
    condition = RNG.random((3, 1)) > 0.5
    x, y = data((2, 3, 4), dtype), data((4,), dtype)
    check_node("Where", {"condition": condition, "x": x, "y": y}, opset=opset)


# --- Cast --------------------------------------------------------------------------------------

NUMERIC_TYPES = {TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64,
                 TensorProto.FLOAT16: np.float16, TensorProto.INT8: np.int8,
                 TensorProto.UINT8: np.uint8, TensorProto.INT32: np.int32,
                 TensorProto.INT64: np.int64, TensorProto.BOOL: np.bool_}


@pytest.mark.parametrize("source", list(NUMERIC_TYPES.values()), ids=lambda t: t.__name__)
@pytest.mark.parametrize("to", list(NUMERIC_TYPES), ids=TensorProto.DataType.Name)
def test_cast_between_numeric_types(source, to):
    x = data((3, 5), np.float64, 0 if source in (np.uint8, np.bool_) else -100, 100)
    x[0, :2] = [0.0, 1.0]
    check_node("Cast", {"x": x.astype(source)}, {"to": to}, opset=13)


def test_cast_float_to_int_truncates_toward_zero():
    x = np.array([1.9, -1.9, 2.5, -0.5, 0.0], np.float32)
    for opset in (6, 9, 13, 19, 21):
        got = check_node("Cast", {"x": x}, {"to": TensorProto.INT32}, opset=opset)[0]
        np.testing.assert_array_equal(got, [1, -1, 2, 0, 0])


def test_cast_opset_1_names_the_type():
    x = np.array([1.7, -2.2], np.float32)
    (got,) = run_reference("Cast", {"x": x}, {"to": "INT64"}, opset=1)
    assert got.dtype == np.int64 and got.tolist() == [1, -2]


@pytest.mark.parametrize("x", [
    np.array([1.5, -2.7, 1e10, np.nan, np.inf, -np.inf, 0.1, 1 / 3, 1e-5, 0.0], np.float32),
    np.array([123456789.0, 1e-4, 1e15, 2.0 ** 60, -0.0], np.float64),
    np.array([7, -3, 0], np.int64), np.array([True, False])], ids=lambda x: str(x.dtype))
def test_cast_numbers_to_strings_like_onnxruntime(x):
    """8 significant digits, NaN / INF / -INF, bools as 1 and 0."""
    inputs = {"x": x}
    (expected,) = run_onnxruntime(node_model("Cast", inputs, {"to": TensorProto.STRING},
                                             opset=13), inputs)
    (got,) = run_reference("Cast", inputs, {"to": TensorProto.STRING}, opset=13)
    assert got.dtype == object
    assert got.tolist() == expected.tolist()


def test_cast_strings_to_numbers():
    text = np.array(["1.5", " -3", "1e3", "inf"], object)
    check_node("Cast", {"x": text}, {"to": TensorProto.FLOAT}, opset=13)
    check_node("Cast", {"x": np.array(["12", "-3"], object)}, {"to": TensorProto.INT64},
               opset=13)


def test_cast_to_float8_saturates_unless_told_not_to():
    import ml_dtypes
    x = np.array([1000, -1000, np.inf, 0.3], np.float32)
    (saturated,) = run_reference("Cast", {"x": x}, {"to": TensorProto.FLOAT8E4M3FN}, opset=19)
    assert saturated.dtype == ml_dtypes.float8_e4m3fn
    np.testing.assert_array_equal(saturated.astype(np.float32)[:3], [448, -448, 448])
    (raw,) = run_reference("Cast", {"x": x}, {"to": TensorProto.FLOAT8E4M3FN, "saturate": 0},
                           opset=19)
    assert np.isnan(raw.astype(np.float32)[:3]).all()


@pytest.mark.parametrize("target", [np.float32, np.int64, np.float16, np.bool_])
def test_cast_like_takes_the_type_of_its_second_input(target):
    x = data((2, 3), np.float32, -3, 3)
    check_node("CastLike", {"x": x, "like": np.zeros((1,), target)}, opset=15)
