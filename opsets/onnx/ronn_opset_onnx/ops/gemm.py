"""Matrix products: Gemm (Y = alpha * A' B' + beta * C) and MatMul (numpy matmul semantics)."""

from __future__ import annotations

import numpy as np

from ronn_core.kernel_spec import kernel


def _gemm(a, b, c, alpha, beta, trans_a, trans_b):
    """alpha * op(A) @ op(B) + beta * C, C broadcast to (M, N), kept in A's dtype."""
    dtype = np.result_type(a, b)
    a = a.T if trans_a else a
    b = b.T if trans_b else b
    y = a @ b
    if alpha != 1.0:
        y = y * np.asarray(alpha, dtype=dtype) if dtype.kind == "f" else (y * alpha).astype(dtype)
    if c is not None and beta != 0.0:
        c = np.asarray(c, dtype=dtype)
        y = y + (c if beta == 1.0 else c * np.asarray(beta, dtype=dtype))
    return np.asarray(y, dtype=dtype)


@kernel("Gemm", since=1)
@kernel("Gemm", since=6)
def gemm_legacy(a, b, c, *, alpha=1.0, beta=1.0, broadcast=0, transA=0, transB=0):
    """Gemm with the old ``broadcast`` flag (C is broadcast whenever its shape allows)."""
    return _gemm(a, b, c, alpha, beta, transA, transB)


@kernel("Gemm", since=7)
@kernel("Gemm", since=9)
@kernel("Gemm", since=11)
@kernel("Gemm", since=13)
def gemm(a, b, c=None, *, alpha=1.0, beta=1.0, transA=0, transB=0):
    """Y = alpha * A' @ B' + beta * C, where A' and B' are optionally transposed."""
    return _gemm(a, b, c, alpha, beta, transA, transB)


@kernel("MatMul", since=1)
@kernel("MatMul", since=9)
@kernel("MatMul", since=13)
def matmul(a, b):
    """Y = A @ B with numpy's rules: 1-D operands and broadcast batch dims."""
    y = np.asarray(np.matmul(a, b))
    return y.astype(a.dtype, copy=False) if a.dtype == b.dtype and y.dtype != a.dtype else y
