"""BatchNormalization (inference, not folded into a Conv) on the CPU: the per-channel factor
``scale / sqrt(var + eps)`` computed once at session creation, then one numba pass
``y = (x - mean) * factor + B`` in the reference's float order."""

from __future__ import annotations

import numba
import numpy as np

from ronn_core import kernel
from ronn_cpu.kernels.activations import worth_parallel


@numba.njit(cache=True, inline="always")
def _normalize_plane(x, out, p, channels, mean, factor, shift):
    c = p % channels
    m, f, s = mean[c], factor[c], shift[c]
    for k in range(x.shape[1]):
        out[p, k] = (x[p, k] - m) * f + s


@numba.njit(cache=True, parallel=True)
def _normalize_parallel(x, out, channels, mean, factor, shift):
    for p in numba.prange(x.shape[0]):
        _normalize_plane(x, out, p, channels, mean, factor, shift)


@numba.njit(cache=True)
def _normalize_serial(x, out, channels, mean, factor, shift):
    for p in range(x.shape[0]):
        _normalize_plane(x, out, p, channels, mean, factor, shift)


@kernel("BatchNormalization", since=7, provider="cpu", factory=True)
@kernel("BatchNormalization", since=9, provider="cpu", factory=True)
@kernel("BatchNormalization", since=14, provider="cpu", factory=True)
@kernel("BatchNormalization", since=15, provider="cpu", factory=True)
def batch_normalization(build):
    """Float inference BatchNormalization with constant per-channel parameters; training mode,
    fed parameters and other dtypes run the reference kernel."""
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
        loop(planes, out, channels, *consts)
        return out.reshape(x.shape)

    return run
