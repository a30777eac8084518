"""Activation epilogues applied in place to a kernel's fresh output (fused Conv/Gemm)."""

from __future__ import annotations

import numpy as np


def epilogue(activation: str | None, alpha: float = 0.0, beta: float = 0.0):
    """A function ``f(out) -> out`` applying the activation in place (identity for None)."""
    if not activation:
        return lambda out: out
    name = activation.lower()
    if name == "relu":
        return lambda out: np.maximum(out, 0, out=out)
    if name == "leakyrelu":
        def leaky(out):
            np.multiply(out, np.where(out < 0, out.dtype.type(alpha), out.dtype.type(1)), out=out)
            return out
        return leaky
    if name == "clip":
        return lambda out: np.clip(out, alpha, beta, out=out)
    if name == "sigmoid":
        def sigmoid(out):
            np.negative(out, out=out)
            np.exp(out, out=out)
            out += 1
            np.reciprocal(out, out=out)
            return out
        return sigmoid
    if name == "hardsigmoid":
        def hard(out):
            out *= out.dtype.type(alpha)
            out += out.dtype.type(beta)
            return np.clip(out, 0, 1, out=out)
        return hard
    if name == "tanh":
        return lambda out: np.tanh(out, out=out)
    raise ValueError(f"unknown fused activation {activation!r}")
