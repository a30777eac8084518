"""Pooling: MaxPool, AveragePool, LpPool and their global forms, over 1-D, 2-D and 3-D inputs."""

from __future__ import annotations

import numpy as np

from ronn_core.kernel_spec import kernel

from .conv import pad_or_crop, sliding_windows, window_geometry


def _lowest(dtype) -> float | int:
    """The padding value that never wins a max: -inf for floats, the minimum for integers."""
    return -np.inf if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).min


def _flat_windows(windows, nd):
    """Windows (N, C, *out, *kernel) with the kernel taps flattened into the last axis."""
    return windows.reshape(windows.shape[:2 + nd] + (-1,))


# --------------------------------------------------------------------------------------------
# MaxPool
# --------------------------------------------------------------------------------------------

@kernel("MaxPool", since=1)
@kernel("MaxPool", since=8)
@kernel("MaxPool", since=10)
@kernel("MaxPool", since=11)
@kernel("MaxPool", since=12)
@kernel("MaxPool", since=22)
def max_pool(x, *, auto_pad="NOTSET", ceil_mode=0, dilations=None, kernel_shape=None, pads=None,
             storage_order=0, strides=None):
    """Y = the largest value in each window; Indices = its flat position in X (padding ignored)."""
    nd = x.ndim - 2
    dilations = list(dilations or [1] * nd)
    strides = list(strides or [1] * nd)
    begin, end, out = window_geometry(x.shape[2:], kernel_shape, strides, dilations, pads,
                                      auto_pad, ceil_mode, clamp_same=False)
    windows = sliding_windows(x, kernel_shape, strides, dilations, begin, end, out,
                              fill=_lowest(x.dtype))
    flat = _flat_windows(windows, nd)
    tap = np.argmax(flat, axis=-1)                           # first maximum in each window
    y = np.take_along_axis(flat, tap[..., None], axis=-1)[..., 0]
    # Position of the winning tap in X's spatial dims, then flattened over the whole of X.
    tap_coords = np.unravel_index(tap, kernel_shape)
    coords = []
    for i in range(nd):
        start = np.arange(out[i]) * strides[i] - begin[i]
        start = start.reshape((-1,) + (1,) * (nd - 1 - i))
        coords.append(start + tap_coords[i] * dilations[i])
    spatial = x.shape[2:]
    order = "F" if storage_order else "C"
    within = np.ravel_multi_index(tuple(np.clip(c, 0, s - 1) for c, s in zip(coords, spatial)),
                                  spatial, order=order)
    plane = np.arange(x.shape[0] * x.shape[1]).reshape(x.shape[:2] + (1,) * nd)
    indices = (plane * int(np.prod(spatial)) + within).astype(np.int64)
    return np.ascontiguousarray(y), indices


# --------------------------------------------------------------------------------------------
# AveragePool
# --------------------------------------------------------------------------------------------

def _window_counts(in_shape, kernel_shape, strides, dilations, begin, end, out,
                   count_include_pad):
    """How many elements each window averages: real ones, plus explicit padding if counted.

    The extra room that ceil_mode adds past the end padding is never counted.
    """
    nd = len(in_shape)
    mask = pad_or_crop(np.ones((1, 1) + tuple(in_shape)), begin, end,
                       fill=1.0 if count_include_pad else 0.0)
    windows = sliding_windows(mask, kernel_shape, strides, dilations,
                              [0] * nd, [0] * nd, out, fill=0.0)
    return _flat_windows(windows, nd).sum(axis=-1)[0, 0]


@kernel("AveragePool", since=1)
@kernel("AveragePool", since=7)
@kernel("AveragePool", since=10)
@kernel("AveragePool", since=11)
@kernel("AveragePool", since=19)
@kernel("AveragePool", since=22)
def average_pool(x, *, auto_pad="NOTSET", ceil_mode=0, count_include_pad=0, dilations=None,
                 kernel_shape=None, pads=None, strides=None):
    """Y = the mean of each window (padding counted in the divisor only with count_include_pad)."""
    nd = x.ndim - 2
    dilations = list(dilations or [1] * nd)
    strides = list(strides or [1] * nd)
    begin, end, out = window_geometry(x.shape[2:], kernel_shape, strides, dilations, pads,
                                      auto_pad, ceil_mode, clamp_same=False)
    windows = sliding_windows(x, kernel_shape, strides, dilations, begin, end, out, fill=0)
    total = _flat_windows(windows, nd).sum(axis=-1)
    counts = _window_counts(x.shape[2:], kernel_shape, strides, dilations, begin, end, out,
                            count_include_pad)
    return np.asarray(total / counts.astype(x.dtype), dtype=x.dtype)


# --------------------------------------------------------------------------------------------
# LpPool
# --------------------------------------------------------------------------------------------

@kernel("LpPool", since=1)
@kernel("LpPool", since=2)
@kernel("LpPool", since=11)
@kernel("LpPool", since=18)
@kernel("LpPool", since=22)
def lp_pool(x, *, auto_pad="NOTSET", ceil_mode=0, dilations=None, kernel_shape=None, p=2,
            pads=None, strides=None):
    """Y = (sum over each window of |X| ** p) ** (1 / p); padding contributes zeros."""
    nd = x.ndim - 2
    dilations = list(dilations or [1] * nd)
    strides = list(strides or [1] * nd)
    begin, end, out = window_geometry(x.shape[2:], kernel_shape, strides, dilations, pads,
                                      auto_pad, ceil_mode, clamp_same=False)
    windows = sliding_windows(np.abs(x), kernel_shape, strides, dilations, begin, end, out,
                              fill=0)
    total = (_flat_windows(windows, nd) ** x.dtype.type(p)).sum(axis=-1)
    return np.asarray(total ** x.dtype.type(1.0 / p), dtype=x.dtype)


# --------------------------------------------------------------------------------------------
# Global pooling: one window covering all spatial dims
# --------------------------------------------------------------------------------------------

def _spatial_axes(x) -> tuple[int, ...]:
    return tuple(range(2, x.ndim))


@kernel("GlobalAveragePool", since=1)
@kernel("GlobalAveragePool", since=22)
def global_average_pool(x):
    """Y[n, c, 1, ...] = the mean of X[n, c] over all spatial dims."""
    return np.asarray(x.mean(axis=_spatial_axes(x), keepdims=True), dtype=x.dtype)


@kernel("GlobalMaxPool", since=1)
@kernel("GlobalMaxPool", since=22)
def global_max_pool(x):
    """Y[n, c, 1, ...] = the largest value of X[n, c] over all spatial dims."""
    return np.asarray(x.max(axis=_spatial_axes(x), keepdims=True), dtype=x.dtype)


@kernel("GlobalLpPool", since=1)
@kernel("GlobalLpPool", since=2)
@kernel("GlobalLpPool", since=22)
def global_lp_pool(x, *, p=2):
    """Y[n, c, 1, ...] = (sum of |X[n, c]| ** p over all spatial dims) ** (1 / p)."""
    total = (np.abs(x) ** x.dtype.type(p)).sum(axis=_spatial_axes(x), keepdims=True)
    return np.asarray(total ** x.dtype.type(1.0 / p), dtype=x.dtype)
