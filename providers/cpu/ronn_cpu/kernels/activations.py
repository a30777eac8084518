"""Activation epilogues fused into Conv/Gemm: one numba pass adds the bias and applies the
activation in place on the kernel's fresh output."""

from __future__ import annotations

import math

import numba
import numpy as np

from ronn_cpu.provider import numba_thread_calls

NONE, RELU, LEAKY_RELU, CLIP, SIGMOID, HARD_SIGMOID, TANH = range(7)
CODES = {None: NONE, "": NONE, "identity": NONE, "relu": RELU, "leakyrelu": LEAKY_RELU, "clip": CLIP,
         "sigmoid": SIGMOID, "hardsigmoid": HARD_SIGMOID, "tanh": TANH}


def activation_code(activation: str | None) -> int:
    """The numba code of a fused activation (ValueError for one there is no epilogue for)."""
    code = CODES.get(activation.lower() if activation else None)
    if code is None:
        raise ValueError(f"unknown fused activation {activation!r}")
    return code


@numba.njit(cache=True, inline="always")
def nan_max(a, v):
    """The larger of ``a`` and ``v``, a NaN on either side winning (ONNX's MaxPool); a select
    LLVM vectorizes."""
    return v if (v > a) | (v != v) else a


@numba.njit(cache=True, inline="always")
def activate(v, code, alpha, beta):
    """``v`` through activation ``code`` (alpha/beta: LeakyRelu slope, Clip or HardSigmoid)."""
    if code == RELU:
        return v if v > 0 else v * 0
    if code == LEAKY_RELU:
        return v if v >= 0 else v * alpha
    if code == CLIP:
        return min(max(v, alpha), beta)
    if code == SIGMOID:
        if v >= 0:
            return 1 / (1 + math.exp(-v))
        e = math.exp(v)
        return e / (1 + e)
    if code == HARD_SIGMOID:
        return min(max(v * alpha + beta, v * 0), v * 0 + 1)
    if code == TANH:
        return math.tanh(v)
    return v


# Elements below which a loop runs serially: a parallel launch costs ~2 us. BLAS runs on
# numba's threads too (blas.py), so no other pool spins next to these loops; measured at 2
# threads, 2^14 against 2^23: ResNet-50 52 vs 57 ms, ShuffleNet 5.6 vs 7.4 ms.
PARALLEL_MIN = 1 << 14


threads = numba_thread_calls()[0]    # numba's thread count for the calling thread (raw call)


def worth_parallel(elements: int) -> bool:
    """Whether a loop over ``elements`` should take its parallel twin."""
    return elements >= PARALLEL_MIN


@numba.njit(cache=True, inline="always")
def _bias_activation_row(out, bias, r, per_column, code, alpha, beta):
    row = out[r]
    zero = out.dtype.type(0)
    add = zero if bias.size == 0 or per_column else bias[r]
    if per_column and bias.size > 0:
        for j in range(row.size):
            row[j] += bias[j]
        add = zero
    if code == RELU:                 # the common cases get loops LLVM can vectorize
        for j in range(row.size):
            v = row[j] + add
            row[j] = v if v > zero else zero
    elif code == NONE:
        for j in range(row.size):
            row[j] += add
    else:
        a, b = out.dtype.type(alpha), out.dtype.type(beta)
        for j in range(row.size):
            row[j] = activate(row[j] + add, code, a, b)


@numba.njit(cache=True, parallel=True)
def _bias_activation_parallel(out, bias, per_column, code, alpha, beta):
    for r in numba.prange(out.shape[0]):
        _bias_activation_row(out, bias, r, per_column, code, alpha, beta)


@numba.njit(cache=True)
def _bias_activation_serial(out, bias, per_column, code, alpha, beta):
    for r in range(out.shape[0]):
        _bias_activation_row(out, bias, r, per_column, code, alpha, beta)


def bias_activation(out, bias, code, alpha, beta, per_column=False):
    """In place on ``out`` (rows, cols): ``act(out + bias)``, the bias indexed by row (Conv's
    channels) or with ``per_column`` by column (Gemm's C); an empty ``bias`` adds nothing."""
    loop = _bias_activation_parallel if worth_parallel(out.size) and out.shape[0] > 1 \
        else _bias_activation_serial
    loop(out, bias, per_column, code, alpha, beta)


def no_bias(dtype) -> np.ndarray:
    """The empty bias the epilogues take when there is none."""
    return np.zeros(0, dtype)


def epilogue_args(activation: str | None, alpha: float = 0.0, beta: float = 0.0):
    """``(code, alpha, beta)`` for the epilogue loops (ONNX defaults filled in)."""
    return activation_code(activation), float(alpha), float(beta)


_EPILOGUE_DEFAULTS = {"Identity": (), "Relu": (), "Tanh": (), "Sigmoid": (), "LeakyRelu": (0.01,),
                      "HardSigmoid": (0.2, 0.5), "Clip": None}


def fused_params(build):
    """``(attributes without the activation, activation, alpha, beta)`` of a com.ronn fused
    node, or None when the activation has no fused epilogue."""
    attrs = dict(build.attributes)
    activation = attrs.pop("activation", "Relu")
    params = list(attrs.pop("activation_params", None) or [])
    defaults = _EPILOGUE_DEFAULTS.get(activation, ())
    if activation not in _EPILOGUE_DEFAULTS or (defaults is None and len(params) != 2):
        return None
    params = params + list(defaults or ())[len(params):]
    alpha, beta = (params + [0.0, 0.0])[:2]
    return attrs, activation, alpha, beta
