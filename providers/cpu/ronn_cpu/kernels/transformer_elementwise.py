"""GELU and the bias + activation epilogue of MatMul, as parallel numba loops.

Every loop works in place on a C-contiguous 2-D ``[rows, n]`` array, rows split over numba's
threads (the provider sets their number per run) when the array is large enough to pay for it.
Float32 GELU runs in float32 (the vectorized erfc of :mod:`transformer_math`); float64 GELU
(``exact``) uses libm's erf; the other activations widen each element to float64.
"""

from __future__ import annotations

import types

import numba
import numpy as np
from numba import prange

from ronn_core import kernel
from ronn_cpu.kernels.transformer_math import gelu_fast32, gelu_libm, gelu_tanh, sigmoid

# activation codes of the epilogue
IDENTITY, RELU, LEAKY_RELU, SIGMOID, TANH, HARD_SIGMOID, CLIP, GELU, GELU_TANH = range(9)
ACTIVATIONS = {"Identity": IDENTITY, "Relu": RELU, "LeakyRelu": LEAKY_RELU, "Sigmoid": SIGMOID,
               "Tanh": TANH, "HardSigmoid": HARD_SIGMOID, "Clip": CLIP, "Gelu": GELU,
               "GeluTanh": GELU_TANH}
PARALLEL_MIN = 1 << 14     # elements below which a parallel launch costs more than it saves


def activation_code(name: str | None, params) -> tuple[int, float, float] | None:
    """(code, p0, p1) of a fused activation with ONNX's default parameters, None if unknown."""
    code = ACTIVATIONS.get(name or "Identity")
    if code is None:
        return None
    p = [float(v) for v in (params or [])]
    if code == LEAKY_RELU:
        p = p or [0.01]
    elif code == HARD_SIGMOID:
        p = p + [0.2, 0.5][len(p):]
    elif code == CLIP and len(p) != 2:
        return None
    p = (p + [0.0, 0.0])[:2]
    return code, p[0], p[1]


def _rows(y, bias, has_bias, code, p0, p1, exact):
    """``y[i, :] = act(y[i, :] + bias)`` for every row; shared by the serial/parallel builds."""
    m, n = y.shape
    for i in prange(m):
        row = y[i]
        if code == GELU:
            if exact:
                for j in range(n):
                    row[j] = gelu_libm(row[j] + (bias[j] if has_bias else 0.0))
            elif has_bias:              # no branch inside: the loop vectorizes
                for j in range(n):
                    row[j] = gelu_fast32(row[j] + bias[j])
            else:
                for j in range(n):
                    row[j] = gelu_fast32(row[j])
        elif code == GELU_TANH:
            for j in range(n):
                row[j] = gelu_tanh(np.float64(row[j]) + (bias[j] if has_bias else 0.0))
        elif code == RELU:
            for j in range(n):
                v = row[j] + (bias[j] if has_bias else 0.0)
                row[j] = 0.0 if v < 0.0 else v
        elif code == LEAKY_RELU:
            for j in range(n):
                v = row[j] + (bias[j] if has_bias else 0.0)
                row[j] = v if v >= 0.0 else v * p0
        elif code == SIGMOID:
            for j in range(n):
                row[j] = sigmoid(np.float64(row[j]) + (bias[j] if has_bias else 0.0))
        elif code == TANH:
            for j in range(n):
                row[j] = np.tanh(np.float64(row[j]) + (bias[j] if has_bias else 0.0))
        elif code == HARD_SIGMOID or code == CLIP:
            lo, hi = (0.0, 1.0) if code == HARD_SIGMOID else (p0, p1)
            for j in range(n):
                v = row[j] + (bias[j] if has_bias else 0.0)
                if code == HARD_SIGMOID:
                    v = v * p0 + p1
                v = lo if v < lo else v
                row[j] = hi if v > hi else v
        elif has_bias:
            for j in range(n):
                row[j] = row[j] + bias[j]


# error_model="numpy": no ZeroDivisionError branch, so the loops vectorize; "contract" only
# lets LLVM fuse multiply-adds (no reassociation, nan/inf kept).
JIT = {"cache": True, "error_model": "numpy", "fastmath": {"contract"}}


def twins(loop, **jit):
    """(serial, parallel) numba builds of one ``prange`` loop function. The parallel one is
    built from a renamed copy: numba keys its on-disk cache on the function's name and source,
    not on ``parallel=``, so two builds of one function would load each other's machine code
    (measured: the "parallel" GELU epilogue ran serially, 290 vs 156 us on 2 threads)."""
    copy = types.FunctionType(loop.__code__, loop.__globals__, loop.__name__ + "_parallel",
                              loop.__defaults__, loop.__closure__)
    copy.__qualname__ = loop.__qualname__ + "_parallel"
    return numba.njit(**jit)(loop), numba.njit(parallel=True, **jit)(copy)


_rows_serial, _rows_parallel = twins(_rows, **JIT)


def apply_epilogue(y2: np.ndarray, bias: np.ndarray | None, code: int, p0: float,
                   p1: float) -> None:
    """In place on the C-contiguous 2-D ``y2``: add ``bias`` (1-D, length y2.shape[1]; same
    dtype) then the activation ``code``."""
    if code == IDENTITY and bias is None:
        return
    has_bias = bias is not None
    b = bias if has_bias else y2[:1, :0].reshape(0)
    exact = y2.dtype != np.float32
    if y2.size >= PARALLEL_MIN and y2.shape[0] > 1:
        _rows_parallel(y2, b, has_bias, code, p0, p1, exact)
    else:
        _rows_serial(y2, b, has_bias, code, p0, p1, exact)


def as_rows(x: np.ndarray) -> np.ndarray:
    """A C-contiguous 2-D view (or copy) of ``x`` with its last dim as the row length."""
    x = np.ascontiguousarray(x)
    if x.ndim == 0 or x.size == 0:
        return x.reshape(1, -1)
    return x.reshape(-1, x.shape[-1])


def build_gelu(build, approximate: str):
    """GELU on float32/float64 (erf or tanh form); anything else runs the reference."""
    code = {"none": GELU, "tanh": GELU_TANH}.get(approximate)
    if code is None:
        return build.fallback()
    reference = build.fallback()

    def run(x):
        if x.dtype not in (np.float32, np.float64) or x.size == 0:
            return reference(x)
        y = np.array(x, order="C", copy=True)
        apply_epilogue(as_rows(y), None, code, 0.0, 0.0)
        return y

    return run


@kernel("Gelu", since=20, provider="cpu", factory=True)
def gelu(build):
    """ai.onnx Gelu (opset 20)."""
    return build_gelu(build, build.attributes.get("approximate", "none"))


@kernel("Gelu", domain="com.ronn", since=1, provider="cpu", factory=True)
def gelu_ronn(build):
    """com.ronn::Gelu (the same op for older opsets)."""
    return build_gelu(build, build.attributes.get("approximate", "none"))
