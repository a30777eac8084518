"""numba loops of the fast Conv: im2col with the padding folded in, and a direct depthwise conv
with the bias and activation fused. Each loop has a parallel and a serial twin: small problems
skip the cost of a parallel launch."""

from __future__ import annotations

import numba

from ronn_cpu.kernels.activations import NONE, bias_activation, worth_parallel


@numba.njit(cache=True, inline="always")
def _window_span(j, dw, pl, sw, w, ow):
    """Output columns ``[lo, hi)`` whose input column ``x*sw + off`` lies in ``[0, w)``."""
    off = j * dw - pl
    lo = min(ow, 0 if off >= 0 else (-off + sw - 1) // sw)
    last = w - 1 - off
    hi = max(lo, min(ow, last // sw + 1)) if last >= 0 else lo
    return off, lo, hi


@numba.njit(cache=True, inline="always")
def _im2col_row(x, cols, r, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow):
    h, w = x.shape[1], x.shape[2]
    zero = cols.dtype.type(0)
    c = r // (kh * kw)
    i = (r // kw) % kh
    j = r % kw
    off, lo, hi = _window_span(j, dw, pl, sw, w, ow)
    for y in range(oh):
        iy = y * sh - pt + i * dh
        base = y * ow
        if iy < 0 or iy >= h:
            for k in range(ow):
                cols[r, base + k] = zero
            continue
        for k in range(lo):
            cols[r, base + k] = zero
        if sw == 1:
            for k in range(lo, hi):
                cols[r, base + k] = x[c, iy, k + off]
        else:
            for k in range(lo, hi):
                cols[r, base + k] = x[c, iy, k * sw + off]
        for k in range(hi, ow):
            cols[r, base + k] = zero


@numba.njit(cache=True, parallel=True)
def _im2col_parallel(x, cols, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow):
    for r in numba.prange(cols.shape[0]):
        _im2col_row(x, cols, r, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow)


@numba.njit(cache=True)
def _im2col_serial(x, cols, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow):
    for r in range(cols.shape[0]):
        _im2col_row(x, cols, r, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow)


def im2col(x, cols, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow):
    """``cols[(c, i, j), (y, x)] = x[c, y*sh - pt + i*dh, x*sw - pl + j*dw]`` (0 outside)."""
    loop = _im2col_parallel if worth_parallel(cols.size) else _im2col_serial
    loop(x, cols, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow)


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


@numba.njit(cache=True, inline="always")
def _depthwise_plane(x, w, bias, out, m, sh, sw, dh, dw, pt, pl, multiplier):
    h, wd = x.shape[1], x.shape[2]
    kh, kw = w.shape[1], w.shape[2]
    oh, ow = out.shape[1], out.shape[2]
    c = m // multiplier
    start = bias[m] if bias.size > 0 else out.dtype.type(0)
    for y in range(oh):
        row = out[m, y]
        for xo in range(ow):
            row[xo] = start
        for i in range(kh):
            iy = y * sh - pt + i * dh
            if iy < 0 or iy >= h:
                continue
            src = x[c, iy]
            for j in range(kw):
                wv = w[m, i, j]
                off, lo, hi = _window_span(j, dw, pl, sw, wd, ow)
                dst = row[lo:hi]          # slices: LLVM then vectorizes the multiply-add
                seg = src[lo * sw + off:lo * sw + off + (hi - lo - 1) * sw + 1:sw]
                for k in range(dst.size):
                    dst[k] += wv * seg[k]


@numba.njit(cache=True, inline="always")
def _depthwise_plane_unit_stride(x, w, bias, out, m, dh, dw, pt, pl, multiplier):
    h, wd = x.shape[1], x.shape[2]
    kh, kw = w.shape[1], w.shape[2]
    oh, ow = out.shape[1], out.shape[2]
    c = m // multiplier
    start = bias[m] if bias.size > 0 else out.dtype.type(0)
    for y in range(oh):
        row = out[m, y]
        for xo in range(ow):
            row[xo] = start
        for i in range(kh):
            iy = y - pt + i * dh
            if iy < 0 or iy >= h:
                continue
            src = x[c, iy]
            for j in range(kw):
                wv = w[m, i, j]
                off = j * dw - pl
                lo = 0 if off >= 0 else min(ow, -off)
                hi = max(lo, min(ow, wd - off))
                dst = row[lo:hi]
                seg = src[lo + off:hi + off]
                for k in range(dst.size):
                    dst[k] += wv * seg[k]


@numba.njit(cache=True, parallel=True)
def _depthwise_parallel(x, w, bias, out, sh, sw, dh, dw, pt, pl, multiplier):
    if sh == 1 and sw == 1:
        for m in numba.prange(out.shape[0]):
            _depthwise_plane_unit_stride(x, w, bias, out, m, dh, dw, pt, pl, multiplier)
    else:
        for m in numba.prange(out.shape[0]):
            _depthwise_plane(x, w, bias, out, m, sh, sw, dh, dw, pt, pl, multiplier)


@numba.njit(cache=True)
def _depthwise_serial(x, w, bias, out, sh, sw, dh, dw, pt, pl, multiplier):
    if sh == 1 and sw == 1:
        for m in range(out.shape[0]):
            _depthwise_plane_unit_stride(x, w, bias, out, m, dh, dw, pt, pl, multiplier)
    else:
        for m in range(out.shape[0]):
            _depthwise_plane(x, w, bias, out, m, sh, sw, dh, dw, pt, pl, multiplier)


def depthwise(x, w, bias, out, sh, sw, dh, dw, pt, pl, multiplier, code, alpha, beta):
    """Depthwise conv of ``x`` (C, H, W) with ``w`` (M, kh, kw), M = C * multiplier, into
    ``out`` (M, OH, OW), then ``act(out + bias)``; an empty ``bias`` adds nothing."""
    work = out.size * w.shape[1] * w.shape[2]
    loop = _depthwise_parallel if worth_parallel(work) else _depthwise_serial
    loop(x, w, bias, out, sh, sw, dh, dw, pt, pl, multiplier)
    if code != NONE:
        bias_activation(out.reshape(out.shape[0], -1), bias[:0], code, alpha, beta)
