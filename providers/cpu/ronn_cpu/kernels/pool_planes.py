"""MaxPool and AveragePool of small maps over padded phase planes (conv_windows.py).

On 7x7 and 14x14 maps the row-by-row pool loop (pool.py) spends more on its per-row bookkeeping
than on the windows. Here the input is copied once into phase planes padded with -inf (MaxPool)
or 0 (AveragePool), and each window tap is one long flat loop over the widened output grid of a
channel, like the depthwise conv; then the rows are compacted (and divided by each window's
count). Measured at 2 threads: see ``PLANES_MAX_PIXELS`` in pool.py.
"""

from __future__ import annotations

import numba
import numpy as np

from ronn_cpu.kernels.activations import nan_max, threads, worth_parallel
from ronn_cpu.kernels.conv_windows import (DEPTHWISE_BLOCK, WindowGeometry, filled_planes,
                                            plane_extent)


@numba.njit(cache=True, inline="always")
def _pool_channel(flat, out, acc, taps, c, channels, plane, wq, counts, average):
    """Channel ``c``: every tap reduced into ``acc`` (whole blocks of the widened grid, flat
    unsigned indices), then the rows compacted into ``out`` (divided by the window counts)."""
    n = np.uint64(acc.size)
    for t in range(taps.shape[0]):
        start = np.uint64((taps[t, 0] * channels + c) * plane + taps[t, 1])
        if t == 0:
            for q in range(n):
                acc[q] = flat[start + q]
        elif average:
            for q in range(n):
                acc[q] += flat[start + q]
        else:                                   # the larger; a NaN on either side wins
            for q in range(n):
                acc[q] = nan_max(acc[q], flat[start + q])
    oh, ow = out.shape[1], out.shape[2]
    dst = out.reshape(-1)
    at = np.uint64(c * oh * ow)
    for y in range(oh):
        to, row = at + np.uint64(y * ow), np.uint64(y * wq)
        if average:
            divisor = counts[y]
            for x in range(np.uint64(ow)):
                dst[to + x] = acc[row + x] / divisor[x]
        else:
            for x in range(np.uint64(ow)):
                dst[to + x] = acc[row + x]


@numba.njit(cache=True, parallel=True, error_model="numpy")
def _planes_parallel(planes, flat, out, taps, counts, average, blocks):
    c, plane, wq, n = plane_extent(planes, out)
    per = -(-out.shape[0] // blocks)
    for k in numba.prange(blocks):
        acc = np.empty(n, out.dtype)
        for ch in range(k * per, min(out.shape[0], (k + 1) * per)):
            _pool_channel(flat, out, acc, taps, ch, c, plane, wq, counts, average)


@numba.njit(cache=True, error_model="numpy")
def _planes_serial(planes, flat, out, taps, counts, average):
    c, plane, wq, n = plane_extent(planes, out)
    acc = np.empty(n, out.dtype)
    for ch in range(out.shape[0]):
        _pool_channel(flat, out, acc, taps, ch, c, plane, wq, counts, average)


def pool_over_planes(x, out, geo: WindowGeometry, sh, sw, pt, pl, counts, average, scratch):
    """Pool the planes ``x`` (C, H, W) into ``out`` (C, OH, OW) through ``geo``'s phase planes;
    ``counts`` (OH, OW) divides AveragePool's sums."""
    planes, flat = filled_planes(x, geo, sh, sw, pt, pl, scratch, DEPTHWISE_BLOCK,
                                 0.0 if average else -np.inf)
    if worth_parallel(out.size * geo.taps.shape[0]) and out.shape[0] > 1:
        _planes_parallel(planes, flat, out, geo.taps, counts, average, threads())
    else:
        _planes_serial(planes, flat, out, geo.taps, counts, average)
