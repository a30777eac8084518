"""Row softmax: one program per row of a [rows, cols] array, float32 accumulation."""

from __future__ import annotations

import triton
import triton.language as tl

from ronn_gpu.triton_kernels import next_power_of_2

MAX_COLS = 16384        # one row in registers; wider rows use the CuPy fallback


@triton.jit
def _softmax_rows(x_ptr, y_ptr, n_cols, LOG: tl.constexpr, BLOCK: tl.constexpr):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    mask = cols < n_cols
    x = tl.load(x_ptr + row * n_cols + cols, mask=mask, other=-float("inf")).to(tl.float32)
    shifted = x - tl.max(x, axis=0)
    e = tl.exp(shifted)
    total = tl.sum(e, axis=0)
    if LOG:
        y = shifted - tl.log(total)
    else:
        y = e / total
    tl.store(y_ptr + row * n_cols + cols, y.to(y_ptr.dtype.element_ty), mask=mask)


def softmax_rows(backend, x, *, log: bool = False):
    """Softmax (or log-softmax) over the last axis of a C-contiguous float array."""
    xp = backend.xp
    x = xp.ascontiguousarray(x)
    n_cols = x.shape[-1] if x.ndim else 1
    rows = x.size // max(n_cols, 1)
    if n_cols > MAX_COLS or x.size == 0:
        return _softmax_xp(xp, x, log)
    y = xp.empty_like(x)
    backend.launch(_softmax_rows, (rows,), x, y, n_cols, LOG=log, BLOCK=next_power_of_2(n_cols))
    return y


def _softmax_xp(xp, x, log):
    if x.size == 0:
        return x.copy()
    xs = x.astype(xp.float32)
    shifted = xs - xs.max(axis=-1, keepdims=True)
    if log:
        out = shifted - xp.log(xp.exp(shifted).sum(axis=-1, keepdims=True))
    else:
        e = xp.exp(shifted)
        out = e / e.sum(axis=-1, keepdims=True)
    return out.astype(x.dtype)
