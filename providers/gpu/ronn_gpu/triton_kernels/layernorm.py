"""Layer normalization over the last axis, optionally of ``x + skip (+ bias)`` (one pass)."""

from __future__ import annotations

import triton
import triton.language as tl

from ronn_gpu.triton_kernels import next_power_of_2

MAX_COLS = 16384


@triton.jit
def _layer_norm_rows(x_ptr, skip_ptr, bias_ptr, gamma_ptr, beta_ptr, y_ptr, sum_ptr, n_cols, eps,
                     HAS_SKIP: tl.constexpr, HAS_BIAS: tl.constexpr, HAS_BETA: tl.constexpr,
                     WRITE_SUM: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    base = row * n_cols
    x = tl.load(x_ptr + base + cols, mask=mask, other=0.0).to(tl.float32)
    if HAS_SKIP:
        x += tl.load(skip_ptr + base + cols, mask=mask, other=0.0).to(tl.float32)
    if HAS_BIAS:
        x += tl.load(bias_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    if WRITE_SUM:
        tl.store(sum_ptr + base + cols, x.to(sum_ptr.dtype.element_ty), mask=mask)
    mean = tl.sum(x, axis=0) / n_cols
    centered = tl.where(mask, x - mean, 0.0)
    var = tl.sum(centered * centered, axis=0) / n_cols
    y = centered / tl.sqrt(var + eps)
    y = y * tl.load(gamma_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    if HAS_BETA:
        y += tl.load(beta_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    tl.store(y_ptr + base + cols, y.to(y_ptr.dtype.element_ty), mask=mask)


def layer_norm(backend, x, gamma, beta=None, *, epsilon=1e-5, skip=None, bias=None,
               axis=-1, want_sum=False):
    """``LN(x [+ skip] [+ bias]) * gamma + beta`` over axes ``axis..``; returns (y, sum or None)."""
    xp = backend.xp
    x = xp.ascontiguousarray(x)
    axis = axis % x.ndim
    n_cols = 1
    for d in x.shape[axis:]:
        n_cols *= int(d)
    rows = x.size // max(n_cols, 1)
    gamma = xp.ascontiguousarray(xp.broadcast_to(gamma, x.shape[axis:])).astype(x.dtype, copy=False)
    if beta is not None:
        beta = xp.ascontiguousarray(xp.broadcast_to(beta, x.shape[axis:])).astype(x.dtype, copy=False)
    if skip is not None:
        skip = xp.ascontiguousarray(xp.broadcast_to(skip, x.shape)).astype(x.dtype, copy=False)
    if bias is not None:
        bias = xp.ascontiguousarray(xp.broadcast_to(bias, x.shape[axis:])).astype(x.dtype, copy=False)
    if n_cols > MAX_COLS or x.size == 0:
        return _layer_norm_xp(xp, x, gamma, beta, epsilon, skip, bias, axis, want_sum)
    y = xp.empty_like(x)
    total = xp.empty_like(x) if want_sum else None
    backend.launch(_layer_norm_rows, (rows,), x, skip if skip is not None else x,
                   bias if bias is not None else x, gamma, beta if beta is not None else gamma,
                   y, total if want_sum else y, n_cols, float(epsilon),
                   HAS_SKIP=skip is not None, HAS_BIAS=bias is not None,
                   HAS_BETA=beta is not None, WRITE_SUM=want_sum, BLOCK=next_power_of_2(n_cols))
    return y, total


def _layer_norm_xp(xp, x, gamma, beta, epsilon, skip, bias, axis, want_sum):
    s = x
    if skip is not None:
        s = s + skip
    if bias is not None:
        s = s + bias
    axes = tuple(range(axis, x.ndim))
    f = s.astype(xp.float32)
    mean = f.mean(axis=axes, keepdims=True)
    c = f - mean
    y = c / xp.sqrt((c * c).mean(axis=axes, keepdims=True) + epsilon) * gamma
    if beta is not None:
        y = y + beta
    return y.astype(x.dtype), (s if want_sum else None)
