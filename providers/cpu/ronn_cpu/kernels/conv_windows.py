"""im2col as whole-row copies: the "padded-width" column matrix.

The input is copied once into zero-padded phase planes (one per stride phase actually used;
one plane for stride 1), each ``(C, HQ + slack, WQ)``. Output ``(y, x)`` of kernel tap
``(i, j)`` then reads ``plane[c].flat[(y * WQ + x) + offset(i, j)]``: over the output grid
widened to ``WQ`` columns, every row of the column matrix is ONE contiguous slice of a plane.
So the matrix is built with memcpy-speed row copies instead of a per-element gather, and the
GEMM produces ``(M, OH * WQ)``; the epilogue drops the ``WQ - OW`` extra columns while it adds
the bias (and a residual) and applies the activation, a pass it makes anyway. On small maps,
where the extra columns would cost the GEMM more than 1/8, rows are copied in OW-long pieces.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from ronn_cpu.kernels.activations import RELU, NONE, activate, threads, worth_parallel
from ronn_cpu.kernels.blas import matmul


@dataclass(frozen=True)
class WindowGeometry:
    """Where each kernel tap reads in the phase planes, for one input shape."""
    out_h: int
    out_w: int
    wq: int                      # plane width = the widened output row
    rows: int                    # plane rows (the data rows, plus one slack row if needed)
    taps: np.ndarray             # (kh * kw, 2): (phase index, flat offset) per tap, for numba
    phases: np.ndarray           # (planes, 2): the (row, column) stride phase of each plane
    tap_list: tuple              # ``taps`` as Python pairs, for the Python loops

    @property
    def columns(self) -> int:
        """Columns of the column matrix: one per output pixel. Rows are copied in out_w pieces,
        so the GEMM does no extra work and writes the output in place; whole widened plane
        rows (wq) were the rule for large maps, and measured against them in the models:
        SqueezeNet -3 to -4%, ZFNet -4%, ShuffleNet -3%, ResNet-50 and Inception -1 to -2%."""
        return self.out_h * self.out_w


def window_geometry(kh, kw, sh, sw, dh, dw, oh, ow) -> WindowGeometry:
    """The planes and tap offsets of a conv whose output is ``(oh, ow)``."""
    u_max, v_max = ((kh - 1) * dh) // sh, ((kw - 1) * dw) // sw
    hq, wq = oh + u_max, ow + v_max
    phase_index: dict[tuple[int, int], int] = {}
    taps = []
    for i in range(kh):
        for j in range(kw):
            phase = ((i * dh) % sh, (j * dw) % sw)
            p = phase_index.setdefault(phase, len(phase_index))
            taps.append((p, ((i * dh) // sh) * wq + (j * dw) // sw))
    slack = 1 if v_max else 0            # the widened last row of a shifted tap runs past hq
    return WindowGeometry(oh, ow, wq, hq + slack, np.array(taps, np.int64),
                          np.array(list(phase_index), np.int64).reshape(-1, 2), tuple(taps))


@numba.njit(cache=True, inline="always")
def _fill_plane(src, x_shape, flat, phases, task, sh, sw, pt, pl, rows, wq, pad):
    """Plane ``task`` = (phase, channel): ``plane[u, v] = x[c, u*sh + a - pt, v*sw + b - pl]``,
    ``pad`` outside ``x`` (given flat as ``src``); flat unsigned indices, so the row copies
    vectorize."""
    channels, h, w = x_shape
    p, c = task // channels, task % channels
    a, b = phases[p, 0], phases[p, 1]
    dst = np.uint64((p * channels + c) * rows * wq)
    outside = flat.dtype.type(pad)
    v0 = max(0, -(-(pl - b) // sw))                     # plane columns inside x: [v0, v1)
    v1 = max(v0, min(wq, (w - 1 + pl - b) // sw + 1))
    first, step = np.uint64(v0), np.uint64(sw)
    for u in range(rows):
        y = u * sh + a - pt
        row = dst + np.uint64(u * wq)
        if y < 0 or y >= h:
            for v in range(np.uint64(wq)):
                flat[row + v] = outside
            continue
        for v in range(first):
            flat[row + v] = outside
        at = np.uint64(c * h * w + y * w + v0 * sw + b - pl)
        if sw == 1:
            for v in range(np.uint64(v1 - v0)):
                flat[row + first + v] = src[at + v]
        elif sw == 2:                   # a constant stride: LLVM vectorizes it with shuffles
            for v in range(np.uint64(v1 - v0)):
                flat[row + first + v] = src[at + np.uint64(2) * v]
        else:
            for v in range(np.uint64(v1 - v0)):
                flat[row + first + v] = src[at + v * step]
        for v in range(np.uint64(v1), np.uint64(wq)):
            flat[row + v] = outside


@numba.njit(cache=True, parallel=True)
def _fill_parallel(x, flat, phases, sh, sw, pt, pl, rows, wq, pad):
    src = x.reshape(-1)
    for task in numba.prange(phases.shape[0] * x.shape[0]):
        _fill_plane(src, x.shape, flat, phases, task, sh, sw, pt, pl, rows, wq, pad)


@numba.njit(cache=True)
def _fill_serial(x, flat, phases, sh, sw, pt, pl, rows, wq, pad):
    src = x.reshape(-1)
    for task in range(phases.shape[0] * x.shape[0]):
        _fill_plane(src, x.shape, flat, phases, task, sh, sw, pt, pl, rows, wq, pad)


@numba.njit(cache=True, inline="always")
def _copy_row(flat, cols, taps, r, kk, channels, plane, wq, ow):
    """Row ``r`` of the flat column matrix from the flat planes (unsigned indices, so the
    copies vectorize; no view per row)."""
    c, t = r // kk, r % kk
    n = cols.size // (channels * kk)
    start = np.uint64((taps[t, 0] * channels + c) * plane + taps[t, 1])
    at = np.uint64(r * n)
    if ow == wq:                          # planes as wide as the output: one slice
        for q in range(np.uint64(n)):
            cols[at + q] = flat[start + q]
        return
    for y in range(n // ow):              # else one out_w piece per output row
        base, to = start + np.uint64(y * wq), at + np.uint64(y * ow)
        for x in range(np.uint64(ow)):
            cols[to + x] = flat[base + x]


@numba.njit(cache=True, parallel=True)
def _columns_parallel(planes, cols, taps, ow):
    c, plane, wq = planes.shape[1], planes.shape[2] * planes.shape[3], planes.shape[3]
    flat, out = planes.reshape(-1), cols.reshape(-1)
    for r in numba.prange(cols.shape[0]):
        _copy_row(flat, out, taps, r, taps.shape[0], c, plane, wq, ow)


@numba.njit(cache=True)
def _columns_serial(planes, cols, taps, ow):
    c, plane, wq = planes.shape[1], planes.shape[2] * planes.shape[3], planes.shape[3]
    flat, out = planes.reshape(-1), cols.reshape(-1)
    for r in range(cols.shape[0]):
        _copy_row(flat, out, taps, r, taps.shape[0], c, plane, wq, ow)


def filled_planes(x, geo: WindowGeometry, sh, sw, pt, pl, scratch, extra: int = 0,
                  pad: float = 0.0):
    """The phase planes of one image ``x`` (C, H, W), filled (``pad`` outside ``x``), in
    ``scratch`` (a callable giving a flat buffer), and that whole buffer: the planes, then
    ``extra`` more elements."""
    c, count = x.shape[0], geo.phases.shape[0]
    size = count * c * geo.rows * geo.wq
    buf = scratch(size + extra, x.dtype)
    fill = _fill_parallel if worth_parallel(size) else _fill_serial
    fill(x, buf, geo.phases, sh, sw, pt, pl, geo.rows, geo.wq, pad)
    return buf[:size].reshape(count, c, geo.rows, geo.wq), buf


def window_columns(x, geo: WindowGeometry, sh, sw, pt, pl, scratch) -> np.ndarray:
    """The column matrix ``(C * kh * kw, OH * OW)`` of one image ``x`` (C, H, W), in
    ``scratch``. With one tap the plane is the matrix."""
    c, kk, n = x.shape[0], len(geo.tap_list), geo.columns
    single = kk == 1 and geo.tap_list[0][1] == 0
    planes, buf = filled_planes(x, geo, sh, sw, pt, pl, scratch, 0 if single else c * kk * n)
    if single:
        return planes.reshape(c, -1)[:, :n]
    cols = buf[planes.size:].reshape(c * kk, n)
    loop = _columns_parallel if worth_parallel(cols.size) else _columns_serial
    loop(planes, cols, geo.taps, geo.out_w)
    return cols


def tap_products(x, tap_weights, geo: WindowGeometry, sh, sw, pt, pl, scratch, product):
    """``product`` (M, OH * WQ) = the sum over taps of ``tap_weights[t]`` (M, C) @ the plane
    slice that tap reads (C, OH * WQ), a strided view BLAS takes as it is: no column matrix.
    Pays when M is small next to C (DenseNet's 128 -> 32 3x3 convs): the column matrix would be
    9 * C / M times the output."""
    planes, _ = filled_planes(x, geo, sh, sw, pt, pl, scratch)
    flat = planes.reshape(planes.shape[0], planes.shape[1], -1)
    n = product.shape[1]
    for t, (phase, start) in enumerate(geo.tap_list):
        matmul(tap_weights[t], flat[phase, :, start:start + n], product, accumulate=t > 0)


@numba.njit(cache=True, inline="always")
def _epilogue_row(s, d, r, bias, m, src_row, oh, ow, wq, code, alpha, beta):
    """Channel ``m`` of the epilogue over the flat ``s`` (src), ``d`` (out) and ``r``
    (residual), with unsigned indices: a signed index makes numba wrap negatives around, and
    that stops LLVM vectorizing the rows."""
    zero = d.dtype.type(0)
    add = bias[m] if bias.size > 0 else zero
    a, b = d.dtype.type(alpha), d.dtype.type(beta)
    relu, res = code == RELU, r.size > 0
    first = np.uint64(m * oh * ow)
    for y in range(oh):
        at = np.uint64(m * src_row + y * wq)
        to = first + np.uint64(y * ow)
        if relu and res:                 # one loop per case, each one LLVM vectorizes
            for x in range(np.uint64(ow)):
                v = s[at + x] + add + r[to + x]
                d[to + x] = v if v > zero else zero
        elif relu:
            for x in range(np.uint64(ow)):
                v = s[at + x] + add
                d[to + x] = v if v > zero else zero
        elif res:
            for x in range(np.uint64(ow)):
                d[to + x] = s[at + x] + add + r[to + x]
        else:
            for x in range(np.uint64(ow)):
                d[to + x] = s[at + x] + add
    if code != NONE and not relu:
        for q in range(first, first + np.uint64(oh * ow)):
            d[q] = activate(d[q], code, a, b)


@numba.njit(cache=True, inline="always")
def _epilogue_rows(out, wq):
    """(rows, row length) per channel: one long row when ``src`` has no widened columns."""
    oh, ow = out.shape[1], out.shape[2]
    return (1, oh * ow) if wq == ow else (oh, ow)


@numba.njit(cache=True, parallel=True)
def _epilogue_parallel(src, out, bias, residual, wq, code, alpha, beta):
    s, d, r = src.reshape(-1), out.reshape(-1), residual.reshape(-1)
    oh, ow = _epilogue_rows(out, wq)
    for m in numba.prange(out.shape[0]):
        _epilogue_row(s, d, r, bias, m, src.shape[1], oh, ow, wq, code, alpha, beta)


@numba.njit(cache=True)
def _epilogue_serial(src, out, bias, residual, wq, code, alpha, beta):
    s, d, r = src.reshape(-1), out.reshape(-1), residual.reshape(-1)
    oh, ow = _epilogue_rows(out, wq)
    for m in range(out.shape[0]):
        _epilogue_row(s, d, r, bias, m, src.shape[1], oh, ow, wq, code, alpha, beta)


def epilogue(src, out, bias, residual, wq, code, alpha, beta):
    """``out[m, y, x] = act(src[m, y*wq + x] + bias[m] + residual[m, y, x])``; an empty
    ``bias`` or ``residual`` adds nothing. ``src`` may be ``out`` itself (when ``wq`` is OW)."""
    loop = _epilogue_parallel if worth_parallel(out.size) and out.shape[0] > 1 \
        else _epilogue_serial
    loop(src, out, bias, residual, wq, code, alpha, beta)


# the depthwise loops run over whole blocks of this many outputs (LLVM's vector body): the
# scalar remainder of a 7x7 map's 63-long loop would cost as much as the rest
DEPTHWISE_BLOCK = 32


@numba.njit(cache=True, inline="always")
def _depthwise_channel(flat, w, bias, out, acc, taps, m, multiplier, channels, plane, wq, code,
                       alpha, beta):
    """Output channel ``m`` of a depthwise conv: each tap adds ``w * plane`` over the whole
    widened grid, rounded up to whole blocks (one long vectorized loop, flat unsigned indices:
    no view per tap), then the epilogue compacts the rows."""
    c = m // multiplier
    n = np.uint64(acc.size)
    for q in range(n):
        acc[q] = 0
    for t in range(taps.shape[0]):
        wv = w[m, t]
        start = np.uint64((taps[t, 0] * channels + c) * plane + taps[t, 1])
        for q in range(n):
            acc[q] += wv * flat[start + q]
    oh, ow = out.shape[1], out.shape[2]
    zero = out.dtype.type(0)
    add = bias[m] if bias.size > 0 else zero
    a, b = out.dtype.type(alpha), out.dtype.type(beta)
    dst = out.reshape(-1)
    at = np.uint64(m * oh * ow)
    for y in range(oh):
        to, row = at + np.uint64(y * ow), np.uint64(y * wq)
        if code == RELU:
            for x in range(np.uint64(ow)):
                v = acc[row + x] + add
                dst[to + x] = v if v > zero else zero
        else:
            for x in range(np.uint64(ow)):
                dst[to + x] = acc[row + x] + add
    if code != NONE and code != RELU:
        for q in range(at, at + np.uint64(oh * ow)):
            dst[q] = activate(dst[q], code, a, b)


@numba.njit(cache=True, inline="always")
def plane_extent(planes, out):
    """(channels, plane size, plane width, accumulator length: the grid in whole blocks)."""
    wq = planes.shape[3]
    n = out.shape[1] * wq
    return planes.shape[1], planes.shape[2] * wq, wq, -(-n // DEPTHWISE_BLOCK) * DEPTHWISE_BLOCK


@numba.njit(cache=True, parallel=True)
def _depthwise_parallel(planes, flat, w, bias, out, taps, multiplier, code, alpha, beta,
                        blocks):
    c, plane, wq, n = plane_extent(planes, out)
    per = -(-out.shape[0] // blocks)
    for k in numba.prange(blocks):
        acc = np.empty(n, out.dtype)
        for m in range(k * per, min(out.shape[0], (k + 1) * per)):
            _depthwise_channel(flat, w, bias, out, acc, taps, m, multiplier, c, plane, wq,
                               code, alpha, beta)


@numba.njit(cache=True)
def _depthwise_serial(planes, flat, w, bias, out, taps, multiplier, code, alpha, beta):
    c, plane, wq, n = plane_extent(planes, out)
    acc = np.empty(n, out.dtype)
    for m in range(out.shape[0]):
        _depthwise_channel(flat, w, bias, out, acc, taps, m, multiplier, c, plane, wq, code,
                           alpha, beta)


def depthwise(x, w, bias, out, geo: WindowGeometry, sh, sw, pt, pl, multiplier, code, alpha,
              beta, scratch):
    """Depthwise conv of one image ``x`` (C, H, W) with ``w`` (M, kh * kw), M = C *
    multiplier, into ``out`` (M, OH, OW) as ``act(conv + bias)``; an empty ``bias`` adds
    nothing."""
    planes, flat = filled_planes(x, geo, sh, sw, pt, pl, scratch, DEPTHWISE_BLOCK)
    if worth_parallel(out.size * w.shape[1]):
        _depthwise_parallel(planes, flat, w, bias, out, geo.taps, multiplier, code, alpha, beta,
                            threads())
    else:
        _depthwise_serial(planes, flat, w, bias, out, geo.taps, multiplier, code, alpha, beta)
