"""Winograd convolution for 3x3, stride-1, ungrouped convs with constant weights.

Two variants: F(2x2, 3x3) (4x4 tiles, 16 planes, 2.25x fewer multiplies than the direct conv)
and F(4x4, 3x3) (6x6 tiles, 36 planes, 4x fewer) for outputs wide enough to fill its tiles.
The weights are transformed once when the kernel is built (U = G g G^T as [planes][M][C],
prepacked for the GEMM); per image, ``wino_in``/``wino4_in`` transform the input tiles, one
batched GEMM multiplies the planes and ``wino_out``/``wino4_out`` transform back, with the
bias and the Relu fused.
"""

from __future__ import annotations

import numpy as np

from ronn_wasm.wat_gemm import pack_a

G2 = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
G4 = np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
               [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], dtype=np.float64)
MIN_CHANNELS = 8        # below this the transforms cost more than the multiplies they save
MIN_WIDTH_F4 = 28       # below, F(4x4)'s 4x larger weights (read once per call) cost more than it saves
# tile output size -> (G, kernel names)
VARIANTS = {2: (G2, "wino_in", "wino_out"), 4: (G4, "wino4_in", "wino4_out")}


def usable(w_shape, attrs, geometry) -> bool:
    """True when a Winograd 3x3 conv applies to a conv of this shape and attributes."""
    kh, kw, sh, sw, dh, dw = geometry[:6]
    m, cg = w_shape[:2]
    return (kh == kw == 3 and sh == sw == dh == dw == 1 and int(attrs.get("group", 1)) == 1
            and m >= MIN_CHANNELS and cg >= MIN_CHANNELS)


def variant_for(out_width) -> int:
    """Tile output size for a known output width (F(2x2) when unknown or narrow)."""
    return 4 if isinstance(out_width, int) and out_width >= MIN_WIDTH_F4 else 2


def transform_weights(w: np.ndarray, tile: int = 2) -> np.ndarray:
    """[M, C, 3, 3] -> U as [planes, M, C] (plane n*i+j holds (G g G^T)[i, j])."""
    g = VARIANTS[tile][0]
    u = np.einsum("ia,mcab,jb->ijmc", g, w.astype(np.float64), g)
    return np.ascontiguousarray(u.reshape(len(g) ** 2, *w.shape[:2]), dtype=np.float32)


def prepare(arena, w: np.ndarray, tile: int = 2):
    """The transformed weights in the arena, prepacked for the GEMM: (tile, U, packed U).
    U itself is kept only when M is not a multiple of 4 (the GEMM reads the last rows from it)."""
    u = transform_weights(w, tile)
    packed = arena.adopt(pack_a(u), "input")
    return tile, (arena.adopt(u, "input") if u.shape[1] % 4 else packed), packed, u.shape


def conv(arena, x, weights, b, pads, act=0):
    """y = conv3x3(x) (+ b, Relu when act) from ``prepare``'s transformed weights."""
    tile, u, packed, (planes, m, c) = weights
    _, kin, kout = VARIANTS[tile]
    n_, _, h, w = x.shape
    pt, pl, pb, pr = pads
    oh, ow = h + pt + pb - 2, w + pl + pr - 2
    y = arena.empty((n_, m, oh, ow))
    if y.size == 0:
        return y
    th, tw = -(-oh // tile), -(-ow // tile)
    twp = (tw + 3) // 4 * 4
    tiles = th * twp
    v = arena.empty((planes, c, tiles))
    prod = arena.empty((planes, m, tiles))
    tmp = arena.empty((6 * (4 * twp + 8),))
    xp, yp = arena.ptr(x), arena.ptr(y)
    for i in range(n_):
        arena.call(kin, xp + 4 * i * c * h * w, arena.ptr(v), arena.ptr(tmp), c, h, w,
                   pt, pl, th, twp)
        arena.gemm(arena.ptr(u), arena.ptr(v), arena.ptr(prod), 0, m, tiles, c, c, tiles, tiles,
                   0, 0, 1.0, planes, m * c, c * tiles, m * tiles, arena.ptr(packed))
        arena.call(kout, arena.ptr(prod), yp + 4 * i * m * oh * ow, arena.ptr(tmp),
                   arena.ptr(b), m, oh, ow, th, twp, 1 if act else 0)
    return y
