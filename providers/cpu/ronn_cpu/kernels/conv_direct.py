"""Direct convolution: register tiles over the input planes, no column matrix, no BLAS.

A float32 conv with one group is a product ``W (M, R) @ B (R, P)`` where row ``r`` of ``B``
(input channel ``c``, tap ``t``) is a contiguous slice of an input plane: the image itself for a
1x1 stride-1 conv (``B`` is ``x`` as (C, H*W)), else the zero-padded phase planes of
``conv_windows`` over the widened output grid (``P = OH * WQ``; the epilogue drops the extra
columns). ``direct_tile`` computes 8 output channels x 48 pixels per call with every
accumulator in a register, reading ``B`` where it lies; the weights are packed once in blocks of
8 channels, each block ``(R, 8)``.

Work is cut into units (48 pixels x 8 channels), pixel-major, so a thread reuses one slice of
``B`` from L1 for every channel block; pixels past the last whole 48 run as 16-wide tiles, the
last one shifted back to end at ``P`` (it recomputes a few pixels; stores are idempotent).

Measured at 2 threads against the im2col/BLAS paths (ms): SqueezeNet's 16 -> 64 3x3 at 55x55
0.154 vs 0.334 (onnxruntime 0.174), 32 -> 128 at 27x27 0.150 vs 0.252; its 1x1 squeezes
64 -> 16 at 55x55 0.021 vs ~0.06. Only where the CPU has AVX-512 (``direct_tile.HAS_AVX512``):
elsewhere the 24 accumulators would not fit in the registers.
"""

from __future__ import annotations

import numba
import numpy as np

from ronn_cpu.kernels.activations import threads, worth_parallel
from ronn_cpu.kernels.direct_tile import HAS_AVX512, NARROW, OCB, WIDE, tile_narrow, tile_wide

ENABLED = HAS_AVX512
# packed weights up to this size: a thread streams a channel block's (R, 8) weights once per
# 48 pixels, so they should stay in L2 (1000x512 at 13x13: 2 MB, 300 GFLOP/s)
MAX_WEIGHT_BYTES = 1 << 20
ROW_WASTE = 1.0
# 3x3 stride-1 convs with weights up to this size run here rather than through Winograd.
# Measured at 2 threads, direct vs Winograd (ms): 64 -> 64 at 56x56 0.68 vs 1.03, 48 -> 64 at
# 28x28 0.16 vs 0.23, 128 -> 32 at 28x28 0.23 vs 0.32, 96 -> 128 at 28x28 0.56 vs 0.61; even at
# 128 -> 128 (576 KB) 0.73 vs 0.73. Larger ones keep Winograd's 2.25x fewer multiply-adds.
OVER_WINOGRAD_BYTES = 512 << 10


def usable(dtype, group: int, weights: int) -> bool:
    """Whether the direct kernel can run a conv: float32, one group, and weights small enough
    to stay in L2. (Each shape needs a row of at least ``NARROW`` output pixels too.)"""
    return ENABLED and np.dtype(dtype) == np.float32 and group == 1 and \
        weights * 4 <= MAX_WEIGHT_BYTES


def beats_winograd(weights: int) -> bool:
    """Whether the direct kernel beats Winograd on a 3x3 conv with this many weights (see
    ``OVER_WINOGRAD_BYTES``)."""
    return weights * 4 <= OVER_WINOGRAD_BYTES


def pack(w2: np.ndarray) -> np.ndarray:
    """Weights (M, R) as (ceil(M / 8), R, 8) float32, the missing channels zero."""
    m, r = w2.shape
    blocks = -(-m // OCB)
    padded = np.zeros((blocks * OCB, r), np.float32)
    padded[:m] = w2
    return np.ascontiguousarray(padded.reshape(blocks, OCB, r).transpose(0, 2, 1))


def image_offsets(channels: int, pixels: int) -> np.ndarray:
    """Row offsets of a 1x1 stride-1 conv: row ``c`` is channel ``c`` of the image."""
    return np.arange(channels, dtype=np.int64) * pixels


def plane_offsets(taps: np.ndarray, channels: int, plane: int) -> np.ndarray:
    """Row offsets over the phase planes: row ``c * T + t`` is where tap ``t`` (phase, flat
    offset in ``taps``) of channel ``c`` starts, the order of ``W.reshape(M, C * T)``."""
    phase, start = taps[:, 0], taps[:, 1]
    c = np.arange(channels, dtype=np.int64)[:, None]
    return ((phase[None, :] * channels + c) * plane + start[None, :]).reshape(-1)


@numba.njit(cache=True, inline="always")
def _units(wp, x, offs, out, grid, ostride, m, bias, relu, u0, u1):
    """Units ``[u0, u1)`` of the ``grid`` (rows, width, input row stride, output row stride):
    unit ``u`` is pixel tile ``u // blocks`` (row-major, whole tiles first in each row), channel
    block ``u % blocks``."""
    rows, width, row_in, row_out = grid
    nr, blocks = offs.size, wp.shape[0]
    wide = width // WIDE
    per_row = wide + -(-(width - wide * WIDE) // NARROW)
    for u in range(u0, u1):
        t, b = u // blocks, u % blocks
        y, k = t // per_row, t % per_row
        first = b * OCB
        valid = min(OCB, m - first)
        if k < wide:
            q = k * WIDE
            tile_wide(wp, b * nr * OCB, x, y * row_in + q, offs, nr, out,
                      first * ostride + y * row_out + q, ostride, valid, bias, first, relu)
        else:
            q = min(wide * WIDE + (k - wide) * NARROW, width - NARROW)
            tile_narrow(wp, b * nr * OCB, x, y * row_in + q, offs, nr, out,
                        first * ostride + y * row_out + q, ostride, valid, bias, first, relu)


@numba.njit(cache=True, inline="always")
def _unit_count(wp, grid):
    rows, width = grid[0], grid[1]
    wide = width // WIDE
    return rows * (wide + -(-(width - wide * WIDE) // NARROW)) * wp.shape[0]


@numba.njit(cache=True, parallel=True)
def _product_parallel(wp, x, offs, out, grid, ostride, m, bias, relu, parts):
    units = _unit_count(wp, grid)
    per = -(-units // parts)
    for part in numba.prange(parts):
        _units(wp, x, offs, out, grid, ostride, m, bias, relu, part * per,
               min(units, (part + 1) * per))


@numba.njit(cache=True)
def _product_serial(wp, x, offs, out, grid, ostride, m, bias, relu):
    _units(wp, x, offs, out, grid, ostride, m, bias, relu, 0, _unit_count(wp, grid))


def computed(width: int) -> int:
    """Pixels the tiles compute for a row of ``width`` (whole 48s, then 16s)."""
    wide = width // WIDE
    return wide * WIDE + -(-(width - wide * WIDE) // NARROW) * NARROW


def product(wp, x, offs, out, grid: tuple, ostride: int, m: int, bias, relu: bool) -> None:
    """``out[j * ostride + y * row_out + q] = act(bias[j] + sum_r W[j, r] * x[offs[r] + y *
    row_in + q])`` for the ``m`` channels, ``y < rows`` and ``q < width``, ``grid`` being
    (rows, width, row_in, row_out); ``x``, ``out`` flat float32, ``bias`` ``m`` values."""
    grid = tuple(int(v) for v in grid)
    if worth_parallel(m * grid[0] * grid[1] * offs.size // 16):
        _product_parallel(wp, x, offs, out, grid, ostride, m, bias, int(relu), threads())
    else:
        _product_serial(wp, x, offs, out, grid, ostride, m, bias, int(relu))


def row_tiles_pay(out_h: int, out_w: int, wq: int) -> bool:
    """Whether to tile each output row (writing the output in place) rather than the widened
    grid (which the epilogue then compacts): when a row's tiles waste little."""
    return out_w >= NARROW and computed(out_w) <= ROW_WASTE * wq
