"""Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions: 2.25x fewer multiplies than im2col.

Weights are transformed once (``U = G g G^T``, 16 x M x C); per run the input tiles are
transformed (``V = B^T d B``, 16 x C x tiles, padding folded in), 16 batched BLAS GEMMs give
``M = U V``, and the output transform ``A^T m A`` writes 2x2 outputs with the bias and the
activation fused. F(2, 3) keeps float32 error near im2col's (F(4, 3) would lose ~1 digit).
"""

from __future__ import annotations

import numba
import numpy as np

from ronn_cpu.kernels import prepacked
from ronn_cpu.kernels.activations import activate, worth_parallel

_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])


def transform_weights(w: np.ndarray) -> np.ndarray:
    """``U[(i, j), m, c]`` = (G w[m, c] G^T)[i, j], computed in float64 then cast; in blocks
    of output channels, so the float64 copies stay small."""
    m, c = w.shape[:2]
    u = np.empty((4, 4, m, c), w.dtype)
    step = max(1, (1 << 17) // max(1, c * 9))      # ~1 MB of float64 weights per block
    for start in range(0, m, step):
        block = w[start:start + step].astype(np.float64)
        u[:, :, start:start + step] = np.einsum("ik,mckl,jl->ijmc", _G, block, _G)
    return u.reshape(16, m, c)


def usable(kernel_shape, strides, dilations, group: int, m: int, c: int) -> bool:
    """Whether a conv is one Winograd F(2x2, 3x3) handles and pays on: 3x3, stride 1, no
    dilation, one group, and enough channels for the GEMMs to dominate."""
    return list(kernel_shape) == [3, 3] and list(strides) == [1, 1] and \
        list(dilations) == [1, 1] and group == 1 and m >= 16 and c >= 16


@numba.njit(cache=True, inline="always")
def _input_channel(x, v, c, tiles_h, tiles_w, pt, pl):
    """``v[:, c, :]`` = B^T d B of every 4x4 tile of channel ``c``: first the 16 shifted tile
    grids are gathered plane by plane (one sequential stream each), then the row and column
    butterflies run over whole planes (B has only 0 and +-1)."""
    h, w = x.shape[1], x.shape[2]
    zero = x.dtype.type(0)
    for k in range(16):
        i, j = k // 4, k % 4
        dst = v[k, c]
        for ty in range(tiles_h):
            iy = 2 * ty - pt + i
            base = ty * tiles_w
            if iy < 0 or iy >= h:
                for tx in range(tiles_w):
                    dst[base + tx] = zero
                continue
            src = x[c, iy]
            for tx in range(tiles_w):
                ix = 2 * tx - pl + j
                dst[base + tx] = src[ix] if 0 <= ix < w else zero
    n = v.shape[2]
    for j in range(4):                  # rows: B^T d
        p0, p1, p2, p3 = v[j, c], v[4 + j, c], v[8 + j, c], v[12 + j, c]
        for t in range(n):
            d0, d1, d2, d3 = p0[t], p1[t], p2[t], p3[t]
            p0[t], p1[t], p2[t], p3[t] = d0 - d2, d1 + d2, d2 - d1, d1 - d3
    for i in range(4):                  # columns: (B^T d) B
        p0, p1, p2, p3 = v[4 * i, c], v[4 * i + 1, c], v[4 * i + 2, c], v[4 * i + 3, c]
        for t in range(n):
            d0, d1, d2, d3 = p0[t], p1[t], p2[t], p3[t]
            p0[t], p1[t], p2[t], p3[t] = d0 - d2, d1 + d2, d2 - d1, d1 - d3


@numba.njit(cache=True, parallel=True)
def _input_parallel(x, v, tiles_h, tiles_w, pt, pl):
    for c in numba.prange(x.shape[0]):
        _input_channel(x, v, c, tiles_h, tiles_w, pt, pl)


@numba.njit(cache=True)
def _input_serial(x, v, tiles_h, tiles_w, pt, pl):
    for c in range(x.shape[0]):
        _input_channel(x, v, c, tiles_h, tiles_w, pt, pl)


@numba.njit(cache=True, inline="always")
def _output_plane(mm, out, bias, m, tiles_w, code, alpha, beta):
    oh, ow = out.shape[1], out.shape[2]
    a, b = out.dtype.type(alpha), out.dtype.type(beta)
    add = bias[m] if bias.size > 0 else out.dtype.type(0)
    tiles = mm.shape[2]
    for t in range(tiles):
        ty, tx = t // tiles_w, t % tiles_w
        # A^T M (two rows of four), then (A^T M) A
        m0, m1, m2, m3 = mm[0, m, t], mm[4, m, t], mm[8, m, t], mm[12, m, t]
        a0, b0 = m0 + m1 + m2, m1 - m2 - m3
        m0, m1, m2, m3 = mm[1, m, t], mm[5, m, t], mm[9, m, t], mm[13, m, t]
        a1, b1 = m0 + m1 + m2, m1 - m2 - m3
        m0, m1, m2, m3 = mm[2, m, t], mm[6, m, t], mm[10, m, t], mm[14, m, t]
        a2, b2 = m0 + m1 + m2, m1 - m2 - m3
        m0, m1, m2, m3 = mm[3, m, t], mm[7, m, t], mm[11, m, t], mm[15, m, t]
        a3, b3 = m0 + m1 + m2, m1 - m2 - m3
        y0, x0 = 2 * ty, 2 * tx
        out[m, y0, x0] = activate(a0 + a1 + a2 + add, code, a, b)
        if x0 + 1 < ow:
            out[m, y0, x0 + 1] = activate(a1 - a2 - a3 + add, code, a, b)
        if y0 + 1 < oh:
            out[m, y0 + 1, x0] = activate(b0 + b1 + b2 + add, code, a, b)
            if x0 + 1 < ow:
                out[m, y0 + 1, x0 + 1] = activate(b1 - b2 - b3 + add, code, a, b)


@numba.njit(cache=True, parallel=True)
def _output_parallel(mm, out, bias, tiles_w, code, alpha, beta):
    for m in numba.prange(out.shape[0]):
        _output_plane(mm, out, bias, m, tiles_w, code, alpha, beta)


@numba.njit(cache=True)
def _output_serial(mm, out, bias, tiles_w, code, alpha, beta):
    for m in range(out.shape[0]):
        _output_plane(mm, out, bias, m, tiles_w, code, alpha, beta)


def weights(w: np.ndarray) -> prepacked.Lazy:
    """The transformed weights ``U`` (16, M, C) of 3x3 weights ``w``, for the 16 products:
    transformed on first use, packed where that pays (``prepacked.Lazy``)."""
    return prepacked.Lazy(lambda: transform_weights(w), (16,) + w.shape[:2], w.dtype)


def winograd_conv(x, weights, bias, out, pt, pl, code, alpha, beta, scratch):
    """One image: ``x`` (C, H, W) into ``out`` (M, OH, OW) with transformed ``weights``
    (``weights(w)``)."""
    oh, ow = out.shape[1], out.shape[2]
    tiles_h, tiles_w = (oh + 1) // 2, (ow + 1) // 2
    tiles = tiles_h * tiles_w
    c, m = x.shape[0], out.shape[0]
    buf = scratch(16 * (c + m) * tiles, x.dtype)
    v = buf[:16 * c * tiles].reshape(16, c, tiles)
    mm = buf[16 * c * tiles:].reshape(16, m, tiles)
    big = worth_parallel(v.size)
    (_input_parallel if big else _input_serial)(x, v, tiles_h, tiles_w, pt, pl)
    weights.matmul(v, mm)
    (_output_parallel if big else _output_serial)(mm, out, bias, tiles_w, code, alpha, beta)
