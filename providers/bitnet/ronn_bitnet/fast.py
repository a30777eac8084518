"""The numba kernels of BitLinear: activation quantization, I2_S and TL matmuls, an int8 baseline.

The ternary kernels read the packed weights of ``packing`` (``packed[N, K4]``, four 2-bit codes
per byte, consecutive along K; the AVX2 TL kernel a copy tiled 32 rows at a time) and accumulate
exactly in integers, so their results equal the reference kernel's bit for bit:

- ``i2s``: multiply-add on the fly. Activations are quantized into four int8 *planes*
  (``plane[p][j] = xq[4j + p]``), so byte ``j`` of a weight row meets ``plane[0..3][j]``:
  ``acc = sum_j sum_p code_p(byte_j) * plane[p][j] - sum(xq)`` (codes are ``w + 1``).
  ``i2s_matmul_avx2`` does 32 bytes (128 weights) per step with ``vpmaddubsw`` (``simd``) and
  four activation rows per weight load; ``i2s_matmul_generic`` is the portable loop.
- ``tl``: lookup table, no multiplications. ``tl_matmul_avx2``: for every pair of activations
  the 16 sums ``(c_a - 1) x_a + (c_b - 1) x_b`` are precomputed; a weight nibble is the index,
  looked up for 32 output rows at once with two ``vpshufb`` (low and high byte of the int16).
  ``tl_matmul`` (portable): per group of four activations a 256-entry int16 table indexed by
  the whole weight byte, ``K / 4`` lookups per output.

The epilogue is ``float32(acc) * ((amax / 127) * scale[n]) + bias[n]`` in float32, exactly as in
``packing``. ``int8_matmul`` (dense int8 weights) is the int8 baseline of the bench suite.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

from ronn_bitnet.simd import HAS_AVX2, i2s_dot1, i2s_dot4, tl_block

F32_127 = np.float32(127.0)
F32_EPS = np.float32(1e-5)


@numba.njit(inline="always")
def _row_absmax(x, m):  # pragma: no cover - compiled
    """max |x[m, :]|, at least ``F32_EPS`` (the per-row activation scale of BitNet b1.58)."""
    a = F32_EPS
    for i in range(x.shape[1]):
        v = abs(x[m, i])
        if v > a:
            a = v
    return a


@numba.njit(parallel=True, cache=True)
def quantize_planes(x, planes, amax, xsum):  # pragma: no cover - compiled
    """float32 x[M, K] -> int8 planes[M, 4, K4] (zero padded), amax[M], int32 xsum[M]."""
    m_rows, k = x.shape
    k4 = planes.shape[2]
    for m in prange(m_rows):
        a = _row_absmax(x, m)
        inv = F32_127 / a
        s = 0
        for j in range(k4):
            for p in range(4):
                i = 4 * j + p
                q = np.int8(0)
                if i < k:
                    r = np.rint(x[m, i] * inv)
                    if r > F32_127:
                        r = F32_127
                    elif r < np.float32(-128.0):
                        r = np.float32(-128.0)
                    q = np.int8(r)
                planes[m, p, j] = q
                s += np.int32(q)
        amax[m] = a
        xsum[m] = s


@numba.njit(inline="always")
def _epilogue(acc, amax_m, scale_n, bias, n):  # pragma: no cover - compiled
    y = np.float32(acc) * ((amax_m / F32_127) * scale_n)
    if bias.shape[0]:
        y = y + bias[n]
    return y


@numba.njit(inline="always")
def _i2s_tail(row, planes, m, start):  # pragma: no cover - compiled
    """The scalar multiply-add over weight bytes ``start..K4`` for activation row ``m``."""
    acc = np.int32(0)
    for j in range(start, row.shape[0]):
        q = np.int32(row[j])
        acc += ((q & 3) * np.int32(planes[m, 0, j]) + ((q >> 2) & 3) * np.int32(planes[m, 1, j])
                + ((q >> 4) & 3) * np.int32(planes[m, 2, j])
                + ((q >> 6) & 3) * np.int32(planes[m, 3, j]))
    return acc


@numba.njit(parallel=True, cache=True)
def i2s_matmul_generic(planes, xsum, amax, packed, scale, bias, out):  # pragma: no cover
    """Portable I2_S: unpack each weight byte on the fly, int32 multiply-add (auto-vectorized)."""
    m_rows = planes.shape[0]
    for n in prange(packed.shape[0]):
        row = packed[n]
        for m in range(m_rows):
            acc = _i2s_tail(row, planes, m, 0)
            out[m, n] = _epilogue(acc - xsum[m], amax[m], scale[n], bias, n)


I2S_ROW_BLOCK = 16   # weight rows that share one group of 4 activation rows in L1


@numba.njit(parallel=True, cache=True)
def i2s_matmul_avx2(planes, xsum, amax, packed, scale, bias, out):  # pragma: no cover
    """AVX2 I2_S: 32 weight bytes (128 weights) per step, four activation rows per weight load;
    blocks of 16 weight rows meet each group of four activation rows while it is in cache."""
    m_rows, _, k4 = planes.shape
    n_out = packed.shape[0]
    nvec = k4 // 32
    start = nvec * 32
    wf = packed.reshape(-1)
    xf = planes.reshape(-1)
    for block in prange((n_out + I2S_ROW_BLOCK - 1) // I2S_ROW_BLOCK):
        n_end = min(n_out, (block + 1) * I2S_ROW_BLOCK)
        m = 0
        while m + 4 <= m_rows:
            for n in range(block * I2S_ROW_BLOCK, n_end):
                sums = i2s_dot4(wf, n * k4, xf, m * 4 * k4, k4, 4 * k4, nvec)
                for r in range(4):
                    acc = sums[r] + _i2s_tail(packed[n], planes, m + r, start) - xsum[m + r]
                    out[m + r, n] = _epilogue(acc, amax[m + r], scale[n], bias, n)
            m += 4
        while m < m_rows:
            for n in range(block * I2S_ROW_BLOCK, n_end):
                acc = i2s_dot1(wf, n * k4, xf, m * 4 * k4, k4, 0, nvec)
                acc += _i2s_tail(packed[n], planes, m, start) - xsum[m]
                out[m, n] = _epilogue(acc, amax[m], scale[n], bias, n)
            m += 1


@numba.njit(parallel=True, cache=True)
def build_tables(planes, lut):  # pragma: no cover - compiled
    """lut[m, j, c0 | c1<<2 | c2<<4 | c3<<6] = sum_p (c_p - 1) * plane[p][j] (int16)."""
    m_rows, _, k4 = planes.shape
    for mj in prange(m_rows * k4):
        m, j = mj // k4, mj % k4
        lo = np.empty(16, np.int16)
        x0, x1 = np.int16(planes[m, 0, j]), np.int16(planes[m, 1, j])
        x2, x3 = np.int16(planes[m, 2, j]), np.int16(planes[m, 3, j])
        for c in range(16):
            lo[c] = np.int16((c & 3) - 1) * x0 + np.int16((c >> 2) - 1) * x1
        for h in range(16):
            hi = np.int16((h & 3) - 1) * x2 + np.int16((h >> 2) - 1) * x3
            for c in range(16):
                lut[m, j, h * 16 + c] = lo[c] + hi


@numba.njit(parallel=True, cache=True)
def tl_matmul(lut, amax, packed, scale, bias, out):  # pragma: no cover - compiled
    """Each output: K/4 table lookups indexed by the packed weight bytes."""
    m_rows = lut.shape[0]
    n_out, k4 = packed.shape
    for n in prange(n_out):
        row = packed[n]
        for m in range(m_rows):
            table = lut[m]
            acc = np.int32(0)
            for j in range(k4):
                acc += np.int32(table[j, row[j]])
            out[m, n] = _epilogue(acc, amax[m], scale[n], bias, n)


@numba.njit(parallel=True, cache=True)
def int8_matmul(xq, xscale, w8, wscale, out):  # pragma: no cover - compiled
    """Baseline: int8 activations x dense int8 weights [N, K], int32 dot, float32 scales."""
    m_rows, k = xq.shape
    for n in prange(w8.shape[0]):
        row = w8[n]
        for m in range(m_rows):
            xm = xq[m]
            acc = np.int32(0)
            for i in range(k):
                acc += np.int32(row[i]) * np.int32(xm[i])
            out[m, n] = np.float32(acc) * (xscale[m] * wscale[n])


TL_TILE = 32      # output rows per AVX2 TL tile (one byte lane each)
TL_BLOCK = 32     # byte columns summed in int16 before widening (|sum| <= 32 * 2 * 256)


def tile_rows(packed: np.ndarray) -> np.ndarray:
    """packed[N, K4] -> tiled[ceil(N/32), K4, 32]: byte column j of 32 rows contiguous.

    Missing rows of the last tile are 0x55 (all codes 1: weight 0).
    """
    n, k4 = packed.shape
    tiles = -(-n // TL_TILE)
    padded = np.full((tiles * TL_TILE, k4), 0x55, np.uint8)
    padded[:n] = packed
    return np.ascontiguousarray(padded.reshape(tiles, TL_TILE, k4).transpose(0, 2, 1))


@numba.njit(parallel=True, cache=True)
def build_pair_tables(planes, tables):  # pragma: no cover - compiled
    """tables[m, g] = the 16 sums (c_a - 1) x_2g + (c_b - 1) x_2g+1 at index c_a | c_b << 2,
    as low bytes (0:16, again 16:32) and high bytes (32:48, again 48:64) of the int16."""
    m_rows, _, k4 = planes.shape
    for mj in prange(m_rows * k4):
        m, j = mj // k4, mj % k4
        for half in range(2):
            xa = np.int32(planes[m, 2 * half, j])
            xb = np.int32(planes[m, 2 * half + 1, j])
            g = 2 * j + half
            for idx in range(16):
                v = ((idx & 3) - 1) * xa + ((idx >> 2) - 1) * xb
                lo, hi = np.uint8(v & 255), np.uint8((v >> 8) & 255)
                tables[m, g, idx] = lo
                tables[m, g, 16 + idx] = lo
                tables[m, g, 32 + idx] = hi
                tables[m, g, 48 + idx] = hi


@numba.njit(parallel=True, cache=True)
def tl_matmul_avx2(tables, amax, tiled, scale, bias, out):  # pragma: no cover - compiled
    """AVX2 TL: per tile of 32 rows, two ``vpshufb`` lookups per byte column and row of X."""
    m_rows = tables.shape[0]
    tiles, k4, _ = tiled.shape
    n_out = out.shape[1]
    wf = tiled.reshape(-1)
    tf = tables.reshape(-1)
    for tile in prange(tiles):
        acc = np.zeros(TL_TILE, np.int32)
        for m in range(m_rows):
            acc[:] = 0
            for j0 in range(0, k4, TL_BLOCK):
                tl_block(wf, tile * k4 * TL_TILE, tf, m * 2 * k4 * 64, j0,
                         min(j0 + TL_BLOCK, k4), acc, 0)
            for r in range(TL_TILE):
                n = tile * TL_TILE + r
                if n < n_out:
                    out[m, n] = _epilogue(acc[r], amax[m], scale[n], bias, n)


#: the I2_S kernel for this CPU
i2s_matmul = i2s_matmul_avx2 if HAS_AVX2 else i2s_matmul_generic


@numba.njit(parallel=True, cache=True)
def quantize_rows(x, xq, amax):  # pragma: no cover - compiled
    """float32 x[M, K] -> int8 xq[M, K] and amax[M] (the same rule as ``quantize_planes``)."""
    m_rows, k = x.shape
    for m in prange(m_rows):
        a = _row_absmax(x, m)
        inv = F32_127 / a
        for i in range(k):
            r = np.rint(x[m, i] * inv)
            if r > F32_127:
                r = F32_127
            elif r < np.float32(-128.0):
                r = np.float32(-128.0)
            xq[m, i] = np.int8(r)
        amax[m] = a
