"""Reductions: ReduceSum/Mean/Max/Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare, ArgMax, ArgMin.

``axes`` is an attribute in early versions and an optional int64 input later (ReduceSum from
opset 13, the others from 18). No axes means every axis, unless ``noop_with_empty_axes`` is set:
then the reduction runs over no axis at all, so each element is reduced alone (ReduceSumSquare
gives X**2, ReduceL1 |X|, ReduceSum X itself), as onnxruntime does.
Integer inputs give integer outputs; non-integral results (mean, L2, logs) truncate toward zero.
"""

from __future__ import annotations

import numpy as np

from ronn_core.kernel_spec import kernel


def _axes(data, axes, noop_with_empty_axes):
    """The numpy ``axis`` argument: a tuple of axes, None for all, () for none."""
    axes = [] if axes is None else [int(a) for a in np.asarray(axes).reshape(-1)]
    if not axes:
        return () if noop_with_empty_axes else None
    return tuple(sorted({a % data.ndim if data.ndim else 0 for a in axes}))


def _reduce(reducer, data, axes, keepdims, noop_with_empty_axes=0):
    """Run ``reducer(data, axis, keepdims)`` and give the result data's dtype."""
    axis = _axes(data, axes, noop_with_empty_axes)
    with np.errstate(all="ignore"):
        result = reducer(data, axis, bool(keepdims))
    if np.issubdtype(data.dtype, np.integer) and not np.issubdtype(result.dtype, np.integer):
        result = np.trunc(result)
    return np.asarray(result, dtype=data.dtype)


def _sum(x, axis, keepdims):
    return np.sum(x, axis=axis, keepdims=keepdims, dtype=x.dtype)


def _mean(x, axis, keepdims):
    count = np.prod([x.shape[a] for a in range(x.ndim)] if axis is None
                    else [x.shape[a] for a in axis], dtype=np.int64)
    total = _sum(x, axis, keepdims)
    if np.issubdtype(x.dtype, np.integer):
        return np.trunc(total.astype(np.float64) / count)
    return total / x.dtype.type(count)


def _lowest(dtype):
    if dtype == np.bool_:
        return False
    return -np.inf if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).min


def _highest(dtype):
    if dtype == np.bool_:
        return True
    return np.inf if np.issubdtype(dtype, np.floating) else np.iinfo(dtype).max


def _max(x, axis, keepdims):
    if x.size == 0:  # the identity of max: the lowest value of the type
        low = _lowest(x.dtype)
        return np.full(_reduced_shape(x, axis, keepdims), low, dtype=x.dtype)
    return np.max(x, axis=axis, keepdims=keepdims)


def _min(x, axis, keepdims):
    if x.size == 0:
        high = _highest(x.dtype)
        return np.full(_reduced_shape(x, axis, keepdims), high, dtype=x.dtype)
    return np.min(x, axis=axis, keepdims=keepdims)


def _reduced_shape(x, axis, keepdims):
    axes = range(x.ndim) if axis is None else axis
    return tuple(1 if i in axes else n for i, n in enumerate(x.shape) if keepdims or i not in axes)


def _prod(x, axis, keepdims):
    return np.prod(x, axis=axis, keepdims=keepdims, dtype=x.dtype)


def _l1(x, axis, keepdims):
    return _sum(np.abs(x), axis, keepdims)


def _l2(x, axis, keepdims):
    return np.sqrt(_sum_square(x, axis, keepdims).astype(np.float64))


def _log_sum(x, axis, keepdims):
    return np.log(_sum(x, axis, keepdims).astype(np.result_type(x.dtype, np.float32)))


def _log_sum_exp(x, axis, keepdims):
    """log(sum(exp(X))), shifted by the maximum so exp never overflows."""
    work = x.astype(np.result_type(x.dtype, np.float32)) if x.dtype.kind in "iub" else x
    if work.size == 0:
        return np.log(_sum(np.exp(work), axis, keepdims))
    shift = np.max(work, axis=axis, keepdims=True)
    shift = np.where(np.isfinite(shift), shift, 0).astype(work.dtype)
    total = np.sum(np.exp(work - shift), axis=axis, keepdims=True, dtype=work.dtype)
    result = np.log(total) + shift
    if not keepdims:
        result = result.reshape(_reduced_shape(x, axis, False))
    return result


def _sum_square(x, axis, keepdims):
    return _sum(x * x, axis, keepdims)



# ReduceSum: axes attribute until opset 13.
@kernel("ReduceSum", since=1)
@kernel("ReduceSum", since=11)
def reduce_sum_v1(data, *, axes=None, keepdims=1):
    """ReduceSum (axes attribute): sum over ``axes`` (all when absent)."""
    return _reduce(_sum, data, axes, keepdims)


@kernel("ReduceSum", since=13)
def reduce_sum(data, axes=None, *, keepdims=1, noop_with_empty_axes=0):
    """ReduceSum: sum over the axes input (all when empty, unless noop_with_empty_axes)."""
    return _reduce(_sum, data, axes, keepdims, noop_with_empty_axes)


# The other reductions: axes attribute until opset 18.
@kernel("ReduceMean", since=1)
@kernel("ReduceMean", since=11)
@kernel("ReduceMean", since=13)
def reduce_mean_v1(data, *, axes=None, keepdims=1):
    """ReduceMean (axes attribute): arithmetic mean over ``axes``."""
    return _reduce(_mean, data, axes, keepdims)


@kernel("ReduceMean", since=18)
def reduce_mean(data, axes=None, *, keepdims=1, noop_with_empty_axes=0):
    """ReduceMean: arithmetic mean over the axes input."""
    return _reduce(_mean, data, axes, keepdims, noop_with_empty_axes)


@kernel("ReduceMax", since=1)
@kernel("ReduceMax", since=11)
@kernel("ReduceMax", since=12)
@kernel("ReduceMax", since=13)
def reduce_max_v1(data, *, axes=None, keepdims=1):
    """ReduceMax (axes attribute): maximum over ``axes`` (NaN wins)."""
    return _reduce(_max, data, axes, keepdims)


@kernel("ReduceMax", since=18)
@kernel("ReduceMax", since=20)
def reduce_max(data, axes=None, *, keepdims=1, noop_with_empty_axes=0):
    """ReduceMax: maximum over the axes input (bool allowed from opset 20)."""
    return _reduce(_max, data, axes, keepdims, noop_with_empty_axes)


@kernel("ReduceMin", since=1)
@kernel("ReduceMin", since=11)
@kernel("ReduceMin", since=12)
@kernel("ReduceMin", since=13)
def reduce_min_v1(data, *, axes=None, keepdims=1):
    """ReduceMin (axes attribute): minimum over ``axes`` (NaN wins)."""
    return _reduce(_min, data, axes, keepdims)


@kernel("ReduceMin", since=18)
@kernel("ReduceMin", since=20)
def reduce_min(data, axes=None, *, keepdims=1, noop_with_empty_axes=0):
    """ReduceMin: minimum over the axes input (bool allowed from opset 20)."""
    return _reduce(_min, data, axes, keepdims, noop_with_empty_axes)


@kernel("ReduceProd", since=1)
@kernel("ReduceProd", since=11)
@kernel("ReduceProd", since=13)
def reduce_prod_v1(data, *, axes=None, keepdims=1):
    """ReduceProd (axes attribute): product over ``axes``."""
    return _reduce(_prod, data, axes, keepdims)


@kernel("ReduceProd", since=18)
def reduce_prod(data, axes=None, *, keepdims=1, noop_with_empty_axes=0):
    """ReduceProd: product over the axes input."""
    return _reduce(_prod, data, axes, keepdims, noop_with_empty_axes)


@kernel("ReduceL1", since=1)
@kernel("ReduceL1", since=11)
@kernel("ReduceL1", since=13)
def reduce_l1_v1(data, *, axes=None, keepdims=1):
    """ReduceL1 (axes attribute): sum of |X| over ``axes``."""
    return _reduce(_l1, data, axes, keepdims)


@kernel("ReduceL1", since=18)
def reduce_l1(data, axes=None, *, keepdims=1, noop_with_empty_axes=0):
    """ReduceL1: sum of |X| over the axes input."""
    return _reduce(_l1, data, axes, keepdims, noop_with_empty_axes)


@kernel("ReduceL2", since=1)
@kernel("ReduceL2", since=11)
@kernel("ReduceL2", since=13)
def reduce_l2_v1(data, *, axes=None, keepdims=1):
    """ReduceL2 (axes attribute): sqrt of the sum of X**2 over ``axes``."""
    return _reduce(_l2, data, axes, keepdims)


@kernel("ReduceL2", since=18)
def reduce_l2(data, axes=None, *, keepdims=1, noop_with_empty_axes=0):
    """ReduceL2: sqrt of the sum of X**2 over the axes input."""
    return _reduce(_l2, data, axes, keepdims, noop_with_empty_axes)


@kernel("ReduceLogSum", since=1)
@kernel("ReduceLogSum", since=11)
@kernel("ReduceLogSum", since=13)
def reduce_log_sum_v1(data, *, axes=None, keepdims=1):
    """ReduceLogSum (axes attribute): log of the sum over ``axes``."""
    return _reduce(_log_sum, data, axes, keepdims)


@kernel("ReduceLogSum", since=18)
def reduce_log_sum(data, axes=None, *, keepdims=1, noop_with_empty_axes=0):
    """ReduceLogSum: log of the sum over the axes input."""
    return _reduce(_log_sum, data, axes, keepdims, noop_with_empty_axes)


@kernel("ReduceLogSumExp", since=1)
@kernel("ReduceLogSumExp", since=11)
@kernel("ReduceLogSumExp", since=13)
def reduce_log_sum_exp_v1(data, *, axes=None, keepdims=1):
    """ReduceLogSumExp (axes attribute): log of the sum of exp(X) over ``axes``."""
    return _reduce(_log_sum_exp, data, axes, keepdims)


@kernel("ReduceLogSumExp", since=18)
def reduce_log_sum_exp(data, axes=None, *, keepdims=1, noop_with_empty_axes=0):
    """ReduceLogSumExp: log of the sum of exp(X) over the axes input."""
    return _reduce(_log_sum_exp, data, axes, keepdims, noop_with_empty_axes)


@kernel("ReduceSumSquare", since=1)
@kernel("ReduceSumSquare", since=11)
@kernel("ReduceSumSquare", since=13)
def reduce_sum_square_v1(data, *, axes=None, keepdims=1):
    """ReduceSumSquare (axes attribute): sum of X**2 over ``axes``."""
    return _reduce(_sum_square, data, axes, keepdims)


@kernel("ReduceSumSquare", since=18)
def reduce_sum_square(data, axes=None, *, keepdims=1, noop_with_empty_axes=0):
    """ReduceSumSquare: sum of X**2 over the axes input."""
    return _reduce(_sum_square, data, axes, keepdims, noop_with_empty_axes)


def _arg(pick, data, axis, keepdims, select_last_index):
    """Index (int64) of the first, or with ``select_last_index`` the last, extreme along axis."""
    axis = axis % max(data.ndim, 1)
    if select_last_index:
        flipped = pick(np.flip(data, axis=axis), axis=axis, keepdims=True)
        index = data.shape[axis] - 1 - flipped
    else:
        index = pick(data, axis=axis, keepdims=True)
    if not keepdims:
        index = np.squeeze(index, axis=axis)
    return np.asarray(index, dtype=np.int64)


@kernel("ArgMax", since=1)
@kernel("ArgMax", since=11)
@kernel("ArgMax", since=12)
@kernel("ArgMax", since=13)
def arg_max(data, *, axis=0, keepdims=1, select_last_index=0):
    """ArgMax: int64 index of the largest element along ``axis`` (first one unless
    ``select_last_index``)."""
    return _arg(np.argmax, data, axis, keepdims, select_last_index)


@kernel("ArgMin", since=1)
@kernel("ArgMin", since=11)
@kernel("ArgMin", since=12)
@kernel("ArgMin", since=13)
def arg_min(data, *, axis=0, keepdims=1, select_last_index=0):
    """ArgMin: int64 index of the smallest element along ``axis`` (first one unless
    ``select_last_index``)."""
    return _arg(np.argmin, data, axis, keepdims, select_last_index)
