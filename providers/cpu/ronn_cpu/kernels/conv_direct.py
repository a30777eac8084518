"""Direct convolution: register tiles over the input planes, no column matrix, no BLAS.

A float32 conv is a product ``W (M, R) @ B (R, P)`` per group, where row ``r`` of ``B`` (input
channel ``c``, tap ``t``) is a contiguous slice of an input plane: the image itself for a 1x1
stride-1 conv (``B`` is ``x`` as (C, H*W)), else the zero-padded phase planes of
``conv_windows``, per output row or over the output grid widened to the plane width (the
epilogue then drops the extra columns). ``direct_tile`` computes 8 output channels x 48 pixels
per call with every accumulator in a register, reading ``B`` where it lies, and adds the bias,
a residual and ReLU as it stores; the weights are packed once in blocks of 8 channels, each
block ``(R, 8)``, the groups' blocks one after another.

Work is cut into units (48 pixels x 8 channels), pixel-major, so a thread reuses one slice of
``B`` for every channel block; pixels past a row's last whole 48 run as 16-wide tiles, the last
one started early so that it ends on the row's end.

Measured at 2 threads against the im2col/BLAS paths (ms): SqueezeNet's 16 -> 64 3x3 at 55x55
0.154 vs 0.334 (onnxruntime 0.174), 32 -> 128 at 27x27 0.150 vs 0.252; its 1x1 squeezes
64 -> 16 at 55x55 0.021 vs ~0.06; ResNet-50's 7x7 stem 0.69 vs 1.33. Only where the CPU has
AVX-512 (``direct_tile.HAS_AVX512``): elsewhere the 24 accumulators would not fit in the
registers (the kernel still runs there, slowly: the tests use it).
"""

from __future__ import annotations

import numba
import numpy as np

from ronn_cpu.kernels.activations import threads, worth_parallel
from ronn_cpu.kernels.direct_tile import (ACCUMULATE, FINISH, HAS_AVX512, NARROW, OCB, RELU,
                                         RESIDUAL, WIDE, tile_narrow, tile_wide)

ENABLED = HAS_AVX512
# packed weights up to this size: a thread streams every channel block's (R, 8) weights once
# per 48 pixels, so they should stay in L2 (1000x512 at 13x13, 2 MB: 0.74 ms vs BLAS 0.53)
MAX_WEIGHT_BYTES = 1 << 20
MIN_GROUP_CHANNELS = 16
# tiles per output row when they compute at most this times the widened row (WQ pixels): at
# 1.3 (55x55 and 27x27 maps) the widened grid and its compaction were 5-15% faster
ROW_WASTE = 1.0
# reduction rows per block: a wide tile's input, 48 pixels x DEPTH rows, stays in L1 across
# the channel blocks (measured within noise of no blocks on ResNet-50's 1x1 convs)
DEPTH = 128
# 3x3 stride-1 convs with weights up to this size run here rather than through Winograd.
# Measured at 2 threads, direct vs Winograd (ms): 64 -> 64 at 56x56 0.68 vs 1.03, 48 -> 64 at
# 28x28 0.16 vs 0.23, 128 -> 32 at 28x28 0.23 vs 0.32, 96 -> 128 at 28x28 0.56 vs 0.61; even at
# 128 -> 128 (576 KB) 0.73 vs 0.73. Larger ones keep Winograd's 2.25x fewer multiply-adds.
OVER_WINOGRAD_BYTES = 512 << 10


def usable(dtype, group: int, out_channels: int, weights: int) -> bool:
    """Whether the direct kernel can run a conv: float32, weights small enough to stay in L2,
    and one group or groups of ``MIN_GROUP_CHANNELS`` output channels or more (a depthwise
    conv would fill 1 of 8 rows of a tile). (Each shape needs ``NARROW`` output pixels too.)"""
    return ENABLED and np.dtype(dtype) == np.float32 and weights * 4 <= MAX_WEIGHT_BYTES and \
        (group == 1 or out_channels // group >= MIN_GROUP_CHANNELS)


def pays(weights: int, pixels: int) -> bool:
    """Whether a usable conv should run here on a map of ``pixels`` output pixels: past 512 KB
    of weights only on maps of 256 pixels or more. Measured at 2 threads against OpenBLAS on
    packed weights (ms): 1024 -> 256 1x1 at 14x14 0.36 vs 0.31, at 28x28 512 -> 256 0.61 vs
    0.65."""
    return weights * 4 <= OVER_WINOGRAD_BYTES or pixels >= 256


def beats_winograd(weights: int) -> bool:
    """Whether the direct kernel beats Winograd on a 3x3 conv with this many weights (see
    ``OVER_WINOGRAD_BYTES``)."""
    return weights * 4 <= OVER_WINOGRAD_BYTES


def pack_groups(w3: np.ndarray) -> np.ndarray:
    """Weights (G, M / G, R) as each group's ``pack``, stacked."""
    return np.concatenate([pack(w) for w in w3])


def pack(w2: np.ndarray) -> np.ndarray:
    """Weights (M, R) as (ceil(M / 8), R, 8) float32, the missing channels zero."""
    m, r = w2.shape
    blocks = -(-m // OCB)
    padded = np.zeros((blocks * OCB, r), np.float32)
    padded[:m] = w2
    return np.ascontiguousarray(padded.reshape(blocks, OCB, r).transpose(0, 2, 1))


def unpack(wp: np.ndarray, m: int) -> np.ndarray:
    """The (M, R) weights ``pack`` packed, exactly."""
    return np.ascontiguousarray(wp.transpose(0, 2, 1).reshape(-1, wp.shape[1])[:m])


def image_offsets(channels: int, pixels: int) -> np.ndarray:
    """Row offsets of a 1x1 stride-1 conv: row ``c`` is channel ``c`` of the image."""
    return np.arange(channels, dtype=np.int64) * pixels


def plane_offsets(taps: np.ndarray, channels: int, plane: int, first: int = 0) -> np.ndarray:
    """Row offsets over the phase planes of ``channels`` channels: row ``c * T + t`` is where
    tap ``t`` (phase, flat offset in ``taps``) of channel ``c`` starts, the order of
    ``W.reshape(M, C * T)``; the first ``first`` channels (one group's) when given."""
    phase, start = taps[:, 0], taps[:, 1]
    c = np.arange(first or channels, dtype=np.int64)[:, None]
    return ((phase[None, :] * channels + c) * plane + start[None, :]).reshape(-1)


@numba.njit(cache=True, inline="always")
def _tile(wide, wp, wo, x, xo, offs, r0, r1, out, oo, ostride, valid, bias, bo, z, zo, zstride,
          flags):
    if wide:
        tile_wide(wp, wo, x, xo, offs, r0, r1, out, oo, ostride, valid, bias, bo, z, zo,
                  zstride, flags)
    else:
        tile_narrow(wp, wo, x, xo, offs, r0, r1, out, oo, ostride, valid, bias, bo, z, zo,
                    zstride, flags)


@numba.njit(cache=True, inline="always")
def _units(wp, x, offs, out, grid, ostride, groups, bias, z, finish, u0, u1):
    """Units ``[u0, u1)`` of the ``grid`` (rows, width, input row stride, output row stride):
    unit ``u`` is pixel tile ``u // blocks`` (row-major, whole tiles first in each row), channel
    block ``u % blocks``; ``groups`` (count, channels per group, input offset per group): the
    blocks of each group in turn, its rows read ``group * stride`` further on. Each tile sums its rows in blocks of ``DEPTH``, every channel block
    per row block, so the tile's input stays in L1. The last tile of a row that does not end on
    a whole vector starts early and overlaps the one before: it sums into ``tail`` and stores
    only its own pixels (another thread may be summing the overlap)."""
    rows, width, row_in, row_out = grid
    nr, blocks = offs.size, wp.shape[0]
    count, per_group, group_stride = groups
    group_blocks = blocks // count
    wide = width // WIDE
    per_row = wide + -(-(width - wide * WIDE) // NARROW)
    tail = np.empty(blocks * OCB * NARROW, np.float32)
    for t in range(u0 // blocks, -(-u1 // blocks)):
        b0, b1 = max(u0 - t * blocks, 0), min(u1 - t * blocks, blocks)
        y, k = t // per_row, t % per_row
        q = k * WIDE if k < wide else wide * WIDE + (k - wide) * NARROW
        early = max(0, q + NARROW - width) if k >= wide else 0
        q -= early
        for r0 in range(0, nr, DEPTH):
            r1 = min(nr, r0 + DEPTH)
            flags = (ACCUMULATE if r0 else 0) | (finish if r1 == nr else 0)
            for b in range(b0, b1):
                g, local = b // group_blocks, (b % group_blocks) * OCB
                first = g * per_group + local
                valid = min(OCB, per_group - local)
                at = first * ostride + y * row_out + q
                xo = g * group_stride + y * row_in + q
                if early:
                    _tile(False, wp, b * nr * OCB, x, xo, offs, r0, r1, tail, b * OCB * NARROW,
                          NARROW, valid, bias, first, z, at, ostride, flags)
                    if r1 == nr:
                        for j in range(valid):
                            for lane in range(early, NARROW):
                                out[at + j * ostride + lane] = tail[(b * OCB + j) * NARROW + lane]
                else:
                    _tile(k < wide, wp, b * nr * OCB, x, xo, offs, r0, r1, out, at, ostride,
                          valid, bias, first, z, at, ostride, flags)


@numba.njit(cache=True, inline="always")
def _unit_count(wp, grid):
    rows, width = grid[0], grid[1]
    wide = width // WIDE
    return rows * (wide + -(-(width - wide * WIDE) // NARROW)) * wp.shape[0]


@numba.njit(cache=True)
def _split(wp, grid, parts):
    """Unit boundaries giving each of ``parts`` threads an equal share of the pixels (a wide
    tile counts 3, a 16-wide one 1): split by count, 14x14 maps left one thread 15% more."""
    width, blocks = grid[1], wp.shape[0]
    wide = width // WIDE
    per_row = wide + -(-(width - wide * WIDE) // NARROW)
    units = _unit_count(wp, grid)
    total = grid[0] * (wide * 3 + per_row - wide) * blocks
    bounds = np.empty(parts + 1, np.int64)
    bounds[0], part, done = 0, 1, 0
    for u in range(units):
        done += 3 if (u // blocks) % per_row < wide else 1
        while part < parts and done * parts >= part * total:
            bounds[part] = u + 1
            part += 1
    bounds[part:] = units
    return bounds


@numba.njit(cache=True, parallel=True)
def _product_parallel(wp, x, offs, out, grid, ostride, groups, bias, z, finish, parts):
    bounds = _split(wp, grid, parts)
    for part in numba.prange(parts):
        _units(wp, x, offs, out, grid, ostride, groups, bias, z, finish, bounds[part],
               bounds[part + 1])


@numba.njit(cache=True)
def _product_serial(wp, x, offs, out, grid, ostride, groups, bias, z, finish):
    _units(wp, x, offs, out, grid, ostride, groups, bias, z, finish, 0, _unit_count(wp, grid))


def computed(width: int) -> int:
    """Pixels the tiles compute for a row of ``width`` (whole 48s, then 16s)."""
    wide = width // WIDE
    return wide * WIDE + -(-(width - wide * WIDE) // NARROW) * NARROW


def product(wp, x, offs, out, grid: tuple, ostride: int, m: int, bias, relu: bool,
            residual=None, groups: int = 1, group_stride: int = 0) -> None:
    """``out[j * ostride + y * row_out + q] = act(bias[j] + sum_r W[j, r] * x[offs[r] + y *
    row_in + q] (+ residual[same place]))`` for the ``m`` channels, ``y < rows`` and
    ``q < width``, ``grid`` being (rows, width, row_in, row_out); ``x``, ``out``,
    ``residual`` flat float32, ``bias`` ``m`` values. With ``groups``, channel ``j`` of group
    ``g`` reads ``x`` from ``g * group_stride`` on, and ``wp`` is the groups' packs, stacked."""
    grid = tuple(int(v) for v in grid)
    finish = FINISH | (RELU if relu else 0) | (RESIDUAL if residual is not None else 0)
    z = out if residual is None else residual
    spec = (int(groups), int(m) // int(groups), int(group_stride))
    if worth_parallel(m * grid[0] * grid[1] * offs.size // 16):
        _product_parallel(wp, x, offs, out, grid, ostride, spec, bias, z, finish, threads())
    else:
        _product_serial(wp, x, offs, out, grid, ostride, spec, bias, z, finish)


def row_tiles_pay(out_h: int, out_w: int, wq: int) -> bool:
    """Whether to tile each output row (writing the output in place) rather than the widened
    grid (which the epilogue then compacts): when a row's tiles waste little."""
    return out_w >= NARROW and computed(out_w) <= ROW_WASTE * wq
