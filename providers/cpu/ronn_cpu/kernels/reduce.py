"""ReduceMean/ReduceSum over constant axes of a float tensor, the axes resolved once per input
rank: trailing axes of a contiguous tensor (a pooled feature vector) in one numba loop over
rows, others by ``np.add.reduce``. Empty or run-time axes, and integer inputs, run the
reference kernel."""

from __future__ import annotations

import numba
import numpy as np

from ronn_core import kernel

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _constant_axes(build, axes_input_since: int):
    """The node's axes as a list of ints, or None when they are empty or not known now."""
    if build.node.version >= axes_input_since:
        axes = build.constants[1] if len(build.constants) > 1 else None
        named = len(build.node.inputs) > 1 and build.node.inputs[1]
        if axes is None or not named:
            return None
        axes = [int(a) for a in np.asarray(axes).reshape(-1)]
    else:
        axes = [int(a) for a in build.attributes.get("axes") or []]
    return axes or None


@numba.njit(cache=True)
def _row_sums(rows, out, mean):
    """``out[i] = sum(rows[i])`` (``mean``: divided by the row length) for (R, N) ``rows``."""
    n = rows.shape[1]
    for i in range(rows.shape[0]):
        total = out.dtype.type(0)
        for j in range(n):
            total += rows[i, j]
        out[i] = total / out.dtype.type(n) if mean else total


def _build_reduce(build, *, mean: bool, axes_input_since: int):
    axes = _constant_axes(build, axes_input_since)
    if axes is None:
        return build.fallback()
    reference = build.fallback()
    keepdims = bool(build.attributes.get("keepdims", 1))
    by_rank: dict[int, tuple] = {}        # input rank -> (sorted axes, or None if invalid)

    def run(x, _axes=None):
        if type(x) is not np.ndarray or x.dtype not in FLOATS or x.size == 0:
            return reference(x) if _axes is None else reference(x, _axes)
        resolved = by_rank.get(x.ndim)
        if resolved is None:
            valid = x.ndim > 0 and all(-x.ndim <= a < x.ndim for a in axes)
            resolved = by_rank[x.ndim] = (tuple(sorted({a % x.ndim for a in axes}))
                                          if valid else ())
        if not resolved:
            return reference(x) if _axes is None else reference(x, _axes)
        if resolved[0] + len(resolved) == x.ndim and x.flags.c_contiguous:   # trailing axes
            kept = x.shape[:resolved[0]]
            out = np.empty(kept + (1,) * len(resolved) if keepdims else kept, x.dtype)
            _row_sums(x.reshape(out.size, -1), out.reshape(-1), mean)
            return out
        total = np.add.reduce(x, axis=resolved, keepdims=keepdims)
        if mean:
            count = 1
            for a in resolved:
                count *= x.shape[a]
            total = total / x.dtype.type(count)
        return np.asarray(total) if type(total) is not np.ndarray else total

    return run


@kernel("ReduceMean", since=1, provider="cpu", factory=True)
@kernel("ReduceMean", since=11, provider="cpu", factory=True)
@kernel("ReduceMean", since=13, provider="cpu", factory=True)
@kernel("ReduceMean", since=18, provider="cpu", factory=True)
def reduce_mean(build):
    """Float ReduceMean over constant, non-empty axes."""
    return _build_reduce(build, mean=True, axes_input_since=18)


@kernel("ReduceSum", since=1, provider="cpu", factory=True)
@kernel("ReduceSum", since=11, provider="cpu", factory=True)
@kernel("ReduceSum", since=13, provider="cpu", factory=True)
def reduce_sum(build):
    """Float ReduceSum over constant, non-empty axes."""
    return _build_reduce(build, mean=False, axes_input_since=13)
