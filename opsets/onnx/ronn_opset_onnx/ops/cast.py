"""Cast and CastLike: convert a tensor to another element type.

Floats convert to integers by truncation toward zero (as C's static_cast and onnxruntime);
out-of-range values are undefined by the spec. Numbers convert to strings the way onnxruntime
writes them (8 significant digits, ``NaN``, ``INF``, ``-INF``); strings parse as numbers.
From opset 19, ``saturate`` (default 1) clamps out-of-range values to the largest finite
float8 value when the target is a float8 type; other targets ignore it.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
from onnx import TensorProto, helper

from ronn_core.kernel_spec import kernel

_FLOAT8 = {TensorProto.FLOAT8E4M3FN, TensorProto.FLOAT8E4M3FNUZ, TensorProto.FLOAT8E5M2,
           TensorProto.FLOAT8E5M2FNUZ}


def _target_dtype(to) -> tuple[int, np.dtype]:
    """The ONNX element type and numpy dtype named by ``to`` (an enum value, or a name in opset 1)."""
    elem_type = TensorProto.DataType.Value(to.upper()) if isinstance(to, str) else int(to)
    if elem_type == TensorProto.STRING:
        return elem_type, np.dtype(object)
    return elem_type, np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))


def _to_string(value) -> str:
    """One number as onnxruntime writes it."""
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    value = float(value)
    if np.isnan(value):
        return "NaN"
    if np.isinf(value):
        return "INF" if value > 0 else "-INF"
    return f"{value:.8g}"


def _from_string(text: str, dtype: np.dtype):
    """One string parsed as a number of ``dtype`` (integers may be written as floats)."""
    text = str(text).strip()
    if dtype == np.bool_:
        return float(text) != 0
    if np.issubdtype(dtype, np.integer):
        try:
            return int(text)
        except ValueError:
            return int(float(text))
    return float(text)


def _float_to_int(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Truncate toward zero, then convert (NaN and out-of-range values are undefined)."""
    with np.errstate(invalid="ignore"):
        return np.trunc(x).astype(dtype)


def _to_float8e8m0(x: np.ndarray, saturate: int, round_mode: str) -> np.ndarray:
    """Powers of two from float32's exponent bits, the mantissa rounded by ``round_mode``.

    ``up`` rounds away from zero, ``down`` toward zero, ``nearest`` to nearest with ties up.
    Saturating, out-of-range values clamp to the extreme powers of two; otherwise they (and
    zero) become NaN. NaN stays NaN.
    """
    bits = np.abs(x.astype(np.float32)).view(np.uint32)
    exponent = (bits >> 23).astype(np.int32)
    mantissa = bits & np.uint32(0x7FFFFF)
    if round_mode == "up":
        exponent += mantissa != 0
    elif round_mode == "nearest":
        exponent += mantissa >= 0x400000
    elif round_mode != "down":
        raise ValueError(f"Cast: unknown round_mode {round_mode!r}")
    special = (bits >> 23) == 0xFF                       # inf or NaN
    is_nan = np.isnan(x.astype(np.float32))
    if saturate:
        exponent = np.where(special & ~is_nan, 254, np.minimum(exponent, 254))
    else:
        exponent = np.where(special | (exponent > 254) | (bits == 0), 255, exponent)
    exponent = np.where(is_nan, 255, exponent)
    return exponent.astype(np.uint8).view(ml_dtypes.float8_e8m0fnu)


def cast_array(x: np.ndarray, to, saturate: int = 1, round_mode: str = "up") -> np.ndarray:
    """``x`` converted to the element type ``to`` (see the module docstring for the rules)."""
    elem_type, dtype = _target_dtype(to)
    if dtype == object:
        if x.dtype == object:
            return np.array(x, dtype=object)
        return np.array([_to_string(v) for v in x.reshape(-1).tolist()],
                        dtype=object).reshape(x.shape)
    if x.dtype == object or x.dtype.kind in "US":
        values = [_from_string(v, dtype) for v in x.reshape(-1).tolist()]
        return cast_array(np.array(values).reshape(x.shape), elem_type, saturate, round_mode)
    if elem_type == TensorProto.FLOAT8E8M0:
        return _to_float8e8m0(x, saturate, round_mode)
    if elem_type in _FLOAT8 and saturate:
        largest = float(ml_dtypes.finfo(dtype).max)
        with np.errstate(invalid="ignore"):
            x = np.clip(x.astype(np.float32), -largest, largest)  # inf -> largest, NaN stays
    if np.issubdtype(dtype, np.integer) and x.dtype.kind in "fV":  # V: bfloat16, float8
        return _float_to_int(x.astype(np.float64), dtype)
    if dtype == np.bool_:
        return np.asarray(x != 0, dtype=bool)
    with np.errstate(over="ignore", invalid="ignore"):
        return x.astype(dtype)


@kernel("Cast", since=1)
@kernel("Cast", since=6)
@kernel("Cast", since=9)
@kernel("Cast", since=13)
def cast(x, *, to):
    """Cast: X converted to the element type ``to`` (a type name string in opset 1)."""
    return cast_array(x, to)


@kernel("Cast", since=19)
@kernel("Cast", since=21)
@kernel("Cast", since=23)
@kernel("Cast", since=24)
@kernel("Cast", since=25)
@kernel("Cast", since=28)
def cast_saturating(x, *, to, saturate=1, round_mode="up"):
    """Cast: X converted to ``to``; ``saturate`` clamps out-of-range values for float8 targets."""
    return cast_array(x, to, saturate, round_mode)


@kernel("CastLike", since=15)
@kernel("CastLike", since=19)
@kernel("CastLike", since=21)
@kernel("CastLike", since=23)
@kernel("CastLike", since=24)
@kernel("CastLike", since=25)
def cast_like(x, target_type, *, saturate=1, round_mode="up"):
    """CastLike: X converted to the element type of ``target_type`` (whose values are unused)."""
    if target_type.dtype == object:
        return cast_array(x, TensorProto.STRING, saturate)
    elem_type = helper.np_dtype_to_tensor_dtype(target_type.dtype)
    return cast_array(x, elem_type, saturate, round_mode)
