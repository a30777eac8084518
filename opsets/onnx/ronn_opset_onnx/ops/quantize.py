"""Linear quantization: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, the integer and
quantized-linear convolutions and matmuls, and BitCast.

``QuantizeLinear``: ``y = saturate(round_half_even(x / scale) + zero_point)``;
``DequantizeLinear``: ``y = (x - zero_point) * scale``. Scale and zero point are a scalar
(per tensor), a 1-D tensor along ``axis`` (per axis), or a tensor of X's rank whose ``axis``
dimension is ``ceil(D / block_size)`` (blocked). Integer targets (int16 down to int2/uint2)
saturate to their range; float8/float6/float4 targets round to nearest even and, with
``saturate``, clamp to the largest finite value.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
from onnx import helper

from ronn_core.kernel_spec import kernel

from .conv import conv


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

def _np_dtype(elem_type: int) -> np.dtype:
    return np.dtype(helper.tensor_dtype_to_np_dtype(int(elem_type)))


def _is_integer(dtype: np.dtype) -> bool:
    """Integer types, including ml_dtypes' int4/uint4/int2/uint2."""
    try:
        ml_dtypes.iinfo(dtype)
        return dtype != np.bool_
    except (TypeError, ValueError):
        return False


def _expand_param(p, x_shape, axis, block_size):
    """Scale or zero point ``p`` shaped to broadcast against X (per tensor, axis or block)."""
    p = np.asarray(p)
    rank = len(x_shape)
    if block_size:
        axis %= rank
        return np.repeat(p, block_size, axis=axis).take(np.arange(x_shape[axis]), axis=axis)
    if p.ndim == 0 or p.size == 1:
        return p.reshape(())
    shape = [1] * rank
    shape[axis % rank] = -1
    return p.reshape(shape)


def saturate_cast(v: np.ndarray, dtype: np.dtype, saturate: int = 1) -> np.ndarray:
    """Real values ``v`` converted to a quantized ``dtype``: integers round half to even and clamp;
    low-precision floats round to nearest even, clamped to the largest finite value when
    ``saturate`` (NaN stays NaN)."""
    if _is_integer(dtype):
        info = ml_dtypes.iinfo(dtype)
        with np.errstate(invalid="ignore"):
            return np.clip(np.rint(v), info.min, info.max).astype(dtype)
    if saturate:
        largest = float(ml_dtypes.finfo(dtype).max)
        v = np.clip(v, -largest, largest)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.asarray(v.astype(np.float32)).astype(dtype)


def _real_dtype(dtype: np.dtype) -> np.dtype:
    """The arithmetic type for values stored as ``dtype``: float32 for all but float64/float16."""
    return dtype if dtype in (np.float64, np.float16, np.float32) or dtype == ml_dtypes.bfloat16 \
        else np.dtype(np.float32)


# --------------------------------------------------------------------------------------------
# QuantizeLinear / DequantizeLinear
# --------------------------------------------------------------------------------------------

def quantize(x, scale, zero_point=None, *, axis=1, block_size=0, saturate=1, output_dtype=0,
             precision=0):
    """``saturate(round(x / scale) + zero_point)`` in the type of ``zero_point``."""
    if zero_point is not None:
        target = zero_point.dtype
    elif output_dtype:
        target = _np_dtype(output_dtype)
    else:
        target = np.dtype(np.uint8)
    # The division runs in ``precision`` (if given) or the scale's type.
    calc = _real_dtype(_np_dtype(precision) if precision else np.asarray(scale).dtype)
    if calc.kind != "f" and calc != ml_dtypes.bfloat16:
        calc = np.dtype(np.float32)
    scale = _expand_param(scale, x.shape, axis, block_size).astype(calc)
    v = x.astype(calc) / scale
    if _is_integer(target):
        v = np.rint(v.astype(np.float64))
    if zero_point is not None:
        zp = _expand_param(zero_point, x.shape, axis, block_size)
        v = v + zp.astype(np.float64 if _is_integer(target) else np.float32)
    return saturate_cast(v, target, saturate)


@kernel("QuantizeLinear", since=10)
@kernel("QuantizeLinear", since=13)
@kernel("QuantizeLinear", since=19)
@kernel("QuantizeLinear", since=21)
@kernel("QuantizeLinear", since=23)
@kernel("QuantizeLinear", since=24)
@kernel("QuantizeLinear", since=25)
@kernel("QuantizeLinear", since=28)
def quantize_linear(x, y_scale, y_zero_point=None, *, axis=1, block_size=0, saturate=1,
                    output_dtype=0, precision=0):
    """QuantizeLinear: Y = saturate(round(X / y_scale) + y_zero_point)."""
    return quantize(x, y_scale, y_zero_point, axis=axis, block_size=block_size,
                    saturate=saturate, output_dtype=output_dtype, precision=precision)


def dequantize(x, scale, zero_point=None, *, axis=1, block_size=0, output_dtype=0):
    """``(x - zero_point) * scale`` in ``output_dtype`` (default: the scale's type)."""
    scale = np.asarray(scale)
    if output_dtype:
        out = _np_dtype(output_dtype)
    else:
        out = scale.dtype if scale.dtype != ml_dtypes.float8_e8m0fnu else np.dtype(np.float32)
    calc = np.int64 if _is_integer(x.dtype) else np.float32
    shifted = x.astype(calc)
    if zero_point is not None:
        shifted = shifted - _expand_param(zero_point, x.shape, axis, block_size).astype(calc)
    scale = _expand_param(scale, x.shape, axis, block_size)
    return (shifted.astype(out) * scale.astype(np.float32).astype(out)).astype(out)


@kernel("DequantizeLinear", since=10)
@kernel("DequantizeLinear", since=13)
@kernel("DequantizeLinear", since=19)
@kernel("DequantizeLinear", since=21)
@kernel("DequantizeLinear", since=23)
@kernel("DequantizeLinear", since=24)
@kernel("DequantizeLinear", since=25)
@kernel("DequantizeLinear", since=28)
def dequantize_linear(x, x_scale, x_zero_point=None, *, axis=1, block_size=0, output_dtype=0):
    """DequantizeLinear: Y = (X - x_zero_point) * x_scale."""
    return dequantize(x, x_scale, x_zero_point, axis=axis, block_size=block_size,
                      output_dtype=output_dtype)


@kernel("DynamicQuantizeLinear", since=11)
def dynamic_quantize_linear(x):
    """DynamicQuantizeLinear: uint8 Y, scale and zero point from X's range (extended to 0)."""
    x = x.astype(np.float32)
    low = min(np.float32(0), x.min()) if x.size else np.float32(0)
    high = max(np.float32(0), x.max()) if x.size else np.float32(0)
    scale = np.float32((high - low) / np.float32(255))
    if scale == 0:
        return (np.zeros(x.shape, np.uint8), np.array(0, np.float32), np.array(0, np.uint8))
    zero_point = saturate_cast(np.rint(np.float32(0) - low / scale), np.dtype(np.uint8))
    y = saturate_cast(np.rint(x / scale) + np.float32(zero_point), np.dtype(np.uint8))
    return y, np.asarray(scale, np.float32), np.asarray(zero_point, np.uint8)


# --------------------------------------------------------------------------------------------
# Integer and quantized-linear matmul / conv
# --------------------------------------------------------------------------------------------

def _centered(x, zero_point, axis=None):
    """``x - zero_point`` as float64 (exact for 8-bit sums); a 1-D zero point lies along ``axis``."""
    v = x.astype(np.float64)
    if zero_point is None:
        return v
    zp = np.asarray(zero_point).astype(np.float64)
    if zp.ndim == 1 and zp.size > 1 and axis is not None:
        shape = [1] * x.ndim
        shape[axis] = -1
        zp = zp.reshape(shape)
    return v - zp


@kernel("MatMulInteger", since=10)
def matmul_integer(a, b, a_zero_point=None, b_zero_point=None):
    """MatMulInteger: int32 (A - a_zero_point) @ (B - b_zero_point) (zero points per row/col)."""
    y = np.matmul(_centered(a, a_zero_point, axis=a.ndim - 2 if a.ndim > 1 else 0),
                  _centered(b, b_zero_point, axis=b.ndim - 1))
    return np.rint(y).astype(np.int32)


@kernel("ConvInteger", since=10)
def conv_integer(x, w, x_zero_point=None, w_zero_point=None, *, auto_pad="NOTSET",
                 dilations=None, group=1, kernel_shape=None, pads=None, strides=None):
    """ConvInteger: int32 Conv(X - x_zero_point, W - w_zero_point) (W's zero point per channel)."""
    y = conv(_centered(x, x_zero_point), _centered(w, w_zero_point, axis=0), auto_pad=auto_pad,
             dilations=dilations, group=group, kernel_shape=kernel_shape, pads=pads,
             strides=strides)
    return np.rint(y).astype(np.int32)


def _requantize(acc, multiplier, y_zero_point):
    """Accumulator times the real multiplier, re-quantized to ``y_zero_point``'s type."""
    return saturate_cast(np.rint(acc * multiplier) + y_zero_point.astype(np.float64),
                         y_zero_point.dtype) if _is_integer(y_zero_point.dtype) else \
        saturate_cast((acc * multiplier + y_zero_point.astype(np.float64)).astype(np.float32),
                      y_zero_point.dtype)


@kernel("QLinearConv", since=10)
def qlinear_conv(x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point,
                 b=None, *, auto_pad="NOTSET", dilations=None, group=1, kernel_shape=None,
                 pads=None, strides=None):
    """QLinearConv: quantize(Conv(dequant X, dequant W) + B * x_scale * w_scale, y_scale, y_zp)."""
    acc = conv(_centered(x, x_zero_point), _centered(w, w_zero_point, axis=0),
               b.astype(np.float64) if b is not None else None, auto_pad=auto_pad,
               dilations=dilations, group=group, kernel_shape=kernel_shape, pads=pads,
               strides=strides)
    w_scale = np.asarray(w_scale, np.float32)
    if w_scale.size > 1:
        w_scale = w_scale.reshape((-1,) + (1,) * (x.ndim - 2))
    multiplier = (np.float32(x_scale) * w_scale / np.float32(y_scale)).astype(np.float64)
    return _requantize(acc, multiplier, np.asarray(y_zero_point))


@kernel("QLinearMatMul", since=10)
@kernel("QLinearMatMul", since=21)
def qlinear_matmul(a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point):
    """QLinearMatMul: quantize((A - a_zp) @ (B - b_zp) * a_scale * b_scale / y_scale) + y_zp."""
    acc = np.matmul(_centered(a, a_zero_point, axis=a.ndim - 2),
                    _centered(b, b_zero_point, axis=b.ndim - 1))
    a_scale = np.asarray(a_scale).astype(np.float32)
    if a_scale.size > 1:
        a_scale = a_scale.reshape(-1, 1)
    multiplier = a_scale * np.asarray(b_scale).astype(np.float32) / \
        np.asarray(y_scale).astype(np.float32)
    return _requantize(acc, multiplier.astype(np.float64), np.asarray(y_zero_point))


# --------------------------------------------------------------------------------------------
# BitCast
# --------------------------------------------------------------------------------------------

_SUB_BYTE_BITS = {np.dtype(ml_dtypes.int4): 4, np.dtype(ml_dtypes.uint4): 4,
                  np.dtype(ml_dtypes.float4_e2m1fn): 4}
for _name in ("int2", "uint2"):
    if hasattr(ml_dtypes, _name):
        _SUB_BYTE_BITS[np.dtype(getattr(ml_dtypes, _name))] = 2


@kernel("BitCast", since=26)
def bitcast(x, *, to):
    """BitCast: X's bits reinterpreted as the element type ``to`` (same bit width)."""
    target = _np_dtype(to)
    x = np.array(x, copy=True, order="C")   # keeps 0-d shapes, unlike ascontiguousarray
    bits = _SUB_BYTE_BITS.get(target)
    if bits is not None:   # sub-byte types live one per byte, in the low bits
        return (x.view(np.uint8) & np.uint8((1 << bits) - 1)).view(target)
    return x.view(target)
