"""Elementwise unary math: Abs, Neg, Exp, Log, Sqrt, rounding, Sign, Erf, trigonometry, IsNaN...

Every kernel keeps its input's dtype (IsNaN and IsInf give bool). Invalid inputs follow IEEE
(``Log(-1)`` is NaN, ``Sqrt(-1)`` NaN, ``Reciprocal(0)`` inf) without numpy warnings.
"""

from __future__ import annotations

import math

import numpy as np

from ronn_core.kernel_spec import kernel

_erf_scalar = np.frompyfunc(math.erf, 1, 1)


def erf_values(x: np.ndarray) -> np.ndarray:
    """The error function of every element of ``x``, in x's dtype.

    float64 uses math.erf (exact). Narrower types use Abramowitz & Stegun 7.1.26 evaluated in
    float64 (absolute error <= 1.5e-7, below float32's resolution of erf's range), vectorized.
    """
    x = np.asarray(x)
    if x.dtype == np.float64 or x.dtype.kind != "f" and x.dtype.name != "bfloat16":
        return np.asarray(_erf_scalar(np.asarray(x, dtype=np.float64)),
                          dtype=np.float64).astype(x.dtype)
    v = x.astype(np.float64)
    a = np.abs(v)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027
                                                                          + t * 1.061405429))))
    y = 1.0 - poly * np.exp(-a * a)
    return np.copysign(y, v).astype(x.dtype)


def _apply(ufunc, x):
    """``ufunc(x)`` in x's dtype, IEEE results for domain errors, always an ndarray."""
    with np.errstate(all="ignore"):
        return np.asarray(ufunc(x), dtype=x.dtype)


@kernel("Abs", since=1)
@kernel("Abs", since=6)
@kernel("Abs", since=13)
def abs_(x, *, consumed_inputs=None):
    """Abs: |X|."""
    return _apply(np.abs, x)


@kernel("Neg", since=1)
@kernel("Neg", since=6)
@kernel("Neg", since=13)
def neg(x, *, consumed_inputs=None):
    """Neg: -X."""
    return _apply(np.negative, x)


@kernel("Exp", since=1)
@kernel("Exp", since=6)
@kernel("Exp", since=13)
def exp(x, *, consumed_inputs=None):
    """Exp: e ** X."""
    return _apply(np.exp, x)


@kernel("Log", since=1)
@kernel("Log", since=6)
@kernel("Log", since=13)
def log(x, *, consumed_inputs=None):
    """Log: natural logarithm of X."""
    return _apply(np.log, x)


@kernel("Sqrt", since=1)
@kernel("Sqrt", since=6)
@kernel("Sqrt", since=13)
def sqrt(x, *, consumed_inputs=None):
    """Sqrt: square root of X (NaN for negatives)."""
    return _apply(np.sqrt, x)


@kernel("Reciprocal", since=1)
@kernel("Reciprocal", since=6)
@kernel("Reciprocal", since=13)
def reciprocal(x, *, consumed_inputs=None):
    """Reciprocal: 1 / X."""
    return _apply(np.reciprocal, x)


@kernel("Floor", since=1)
@kernel("Floor", since=6)
@kernel("Floor", since=13)
def floor(x, *, consumed_inputs=None):
    """Floor: the largest integer <= X."""
    return _apply(np.floor, x)


@kernel("Ceil", since=1)
@kernel("Ceil", since=6)
@kernel("Ceil", since=13)
def ceil(x, *, consumed_inputs=None):
    """Ceil: the smallest integer >= X."""
    return _apply(np.ceil, x)


@kernel("Round", since=11)
@kernel("Round", since=22)
def round_(x):
    """Round: to the nearest integer, halves to the even one (2.5 -> 2, -1.5 -> -2)."""
    return _apply(np.round, x)


@kernel("Sign", since=9)
@kernel("Sign", since=13)
def sign(x):
    """Sign: -1, 0 or 1 by the sign of X (NaN stays NaN)."""
    return _apply(np.sign, x)


@kernel("Erf", since=9)
@kernel("Erf", since=13)
def erf(x):
    """Erf: the Gauss error function 2/sqrt(pi) * integral of exp(-t**2) from 0 to X."""
    return erf_values(x)


@kernel("Sin", since=7)
@kernel("Sin", since=22)
def sin(x):
    """Sin: sine of X (radians)."""
    return _apply(np.sin, x)


@kernel("Cos", since=7)
@kernel("Cos", since=22)
def cos(x):
    """Cos: cosine of X (radians)."""
    return _apply(np.cos, x)


@kernel("Tan", since=7)
@kernel("Tan", since=22)
def tan(x):
    """Tan: tangent of X (radians)."""
    return _apply(np.tan, x)


@kernel("Asin", since=7)
@kernel("Asin", since=22)
def asin(x):
    """Asin: arcsine of X, in [-pi/2, pi/2]."""
    return _apply(np.arcsin, x)


@kernel("Acos", since=7)
@kernel("Acos", since=22)
def acos(x):
    """Acos: arccosine of X, in [0, pi]."""
    return _apply(np.arccos, x)


@kernel("Atan", since=7)
@kernel("Atan", since=22)
def atan(x):
    """Atan: arctangent of X, in (-pi/2, pi/2)."""
    return _apply(np.arctan, x)


@kernel("Sinh", since=9)
@kernel("Sinh", since=22)
def sinh(x):
    """Sinh: hyperbolic sine of X."""
    return _apply(np.sinh, x)


@kernel("Cosh", since=9)
@kernel("Cosh", since=22)
def cosh(x):
    """Cosh: hyperbolic cosine of X."""
    return _apply(np.cosh, x)


@kernel("Asinh", since=9)
@kernel("Asinh", since=22)
def asinh(x):
    """Asinh: inverse hyperbolic sine of X."""
    return _apply(np.arcsinh, x)


@kernel("Acosh", since=9)
@kernel("Acosh", since=22)
def acosh(x):
    """Acosh: inverse hyperbolic cosine of X (X >= 1)."""
    return _apply(np.arccosh, x)


@kernel("Atanh", since=9)
@kernel("Atanh", since=22)
def atanh(x):
    """Atanh: inverse hyperbolic tangent of X (-1 < X < 1)."""
    return _apply(np.arctanh, x)


@kernel("IsNaN", since=9)
@kernel("IsNaN", since=13)
@kernel("IsNaN", since=20)
def is_nan(x):
    """IsNaN: True where X is NaN."""
    return np.asarray(np.isnan(x), dtype=bool)


@kernel("IsInf", since=10)
@kernel("IsInf", since=20)
def is_inf(x, *, detect_negative=1, detect_positive=1):
    """IsInf: True where X is +inf (if ``detect_positive``) or -inf (if ``detect_negative``)."""
    positive = np.isposinf(x) if detect_positive else np.zeros(x.shape, dtype=bool)
    negative = np.isneginf(x) if detect_negative else np.zeros(x.shape, dtype=bool)
    return np.asarray(positive | negative, dtype=bool)


@kernel("Not", since=1)
def not_(x):
    """Not: logical negation of a bool tensor."""
    return np.asarray(np.logical_not(x), dtype=bool)
