"""Normalizations: BatchNormalization, LRN, Instance-, Layer-, Group- and MeanVarianceNormalization."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ronn_core.kernel_spec import kernel


def _per_channel(param, x):
    """Reshape a per-channel (C,) parameter to broadcast over X (N, C, *spatial).

    A parameter with more dims (old ``spatial=0`` models: C x D1 x ...) broadcasts as it is.
    """
    param = np.asarray(param)
    if param.ndim == 1:
        return param.reshape((-1,) + (1,) * (x.ndim - 2))
    return param


# --------------------------------------------------------------------------------------------
# BatchNormalization
# --------------------------------------------------------------------------------------------

def _batch_norm(x, scale, b, mean, var, epsilon):
    """Y = (X - mean) / sqrt(var + epsilon) * scale + B, per channel."""
    dtype = x.dtype
    eps = dtype.type(epsilon)
    inv_std = 1 / np.sqrt(_per_channel(var, x).astype(dtype) + eps)
    y = (x - _per_channel(mean, x).astype(dtype)) * (inv_std * _per_channel(scale, x).astype(dtype))
    return np.asarray(y + _per_channel(b, x).astype(dtype), dtype=dtype)


@kernel("BatchNormalization", since=1)
@kernel("BatchNormalization", since=6)
@kernel("BatchNormalization", since=7)
@kernel("BatchNormalization", since=9)
def batch_normalization_legacy(x, scale, b, mean, var, *, consumed_inputs=None, epsilon=1e-5,
                               is_test=0, momentum=0.9, spatial=1):
    """Inference batch norm with the stored mean and variance (training attributes are ignored)."""
    return _batch_norm(x, scale, b, mean, var, epsilon)


@kernel("BatchNormalization", since=14)
@kernel("BatchNormalization", since=15)
def batch_normalization(x, scale, b, input_mean, input_var, *, epsilon=1e-5, momentum=0.9,
                        training_mode=0):
    """Batch norm; with training_mode, normalize by batch statistics and update running ones."""
    if not training_mode:
        return _batch_norm(x, scale, b, input_mean, input_var, epsilon)
    axes = (0,) + tuple(range(2, x.ndim))
    batch_mean = x.mean(axis=axes)
    batch_var = x.var(axis=axes)                                 # population variance
    y = _batch_norm(x, scale, b, batch_mean, batch_var, epsilon)
    m = np.asarray(momentum, dtype=input_mean.dtype)
    running_mean = input_mean * m + batch_mean.astype(input_mean.dtype) * (1 - m)
    running_var = input_var * m + batch_var.astype(input_var.dtype) * (1 - m)
    return y, running_mean.astype(input_mean.dtype), running_var.astype(input_var.dtype)


# --------------------------------------------------------------------------------------------
# LRN
# --------------------------------------------------------------------------------------------

@kernel("LRN", since=1)
@kernel("LRN", since=13)
def lrn(x, *, alpha=0.0001, beta=0.75, bias=1.0, size=None):
    """Y = X / (bias + alpha / size * sum of X**2 over nearby channels) ** beta."""
    dtype = x.dtype
    before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
    squares = np.pad(x * x, [(0, 0), (before, after)] + [(0, 0)] * (x.ndim - 2))
    # Window c covers padded channels c .. c + size - 1, i.e. channels c - before .. c + after.
    square_sum = sliding_window_view(squares, size, axis=1).sum(axis=-1)
    scale = dtype.type(bias) + dtype.type(alpha / size) * square_sum
    return np.asarray(x / scale ** dtype.type(beta), dtype=dtype)


# --------------------------------------------------------------------------------------------
# InstanceNormalization, MeanVarianceNormalization
# --------------------------------------------------------------------------------------------

@kernel("InstanceNormalization", since=1)
@kernel("InstanceNormalization", since=6)
@kernel("InstanceNormalization", since=22)
def instance_normalization(x, scale, b, *, consumed_inputs=None, epsilon=1e-5):
    """Y = (X - mean) / sqrt(var + epsilon) * scale + B, statistics per sample and channel."""
    axes = tuple(range(2, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + x.dtype.type(epsilon))
    return np.asarray(y * _per_channel(scale, x) + _per_channel(b, x), dtype=x.dtype)


@kernel("MeanVarianceNormalization", since=9)
@kernel("MeanVarianceNormalization", since=13)
def mean_variance_normalization(x, *, axes=(0, 2, 3)):
    """Y = (X - E[X]) / (sqrt(E[X**2] - E[X]**2) + 1e-9), moments over ``axes``."""
    axes = tuple(axes)
    mean = x.mean(axis=axes, keepdims=True)
    var = (x * x).mean(axis=axes, keepdims=True) - mean * mean
    std = np.sqrt(np.maximum(var, 0))
    return np.asarray((x - mean) / (std + x.dtype.type(1e-9)), dtype=x.dtype)


# --------------------------------------------------------------------------------------------
# LayerNormalization, GroupNormalization
# --------------------------------------------------------------------------------------------

_STASH_TYPES = {1: np.float32, 10: np.float16, 11: np.float64, 16: np.float32}


def _stash_dtype(stash_type, x):
    """The dtype statistics are computed in: stash_type 1 = float32 (a wider X keeps its own)."""
    stash = np.dtype(_STASH_TYPES.get(stash_type, np.float32))
    return np.promote_types(stash, x.dtype) if stash_type == 1 else stash


@kernel("LayerNormalization", since=17)
def layer_normalization(x, scale, b=None, *, axis=-1, epsilon=1e-5, stash_type=1):
    """Normalize over the dims from ``axis`` on; outputs Y, Mean and InvStdDev (kept dims)."""
    axis = axis % x.ndim
    axes = tuple(range(axis, x.ndim))
    stash = _stash_dtype(stash_type, x)
    xs = x.astype(stash)
    mean = xs.mean(axis=axes, keepdims=True)
    centered = xs - mean
    var = (centered * centered).mean(axis=axes, keepdims=True)
    inv_std = 1 / np.sqrt(var + stash.type(epsilon))
    y = (centered * inv_std).astype(x.dtype) * scale
    if b is not None:
        y = y + b
    return np.asarray(y, dtype=x.dtype), mean, inv_std


def _group_normalize(x, num_groups, epsilon, stash):
    """X normalized by the mean and variance of each (sample, channel group), shape kept."""
    grouped = x.reshape(x.shape[0], num_groups, -1).astype(stash)
    mean = grouped.mean(axis=-1, keepdims=True)
    var = grouped.var(axis=-1, keepdims=True)
    normalized = (grouped - mean) / np.sqrt(var + stash.type(epsilon))
    return normalized.reshape(x.shape).astype(x.dtype)


@kernel("GroupNormalization", since=18)
def group_normalization_18(x, scale, bias, *, epsilon=1e-5, num_groups=None):
    """Group norm whose scale and bias have one value per group (opset 18)."""
    y = _group_normalize(x, num_groups, epsilon, x.dtype)
    per_group = (x.shape[0], num_groups, -1)
    y = y.reshape(per_group) * scale.reshape(1, -1, 1) + bias.reshape(1, -1, 1)
    return np.asarray(y.reshape(x.shape), dtype=x.dtype)


@kernel("GroupNormalization", since=21)
def group_normalization(x, scale, bias, *, epsilon=1e-5, num_groups=None, stash_type=1):
    """Group norm whose scale and bias have one value per channel (opset 21)."""
    y = _group_normalize(x, num_groups, epsilon, _stash_dtype(stash_type, x))
    return np.asarray(y * _per_channel(scale, x) + _per_channel(bias, x), dtype=x.dtype)
