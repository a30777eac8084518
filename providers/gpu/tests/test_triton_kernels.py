"""The Triton kernels in Triton's interpreter (TRITON_INTERPRET=1) against numpy references.

Shapes are drawn by hypothesis, kept small: the interpreter runs every program in Python.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import triton  # noqa: E402,F401  (CI installs it: the tests must fail, not skip, without it)
import torch  # noqa: E402,F401

from ronn_gpu.triton_kernels import attention, elementwise, layernorm, softmax  # noqa: E402

SETTINGS = settings(max_examples=12, deadline=None)
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _rand(seed, shape, dtype=np.float32, scale=1.0):
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(dtype)


@SETTINGS
@given(rows=st.integers(1, 6), cols=st.integers(1, 70), log=st.booleans(),
       half=st.booleans(), seed=st.integers(0, 99))
def test_softmax_rows(backend, rows, cols, log, half, seed):
    dtype = np.float16 if half else np.float32
    x = _rand(seed, (rows, cols), dtype, 3.0)
    got = softmax.softmax_rows(backend, x, log=log)
    xs = x.astype(np.float64)
    shifted = xs - xs.max(-1, keepdims=True)
    ref = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True)) if log else \
        np.exp(shifted) / np.exp(shifted).sum(-1, keepdims=True)
    assert got.dtype == dtype and got.shape == x.shape
    np.testing.assert_allclose(got.astype(np.float64), ref, atol=2e-3 if half else 1e-6,
                               rtol=2e-3 if half else 1e-5)


@SETTINGS
@given(rows=st.integers(1, 5), cols=st.integers(1, 80), skip=st.booleans(),
       bias=st.booleans(), beta=st.booleans(), seed=st.integers(0, 99))
def test_layer_norm(backend, rows, cols, skip, bias, beta, seed):
    x = _rand(seed, (rows, cols))
    g = _rand(seed + 1, (cols,))
    b = _rand(seed + 2, (cols,)) if beta else None
    s = _rand(seed + 3, (rows, cols)) if skip else None
    bb = _rand(seed + 4, (cols,)) if bias else None
    y, total = layernorm.layer_norm(backend, x, g, b, epsilon=1e-5, skip=s, bias=bb,
                                    want_sum=True)
    ref_sum = x.astype(np.float64) + (s if skip else 0) + (bb if bias else 0)
    mean = ref_sum.mean(-1, keepdims=True)
    var = ((ref_sum - mean) ** 2).mean(-1, keepdims=True)
    ref = (ref_sum - mean) / np.sqrt(var + 1e-5) * g + (b if beta else 0)
    np.testing.assert_allclose(total, ref_sum, atol=1e-6)
    np.testing.assert_allclose(y, ref, atol=1e-4, rtol=1e-4)


def test_layer_norm_over_several_axes(backend):
    x = _rand(0, (2, 3, 4, 5))
    g, b = _rand(1, (4, 5)), _rand(2, (4, 5))
    y, _ = layernorm.layer_norm(backend, x, g, b, axis=2)
    xs = x.astype(np.float64)
    mean = xs.mean((2, 3), keepdims=True)
    ref = (xs - mean) / np.sqrt(((xs - mean) ** 2).mean((2, 3), keepdims=True) + 1e-5) * g + b
    np.testing.assert_allclose(y, ref, atol=1e-5)


def _attention_ref(q, kt, v, mask, scale, divide):
    s = q.astype(np.float64) @ kt
    s = s / scale if divide else s * scale
    if mask is not None:
        s = s + mask
    e = np.exp(s - s.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)) @ v


@settings(max_examples=8, deadline=None)
@given(b=st.integers(1, 2), h=st.integers(1, 2), s=st.integers(1, 40), t=st.integers(1, 40),
       d=st.sampled_from([4, 8, 16, 20]), dv=st.sampled_from([8, 16, 12]),
       mask=st.booleans(), divide=st.booleans(), seed=st.integers(0, 99))
def test_flash_attention(backend, b, h, s, t, d, dv, mask, divide, seed):
    q, kt, v = _rand(seed, (b, h, s, d)), _rand(seed + 1, (b, h, d, t)), _rand(seed + 2, (b, h, t, dv))
    m = _rand(seed + 3, (b, 1, 1, t), scale=2.0) if mask else None
    scale = 1 / math.sqrt(d) if not divide else math.sqrt(d)
    got = attention.flash_attention(backend, q, kt, v, m, scale=scale, divide=divide)
    np.testing.assert_allclose(got, _attention_ref(q, kt, v, m, scale, divide), atol=1e-4,
                               rtol=1e-4)


def test_flash_attention_float16(backend):
    q, kt, v = (_rand(i, shape, np.float16) for i, shape in
                enumerate([(2, 33, 16), (2, 16, 50), (2, 50, 16)]))
    got = attention.flash_attention(backend, q, kt, v, scale=0.25)
    assert got.dtype == np.float16
    np.testing.assert_allclose(got.astype(np.float64), _attention_ref(q, kt, v, None, 0.25, False),
                               atol=1e-2)


_SHAPES = st.sampled_from([
    ((2, 3, 4, 5), [(2, 3, 4, 5), (3, 1, 1), (1,)]),      # full, per-channel, scalar
    ((4, 6), [(4, 6), (6,), (4, 1)]),                     # full, trailing bias, column
    ((3, 4, 5), [(3, 1, 5), (4, 5), ()]),                 # a broadcast that is materialized
])


@SETTINGS
@given(case=_SHAPES, ops=st.lists(st.sampled_from(["Add", "Mul", "Sub", "Max"]), min_size=2,
                                  max_size=2),
       act=st.sampled_from(["Relu", "Sigmoid", "Tanh", "Gelu", "LeakyRelu", "Erf", "Abs"]),
       seed=st.integers(0, 99))
def test_fused_chain(backend, case, ops, act, seed):
    out_shape, shapes = case
    xs = [_rand(seed + i, s) for i, s in enumerate(shapes)]
    program = [(ops[0], [("in", 0), ("in", 1)], {}), (act, [("t", 0)], {"alpha": 0.2}),
               (ops[1], [("t", 1), ("in", 2)], {})]
    got = elementwise.run_fused(backend, program, xs)
    binary = {"Add": np.add, "Mul": np.multiply, "Sub": np.subtract, "Max": np.maximum}
    unary = {"Relu": lambda a: np.maximum(a, 0), "Sigmoid": lambda a: 1 / (1 + np.exp(-a)),
             "Tanh": np.tanh, "Gelu": lambda a: 0.5 * a * (1 + _erf(a / math.sqrt(2))),
             "LeakyRelu": lambda a: np.where(a >= 0, a, 0.2 * a), "Erf": _erf, "Abs": np.abs}
    x64 = [x.astype(np.float64) for x in xs]
    ref = binary[ops[1]](unary[act](binary[ops[0]](x64[0], x64[1])), x64[2])
    assert got.shape == out_shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=1e-5, rtol=1e-5)


def test_gelu_tanh_and_clip(backend):
    x = _rand(0, (3, 17), scale=3)
    got = elementwise.run_fused(backend, [("Gelu", [("in", 0)], {"approximate": "tanh"}),
                                          ("Clip", [("t", 0)], {"min": -0.1, "max": 1.5})], [x])
    inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)
    ref = np.clip(0.5 * x * (1 + np.tanh(inner)), -0.1, 1.5)
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_block_broadcast_layouts():
    bb = elementwise.block_broadcast
    assert bb((2, 3, 4, 5), (2, 3, 4, 5)) == (1, 120)
    assert bb((3, 1, 1), (2, 3, 4, 5)) == (20, 3)
    assert bb((5,), (2, 3, 4, 5)) == (1, 5)
    assert bb((), (2, 3)) == (1, 1)
    assert bb((3, 1, 5), (3, 4, 5)) is None
