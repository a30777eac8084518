"""The tiny-conv gather: im2col through a precomputed index, for streaming models' small
inputs (see ``conv.gather_index``), and the whole tiny conv in one call (``gather_product``)."""

from __future__ import annotations

import numba
import numpy as np

from ronn_cpu.kernels.activations import NONE, _bias_activation_row
from ronn_cpu.kernels.blas import NO_TRANS, ROW_MAJOR, c_call, i64


@numba.njit(cache=True)
def gather_columns(x, index, cols):
    """``cols[i, r, q] = x[i, index[r, q]]``, 0 where the index is -1 and 1 where it is -2
    (the tiny-conv im2col: ``x`` (N, C*H*W), ``index`` from ``conv.gather_index``)."""
    zero, one = cols.dtype.type(0), cols.dtype.type(1)
    for i in range(x.shape[0]):
        for r in range(index.shape[0]):
            for q in range(index.shape[1]):
                k = index[r, q]
                cols[i, r, q] = x[i, k] if k >= 0 else (zero if k == -1 else one)


@numba.njit(cache=True)
def gather_product(gemm, x, index, weights, out, code, alpha, beta):
    """``out[i] = act(weights @ gather(x[i]))`` for every sample, in one call: the gather,
    numpy's ``cblas_?gemm`` at address ``gemm`` into ``out[i]`` (M, Q), then the activation.
    ``x`` (N, C*H*W); ``weights`` (M, R) row-major, the bias its last column; ``out``
    (N, M, Q) C-contiguous. At a streaming model's sizes the separate numpy calls cost twice
    the work."""
    zero, one = out.dtype.type(0), out.dtype.type(1)
    rows, q = index.shape
    m = weights.shape[0]
    item = out.itemsize
    cols = np.empty((rows, q), out.dtype)
    no_bias = np.empty(0, out.dtype)
    for i in range(x.shape[0]):
        xi = x[i]
        for r in range(rows):
            for j in range(q):
                k = index[r, j]
                cols[r, j] = xi[k] if k >= 0 else (zero if k == -1 else one)
        target = out[i]
        c_call(gemm, (np.int32(ROW_MAJOR), np.int32(NO_TRANS), np.int32(NO_TRANS),
                       i64(m), i64(q), i64(rows), one, i64(weights.ctypes.data),
                       i64(weights.strides[0] // item), i64(cols.ctypes.data),
                       i64(cols.strides[0] // item), zero, i64(target.ctypes.data), i64(q)))
        if code != NONE:
            _bias_activation_row(target.reshape(1, m * q), no_bias, 0, False, code, alpha,
                                 beta)
