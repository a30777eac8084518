"""LayerNormalization and SkipLayerNormalization over the last axis as one parallel numba pass
per row: (x + skip + bias) summed, mean and variance accumulated, then scaled.

Covers ai.onnx LayerNormalization (opset 17, only Y requested), ``com.ronn::LayerNormalization``
and ``com.ronn::SkipLayerNormalization`` (Y and the optional sum output) for float32/float64.
Other shapes (a scale that is not one value per normalized element, inputs that broadcast) run
the reference kernel.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ronn_core import kernel
from ronn_cpu.kernels.transformer_elementwise import JIT, PARALLEL_MIN, twins

FLOATS = (np.float32, np.float64)


def _norm_rows(x, skip, bias, gamma, beta, eps, count, y, total, flags):
    """Row i of ``y`` = LayerNorm(x[i] + skip[i] + bias) * gamma + beta; ``total`` gets the sum.

    ``flags``: bit 0 skip, bit 1 bias, bit 2 beta, bit 3 write ``total``. Everything is computed
    in the data type, as the reference does (``eps`` and ``count`` = n come in that type; float32
    sums in vector lanes are as accurate as numpy's pairwise ones).
    """
    m, n = x.shape
    has_skip, has_bias = flags & 1, flags & 2
    has_beta, keep_sum = flags & 4, flags & 8
    for i in prange(m):                 # branches outside the j loops: each loop vectorizes
        xr, yr = x[i], y[i]
        src = total[i] if keep_sum else yr
        if has_skip and has_bias:
            sr = skip[i]
            for j in range(n):
                src[j] = (xr[j] + sr[j]) + bias[j]
        elif has_skip:
            sr = skip[i]
            for j in range(n):
                src[j] = xr[j] + sr[j]
        elif has_bias:
            for j in range(n):
                src[j] = xr[j] + bias[j]
        else:
            src = xr
        acc = count - count
        for j in range(n):
            acc += src[j]
        mean = acc / count
        acc = count - count
        for j in range(n):
            d = src[j] - mean
            acc += d * d
        inv = (count / count) / np.sqrt(acc / count + eps)
        if has_beta:
            for j in range(n):
                yr[j] = (src[j] - mean) * inv * gamma[j] + beta[j]
        else:
            for j in range(n):
                yr[j] = (src[j] - mean) * inv * gamma[j]


_NORM_JIT = dict(JIT, fastmath={"contract", "reassoc"})   # reassoc: vectorized row sums
_norm_serial, _norm_parallel = twins(_norm_rows, **_NORM_JIT)


def _vector(v, n: int, dtype) -> np.ndarray | None:
    """``v`` as a contiguous length-``n`` vector of ``dtype`` when it holds n values along the
    last axis only (leading dims of 1), else None."""
    if v is None or v.dtype != dtype or v.size != n or v.ndim == 0 or v.shape[-1] != n:
        return None
    return np.ascontiguousarray(v.reshape(n))


def normalize(x, skip, bias, gamma, beta, eps, keep_sum):
    """The fast path, or None when the inputs are not covered (then the reference runs)."""
    if x.dtype not in FLOATS or x.ndim == 0 or x.size == 0:
        return None
    n = x.shape[-1]
    dtype = x.dtype
    g = _vector(gamma, n, dtype)
    if g is None or (skip is not None and (skip.shape != x.shape or skip.dtype != dtype)):
        return None
    b = _vector(beta, n, dtype) if beta is not None else g[:0]
    c = _vector(bias, n, dtype) if bias is not None else g[:0]
    if b is None or c is None:
        return None
    flags = (skip is not None) | (bias is not None) << 1 | (beta is not None) << 2
    keep_sum = keep_sum and (skip is not None or bias is not None)
    flags |= keep_sum << 3
    rows = np.ascontiguousarray(x).reshape(-1, n)
    s = np.ascontiguousarray(skip).reshape(-1, n) if skip is not None else rows[:0]
    y = np.empty(x.shape, dtype)
    total = np.empty(x.shape, dtype) if keep_sum else y
    loop = _norm_parallel if x.size >= PARALLEL_MIN and rows.shape[0] > 1 else _norm_serial
    loop(rows, s, c, g, b, dtype.type(eps), dtype.type(n), y.reshape(-1, n),
         total.reshape(-1, n), flags)
    return y, (total if keep_sum else None)


def _layer_norm(build, with_stats: bool):
    a = build.attributes
    axis, eps = int(a.get("axis", -1)), float(a.get("epsilon", 1e-5))
    extra = [o for o in build.node.outputs[1:] if o]
    reference = build.fallback()
    if extra or (with_stats and int(a.get("stash_type", 1)) != 1):
        return reference

    def run(x, scale, b=None):
        if x.ndim == 0 or axis % x.ndim != x.ndim - 1:
            return reference(x, scale, b)
        done = normalize(x, None, None, scale, b, eps, False)
        return reference(x, scale, b) if done is None else done[0]

    return run


@kernel("LayerNormalization", since=17, provider="cpu", factory=True)
def layer_normalization(build):
    """ai.onnx LayerNormalization over the last axis when only Y is read."""
    return _layer_norm(build, with_stats=True)


@kernel("LayerNormalization", domain="com.ronn", since=1, provider="cpu", factory=True)
def layer_normalization_ronn(build):
    """``com.ronn::LayerNormalization`` over the last axis."""
    return _layer_norm(build, with_stats=False)


@kernel("SkipLayerNormalization", domain="com.ronn", since=1, provider="cpu", factory=True)
def skip_layer_normalization(build):
    """``com.ronn::SkipLayerNormalization``: Y, and the sum (output 3) when it is read."""
    eps = float(build.attributes.get("epsilon", 1e-5))
    outputs = build.node.outputs
    keep_sum = len(outputs) > 3 and bool(outputs[3])
    reference = build.fallback()

    def run(x, skip, gamma, beta=None, bias=None):
        done = normalize(x, skip, bias, gamma, beta, eps, keep_sum)
        if done is None:
            return reference(x, skip, gamma, beta, bias)
        y, total = done
        return (y, None, None, total) if keep_sum else y

    return run
