"""MaxPool, AveragePool and GlobalAveragePool on the CPU (1-D and 2-D): one numba loop over the
channels; each window is reduced over its rows, then over its columns (separable), through one
padded row frame per thread, so the inner loops are contiguous and branch-free (vectorized)."""

from __future__ import annotations

import numba
import numpy as np

from ronn_core import kernel
from ronn_cpu.kernels.activations import nan_max, threads, worth_parallel
from ronn_cpu.kernels.conv import scratch
from ronn_cpu.kernels.conv_windows import window_geometry as planes_geometry
from ronn_cpu.kernels.pool_max3 import max3s2_parallel, max3s2_serial
from ronn_cpu.kernels.pool_planes import pool_over_planes
from ronn_opset_onnx.ops.conv import window_geometry   # ONNX's rule, defined once


# Output maps up to this many pixels pool over padded phase planes (pool_planes.py); larger
# ones row by row. Measured at 2 threads, planes vs rows: MaxPool k3 s2 on 576x14x14 111 vs
# 142 us, on 320x28x28 134 vs 185; AveragePool k3 s1 on 576x14x14 92 vs 129, on 1024x7x7 88 vs
# 110; but MaxPool k3 s2 on 192x56x56 (28x28 out) 322 vs 235 and on 64x112x112 396 vs 205.
PLANES_MAX_PIXELS = 14 * 14
# Geometry packed into one int64 array (fewer arguments: a cheaper numba dispatch).
KH, KW, SH, SW, DH, DW, PT, PL, WP, PHASE = range(10)


@numba.njit(cache=True, inline="always")
def _take(acc, v, average):
    """``acc + v`` for AveragePool; else the larger, where a NaN on either side wins (ONNX)."""
    if average:
        return acc + v
    return nan_max(acc, v)


@numba.njit(cache=True, inline="always")
def _rows_into_frame(x, p, y, geo, frame, average):
    """The window rows of output row ``y`` reduced column by column into ``frame`` (one row of
    the padded plane: input column ``ix`` at ``ix + pl``); rows in the padding are skipped."""
    h, w = x.shape[1], x.shape[2]
    pl = geo[PL]
    lo, hi = max(0, -pl), min(w, geo[WP] - pl)
    if hi <= lo:
        return
    seg = frame[lo + pl:hi + pl]
    first = True
    for i in range(geo[KH]):
        iy = y * geo[SH] - geo[PT] + i * geo[DH]
        if iy < 0 or iy >= h:
            continue
        _reduce_run(seg, 0, x[p, iy], lo, seg.size, first, average)
        first = False
    if first:                                   # every window row lies in the padding
        for k in range(seg.size):
            seg[k] = 0 if average else -np.inf


@numba.njit(cache=True, inline="always")
def _columns_into(dst, frame, phases, geo, average):
    """``dst[k]`` = the reduction of ``frame[k * sw + j * dw]`` over the taps ``j``: with stride
    ``sw > 1`` the frame is first split into ``sw`` phases so every tap reads a contiguous run."""
    sw, dw, ow = geo[SW], geo[DW], dst.size
    if sw == 2 and ow >= 4:                     # stride 2: LLVM vectorizes the even reads
        for j in range(geo[KW]):
            seg = frame[j * dw:j * dw + 2 * ow]
            if j == 0:
                for k in range(ow):
                    dst[k] = seg[2 * k]
            elif average:
                for k in range(ow):
                    dst[k] += seg[2 * k]
            else:
                for k in range(ow):
                    dst[k] = nan_max(dst[k], seg[2 * k])
        return
    if sw > 1:
        n = geo[PHASE]
        for r in range(sw):
            ph = phases[r]
            for i in range(n):
                ph[i] = frame[r + i * sw]
    if ow < 4:                                  # few outputs: the taps are the inner loop
        for k in range(ow):
            acc = frame[k * sw]
            for j in range(1, geo[KW]):
                acc = _take(acc, frame[k * sw + j * dw], average)
            dst[k] = acc
        return
    for j in range(geo[KW]):
        o = j * dw
        if sw == 1:
            _reduce_run(dst, 0, frame, o, ow, j == 0, average)
        else:
            _reduce_run(dst, 0, phases[o % sw], o // sw, ow, j == 0, average)


@numba.njit(cache=True, inline="always")
def _reduce_run(dst, d0, src, s0, n, first, average):
    """``dst[d0 + k]`` = ``src[s0 + k]`` (``first``) or reduced with it, for ``k < n``."""
    if n <= 0:
        return
    a, b = dst[d0:d0 + n], src[s0:s0 + n]          # views: unsigned indices, so LLVM vectorizes
    if first:
        for k in range(n):
            a[k] = b[k]
    elif average:
        for k in range(n):
            a[k] += b[k]
    else:
        for k in range(n):
            a[k] = nan_max(a[k], b[k])


@numba.njit(cache=True, inline="always")
def _border_column(src, start, w, i0, geo, fill, average):
    """The reduction of ``src[start + i0 + t * dw]`` over the taps inside ``[0, w)``."""
    acc, first = fill, True
    for t in range(geo[KW]):
        i = i0 + t * geo[DW]
        if 0 <= i < w:
            v = src[start + i]
            acc = v if first else _take(acc, v, average)
            first = False
    return acc


@numba.njit(cache=True, inline="always")
def _flat_plane(src, rows, dst, rows_out, out_rows, ow, geo, average):
    """One plane with both strides 1, as flat buffers of row pitch ``w``: columns first, then
    rows, each as long contiguous loops, with the windows at the borders fixed up after."""
    w, fill = src.size // rows, 0 if average else -np.inf
    kh, kw, dh, dw, pt, pl = geo[KH], geo[KW], geo[DH], geo[DW], geo[PT], geo[PL]
    reach = (kw - 1) * dw - pl                     # how far the last column tap looks past o
    lo, hi = pl, rows * w - max(0, reach)
    for t in range(kw):
        _reduce_run(dst, lo, src, lo - pl + t * dw, hi - lo, t == 0, average)
    e0 = max(0, min(ow, pl))
    e1 = max(e0, min(ow, w - reach))               # [e0, e1): every column tap in the row
    for line in range(rows):                       # outputs whose taps leave their row
        for o in range(e0):
            dst[line * w + o] = _border_column(src, line * w, w, o - pl, geo, fill, average)
        for o in range(e1, ow):
            dst[line * w + o] = _border_column(src, line * w, w, o - pl, geo, fill, average)
    # rows: rows_out[y] = the reduction over the valid rows y - pt + t * dh of dst
    y0 = min(out_rows, max(0, pt))
    y1 = max(y0, min(out_rows, rows + pt - (kh - 1) * dh))
    for t in range(kh):
        _reduce_run(rows_out, y0 * w, dst, (y0 - pt + t * dh) * w, (y1 - y0) * w, t == 0,
                    average)
    for y in range(out_rows):
        if y0 <= y < y1:
            continue
        first = True
        for t in range(kh):
            iy = y - pt + t * dh
            if 0 <= iy < rows:
                _reduce_run(rows_out, y * w, dst, iy * w, w, first, average)
                first = False
        if first:
            for k in range(w):
                rows_out[y * w + k] = fill


@numba.njit(cache=True, inline="always")
def _pool_planes(x, out, first, last, geo, counts, average):
    """Planes ``first..last-1``, the window being separable (rows, then columns): a window that
    is the whole plane is one reduction; strides 1 run over flat planes (``_flat_plane``); else
    row by row through one padded row frame per call (its padding written once)."""
    sw, n = geo[SW], geo[PHASE]
    h, w, oh, ow = x.shape[1], x.shape[2], out.shape[1], out.shape[2]
    if oh == 1 and ow == 1 and geo[KH] == h and geo[KW] == w and geo[DH] == 1 \
            and geo[DW] == 1 and geo[PT] == 0 and geo[PL] == 0:    # one window: the plane
        for p in range(first, last):
            flat = x[p].reshape(h * w)
            acc = flat[0]
            for k in range(1, h * w):
                acc = _take(acc, flat[k], average)
            out[p, 0, 0] = acc / counts[0, 0] if average else acc
        return
    if geo[SH] == 1 and sw == 1 and geo[PT] >= 0 and geo[PL] >= 0 and ow <= w:
        columns, rows = np.empty(h * w, x.dtype), np.empty(oh * w, x.dtype)
        for p in range(first, last):
            _flat_plane(x[p].reshape(h * w), h, columns, rows, oh, ow, geo, average)
            for y in range(oh):
                dst = out[p, y]
                if average:
                    divisor = counts[y]
                    for k in range(ow):
                        dst[k] = rows[y * w + k] / divisor[k]
                else:
                    for k in range(ow):
                        dst[k] = rows[y * w + k]
        return
    frame = np.full(n * sw, 0 if average else -np.inf, x.dtype)
    phases = np.empty((sw, n), x.dtype)
    for p in range(first, last):
        for y in range(oh):
            _rows_into_frame(x, p, y, geo, frame, average)
            dst = out[p, y]
            _columns_into(dst, frame, phases, geo, average)
            if average:
                divisor = counts[y]
                for k in range(dst.size):
                    dst[k] /= divisor[k]


@numba.njit(cache=True, error_model="numpy")
def _pool_range(x, out, first, last, geo, counts, average):
    """Planes ``first..last-1``: a called function, not inlined into the parallel loop (numba's
    parallel compile of the inlined body took 15 s)."""
    _pool_planes(x, out, first, last, geo, counts, average)


@numba.njit(cache=True, parallel=True, error_model="numpy")
def _pool_parallel(x, out, geo, counts, average, threads):
    planes = x.shape[0]
    chunks = max(1, min(threads, planes))           # one scratch frame per chunk
    for c in numba.prange(chunks):
        _pool_range(x, out, c * planes // chunks, (c + 1) * planes // chunks, geo, counts,
                    average)


@numba.njit(cache=True, error_model="numpy")
def _pool_serial(x, out, geo, counts, average):
    _pool_range(x, out, 0, x.shape[0], geo, counts, average)


@numba.njit(cache=True, inline="always", fastmath={"reassoc"})
def _plane_mean(x, out, p):
    total = 0.0
    for k in range(x.shape[1]):
        total += x[p, k]
    out[p] = total / x.shape[1]


@numba.njit(cache=True, parallel=True, fastmath={"reassoc"})
def _global_average_parallel(x, out):
    for p in numba.prange(x.shape[0]):
        _plane_mean(x, out, p)


@numba.njit(cache=True, fastmath={"reassoc"})
def _global_average_serial(x, out):
    for p in range(x.shape[0]):
        _plane_mean(x, out, p)


def _window_counts(size, k, s, d, begin, end, out, include_pad) -> np.ndarray:
    """How many positions of each output's window along one axis are averaged: inside the input,
    or with ``include_pad`` inside the explicit padding too (never ceil_mode's extra room)."""
    lo, hi = (-begin, size + end) if include_pad else (0, size)
    starts = np.arange(out) * s - begin
    taps = starts[:, None] + np.arange(k)[None, :] * d
    return ((taps >= lo) & (taps < hi)).sum(axis=1)


WHOLE = "one window over the whole map"      # a shape plan's marker for GlobalAveragePool's loop
MAX3 = "MaxPool 3x3 stride 2"                # ... and for pool_max3's two passes


def _pool(build, average: bool):
    """The fast pooling callable for a 1-D or 2-D float node, or the reference kernel."""
    node, a = build.node, build.attributes
    kernel_shape = list(a.get("kernel_shape") or [])
    if len([o for o in node.outputs if o]) > 1 or len(kernel_shape) not in (1, 2) \
            or a.get("storage_order", 0):
        return build.fallback()
    nd = len(kernel_shape)
    strides = a.get("strides") or [1] * nd
    dilations = a.get("dilations") or [1] * nd
    pads, auto_pad, ceil_mode = a.get("pads"), a.get("auto_pad", "NOTSET"), a.get("ceil_mode", 0)
    include_pad = bool(a.get("count_include_pad", 0))
    reference = build.fallback()
    pad1 = [1] * (2 - nd)                         # a 1-D pool runs as 2-D over height 1
    (kh, kw), (sh, sw), (dh, dw) = pad1 + kernel_shape, pad1 + list(strides), \
        pad1 + list(dilations)
    geometry: dict[tuple, tuple] = {}
    max3 = not average and nd == 2 and (kh, kw, sh, sw, dh, dw) == (3, 3, 2, 2, 1, 1)

    def shape_plan(spatial, dtype):
        begin, end, out = window_geometry(spatial, kernel_shape, strides, dilations, pads,
                                          auto_pad, ceil_mode, clamp_same=False)
        if min(out) <= 0:
            raise ValueError(f"{node.op_type} window {kernel_shape} (dilations {dilations}) "
                             f"is larger than the padded input "
                             f"{[s + b + e for s, b, e in zip(spatial, begin, end)]}")
        size = [1] * (2 - nd) + list(spatial)
        begin, end, out = [0] * (2 - nd) + begin, [0] * (2 - nd) + end, [1] * (2 - nd) + out
        counts = np.ones((1, 1), dtype)                # unused by MaxPool
        if average:
            per_axis = [_window_counts(size[i], (kh, kw)[i], (sh, sw)[i], (dh, dw)[i],
                                       begin[i], end[i], out[i], include_pad) for i in (0, 1)]
            counts = np.outer(*per_axis).astype(dtype)
        wp = (out[1] - 1) * sw + (kw - 1) * dw + 1     # the row frame every window fits in
        geo = np.array([kh, kw, sh, sw, dh, dw, begin[0], begin[1], wp, -(-wp // sw)], np.int64)
        # one window over the whole unpadded map (the pool before a classifier): a reduction
        # per plane, GlobalAveragePool's loop for the average (2048x7x7: 216 -> 14 us), the
        # row path's one-window case for the max (385 -> 47 us); never the phase planes
        whole = out == [1, 1] and begin == [0, 0] and size == [kh, kw]
        if max3 and min(begin) >= 0:
            planes = MAX3
        elif whole:
            planes = WHOLE if average else None
        else:
            planes = planes_geometry(kh, kw, sh, sw, dh, dw, out[0], out[1]) \
                if out[0] * out[1] <= PLANES_MAX_PIXELS else None
        return geo, out[0], out[1], size[0], counts, planes

    def run(x):
        if x.ndim != nd + 2 or x.dtype not in (np.float32, np.float64):
            return reference(x)
        key = (x.shape[2:], x.dtype)
        plan = geometry.get(key)
        if plan is None:
            plan = geometry[key] = shape_plan(x.shape[2:], x.dtype)
        geo, oh, ow, height, counts, windows = plan
        n, c = x.shape[:2]
        planes = np.ascontiguousarray(x).reshape(n * c, height, -1)
        out = np.empty((n * c, oh, ow), x.dtype)
        if windows is MAX3:
            loop = max3s2_parallel if worth_parallel(out.size * 9) and n * c > 1 else \
                max3s2_serial
            loop(planes, out, int(geo[PT]), int(geo[PL]))
        elif windows is WHOLE:
            flat = planes.reshape(n * c, -1)
            mean = _global_average_parallel if worth_parallel(flat.size) and n * c > 1 else \
                _global_average_serial
            mean(flat, out.reshape(n * c))
        elif windows is not None and n * c:
            pool_over_planes(planes, out, windows, int(geo[SH]), int(geo[SW]), int(geo[PT]),
                             int(geo[PL]), counts, average, scratch)
        elif worth_parallel(out.size * kh * kw) and n * c > 1:
            _pool_parallel(planes, out, geo, counts, average, threads())
        else:
            _pool_serial(planes, out, geo, counts, average)
        return out.reshape(n, c, *([ow] if nd == 1 else [oh, ow]))

    return run


@kernel("MaxPool", since=1, provider="cpu", factory=True)
@kernel("MaxPool", since=8, provider="cpu", factory=True)
@kernel("MaxPool", since=10, provider="cpu", factory=True)
@kernel("MaxPool", since=11, provider="cpu", factory=True)
@kernel("MaxPool", since=12, provider="cpu", factory=True)
@kernel("MaxPool", since=22, provider="cpu", factory=True)
def max_pool(build):
    """1-D/2-D float MaxPool without the Indices output; anything else runs the reference."""
    return _pool(build, average=False)


@kernel("AveragePool", since=1, provider="cpu", factory=True)
@kernel("AveragePool", since=7, provider="cpu", factory=True)
@kernel("AveragePool", since=10, provider="cpu", factory=True)
@kernel("AveragePool", since=11, provider="cpu", factory=True)
@kernel("AveragePool", since=19, provider="cpu", factory=True)
@kernel("AveragePool", since=22, provider="cpu", factory=True)
def average_pool(build):
    """1-D/2-D float AveragePool (count_include_pad honoured); else the reference kernel."""
    return _pool(build, average=True)


@kernel("GlobalAveragePool", since=1, provider="cpu", factory=True)
@kernel("GlobalAveragePool", since=22, provider="cpu", factory=True)
def global_average_pool(build):
    """Float GlobalAveragePool as one parallel sum per channel; else the reference kernel."""
    reference = build.fallback()

    def run(x):
        if x.ndim < 3 or x.dtype not in (np.float32, np.float64):
            return reference(x)
        n, c = x.shape[:2]
        out = np.empty(n * c, x.dtype)
        planes = np.ascontiguousarray(x).reshape(n * c, -1)
        loop = _global_average_parallel if worth_parallel(planes.size) else _global_average_serial
        loop(planes, out)
        return out.reshape(n, c, *([1] * (x.ndim - 2)))

    return run
