"""Comparisons and boolean logic (bool outputs), and Where.

Inputs broadcast numpy-style from opset 7; opset-1 versions take the legacy ``broadcast``/``axis``
attributes (B aligned to A, see :func:`binary.legacy_broadcast`).
"""

from __future__ import annotations

import numpy as np

from ronn_core.kernel_spec import kernel

from .binary import legacy_broadcast


def _compare(ufunc, a, b, broadcast=None, axis=None):
    """``ufunc(a, b)`` as a bool ndarray, with the legacy alignment when requested."""
    if broadcast is not None:
        a, b = legacy_broadcast(a, b, broadcast, axis)
    return np.asarray(ufunc(a, b), dtype=bool)


@kernel("Equal", since=1)
@kernel("Equal", since=7)
@kernel("Equal", since=11)
@kernel("Equal", since=13)
@kernel("Equal", since=19)
def equal(a, b, *, broadcast=None, axis=None):
    """Equal: A == B (numbers, bools and, from opset 19, strings)."""
    return _compare(np.equal, a, b, broadcast, axis)


@kernel("Less", since=1)
@kernel("Less", since=7)
@kernel("Less", since=9)
@kernel("Less", since=13)
def less(a, b, *, broadcast=None, axis=None):
    """Less: A < B."""
    return _compare(np.less, a, b, broadcast, axis)


@kernel("LessOrEqual", since=12)
@kernel("LessOrEqual", since=16)
def less_or_equal(a, b):
    """LessOrEqual: A <= B."""
    return _compare(np.less_equal, a, b)


@kernel("Greater", since=1)
@kernel("Greater", since=7)
@kernel("Greater", since=9)
@kernel("Greater", since=13)
def greater(a, b, *, broadcast=None, axis=None):
    """Greater: A > B."""
    return _compare(np.greater, a, b, broadcast, axis)


@kernel("GreaterOrEqual", since=12)
@kernel("GreaterOrEqual", since=16)
def greater_or_equal(a, b):
    """GreaterOrEqual: A >= B."""
    return _compare(np.greater_equal, a, b)


@kernel("And", since=1)
@kernel("And", since=7)
def and_(a, b, *, broadcast=None, axis=None):
    """And: A and B on bool tensors."""
    return _compare(np.logical_and, a, b, broadcast, axis)


@kernel("Or", since=1)
@kernel("Or", since=7)
def or_(a, b, *, broadcast=None, axis=None):
    """Or: A or B on bool tensors."""
    return _compare(np.logical_or, a, b, broadcast, axis)


@kernel("Xor", since=1)
@kernel("Xor", since=7)
def xor(a, b, *, broadcast=None, axis=None):
    """Xor: A xor B (true where exactly one is true) on bool tensors."""
    return _compare(np.logical_xor, a, b, broadcast, axis)


@kernel("Where", since=9)
@kernel("Where", since=16)
def where(condition, x, y):
    """Where: X where the condition is true, Y elsewhere (all three broadcast together)."""
    return np.asarray(np.where(condition.astype(bool), x, y), dtype=x.dtype)
