"""Indexing ops: Slice, Gather*, Scatter*, Trilu, OneHot, NonZero, TopK, CumSum."""

from __future__ import annotations

import numpy as np

from ronn_core.kernel_spec import kernel


def _ints(values) -> list[int]:
    """An attribute list or a 1-D int tensor as Python ints (no int64 overflow in arithmetic)."""
    return [int(v) for v in np.asarray(values).reshape(-1)]


def _normalize_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise ValueError(f"axis {axis} out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


# --- Slice -------------------------------------------------------------------------------------

_END_OF_AXIS = (2**63 - 1, 2**31 - 1)   # INT64_MAX / INT32_MAX as an end: "up to the last one"


def _axis_slice(start: int, end: int, step: int, dim: int) -> slice:
    """One axis of Slice: negatives count from the end, then clamp to the dim (step-dependent).

    As in onnxruntime, an end of INT64_MAX or INT32_MAX means "run off the end" in the step's
    direction (numpy's ``None``), also for negative steps.
    """
    if step == 0:
        raise ValueError("Slice: step must not be 0")
    start = start + dim if start < 0 else start
    if end in _END_OF_AXIS:
        end = dim if step > 0 else -1
    elif end < 0:
        end += dim
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
    else:  # walking backwards: start in [0, dim-1], end in [-1, dim-1] (-1 = past the front)
        start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    return slice(start, None if end < 0 else end, step)


def _slice(data, starts, ends, axes, steps):
    starts, ends = _ints(starts), _ints(ends)
    axes = list(range(len(starts))) if axes is None else _ints(axes)
    steps = [1] * len(starts) if steps is None else _ints(steps)
    index = [slice(None)] * data.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis = _normalize_axis(axis, data.ndim)
        index[axis] = _axis_slice(start, end, step, data.shape[axis])
    return data[tuple(index)]


@kernel("Slice", since=1)
def slice_v1(data, *, starts, ends, axes=None):
    """Slice (opset 1): take data[starts:ends] along ``axes`` (attributes), clamped to the dims."""
    return _slice(data, starts, ends, axes, None)


@kernel("Slice", since=10)
@kernel("Slice", since=11)
@kernel("Slice", since=13)
def slice_(data, starts, ends, axes=None, steps=None):
    """Take data[starts:ends:steps] along ``axes``; out-of-range bounds clamp, negatives wrap."""
    return _slice(data, starts, ends, axes, steps)


# --- Gather ------------------------------------------------------------------------------------

def _wrap_indices(indices, dim: int) -> np.ndarray:
    """Indices in [-dim, dim) made non-negative; out-of-range ones raise."""
    indices = np.asarray(indices, dtype=np.int64)
    if indices.size and (indices.min() < -dim or indices.max() >= dim):
        raise IndexError(f"index out of range for a dim of {dim}")
    return np.where(indices < 0, indices + dim, indices)


@kernel("Gather", since=1)
@kernel("Gather", since=11)
@kernel("Gather", since=13)
def gather(data, indices, *, axis=0):
    """Pick entries along ``axis``: out[..., i, ...] = data[..., indices[i], ...] (rank r+q-1)."""
    axis = _normalize_axis(axis, data.ndim)
    return np.asarray(np.take(data, _wrap_indices(indices, data.shape[axis]), axis=axis))


@kernel("GatherElements", since=11)
@kernel("GatherElements", since=13)
def gather_elements(data, indices, *, axis=0):
    """out[i][j][k] = data[indices[i][j][k]][j][k] for axis 0 (likewise for other axes)."""
    axis = _normalize_axis(axis, data.ndim)
    index = list(np.ix_(*(np.arange(n) for n in indices.shape)))   # indices may be smaller
    index[axis] = _wrap_indices(indices, data.shape[axis])
    return data[tuple(index)]


@kernel("GatherND", since=11)
@kernel("GatherND", since=12)
@kernel("GatherND", since=13)
def gather_nd(data, indices, *, batch_dims=0):
    """Rows of ``indices`` (last axis) address slices of data, past ``batch_dims`` shared dims."""
    b, k = batch_dims, indices.shape[-1]
    batch = int(np.prod(data.shape[:b]))
    data_b = data.reshape(batch, *data.shape[b:])
    idx = np.asarray(indices, dtype=np.int64).reshape(batch, -1, k)
    idx = np.where(idx < 0, idx + np.array(data.shape[b:b + k]), idx)
    rows = np.arange(batch)[:, None]
    picked = data_b[(rows, *(idx[..., j] for j in range(k)))]
    return picked.reshape(*indices.shape[:-1], *data.shape[b + k:])


# --- Scatter -----------------------------------------------------------------------------------

_REDUCTIONS = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


def _scatter_into(data, index, updates, reduction: str):
    """A copy of data with updates written (or combined by ``reduction``) at ``index``."""
    out = data.copy()
    if reduction == "none":
        out[index] = updates
    elif reduction in _REDUCTIONS:
        _REDUCTIONS[reduction].at(out, index, updates)
    else:
        raise ValueError(f"unknown reduction {reduction!r}")
    return out


@kernel("Scatter", since=9)
@kernel("Scatter", since=11)
@kernel("ScatterElements", since=11)
@kernel("ScatterElements", since=13)
@kernel("ScatterElements", since=16)
@kernel("ScatterElements", since=18)
def scatter_elements(data, indices, updates, *, axis=0, reduction="none"):
    """out = data; out[indices[i][j]][j] = updates[i][j] for axis 0 (or combined by reduction)."""
    axis = _normalize_axis(axis, data.ndim)
    index = list(np.ix_(*(np.arange(n) for n in indices.shape)))
    index[axis] = _wrap_indices(indices, data.shape[axis])
    return _scatter_into(data, tuple(index), updates, reduction)


@kernel("ScatterND", since=11)
@kernel("ScatterND", since=13)
@kernel("ScatterND", since=16)
@kernel("ScatterND", since=18)
def scatter_nd(data, indices, updates, *, reduction="none"):
    """out = data, then out[indices[i]] = updates[i] for each last-axis index row (or combined)."""
    k = indices.shape[-1]
    index = tuple(_wrap_indices(indices[..., j], data.shape[j]) for j in range(k))
    return _scatter_into(data, index, updates, reduction)


# --- Trilu, OneHot, NonZero --------------------------------------------------------------------

@kernel("Trilu", since=14)
def trilu(input, k=None, *, upper=1):
    """Keep the upper (j - i >= k) or lower (j - i <= k) triangle of the last two dims."""
    k = 0 if k is None else int(np.asarray(k).reshape(-1)[0])
    return np.triu(input, k) if upper else np.tril(input, k)


@kernel("OneHot", since=9)
@kernel("OneHot", since=11)
def one_hot(indices, depth, values, *, axis=-1):
    """Insert a ``depth``-long axis holding values[1] at each index, values[0] elsewhere."""
    depth = int(np.asarray(depth).reshape(-1)[0])
    idx = np.asarray(indices).astype(np.int64)
    idx = np.where(idx < 0, idx + depth, idx)          # -depth..-1 count from the end
    hot = idx[..., None] == np.arange(depth)            # out-of-range indices match nothing
    axis = axis + idx.ndim + 1 if axis < 0 else axis
    hot = np.moveaxis(hot, -1, axis)
    off, on = np.asarray(values).reshape(-1)[:2]
    return np.where(hot, on, off).astype(values.dtype)


@kernel("NonZero", since=9)
@kernel("NonZero", since=13)
def non_zero(X):
    """The indices of the non-zero elements, one column per element: shape (rank, count), int64."""
    if X.ndim == 0:  # a scalar is treated as a 1-element vector
        return np.zeros((1, int(bool(X))), dtype=np.int64)
    return np.array(np.nonzero(X), dtype=np.int64).reshape(X.ndim, -1)


# --- TopK, CumSum ------------------------------------------------------------------------------

def _topk(X, k: int, axis: int, largest: int):
    axis = _normalize_axis(axis, X.ndim)
    if largest:  # descending values, ties in ascending index order: sort the reversed axis
        n = X.shape[axis]
        order = n - 1 - np.flip(np.argsort(np.flip(X, axis), axis=axis, kind="stable"), axis)
    else:
        order = np.argsort(X, axis=axis, kind="stable")
    indices = np.take(order, np.arange(k), axis=axis).astype(np.int64)
    return np.take_along_axis(X, indices, axis=axis), indices


@kernel("TopK", since=1)
def topk_v1(X, *, k, axis=-1):
    """TopK (opset 1): the ``k`` (attribute) largest values along ``axis`` and their indices."""
    return _topk(X, k, axis, 1)


@kernel("TopK", since=10)
def topk_v10(X, K, *, axis=-1):
    """TopK (opset 10): the K largest values along ``axis`` (descending) and their indices."""
    return _topk(X, int(np.asarray(K).reshape(-1)[0]), axis, 1)


@kernel("TopK", since=11)
def topk(X, K, *, axis=-1, largest=1, sorted=1):
    """The K largest (or smallest) values along ``axis`` and their int64 indices.

    Values come sorted (descending for largest); equal values keep their index order. The
    result is sorted even when ``sorted=0`` asks for no particular order.
    """
    return _topk(X, int(np.asarray(K).reshape(-1)[0]), axis, largest)


@kernel("CumSum", since=11)
@kernel("CumSum", since=14)
def cumsum(x, axis, *, exclusive=0, reverse=0):
    """Running sums along ``axis``; ``exclusive`` leaves out the element, ``reverse`` runs back."""
    axis = _normalize_axis(int(np.asarray(axis).reshape(-1)[0]), x.ndim)
    moved = np.moveaxis(x, axis, 0)
    if reverse:
        moved = moved[::-1]
    sums = np.cumsum(moved, axis=0, dtype=x.dtype)
    if exclusive:
        sums = np.concatenate([np.zeros_like(sums[:1]), sums[:-1]])
    if reverse:
        sums = sums[::-1]
    return np.moveaxis(sums, 0, axis)
