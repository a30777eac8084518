"""Assorted ops not covered by a family module: Swish, TensorScatter.

(Compress, CumProd, Det, LpNormalization, Shrink and Unique live in ml_misc.py.)
"""

from __future__ import annotations

import numpy as np

from ronn_core.kernel_spec import kernel


def _axis(axis, rank: int) -> int:
    axis = int(np.asarray(axis).reshape(-1)[0]) if np.ndim(axis) else int(axis)
    if not -rank <= axis < max(rank, 1):
        raise ValueError(f"axis {axis} out of range for rank {rank}")
    return axis % max(rank, 1)


@kernel("Swish", since=24)
def swish(x, *, alpha=1.0):
    """X * sigmoid(alpha * X)."""
    wide = x.astype(np.float64)
    with np.errstate(over="ignore"):
        return (wide / (1.0 + np.exp(-alpha * wide))).astype(x.dtype)


@kernel("TensorScatter", since=24)
def tensor_scatter(past_cache, update, write_indices=None, *, axis=-2, mode="linear"):
    """Write ``update`` into a copy of the cache along ``axis`` from each batch's write index.

    ``mode="circular"`` wraps positions modulo the cache length; "linear" requires them to fit.
    """
    if mode not in ("linear", "circular"):
        raise ValueError(f"TensorScatter: mode must be linear or circular, not {mode!r}")
    axis = _axis(axis, past_cache.ndim)
    if axis == 0:
        raise ValueError("TensorScatter: axis must not be the batch axis")
    batch, length, steps = past_cache.shape[0], past_cache.shape[axis], update.shape[axis]
    starts = np.zeros(batch, np.int64) if write_indices is None else \
        np.asarray(write_indices, dtype=np.int64).reshape(-1)
    positions = starts[:, None] + np.arange(steps)            # [batch, steps]
    if mode == "circular":
        positions %= length
    elif positions.size and (positions.min() < 0 or positions.max() >= length):
        raise IndexError("TensorScatter: linear write runs past the cache")
    out = np.moveaxis(past_cache.copy(), axis, 1)             # a view of the copy
    upd = np.moveaxis(update, axis, 1)
    out[np.arange(batch)[:, None], positions] = upd
    return np.moveaxis(out, 1, axis)
