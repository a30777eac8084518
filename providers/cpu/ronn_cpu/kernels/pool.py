"""MaxPool, AveragePool and GlobalAveragePool on the CPU (1-D and 2-D): one numba loop over the
channels; each plane is copied once into a padded frame, so the window loops have no bounds
checks."""

from __future__ import annotations

import numba
import numpy as np

from ronn_core import kernel
from ronn_cpu.kernels.activations import worth_parallel
from ronn_opset_onnx.ops.conv import window_geometry   # ONNX's rule, defined once


@numba.njit(cache=True, inline="always")
def _padded(x, p, pt, pl, hp, wp, fill):
    """Plane ``p`` of ``x`` inside a ``(hp, wp)`` frame of ``fill`` (its top-left at -pt, -pl);
    negative pads crop."""
    h, w = x.shape[1], x.shape[2]
    buf = np.full((hp, wp), fill, x.dtype)
    for iy in range(max(0, -pt), min(h, hp - pt)):
        for ix in range(max(0, -pl), min(w, wp - pl)):
            buf[iy + pt, ix + pl] = x[p, iy, ix]
    return buf


@numba.njit(cache=True, inline="always")
def _max_plane(x, out, p, kh, kw, sh, sw, dh, dw, pt, pl, hp, wp):
    buf = _padded(x, p, pt, pl, hp, wp, -np.inf)
    ow = out.shape[2]
    for y in range(out.shape[1]):
        dst = out[p, y]
        for xo in range(ow):
            dst[xo] = -np.inf
        for i in range(kh):
            row = buf[y * sh + i * dh]
            for j in range(kw):
                if sw == 1:              # contiguous slices: LLVM vectorizes
                    seg = row[j * dw:j * dw + ow]
                    for k in range(ow):
                        dst[k] = seg[k] if not seg[k] <= dst[k] else dst[k]   # NaN propagates
                else:
                    for k in range(ow):
                        v = row[k * sw + j * dw]
                        dst[k] = v if not v <= dst[k] else dst[k]


@numba.njit(cache=True, inline="always", error_model="numpy")
def _average_plane(x, out, p, kh, kw, sh, sw, dh, dw, pt, pl, hp, wp, counts):
    buf = _padded(x, p, pt, pl, hp, wp, 0)
    ow = out.shape[2]
    for y in range(out.shape[1]):
        dst = out[p, y]
        for xo in range(ow):
            dst[xo] = 0
        for i in range(kh):
            row = buf[y * sh + i * dh]
            for j in range(kw):
                if sw == 1:
                    seg = row[j * dw:j * dw + ow]
                    for k in range(ow):
                        dst[k] += seg[k]
                else:
                    for k in range(ow):
                        dst[k] += row[k * sw + j * dw]
        divisor = counts[y]
        for k in range(ow):
            dst[k] /= divisor[k]


@numba.njit(cache=True, parallel=True)
def _max_parallel(x, out, kh, kw, sh, sw, dh, dw, pt, pl, hp, wp):
    for p in numba.prange(x.shape[0]):
        _max_plane(x, out, p, kh, kw, sh, sw, dh, dw, pt, pl, hp, wp)


@numba.njit(cache=True)
def _max_serial(x, out, kh, kw, sh, sw, dh, dw, pt, pl, hp, wp):
    for p in range(x.shape[0]):
        _max_plane(x, out, p, kh, kw, sh, sw, dh, dw, pt, pl, hp, wp)


@numba.njit(cache=True, parallel=True, error_model="numpy")
def _average_parallel(x, out, kh, kw, sh, sw, dh, dw, pt, pl, hp, wp, counts):
    for p in numba.prange(x.shape[0]):
        _average_plane(x, out, p, kh, kw, sh, sw, dh, dw, pt, pl, hp, wp, counts)


@numba.njit(cache=True, error_model="numpy")
def _average_serial(x, out, kh, kw, sh, sw, dh, dw, pt, pl, hp, wp, counts):
    for p in range(x.shape[0]):
        _average_plane(x, out, p, kh, kw, sh, sw, dh, dw, pt, pl, hp, wp, counts)


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

    def shape_plan(spatial):
        begin, end, out = window_geometry(spatial, kernel_shape, strides, dilations, pads,
                                          auto_pad, ceil_mode, clamp_same=False)
        if min(out) <= 0:
            raise ValueError(f"{node.op_type} window {kernel_shape} (dilations {dilations}) "
                             f"is larger than the padded input "
                             f"{[s + b + e for s, b, e in zip(spatial, begin, end)]}")
        size = [1] * (2 - nd) + list(spatial)
        begin, end, out = [0] * (2 - nd) + begin, [0] * (2 - nd) + end, [1] * (2 - nd) + out
        counts = None
        if average:
            per_axis = [_window_counts(size[i], (kh, kw)[i], (sh, sw)[i], (dh, dw)[i],
                                       begin[i], end[i], out[i], include_pad) for i in (0, 1)]
            counts = np.outer(*per_axis).astype(np.float64)
        hp = (out[0] - 1) * sh + (kh - 1) * dh + 1     # the frame every window fits in
        wp = (out[1] - 1) * sw + (kw - 1) * dw + 1
        return begin[0], begin[1], out[0], out[1], size[0], counts, hp, wp

    def run(x):
        if x.ndim != nd + 2 or x.dtype not in (np.float32, np.float64):
            return reference(x)
        geo = geometry.get(x.shape[2:])
        if geo is None:
            geo = geometry[x.shape[2:]] = shape_plan(x.shape[2:])
        pt, pl, oh, ow, height, counts, hp, wp = geo
        n, c = x.shape[:2]
        planes = np.ascontiguousarray(x).reshape(n * c, height, -1)
        out = np.empty((n * c, oh, ow), x.dtype)
        big = worth_parallel(out.size * kh * kw)
        if average:
            (_average_parallel if big else _average_serial)(
                planes, out, kh, kw, sh, sw, dh, dw, pt, pl, hp, wp, counts)
        else:
            (_max_parallel if big else _max_serial)(planes, out, kh, kw, sh, sw, dh, dw, pt, pl,
                                                    hp, wp)
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
