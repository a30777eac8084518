"""MaxPool 3x3 / stride 2 (ResNet, Inception, SqueezeNet, ShuffleNet) as two passes per output
row: the maximum of its (up to) three input rows into a padded row, then of each window's three
columns of that row. Measured at 2 threads against the general separable loop (pool.py):
64x111x111 166 -> 88 us, 128x55x55 151 -> 55, 256x27x27 116 -> 53, 192x56x56 (pad 1)
221 -> 82. NaN wins every comparison, as in the reference."""

from __future__ import annotations

import numba
import numpy as np

from ronn_cpu.kernels.activations import nan_max


@numba.njit(cache=True, inline="always")
def _planes(x, out, first, last, pt, pl):
    """Planes ``first..last-1`` of ``x`` (C, H, W) into ``out`` (C, OH, OW); ``pt``/``pl``: the
    top and left padding (the right and bottom ones read as -inf)."""
    h, w = x.shape[1], x.shape[2]
    oh, ow = out.shape[1], out.shape[2]
    width = max(2 * (ow - 1) + 3, pl + w)
    row3 = np.empty(width, x.dtype)                  # one padded row: -inf outside [pl, pl+w)
    for p in range(first, last):
        for j in range(width):
            row3[j] = -np.inf
        inner = row3[pl:pl + w]
        plane, dst = x[p], out[p]
        for oy in range(oh):
            y0 = 2 * oy - pt
            lo, hi = max(0, y0), min(h, y0 + 3)
            if hi - lo == 3:
                a, b, c = plane[lo], plane[lo + 1], plane[lo + 2]
                for j in range(w):
                    inner[j] = nan_max(nan_max(a[j], b[j]), c[j])
            elif hi - lo == 2:
                a, b = plane[lo], plane[lo + 1]
                for j in range(w):
                    inner[j] = nan_max(a[j], b[j])
            elif hi - lo == 1:
                a = plane[lo]
                for j in range(w):
                    inner[j] = a[j]
            else:                                    # a window of padding only
                for j in range(w):
                    inner[j] = -np.inf
            line = dst[oy]
            for ox in range(ow):
                k = 2 * ox
                line[ox] = nan_max(nan_max(row3[k], row3[k + 1]), row3[k + 2])


@numba.njit(cache=True, parallel=True)
def max3s2_parallel(x, out, pt, pl):
    for p in numba.prange(x.shape[0]):
        _planes(x, out, p, p + 1, pt, pl)


@numba.njit(cache=True)
def max3s2_serial(x, out, pt, pl):
    _planes(x, out, 0, x.shape[0], pt, pl)
