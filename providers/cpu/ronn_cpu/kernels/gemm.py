"""Gemm on the CPU: B prepared once (alpha folded in; transB kept as a view, no copy of the
weights), one BLAS call into a fresh output, then C (beta folded in) and the fused activation in
one numba pass. Tiny products (a streaming model's one frame) run as one numba call instead,
bias and activation included (``small_gemm``: BLAS's gemv by address per row): there numpy's
call and the separate epilogue cost more than the work."""

from __future__ import annotations

import dataclasses

import numba
import numpy as np

from ronn_core import kernel
from ronn_cpu.kernels.blas import ROW_MAJOR, TRANS, address, c_call, i64, matmul
from ronn_cpu.kernels.gemm_chain import ChainLink
from ronn_cpu.kernels.activations import (NONE, _bias_activation_serial, bias_activation,
                                          epilogue_args, fused_params, no_bias)

SMALL_MACS = 1 << 15      # products up to this many multiply-adds take small_gemm


@numba.njit(cache=True)
def small_gemm(gemv, x, w, bias, out, code, alpha, beta):
    """``out = act(x @ w + bias)`` for small row-major ``x`` (M, K) and ``w`` (K, N); an empty
    ``bias`` adds nothing. A row of ``x`` with unit stride is one ``cblas_?gemv`` at address
    ``gemv`` (0: none) onto the bias; else four rows of ``w`` per pass over ``out``'s row
    (vectorized over N)."""
    m, k = x.shape
    n = w.shape[1]
    zero, one = out.dtype.type(0), out.dtype.type(1)
    blas = gemv != 0 and x.strides[1] == x.itemsize and k > 0 and n > 0
    for i in range(m):
        row = out[i]
        for j in range(n):
            row[j] = bias[j] if bias.size > 0 else zero
        if blas:
            c_call(gemv, (np.int32(ROW_MAJOR), np.int32(TRANS), i64(k), i64(n), one,
                          i64(w.ctypes.data), i64(n), i64(x.ctypes.data + i * x.strides[0]),
                          i64(1), one, i64(row.ctypes.data), i64(1)))
        else:
            _row_product(x, w, i, row)
    if code != NONE:
        _bias_activation_serial(out, bias[:0], False, code, alpha, beta)


@numba.njit(cache=True, inline="always")
def _row_product(x, w, i, row):
    """``row += x[i] @ w``, four rows of ``w`` per pass."""
    k = x.shape[1]
    n = w.shape[1]
    p = 0
    while p + 4 <= k:
        x0, x1, x2, x3 = x[i, p], x[i, p + 1], x[i, p + 2], x[i, p + 3]
        w0, w1, w2, w3 = w[p], w[p + 1], w[p + 2], w[p + 3]
        for j in range(n):
            row[j] += x0 * w0[j] + x1 * w1[j] + x2 * w2[j] + x3 * w3[j]
        p += 4
    for q in range(p, k):
        xq, wq = x[i, q], w[q]
        for j in range(n):
            row[j] += xq * wq[j]


def build_gemm(build, *, activation, alpha_act, beta_act):
    """The fast callable for a Gemm node with a constant float B, or None."""
    a = build.attributes
    b = build.constants[1] if len(build.constants) > 1 else None
    if b is None or b.ndim != 2 or b.dtype not in (np.float32, np.float64):
        return None
    dtype = b.dtype
    alpha, beta = float(a.get("alpha", 1.0)), float(a.get("beta", 1.0))
    trans_a = bool(a.get("transA", 0))
    packed = b.T if a.get("transB", 0) else b       # a view: BLAS takes the transposed layout
    if alpha != 1.0:
        packed = packed * dtype.type(alpha)
    k, n = packed.shape
    c_name = build.node.inputs[2] if len(build.node.inputs) > 2 else ""
    c = build.constants[2] if len(build.constants) > 2 else None
    if c_name and c is None:
        return None                       # C fed at run time: the reference handles it
    row_bias = no_bias(dtype)
    full_c = None
    if c is not None and beta != 0.0:
        scaled = np.asarray(c, dtype)
        if beta != 1.0:
            scaled = scaled * dtype.type(beta)
        if scaled.ndim in (1, 2) and scaled.shape[-1] == n == scaled.size:
            row_bias = np.ascontiguousarray(scaled.reshape(n))
        else:
            full_c = scaled                 # (M, N), (M, 1) or a scalar: added by numpy
    code, act_alpha, act_beta = epilogue_args(activation, alpha_act, beta_act)
    epilogue = code != NONE or row_bias.size > 0
    # small_gemm's B: row-major (a copy only where transB made ``packed`` a view)
    small_b = np.ascontiguousarray(packed) if full_c is None and not trans_a and \
        k * n <= SMALL_MACS else None
    gemv = address("gemv", dtype)

    def run(x, _b=None, _c=None):
        if x.ndim != 2 or x.dtype != dtype:
            raise ValueError(f"fast Gemm expects a 2-D {dtype} A, got {x.dtype}{list(x.shape)}")
        if small_b is not None and x.shape[1] == k and x.shape[0] * k * n <= SMALL_MACS:
            out = np.empty((x.shape[0], n), dtype)
            small_gemm(gemv, x, small_b, row_bias, out, code, act_alpha, act_beta)
            return out
        lhs = x.T if trans_a else x
        if lhs.shape[1] != k:
            raise ValueError(f"Gemm: A' is {list(lhs.shape)} but B' is {[k, n]}; their inner "
                             f"dimensions differ")
        out = np.empty((lhs.shape[0], n), dtype)
        matmul(lhs, packed, out)
        if full_c is not None:
            out += full_c
        if epilogue:
            bias_activation(out, row_bias, code, act_alpha, act_beta, per_column=True)
        return out

    if small_b is not None:            # gemm_chain may run it with its neighbours
        run.chain_link = ChainLink(small_b, row_bias, code, act_alpha, act_beta, SMALL_MACS)
    return run


@kernel("Gemm", since=7, provider="cpu", factory=True)
@kernel("Gemm", since=9, provider="cpu", factory=True)
@kernel("Gemm", since=11, provider="cpu", factory=True)
@kernel("Gemm", since=13, provider="cpu", factory=True)
def gemm(build):
    """Float Gemm with a constant B; anything else runs the reference kernel."""
    return build_gemm(build, activation=None, alpha_act=0.0, beta_act=0.0) or build.fallback()


@kernel("FusedGemm", domain="com.ronn", since=1, provider="cpu", factory=True)
def fused_gemm(build):
    """``com.ronn::FusedGemm`` (Gemm + activation, made by the passes plugin), epilogue fused."""
    fused = fused_params(build)
    if fused is None:
        return build.fallback()
    attrs, activation, alpha, beta = fused
    return build_gemm(dataclasses.replace(build, attributes=attrs), activation=activation,
                      alpha_act=alpha, beta_act=beta) or build.fallback()
