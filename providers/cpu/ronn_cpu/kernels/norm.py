"""BatchNormalization (inference, not folded into a Conv) on the CPU: the per-channel factor
``scale / sqrt(var + eps)`` computed once at session creation, then one numba pass
``y = act((x - mean) * factor + B)`` in the reference's float order (``act``: the activation of
``com.ronn::FusedBatchNormalization``, none for the plain op)."""

from __future__ import annotations

import numba
import numpy as np

import dataclasses

from ronn_core import kernel
from ronn_cpu.kernels.activations import (NONE, RELU, activate, epilogue_args, fused_params,
                                          worth_parallel)


@numba.njit(cache=True, inline="always")
def _normalize_plane(x, out, p, channels, mean, factor, shift, code, alpha, beta):
    c = p % channels
    m, f, s = mean[c], factor[c], shift[c]
    zero = out.dtype.type(0)
    if code == RELU:
        for k in range(x.shape[1]):
            v = (x[p, k] - m) * f + s
            out[p, k] = v if v > zero else zero
    elif code == NONE:
        for k in range(x.shape[1]):
            out[p, k] = (x[p, k] - m) * f + s
    else:
        a, b = out.dtype.type(alpha), out.dtype.type(beta)
        for k in range(x.shape[1]):
            out[p, k] = activate((x[p, k] - m) * f + s, code, a, b)


@numba.njit(cache=True, parallel=True)
def _normalize_parallel(x, out, channels, mean, factor, shift, code, alpha, beta):
    for p in numba.prange(x.shape[0]):
        _normalize_plane(x, out, p, channels, mean, factor, shift, code, alpha, beta)


@numba.njit(cache=True)
def _normalize_serial(x, out, channels, mean, factor, shift, code, alpha, beta):
    for p in range(x.shape[0]):
        _normalize_plane(x, out, p, channels, mean, factor, shift, code, alpha, beta)


@kernel("BatchNormalization", since=7, provider="cpu", factory=True)
@kernel("BatchNormalization", since=9, provider="cpu", factory=True)
@kernel("BatchNormalization", since=14, provider="cpu", factory=True)
@kernel("BatchNormalization", since=15, provider="cpu", factory=True)
def batch_normalization(build):
    """Float inference BatchNormalization with constant per-channel parameters; training mode,
    fed parameters and other dtypes run the reference kernel."""
    return build_batch_normalization(build, None, 0.0, 0.0)


@kernel("FusedBatchNormalization", domain="com.ronn", since=1, provider="cpu", factory=True)
def fused_batch_normalization(build):
    """``com.ronn::FusedBatchNormalization`` (BN + activation, made by the passes plugin) in
    one pass; activations without a fused epilogue run the reference kernel."""
    fused = fused_params(build)
    if fused is None:
        return build.fallback()
    attrs, activation, alpha, beta = fused
    return build_batch_normalization(dataclasses.replace(build, attributes=attrs), activation,
                                     alpha, beta)


def build_batch_normalization(build, activation, alpha, beta):
    """The fast callable of a (fused) inference BatchNormalization, or the reference's."""
    code, alpha, beta = epilogue_args(activation, alpha, beta)
    a = build.attributes
    params = build.constants[1:5]
    outputs = [o for o in build.node.outputs if o]
    if a.get("training_mode", 0) or len(outputs) != 1 or len(params) != 4 or \
            any(p is None or p.ndim != 1 for p in params):
        return build.fallback()
    reference = build.fallback()
    scale, bias, mean, var = params
    channels = scale.shape[0]
    prepared = {}
    for dtype in (np.float32, np.float64):
        eps = dtype(a.get("epsilon", 1e-5))
        inv_std = 1 / np.sqrt(var.astype(dtype) + eps)
        prepared[np.dtype(dtype)] = (np.ascontiguousarray(mean, dtype),
                                     (inv_std * scale.astype(dtype)).astype(dtype),
                                     np.ascontiguousarray(bias, dtype))

    def run(x, *_params):
        consts = prepared.get(x.dtype)
        if consts is None or x.ndim < 2 or x.shape[1] != channels:
            return reference(x, *_params)
        n = x.shape[0]
        planes = np.ascontiguousarray(x).reshape(n * channels, -1)
        out = np.empty_like(planes)
        loop = _normalize_parallel if worth_parallel(planes.size) else _normalize_serial
        loop(planes, out, channels, *consts, code, alpha, beta)
        return out.reshape(x.shape)

    return run
