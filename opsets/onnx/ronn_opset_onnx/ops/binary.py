"""Binary and variadic arithmetic: Add, Sub, Mul, Div, Pow, Mod, bit ops, Sum, Mean, Max, Min.

From opset 7 (8 for the variadic ops) the inputs broadcast numpy-style (multidirectional).
Before that, a binary op required equal shapes unless ``broadcast=1``, which broadcasts B to A
with B's dimensions lined up from A's dimension ``axis`` (by default: trailing alignment).
"""

from __future__ import annotations

import functools

import numpy as np

from ronn_core.kernel_spec import kernel


def legacy_broadcast(a: np.ndarray, b: np.ndarray, broadcast: int = 0,
                     axis: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Align B to A by the pre-opset-7 rule (``broadcast``/``axis`` attributes)."""
    if not broadcast:
        if a.shape != b.shape:
            raise ValueError(f"shapes {a.shape} and {b.shape} differ and broadcast is off")
        return a, b
    start = a.ndim - b.ndim if axis is None else axis % max(a.ndim, 1)
    if start < 0 or start + b.ndim > a.ndim:
        raise ValueError(f"cannot broadcast shape {b.shape} into {a.shape} at axis {axis}")
    return a, b.reshape((1,) * start + b.shape + (1,) * (a.ndim - start - b.ndim))


def _binary(ufunc, a, b, broadcast, axis):
    """Apply ``ufunc`` with the legacy alignment when the legacy attributes are present."""
    if broadcast is not None:
        a, b = legacy_broadcast(a, b, broadcast, axis)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.asarray(ufunc(a, b), dtype=a.dtype)


@kernel("Add", since=1)
@kernel("Add", since=6)
@kernel("Add", since=7)
@kernel("Add", since=13)
@kernel("Add", since=14)
def add(a, b, *, broadcast=None, axis=None, consumed_inputs=None):
    """Add: A + B elementwise (integers wrap around)."""
    return _binary(np.add, a, b, broadcast, axis)


@kernel("Sub", since=1)
@kernel("Sub", since=6)
@kernel("Sub", since=7)
@kernel("Sub", since=13)
@kernel("Sub", since=14)
def sub(a, b, *, broadcast=None, axis=None, consumed_inputs=None):
    """Sub: A - B elementwise."""
    return _binary(np.subtract, a, b, broadcast, axis)


@kernel("Mul", since=1)
@kernel("Mul", since=6)
@kernel("Mul", since=7)
@kernel("Mul", since=13)
@kernel("Mul", since=14)
def mul(a, b, *, broadcast=None, axis=None, consumed_inputs=None):
    """Mul: A * B elementwise."""
    return _binary(np.multiply, a, b, broadcast, axis)


def _divide(a, b):
    """A / B; integer division truncates toward zero (as C and onnxruntime do)."""
    if not np.issubdtype(a.dtype, np.integer):
        return np.true_divide(a, b)
    quotient = np.floor_divide(a, b)
    inexact_negative = (np.remainder(a, b) != 0) & ((a < 0) != (b < 0))
    return quotient + inexact_negative.astype(quotient.dtype)


@kernel("Div", since=1)
@kernel("Div", since=6)
@kernel("Div", since=7)
@kernel("Div", since=13)
@kernel("Div", since=14)
def div(a, b, *, broadcast=None, axis=None, consumed_inputs=None):
    """Div: A / B elementwise; integers truncate toward zero."""
    return _binary(_divide, a, b, broadcast, axis)


def _power(x, y):
    """X ** Y in X's type: integer bases truncate fractional and negative-exponent results."""
    if not np.issubdtype(x.dtype, np.integer):
        return np.power(x, y.astype(x.dtype))
    if not np.issubdtype(y.dtype, np.integer):
        return np.power(x.astype(np.float64), y.astype(np.float64)).astype(x.dtype)
    y = y.astype(np.int64)
    whole = np.power(x.astype(np.int64), np.maximum(y, 0))
    # A negative exponent leaves only 1 and -1 with a nonzero integer part.
    reciprocal = np.where(x == 1, 1, np.where(x == -1, np.where(y % 2 == 0, 1, -1), 0))
    return np.where(y < 0, reciprocal, whole).astype(x.dtype)


@kernel("Pow", since=1)
@kernel("Pow", since=7)
@kernel("Pow", since=12)
@kernel("Pow", since=13)
@kernel("Pow", since=15)
def pow_(x, y, *, broadcast=None, axis=None):
    """Pow: X ** Y elementwise; the result has X's type even when Y's type differs."""
    if broadcast is not None:
        x, y = legacy_broadcast(x, y, broadcast, axis)
    x, y = np.broadcast_arrays(x, y)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.asarray(_power(x, y), dtype=x.dtype)


@kernel("Mod", since=10)
@kernel("Mod", since=13)
def mod(a, b, *, fmod=0):
    """Mod: remainder with the divisor's sign (``fmod=0``) or the dividend's (``fmod=1``, C fmod).

    Floating-point inputs always use fmod (the spec requires ``fmod=1`` for them).
    """
    integer = np.issubdtype(a.dtype, np.integer)
    return _binary(np.mod if integer and not fmod else np.fmod, a, b, None, None)


@kernel("Mod", since=28)
def mod_v28(a, b, *, fmod=0):
    """Mod (opset 28): ``fmod=0`` floors for floats too (sign of B, IEEE special cases)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return _binary(np.fmod if fmod else np.mod, a, b, None, None)


@kernel("BitShift", since=11)
def bit_shift(x, y, *, direction):
    """BitShift: X << Y (``direction="LEFT"``) or X >> Y (``"RIGHT"``) on unsigned integers."""
    if direction not in ("LEFT", "RIGHT"):
        raise ValueError(f"BitShift direction must be LEFT or RIGHT, not {direction!r}")
    shift = np.left_shift if direction == "LEFT" else np.right_shift
    too_far = np.broadcast_to(y >= 8 * x.dtype.itemsize, np.broadcast_shapes(x.shape, y.shape))
    shifted = shift(x, np.minimum(y, 8 * x.dtype.itemsize - 1).astype(x.dtype))
    return np.asarray(np.where(too_far, 0, shifted), dtype=x.dtype)


@kernel("BitShift", since=28)
def bit_shift_v28(x, y, *, direction):
    """BitShift (opset 28): signed ints shift arithmetically; Y < 0 or >= width gives the sign fill."""
    if direction not in ("LEFT", "RIGHT"):
        raise ValueError(f"BitShift direction must be LEFT or RIGHT, not {direction!r}")
    shift = np.left_shift if direction == "LEFT" else np.right_shift
    x, y = np.broadcast_arrays(x, y)
    out_of_range = (y < 0) | (y >= 8 * x.dtype.itemsize)
    shifted = shift(x, np.where(out_of_range, 0, y).astype(x.dtype))
    fill = np.where(x < 0, -1, 0) if direction == "RIGHT" else 0
    return np.asarray(np.where(out_of_range, fill, shifted), dtype=x.dtype)


@kernel("BitwiseAnd", since=18)
def bitwise_and(a, b):
    """BitwiseAnd: A & B on integers."""
    return _binary(np.bitwise_and, a, b, None, None)


@kernel("BitwiseOr", since=18)
def bitwise_or(a, b):
    """BitwiseOr: A | B on integers."""
    return _binary(np.bitwise_or, a, b, None, None)


@kernel("BitwiseXor", since=18)
def bitwise_xor(a, b):
    """BitwiseXor: A ^ B on integers."""
    return _binary(np.bitwise_xor, a, b, None, None)


@kernel("BitwiseNot", since=18)
def bitwise_not(x):
    """BitwiseNot: ~X on integers."""
    return np.asarray(np.invert(x), dtype=x.dtype)


def _fold(ufunc, inputs):
    """Combine the inputs left to right with ``ufunc`` (broadcasting), keeping their dtype."""
    if not inputs:
        raise ValueError("variadic op needs at least one input")
    with np.errstate(over="ignore", invalid="ignore"):
        result = functools.reduce(ufunc, inputs[1:], np.array(inputs[0], copy=True))
    return np.asarray(result, dtype=inputs[0].dtype)


@kernel("Sum", since=1)
@kernel("Sum", since=6)
@kernel("Sum", since=8)
@kernel("Sum", since=13)
def sum_(*inputs, consumed_inputs=None):
    """Sum: elementwise sum of all inputs."""
    return _fold(np.add, inputs)


@kernel("Mean", since=1)
@kernel("Mean", since=6)
@kernel("Mean", since=8)
@kernel("Mean", since=13)
def mean(*inputs, consumed_inputs=None):
    """Mean: elementwise sum of all inputs divided by their count."""
    total = _fold(np.add, inputs)
    return np.asarray(total / total.dtype.type(len(inputs)), dtype=total.dtype)


@kernel("Max", since=1)
@kernel("Max", since=6)
@kernel("Max", since=8)
@kernel("Max", since=12)
@kernel("Max", since=13)
def max_(*inputs, consumed_inputs=None):
    """Max: elementwise maximum of all inputs (NaN wins)."""
    return _fold(np.maximum, inputs)


@kernel("Min", since=1)
@kernel("Min", since=6)
@kernel("Min", since=8)
@kernel("Min", since=12)
@kernel("Min", since=13)
def min_(*inputs, consumed_inputs=None):
    """Min: elementwise minimum of all inputs (NaN wins)."""
    return _fold(np.minimum, inputs)
