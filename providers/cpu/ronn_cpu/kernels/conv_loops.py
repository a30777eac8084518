"""The tiny-conv gather: im2col through a precomputed index, for streaming models' small
inputs (see ``conv.gather_index``)."""

from __future__ import annotations

import numba


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
