"""Gemm on the CPU: B prepared once (alpha folded in; transB kept as a view, no copy of the
weights), one BLAS call into a fresh output, then C (beta folded in) and the fused activation in
one numba pass."""

from __future__ import annotations

import dataclasses

import numpy as np

from ronn_core import kernel
from ronn_cpu.kernels.blas import matmul_into
from ronn_cpu.kernels.activations import (NONE, bias_activation, epilogue_args, fused_params,
                                          no_bias)


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

    def run(x, _b=None, _c=None):
        if x.ndim != 2 or x.dtype != dtype:
            raise ValueError(f"fast Gemm expects a 2-D {dtype} A, got {x.dtype}{list(x.shape)}")
        lhs = x.T if trans_a else x
        if lhs.shape[1] != k:
            raise ValueError(f"Gemm: A' is {list(lhs.shape)} but B' is {[k, n]}; their inner "
                             f"dimensions differ")
        out = np.empty((lhs.shape[0], n), dtype)
        matmul_into(lhs, packed, out)
        if full_c is not None:
            out += full_c
        if epilogue:
            bias_activation(out, row_bias, code, act_alpha, act_beta, per_column=True)
        return out

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
