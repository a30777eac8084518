"""MatMul with constant weights: one BLAS GEMM into a fresh output (batch dims of A folded into
the rows), then the bias + activation epilogue in place (one parallel numba pass).

Covers ai.onnx MatMul and ``com.ronn::FusedMatMul`` (MatMul, optional bias over the last axis,
activation). Anything outside the fast path (non-constant or non-2-D weights, integer types,
mixed dtypes, 1-D A) runs the reference kernel. Gemm/FusedGemm live in ``gemm.py``.
"""

from __future__ import annotations

import numpy as np

from ronn_core import kernel
from ronn_cpu.kernels import blas
from ronn_cpu.kernels.transformer_elementwise import activation_code, apply_epilogue

FLOATS = (np.float32, np.float64)


def _last_axis_vector(c: np.ndarray, n: int, rank: int | None) -> np.ndarray | None:
    """``c`` as a length-``n`` vector if it only varies along the last axis and broadcasting it
    does not add dims beyond ``rank`` (None: C is 1-D), else None."""
    if c.ndim > (rank if rank is not None else 1) or c.ndim == 0:
        return None
    if c.shape[-1] != n or any(d != 1 for d in c.shape[:-1]):
        return None
    return np.ascontiguousarray(c.reshape(n))


def build_matmul(build, activation: str | None, params):
    """The fast MatMul (A @ W [+ bias], activation) or None when the node is not covered."""
    w = build.constants[1] if len(build.constants) > 1 else None
    act = activation_code(activation, params)
    if w is None or act is None or w.ndim != 2 or w.dtype not in FLOATS or 0 in w.shape:
        return None
    code, p0, p1 = act
    k, n = w.shape
    w = np.ascontiguousarray(w)
    dtype = w.dtype
    const_bias = build.constants[2] if len(build.constants) > 2 else None
    if const_bias is not None:
        const_bias = _last_axis_vector(np.asarray(const_bias, dtype), n, None)
        if const_bias is None or build.constants[2].dtype != dtype:
            return None
    reference = build.fallback()

    def run(a, _w=None, bias=None):
        if a.dtype != dtype or a.ndim < 2 or a.shape[-1] != k or \
                (bias is not None and bias.dtype != dtype):
            return reference(a, _w, bias) if bias is not None else reference(a, _w)
        vec = const_bias
        if bias is not None and vec is None:
            vec = _last_axis_vector(bias, n, a.ndim)
            if vec is None:
                return reference(a, _w, bias)
        out = np.empty(a.shape[:-1] + (n,), dtype)
        rows = out.reshape(-1, n)
        blas.matmul(a.reshape(-1, k), w, rows)
        apply_epilogue(rows, vec, code, p0, p1)
        return out

    return run


@kernel("MatMul", since=1, provider="cpu", factory=True)
@kernel("MatMul", since=9, provider="cpu", factory=True)
@kernel("MatMul", since=13, provider="cpu", factory=True)
def matmul(build):
    """MatMul with a constant 2-D float B (weights)."""
    return build_matmul(build, None, None) or build.fallback()


@kernel("FusedMatMul", domain="com.ronn", since=1, provider="cpu", factory=True)
def fused_matmul(build):
    """``com.ronn::FusedMatMul``: MatMul (+ bias) then the activation, in one epilogue pass."""
    a = build.attributes
    return build_matmul(build, a.get("activation", "Relu"), a.get("activation_params")) \
        or build.fallback()
