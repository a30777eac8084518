"""Scaled dot-product attention and Softmax on the CPU.

``com.ronn::Attention(Q, K_t, V, [mask])``: the two batched products run in BLAS on dense
copies of the head views the Reshape/Transpose nodes hand over (BLAS reads the strided views at
half speed; the copies are whole rows), and scale + mask + softmax is one parallel numba pass
over the score rows. For 4-D inputs the result is copied out head-interleaved (``[B, S, H, D]``
memory seen as ``[B, H, S, D]``), so the usual Transpose + Reshape that merges the heads
afterwards costs no copy. Softmax (ai.onnx) uses the same row loop.
"""

from __future__ import annotations

import math

import numpy as np
from numba import prange

from ronn_core import kernel
from ronn_cpu.kernels.blas import matmul
from ronn_cpu.kernels.transformer_elementwise import JIT, PARALLEL_MIN, twins
from ronn_cpu.kernels.transformer_math import exp, exp32, float_from_bits

FLOATS = (np.float32, np.float64)
_BITS = {np.float32: np.int32, np.float64: np.int64}     # the integer view the row max reads


def _scale_mask_rows(s, scale, divide, mask, mask_row):
    """In place: ``s[i] = s[i] (*|/) scale + mask[mask_row[i]]`` (no mask: empty ``mask_row``),
    each step rounded to the data type as the unfused ops round it."""
    m, n = s.shape
    has_mask = mask_row.shape[0] > 0
    for i in prange(m):
        row = s[i]
        if divide:                      # each branch a plain loop, so each one vectorizes
            for j in range(n):
                row[j] = row[j] / scale
        elif scale != 1.0:
            for j in range(n):
                row[j] = row[j] * scale
        if has_mask:
            mrow = mask[mask_row[i]]
            for j in range(n):
                row[j] = row[j] + mrow[j]


ORDER = 0x7FFFFFFFFFFFFFFF


def _exp_normalize_rows(s, bits, single):
    """In place: ``s[i] = exp(s[i] - max(s[i])) / sum`` (``single``: float32 data, float32 exp).
    ``bits`` is ``s`` viewed as integers: the maximum is taken over them mapped to an
    order-preserving key (a float max reduction does not vectorize, an integer one does). A nan
    or +inf maximum makes the row nan, as the unfused ops do; so does a fully masked (all -inf)
    row."""
    m, n = s.shape
    for i in prange(m):
        row, keys = s[i], bits[i]
        best = -ORDER - 1
        for j in range(n):
            k = np.int64(keys[j])
            best = max(best, k ^ ((k >> 63) & ORDER))
        top = float_from_bits(best ^ ((best >> 63) & ORDER), row[0])
        if top == np.inf:
            top = top - top             # nan, in the data type
        if single:                      # plain loops, so each one vectorizes
            for j in range(n):
                row[j] = exp32(row[j] - top)
        else:
            for j in range(n):
                row[j] = exp(np.float64(row[j]) - top)
        total = top - top               # 0 (nan for an all -inf or nan row)
        for j in range(n):
            total += row[j]
        for j in range(n):
            row[j] = row[j] / total


_SOFTMAX_JIT = dict(JIT, fastmath={"contract", "reassoc"})   # reassoc: vectorized row sum
_scale_serial, _scale_parallel = twins(_scale_mask_rows, **JIT)
_exp_serial, _exp_parallel = twins(_exp_normalize_rows, **_SOFTMAX_JIT)


def softmax_rows(rows: np.ndarray, scale: float = 1.0, divide: bool = False,
                 mask: np.ndarray | None = None, mask_row: np.ndarray | None = None) -> None:
    """Softmax in place over each row of the C-contiguous 2-D ``rows``, after scaling and
    masking them."""
    parallel = rows.size >= PARALLEL_MIN and rows.shape[0] > 1
    if mask is not None or divide or scale != 1.0:
        if mask is None:
            mask, mask_row = rows[:0], np.zeros(0, np.int64)
        (_scale_parallel if parallel else _scale_serial)(rows, float(scale), bool(divide),
                                                         mask, mask_row)
    bits = rows.view(_BITS[rows.dtype.type])
    (_exp_parallel if parallel else _exp_serial)(rows, bits, rows.dtype == np.float32)


def _mask_rows(mask: np.ndarray, scores_shape: tuple) -> tuple | None:
    """(mask as contiguous rows, the mask row of every score row), or None when the mask does
    not broadcast onto the scores without changing their shape."""
    try:
        if np.broadcast_shapes(mask.shape, scores_shape) != scores_shape:
            return None
    except ValueError:
        return None
    t = scores_shape[-1]
    m = mask.reshape((1,) * (len(scores_shape) - mask.ndim) + mask.shape)
    if m.shape[-1] != t:
        m = np.broadcast_to(m, m.shape[:-1] + (t,))
    rows = np.ascontiguousarray(m).reshape(-1, t)
    ids = np.arange(rows.shape[0], dtype=np.int64).reshape(m.shape[:-1])
    return rows, np.ascontiguousarray(np.broadcast_to(ids, scores_shape[:-1])).reshape(-1)


def _dense(m: np.ndarray) -> np.ndarray:
    """``m`` with each matrix (last two dims) C-contiguous: a copy where its rows lie apart
    (a head view of [B, S, H, D] memory). OpenBLAS reads such operands, and writes such
    outputs, slowly: BERT's 8 heads of 128x64 @ 64x128 took 0.18 ms from the views, 0.08 ms
    from copies that cost 0.01."""
    item = m.itemsize
    if m.strides[-1] == item and m.strides[-2] == m.shape[-1] * item:
        return m
    return np.ascontiguousarray(m)


def _dense_transposed(m: np.ndarray) -> np.ndarray:
    """``_dense`` for an operand that is a transposed view (K_t of [B, S, H, D] memory): the
    copy keeps it transposed, so it is made of whole rows of K."""
    item = m.itemsize
    if m.ndim >= 2 and m.strides[-2] == item and m.strides[-1] != m.shape[-2] * item:
        return np.ascontiguousarray(np.swapaxes(m, -1, -2)).swapaxes(-1, -2)
    return _dense(m) if m.strides[-2] != item else m


@kernel("Attention", domain="com.ronn", since=1, provider="cpu", factory=True)
def attention(build):
    """``com.ronn::Attention`` for float Q, K_t, V with equal batch dims and a mask (if any)
    that broadcasts onto the scores; anything else runs the reference."""
    a = build.attributes
    scale = float(a.get("scale", 1.0))
    scale_op = a.get("scale_op", "Mul")
    scale_op = scale_op.decode() if isinstance(scale_op, bytes) else scale_op
    divide = scale_op == "Div"
    reference = build.fallback()

    def run(q, k_t, v, mask=None):
        dtype = q.dtype
        if dtype not in FLOATS or k_t.dtype != dtype or v.dtype != dtype or q.ndim < 2 \
                or not (q.ndim == k_t.ndim == v.ndim) or q.shape[:-2] != k_t.shape[:-2] \
                or q.shape[:-2] != v.shape[:-2] or q.shape[-1] != k_t.shape[-2] \
                or k_t.shape[-1] != v.shape[-2] or (mask is not None and mask.dtype != dtype) \
                or 0 in q.shape or 0 in k_t.shape or 0 in v.shape:
            return reference(q, k_t, v, mask)
        q, k_t, v = _dense(q), _dense_transposed(k_t), _dense(v)
        scores = np.empty(q.shape[:-1] + k_t.shape[-1:], dtype)
        matmul(q, k_t, scores)
        t = scores.shape[-1]
        rows = scores.reshape(-1, t)
        if mask is not None:
            found = _mask_rows(mask, scores.shape)
            if found is None:
                return reference(q, k_t, v, mask)
            softmax_rows(rows, dtype.type(scale), divide, *found)
        else:
            softmax_rows(rows, dtype.type(scale), divide)
        if q.ndim != 4:
            out = np.empty(scores.shape[:-1] + v.shape[-1:], dtype)
            matmul(scores, v, out)
            return out
        b, h, s = scores.shape[:3]
        dense = np.empty(scores.shape[:-1] + v.shape[-1:], dtype)
        matmul(scores, v, dense)
        out = np.empty((b, s, h, v.shape[-1]), dtype).transpose(0, 2, 1, 3)
        out[...] = dense
        return out

    return run


def _softmax(build):
    axis = build.attributes.get("axis", -1 if build.node.version >= 13 else 1)
    reference = build.fallback()
    flatten = build.node.version < 13

    def run(x):
        if x.dtype not in FLOATS or x.ndim == 0 or x.size == 0:
            return reference(x)
        ax = axis % x.ndim
        if not flatten and ax != x.ndim - 1:
            return reference(x)
        y = np.array(x, order="C", copy=True)
        rows = y.reshape(-1, x.shape[-1]) if ax == x.ndim - 1 else \
            y.reshape(math.prod(x.shape[:ax]), -1)              # np.prod: ~4 us
        if rows.size < PARALLEL_MIN:      # a streaming model's row: the serial loop, directly
            _exp_serial(rows, rows.view(_BITS[y.dtype.type]), y.dtype == np.float32)
        else:
            softmax_rows(rows)
        return y

    return run


@kernel("Softmax", since=1, provider="cpu", factory=True)
@kernel("Softmax", since=11, provider="cpu", factory=True)
@kernel("Softmax", since=13, provider="cpu", factory=True)
def softmax(build):
    """Softmax over the last axis (opset 13) or the rows of X flattened at ``axis`` (< 13)."""
    return _softmax(build)
