"""Reference kernels of the com.example operators: plain numpy, written to be read.

A kernel takes the node's inputs positionally (``None`` for an absent optional input) and its
attributes as keyword arguments with the schema's defaults; it returns the output array.
"""

from __future__ import annotations

import numpy as np

from ronn_core import kernel

from ronn_example import DOMAIN


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Overflow-free logistic function in x's dtype."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


@kernel("SwiGLU", domain=DOMAIN, since=1)
def swiglu(x, gate, *, beta=1.0):
    """Y = X * sigmoid(beta * X) * gate (numpy broadcasting between X and gate)."""
    scaled = x if beta == 1.0 else (x * x.dtype.type(beta))
    return (x * sigmoid(scaled) * gate).astype(np.result_type(x, gate), copy=False)


def rotary_angles(position_ids, seq: int, rotary_dim: int, base: float) -> np.ndarray:
    """Angles ``pos * base ** (-2i / rotary_dim)``, shape [batch or 1, seq, rotary_dim / 2]."""
    pos = np.arange(seq, dtype=np.int64) if position_ids is None else np.asarray(position_ids)
    pos = pos.reshape((1, seq) if pos.ndim == 1 else pos.shape).astype(np.float64)
    inv_freq = base ** (-np.arange(0, rotary_dim, 2, dtype=np.float64) / rotary_dim)
    return pos[..., None] * inv_freq


@kernel("RotaryEmbedding", domain=DOMAIN, since=1)
def rotary_embedding(x, position_ids=None, *, base=10000.0, interleaved=0, rotary_dim=0):
    """Rotate feature pairs of each head of X[batch, seq, heads, head_dim] by position angles.

    Pairs are (x[i], x[i + d/2]) (``interleaved=0``, GPT-NeoX/LLaMA) or (x[2i], x[2i+1])
    (``interleaved=1``, GPT-J), over the first ``rotary_dim`` features (0: all); the rest pass
    through. Each pair (a, b) becomes (a cos t - b sin t, b cos t + a sin t).
    """
    if x.ndim != 4:
        raise ValueError(f"X must be [batch, seq, heads, head_dim], got shape {x.shape}")
    head_dim = x.shape[-1]
    d = rotary_dim or head_dim
    if d % 2 or d > head_dim:
        raise ValueError(f"rotary_dim {d} must be even and at most head_dim {head_dim}")
    angles = rotary_angles(position_ids, x.shape[1], d, base)[:, :, None, :]  # [b, s, 1, d/2]
    cos, sin = np.cos(angles), np.sin(angles)
    rot, rest = x[..., :d], x[..., d:]
    if interleaved:
        a, b = rot[..., 0::2], rot[..., 1::2]
    else:
        a, b = rot[..., : d // 2], rot[..., d // 2:]
    ra, rb = a * cos - b * sin, b * cos + a * sin
    if interleaved:
        out = np.stack([ra, rb], axis=-1).reshape(*ra.shape[:-1], d)
    else:
        out = np.concatenate([ra, rb], axis=-1)
    return np.concatenate([out.astype(x.dtype), rest], axis=-1)
