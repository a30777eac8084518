"""Softmax, LogSoftmax and Hardmax.

Opsets 1 and 11 flatten the input to 2-D at ``axis`` (default 1) and work along the second
dim; opset 13 works along the single dim ``axis`` (default -1).
"""

from __future__ import annotations

import numpy as np

from ronn_core.kernel_spec import kernel


def _as_2d(fn):
    """Apply ``fn(x, axis)`` to X coerced to 2-D at ``axis``, then restore X's shape."""

    def coerced(x, axis):
        axis = axis % x.ndim if x.ndim else 0
        rows = int(np.prod(x.shape[:axis]))
        return fn(x.reshape(rows, -1), -1).reshape(x.shape)

    return coerced


def _softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)           # largest exponent is 0: no overflow
    e = np.exp(shifted)
    return np.asarray(e / e.sum(axis=axis, keepdims=True), dtype=x.dtype)


def _log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return np.asarray(shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True)),
                      dtype=x.dtype)


def _hardmax(x, axis):
    """1 at the first largest value along ``axis``, 0 elsewhere."""
    winner = np.expand_dims(np.argmax(x, axis=axis), axis)
    y = np.zeros_like(x)
    np.put_along_axis(y, winner, 1, axis=axis)
    return y


@kernel("Softmax", since=1)
@kernel("Softmax", since=11)
def softmax_2d(x, *, axis=1):
    """exp(X) / sum(exp(X)) over all dims from ``axis`` on (X coerced to 2-D)."""
    return _as_2d(_softmax)(x, axis)


@kernel("Softmax", since=13)
def softmax(x, *, axis=-1):
    """exp(X) / sum(exp(X)) along ``axis``."""
    return _softmax(x, axis)


@kernel("LogSoftmax", since=1)
@kernel("LogSoftmax", since=11)
def log_softmax_2d(x, *, axis=1):
    """X - log(sum(exp(X))) over all dims from ``axis`` on (X coerced to 2-D)."""
    return _as_2d(_log_softmax)(x, axis)


@kernel("LogSoftmax", since=13)
def log_softmax(x, *, axis=-1):
    """X - log(sum(exp(X))) along ``axis``."""
    return _log_softmax(x, axis)


@kernel("Hardmax", since=1)
@kernel("Hardmax", since=11)
def hardmax_2d(x, *, axis=1):
    """One-hot of the first maximum over all dims from ``axis`` on (X coerced to 2-D)."""
    return _as_2d(_hardmax)(x, axis)


@kernel("Hardmax", since=13)
def hardmax(x, *, axis=-1):
    """One-hot of the first maximum along ``axis``."""
    return _hardmax(x, axis)
