"""LRN on the CPU: one numba pass per image with a running sum of squares across the channel
window (kept in float64, so adding the entering channel and removing the leaving one does not
drift), then ``x / (bias + alpha/size * sum) ** beta`` in x's dtype; beta 0.75 (AlexNet,
GoogLeNet) as two square roots and a division, which vectorize where a general power does not
(``error_model="numpy"``: no zero-division branch in the loops)."""

from __future__ import annotations

import numba
import numpy as np

from ronn_core import kernel


@numba.njit(cache=True, error_model="numpy")
def _lrn(x, out, before, after, bias, scale, beta):
    n, channels, size = x.shape[0], x.shape[1], x.shape[2]
    window = np.empty(size, np.float64)
    three_quarters = beta == 0.75
    for i in range(n):
        for k in range(size):
            window[k] = 0.0
        for c in range(min(after, channels)):          # channels 0 .. after - 1 enter first
            for k in range(size):
                v = np.float64(x[i, c, k])
                window[k] += v * v
        for c in range(channels):
            entering, leaving = c + after, c - before - 1
            if entering < channels:
                for k in range(size):
                    v = np.float64(x[i, entering, k])
                    window[k] += v * v
            if leaving >= 0:
                for k in range(size):
                    v = np.float64(x[i, leaving, k])
                    window[k] -= v * v
            src, dst = x[i, c], out[i, c]
            for k in range(size):             # the denominator's base, in x's dtype
                dst[k] = bias + scale * max(window[k], 0.0)
            if three_quarters:
                for k in range(size):
                    r = np.sqrt(dst[k])
                    dst[k] = src[k] / (r * np.sqrt(r))
            else:
                b = x.dtype.type(beta)
                for k in range(size):
                    dst[k] = src[k] / dst[k] ** b


@kernel("LRN", since=1, provider="cpu", factory=True)
@kernel("LRN", since=13, provider="cpu", factory=True)
def lrn(build):
    """Float LRN over the channels of an (N, C, ...) input; else the reference kernel."""
    a = build.attributes
    reference = build.fallback()
    size = a.get("size")
    if not size or size < 1:
        return reference
    before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
    bias, scale, beta = float(a.get("bias", 1.0)), float(a.get("alpha", 1e-4)) / size, \
        float(a.get("beta", 0.75))

    def run(x):
        if x.ndim < 3 or x.dtype not in (np.float32, np.float64):
            return reference(x)
        planes = np.ascontiguousarray(x).reshape(x.shape[0], x.shape[1], -1)
        out = np.empty_like(planes)
        _lrn(planes, out, before, after, bias, scale, beta)
        return out.reshape(x.shape)

    return run
