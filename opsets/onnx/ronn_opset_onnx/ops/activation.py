"""Activation functions: Relu and its relatives, sigmoids, Softplus, Gelu, Mish, Clip.

Attributes are floats; they are converted to the input's dtype before use so a float32 input
gives a float32 output (no float64 upcast).
"""

from __future__ import annotations

import numpy as np

from ronn_core.kernel_spec import kernel

from .unary import erf_values


def _out(values, x):
    """``values`` as an ndarray of x's dtype."""
    return np.asarray(values, dtype=x.dtype)


def _c(x, value):
    """A scalar constant in x's dtype."""
    return x.dtype.type(value)


@kernel("Relu", since=1)
@kernel("Relu", since=6)
@kernel("Relu", since=13)
@kernel("Relu", since=14)
def relu(x, *, consumed_inputs=None):
    """Relu: max(0, X) (integers allowed from opset 14)."""
    return _out(np.maximum(x, _c(x, 0)), x)


@kernel("LeakyRelu", since=1)
@kernel("LeakyRelu", since=6)
@kernel("LeakyRelu", since=16)
def leaky_relu(x, *, alpha=0.01, consumed_inputs=None):
    """LeakyRelu: X where X >= 0, alpha * X elsewhere."""
    return _out(np.where(x >= 0, x, x * _c(x, alpha)), x)


@kernel("PRelu", since=1)
@kernel("PRelu", since=6)
def prelu_legacy(x, slope, *, consumed_inputs=None):
    """PRelu before opset 7: like PRelu, with a 1-D slope of X's channel count applied per channel."""
    if slope.ndim == 1 and x.ndim >= 2 and slope.size == x.shape[1] and slope.size != 1:
        slope = slope.reshape((-1,) + (1,) * (x.ndim - 2))
    return prelu(x, slope)


@kernel("PRelu", since=7)
@kernel("PRelu", since=9)
@kernel("PRelu", since=16)
def prelu(x, slope):
    """PRelu: X where X >= 0, slope * X elsewhere (slope broadcasts to X numpy-style)."""
    return _out(np.where(x >= 0, x, x * slope.astype(x.dtype)), x)


@kernel("Sigmoid", since=1)
@kernel("Sigmoid", since=6)
@kernel("Sigmoid", since=13)
def sigmoid(x, *, consumed_inputs=None):
    """Sigmoid: 1 / (1 + exp(-X)), computed without overflow for large |X|."""
    e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
    one = _c(x, 1)
    return _out(np.where(x >= 0, one / (one + e), e / (one + e)), x)


@kernel("Tanh", since=1)
@kernel("Tanh", since=6)
@kernel("Tanh", since=13)
def tanh(x, *, consumed_inputs=None):
    """Tanh: hyperbolic tangent of X."""
    return _out(np.tanh(x), x)


@kernel("HardSigmoid", since=1)
@kernel("HardSigmoid", since=6)
@kernel("HardSigmoid", since=22)
def hard_sigmoid(x, *, alpha=0.2, beta=0.5, consumed_inputs=None):
    """HardSigmoid: max(0, min(1, alpha * X + beta))."""
    return _out(np.clip(_c(x, alpha) * x + _c(x, beta), _c(x, 0), _c(x, 1)), x)


@kernel("HardSwish", since=14)
@kernel("HardSwish", since=22)
def hard_swish(x):
    """HardSwish: X * max(0, min(1, X / 6 + 0.5))."""
    return _out(x * np.clip(x / _c(x, 6) + _c(x, 0.5), _c(x, 0), _c(x, 1)), x)


@kernel("Elu", since=1)
@kernel("Elu", since=6)
@kernel("Elu", since=22)
def elu(x, *, alpha=1.0, consumed_inputs=None):
    """Elu: X where X >= 0, alpha * (exp(X) - 1) elsewhere."""
    with np.errstate(over="ignore"):
        return _out(np.where(x >= 0, x, _c(x, alpha) * np.expm1(x)), x)


@kernel("Selu", since=1)
@kernel("Selu", since=6)
@kernel("Selu", since=22)
def selu(x, *, alpha=1.67326319217681884765625, gamma=1.05070102214813232421875,
         consumed_inputs=None):
    """Selu: gamma * X where X > 0, gamma * alpha * (exp(X) - 1) elsewhere."""
    with np.errstate(over="ignore"):
        negative = _c(x, alpha) * np.expm1(x)
    return _out(_c(x, gamma) * np.where(x > 0, x, negative), x)


@kernel("Celu", since=12)
def celu(x, *, alpha=1.0):
    """Celu: max(0, X) + min(0, alpha * (exp(X / alpha) - 1))."""
    a = _c(x, alpha)
    with np.errstate(over="ignore"):
        negative = np.minimum(_c(x, 0), a * np.expm1(x / a))
    return _out(np.maximum(_c(x, 0), x) + negative, x)


@kernel("Softplus", since=1)
@kernel("Softplus", since=22)
def softplus(x):
    """Softplus: log(exp(X) + 1), computed without overflow."""
    return _out(np.logaddexp(x, _c(x, 0)), x)


@kernel("Softsign", since=1)
@kernel("Softsign", since=22)
def softsign(x):
    """Softsign: X / (1 + |X|)."""
    return _out(x / (_c(x, 1) + np.abs(x)), x)


@kernel("Gelu", since=20)
def gelu(x, *, approximate="none"):
    """Gelu: X * Phi(X) = 0.5 * X * (1 + erf(X / sqrt(2))); ``approximate="tanh"`` uses
    0.5 * X * (1 + tanh(sqrt(2 / pi) * (X + 0.044715 * X**3)))."""
    if approximate == "none":
        cdf = _c(x, 0.5) * (_c(x, 1) + erf_values(x / _c(x, np.sqrt(2.0))))
    elif approximate == "tanh":
        inner = _c(x, np.sqrt(2.0 / np.pi)) * (x + _c(x, 0.044715) * x * x * x)
        cdf = _c(x, 0.5) * (_c(x, 1) + np.tanh(inner))
    else:
        raise ValueError(f"Gelu approximate must be 'none' or 'tanh', not {approximate!r}")
    return _out(x * cdf, x)


@kernel("Mish", since=18)
@kernel("Mish", since=22)
def mish(x):
    """Mish: X * tanh(softplus(X))."""
    return _out(x * np.tanh(softplus(x)), x)


@kernel("ThresholdedRelu", since=10)
@kernel("ThresholdedRelu", since=22)
def thresholded_relu(x, *, alpha=1.0):
    """ThresholdedRelu: X where X > alpha, 0 elsewhere."""
    return _out(np.where(x > _c(x, alpha), x, _c(x, 0)), x)


def _clip(x, low, high):
    """min(max(X, low), high); when low > high every element becomes high."""
    result = x if low is None else np.maximum(x, low)
    result = result if high is None else np.minimum(result, high)
    return np.array(result, dtype=x.dtype)  # a copy even when neither bound is given


@kernel("Clip", since=1)
@kernel("Clip", since=6)
def clip_legacy(x, *, min=-3.4028234663852886e38, max=3.4028234663852886e38,
                consumed_inputs=None):
    """Clip before opset 11: X limited to the ``min``/``max`` attributes."""
    return _clip(x, _c(x, min), _c(x, max))


@kernel("Clip", since=11)
@kernel("Clip", since=12)
@kernel("Clip", since=13)
def clip(x, min=None, max=None):
    """Clip: X limited to [min, max] given as optional scalar inputs (integers from opset 12)."""
    low = None if min is None else np.asarray(min, dtype=x.dtype).reshape(())
    high = None if max is None else np.asarray(max, dtype=x.dtype).reshape(())
    return _clip(x, low, high)
