"""Ternary weights and int8 activations: quantization, packing, and their exact numpy definitions.

Packing: a ternary weight ``w`` in {-1, 0, +1} is stored as the 2-bit code ``c = w + 1``; four
codes fill a byte as ``c0 | c1 << 2 | c2 << 4 | c3 << 6`` (ONNX's UINT2 packing). Weights of output
feature ``n`` are consecutive along the reduction axis K: ``packed[n, j]`` holds weights
``k = 4j .. 4j+3``; K is padded to a multiple of 4 with code 1 (weight 0). Code 3 is invalid.

Activations (BitNet b1.58): per row, ``amax = max(max|x|, 1e-5)``,
``xq = clip(rint(x * (127 / amax)), -128, 127)``; the result is
``y = float32(xq . t) * ((amax / 127) * scale) + bias``, every step in float32.
"""

from __future__ import annotations

import numpy as np

F32 = np.float32
QMAX = F32(127.0)
EPS = F32(1e-5)
INVALID_CODE = 3


def ternarize(w: np.ndarray) -> tuple[np.ndarray, np.float32]:
    """BitNet b1.58 absmean ternarization of ``w``: (t in {-1, 0, 1} as int8, scale).

    The pattern is ``clip(round(w / mean|w|), -1, 1)``; the scale is the mean of |w| over the
    kept (non-zero) weights, the least-squares scale for that pattern, so weights that already
    are ``s * t`` come back as exactly ``(t, s)``.
    """
    w = np.asarray(w, np.float64)
    gamma = np.abs(w).mean()
    if not np.isfinite(gamma):
        raise ValueError("weights contain NaN or infinity")
    if gamma == 0:
        return np.zeros(w.shape, np.int8), F32(0.0)
    t = np.clip(np.rint(w / gamma), -1, 1).astype(np.int8)
    kept = t != 0
    scale = np.abs(w[kept]).sum() / kept.sum()
    return t, F32(scale)


def packed_width(k: int) -> int:
    """Bytes per output feature for K weights."""
    return (int(k) + 3) // 4


def pack(t: np.ndarray) -> np.ndarray:
    """Ternary ``t[N, K]`` -> uint8 ``[N, ceil(K/4)]``: codes t+1, four per byte, low bits first."""
    t = np.asarray(t)
    if t.ndim != 2:
        raise ValueError(f"expected a 2-D ternary matrix [N, K], got shape {t.shape}")
    if t.size and (t.min() < -1 or t.max() > 1):
        raise ValueError("ternary weights must be -1, 0 or +1")
    n, k = t.shape
    codes = np.ones((n, packed_width(k) * 4), np.uint8)
    codes[:, :k] = (t + 1).astype(np.uint8)
    c = codes.reshape(n, -1, 4)
    return (c[..., 0] | (c[..., 1] << 2) | (c[..., 2] << 4) | (c[..., 3] << 6)).astype(np.uint8)


def codes_of(packed: np.ndarray, k: int) -> np.ndarray:
    """uint8 ``[N, ceil(K/4)]`` -> the 2-bit codes ``[N, K]`` (uint8, 0..3)."""
    shifts = np.array([0, 2, 4, 6], np.uint8)
    codes = (packed[:, :, None] >> shifts) & np.uint8(3)
    return codes.reshape(packed.shape[0], -1)[:, :k]


def unpack(packed: np.ndarray, k: int) -> np.ndarray:
    """uint8 ``[N, ceil(K/4)]`` -> ternary int8 ``[N, K]``; code 3 raises ValueError."""
    codes = codes_of(packed, k)
    if (codes == INVALID_CODE).any():
        n, j = np.argwhere(codes == INVALID_CODE)[0]
        raise ValueError(f"invalid 2-bit code 3 at weight [{n}, {j}] (codes are 0, 1, 2 "
                         f"for -1, 0, +1)")
    return codes.astype(np.int8) - np.int8(1)


def quantize_activations(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-row absmax int8 quantization of float32 ``x[M, K]`` (K >= 1): (xq as float32,
    amax[M, 1])."""
    amax = np.maximum(np.abs(x).max(axis=-1, keepdims=True), EPS)
    xq = np.clip(np.rint(x * (QMAX / amax)), F32(-128), QMAX)
    return xq, amax


def output_scales(amax: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """The float32 factor of each output: ``(amax / 127) * scale`` ([M, 1] x [N] -> [M, N])."""
    return (amax / QMAX) * scale
