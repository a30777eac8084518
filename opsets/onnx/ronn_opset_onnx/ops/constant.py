"""Tensors made from attributes or from another tensor's shape: Constant, ConstantOfShape,
Shape, Size, Range, Identity, EyeLike."""

from __future__ import annotations

import numpy as np

from ronn_core.kernel_spec import kernel
from ronn_core.types import np_dtype


@kernel("Constant", since=1)
@kernel("Constant", since=9)
@kernel("Constant", since=11)
@kernel("Constant", since=12)
@kernel("Constant", since=13)
def constant(*, value=None, sparse_value=None, value_float=None, value_floats=None,
             value_int=None, value_ints=None, value_string=None, value_strings=None):
    """The tensor given by whichever one ``value*`` attribute is set.

    value_float(s) give float32, value_int(s) int64 and value_string(s) strings (object dtype);
    the singular forms are scalars, the plural forms 1-D tensors.
    """
    if value is not None:
        return np.asarray(value)
    if sparse_value is not None:
        if isinstance(sparse_value, np.ndarray):   # already densified by the decoder
            return sparse_value
        raise NotImplementedError("Constant: sparse_value must be decoded to a dense array")
    if value_float is not None:
        return np.array(value_float, dtype=np.float32)
    if value_floats is not None:
        return np.array(value_floats, dtype=np.float32).reshape(-1)
    if value_int is not None:
        return np.array(value_int, dtype=np.int64)
    if value_ints is not None:
        return np.array(value_ints, dtype=np.int64).reshape(-1)
    if value_string is not None:
        return np.array(value_string, dtype=object)
    if value_strings is not None:
        return np.array(value_strings, dtype=object).reshape(-1)
    raise ValueError("Constant: no value attribute is set")


@kernel("ConstantOfShape", since=9)
@kernel("ConstantOfShape", since=20)
def constant_of_shape(input, *, value=None):
    """A tensor of shape ``input`` filled with the one element of ``value`` (default float32 0)."""
    fill = np.zeros(1, dtype=np.float32) if value is None else np.asarray(value).reshape(-1)
    shape = tuple(int(d) for d in np.asarray(input).reshape(-1))
    return np.full(shape, fill[0], dtype=fill.dtype)


@kernel("Shape", since=1)
@kernel("Shape", since=13)
@kernel("Shape", since=15)
def shape(data, *, start=0, end=None):
    """The input's shape as a 1-D int64 tensor, dims start..end (negatives count from the end)."""
    return np.array(data.shape[start:end], dtype=np.int64)


@kernel("Size", since=1)
@kernel("Size", since=13)
def size(data):
    """The number of elements of the input, as an int64 scalar."""
    return np.array(data.size, dtype=np.int64)


@kernel("Range", since=11)
@kernel("Range", since=27)
def range_(start, limit, delta, *, stash_type=1):
    """start, start + delta, ... before ``limit``: max(ceil((limit - start) / delta), 0) values."""
    dtype = np.asarray(start).dtype
    start, limit, delta = (np.asarray(v).reshape(()) for v in (start, limit, delta))
    if np.issubdtype(dtype, np.integer):
        s, lim, d = int(start), int(limit), int(delta)
        count = max(-((s - lim) // d), 0)               # exact integer ceil division
        return (s + d * np.arange(count, dtype=np.int64)).astype(dtype)
    count = max(int(np.ceil(np.float64(limit - start) / np.float64(delta))), 0)
    return (np.float64(start) + np.float64(delta) * np.arange(count)).astype(dtype)


@kernel("Identity", since=1)
@kernel("Identity", since=13)
@kernel("Identity", since=14)
@kernel("Identity", since=16)
def identity(input):
    """The input unchanged (a tensor, a sequence or an optional)."""
    return input


@kernel("EyeLike", since=9)
@kernel("EyeLike", since=22)
def eye_like(input, *, dtype=None, k=0):
    """A 2-D tensor of the input's shape, ones on the k-th diagonal (dtype: attribute or input)."""
    out_dtype = input.dtype if dtype is None else np_dtype(dtype)
    rows, cols = input.shape
    return np.eye(rows, cols, k=k, dtype=out_dtype)
