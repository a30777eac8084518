"""Scalar math the transformer kernels inline into their numba loops: exp, GELU, sigmoid.

numba's ``math.exp``/``math.erf`` are libm calls that keep a loop scalar. These are branch-free
polynomials that LLVM vectorizes. Accuracy (checked in the tests against libm): ``exp`` (float64)
~1e-16 relative down to -708 (0 below); float32 GELU ~2e-6 relative for |x| <= 3, 3e-5 in the
far negative tail where GELU is tiny, and -0 below x = -12.7 (|GELU| < 1e-35), computed as
exp(-a*a) * erfcx(a) with erfcx a polynomial in 1/(1+0.4a); float64 GELU uses libm's erf.
``nan`` propagates and ``inf`` saturates as in IEEE arithmetic.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

LOG2E = 1.4426950408889634
LN2_HI = 0.693145751953125          # ln 2 split so n * LN2_HI is exact for |n| < 2**11
LN2_LO = 1.4286068203094173e-06
INV_SQRT2 = 0.7071067811865476


@intrinsic
def _f64_from_bits(typingctx, bits):
    """Reinterpret an int64's bits as a float64 (an LLVM bitcast: vectorizes)."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        value = context.cast(builder, args[0], signature.args[0], types.int64)
        return builder.bitcast(value, ir.DoubleType())

    return types.float64(bits), codegen


@intrinsic
def float_from_bits(typingctx, bits, like):
    """The float of ``like``'s type whose bits are the low bits of the integer ``bits``."""
    if not isinstance(bits, types.Integer) or like not in (types.float32, types.float64):
        return None

    def codegen(context, builder, signature, args):
        value = context.cast(builder, args[0], signature.args[0], types.int64)
        if like == types.float32:
            return builder.bitcast(builder.trunc(value, ir.IntType(32)), ir.FloatType())
        return builder.bitcast(value, ir.DoubleType())

    return like(bits, like), codegen


@numba.njit(inline="always", cache=True)
def exp(x):
    """e**x for a float64 ``x``: 2**n * P(r) with r = x - n ln2 in [-ln2/2, ln2/2]."""
    big = x > 709.0                     # e**x = e**(x-1) * e keeps 2**n normal up to x = 710
    xc = min(max(x, -708.0), 710.0) - (1.0 if big else 0.0)    # nan -> finite; fixed below
    n = math.floor(xc * LOG2E + 0.5)
    r = (xc - n * LN2_HI) - n * LN2_LO
    p = 1.0 / 6227020800.0               # Taylor to r**13: error < 2e-16 relative
    p = p * r + 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    y = p * _f64_from_bits((np.int64(n) + 1023) << 52)
    y = y * 2.718281828459045 if big else y      # overflows to inf past ln(max float64)
    y = 0.0 if x < -708.0 else y
    return x if x != x else y


@numba.njit(inline="always", cache=True)
def gelu_libm(x):
    """Exact (erf) GELU with libm's erf/erfc (float64 outputs)."""
    if x >= 0.0:
        return x * (1.0 - 0.5 * math.erfc(x * INV_SQRT2))
    return x * 0.5 * math.erfc(-x * INV_SQRT2)


@numba.njit(inline="always", cache=True)
def gelu_tanh(x):
    """0.5 x (1 + tanh(y)), y = sqrt(2/pi) (x + 0.044715 x**3), written as x / (1 + e**(-2y))."""
    y = 0.7978845608028654 * (x + 0.044715 * x * x * x)
    return x / (1.0 + exp(-2.0 * y))


@numba.njit(inline="always", cache=True)
def sigmoid(x):
    return 1.0 / (1.0 + exp(-x))


# -- float32 versions (16 lanes instead of 8) for float32 GELU ------------------------------

_F = np.float32
_LOG2E_F, _LN2_HI_F, _LN2_LO_F = _F(1.4426950408889634), _F(0.693359375), _F(-2.12194440e-4)
_EXP_F = tuple(_F(1.0 / math.factorial(k)) for k in range(8))
_ERFCX_F = tuple(_F(c) for c in (-0.03790363028974546, 0.24578966045621226, -0.6191120068734711,
                                 0.7218005262289612, -0.4451698509023436, 0.37048300698325815,
                                 0.08926199017252029, 0.22590197694608974, 0.22306398387585807,
                                 0.2258922334747117, -7.887979293981655e-06))


@intrinsic
def _f32_from_bits(typingctx, bits):
    """Reinterpret an int32's bits as a float32."""
    if not isinstance(bits, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        value = context.cast(builder, args[0], signature.args[0], types.int32)
        return builder.bitcast(value, ir.FloatType())

    return types.float32(bits), codegen


@numba.njit(inline="always", cache=True)
def exp32(x):
    """e**x for float32 ``x`` <= 0 in float32 arithmetic (~2 ulp); 0 below -87, nan kept."""
    xc = max(x, _F(-87.0))
    n = math.floor(xc * _LOG2E_F + _F(0.5))
    nf = _F(n)
    r = (xc - nf * _LN2_HI_F) - nf * _LN2_LO_F
    c = _EXP_F
    p = c[7]
    p = p * r + c[6]
    p = p * r + c[5]
    p = p * r + c[4]
    p = p * r + c[3]
    p = p * r + c[2]
    p = p * r + c[1]
    p = p * r + c[0]
    y = p * _f32_from_bits((np.int32(n) + np.int32(127)) << np.int32(23))
    y = _F(0.0) if x < _F(-87.0) else y
    return x if x != x else y


@numba.njit(inline="always", cache=True)
def gelu_fast32(x):
    """Exact (erf) GELU of a float32 ``x`` in float32 arithmetic, through erfc so that both
    tails keep their relative accuracy."""
    a_full = abs(x) * _F(INV_SQRT2)
    a = min(a_full, _F(9.0))        # no subnormal intermediates (slow) in any vector lane
    u = _F(1.0) / (_F(1.0) + _F(0.4) * a)
    c = _ERFCX_F
    g = c[0]
    g = g * u + c[1]
    g = g * u + c[2]
    g = g * u + c[3]
    g = g * u + c[4]
    g = g * u + c[5]
    g = g * u + c[6]
    g = g * u + c[7]
    g = g * u + c[8]
    g = g * u + c[9]
    g = g * u + c[10]
    half_erfc = _F(0.5) * exp32(-a * a) * g
    half_erfc = _F(0.0) if a_full > _F(9.0) else half_erfc     # < 1e-37: GELU rounds to -0
    return x * (_F(1.0) - half_erfc) if x >= _F(0.0) else x * half_erfc
