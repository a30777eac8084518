"""wasm kernels vs numpy references, over shapes drawn by hypothesis."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ronn_wasm.ops_dense import conv2d, matmul
from ronn_wasm.ops_elementwise import binary, unary
from ronn_wasm.ops_layout import layernorm, softmax_rows, transpose
from ronn_passes.kernels import gelu_values
from ronn_opset_onnx.ops.unary import erf_values

SETTINGS = settings(max_examples=25, deadline=None)
dims = st.integers(1, 7)


def arr(rng, shape, lo=-3, hi=3):
    return rng.uniform(lo, hi, shape).astype(np.float32)


UNARY_REFS = {
    "relu": lambda x: np.maximum(x, 0), "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh, "exp": np.exp, "erf": erf_values, "gelu": gelu_values,
    "gelu_tanh": lambda x: gelu_values(x, "tanh"), "neg": np.negative, "abs": np.abs,
    "sqrt": lambda x: np.sqrt(np.abs(x)), "reciprocal": lambda x: 1 / x,
}


@pytest.mark.parametrize("name", sorted(UNARY_REFS))
@SETTINGS
@given(n=st.integers(0, 37), seed=st.integers(0, 99))
def test_unary(provider, name, n, seed):
    x = np.random.default_rng(seed).uniform(-10, 10, n).astype(np.float32)
    if name in ("sqrt",):
        x = np.abs(x)
    if name == "reciprocal":
        x = np.where(np.abs(x) < 0.1, 1, x).astype(np.float32)
    got = unary(provider.arena, name, x)
    np.testing.assert_allclose(got, UNARY_REFS[name](x.astype(np.float64)), rtol=2e-6,
                               atol=2e-6)


@st.composite
def broadcast_pair(draw):
    shape = draw(st.lists(dims, min_size=0, max_size=5))
    def variant():
        keep = draw(st.integers(0, len(shape)))
        return [1 if draw(st.booleans()) else d for d in shape[len(shape) - keep:]]
    return variant(), variant()


@pytest.mark.parametrize("name,ref", [("add", np.add), ("sub", np.subtract),
                                      ("mul", np.multiply), ("div", np.divide),
                                      ("max", np.maximum), ("min", np.minimum),
                                      ("add_relu", lambda a, b: np.maximum(a + b, 0))])
@SETTINGS
@given(shapes=broadcast_pair(), seed=st.integers(0, 99))
def test_binary_broadcasting(provider, name, ref, shapes, seed):
    rng = np.random.default_rng(seed)
    a, b = arr(rng, shapes[0]), arr(rng, shapes[1], 0.5, 3)
    np.testing.assert_allclose(binary(provider.arena, name, a, b), ref(a, b), rtol=1e-6)


@SETTINGS
@given(m=st.integers(1, 13), n=st.integers(1, 21), k=st.integers(1, 300),
       batch=st.sampled_from([(), (2,), (1, 3)]), act=st.integers(0, 1),
       bias=st.booleans(), seed=st.integers(0, 99))
def test_matmul(provider, m, n, k, batch, act, bias, seed):
    rng = np.random.default_rng(seed)
    a, b = arr(rng, batch + (m, k)), arr(rng, batch + (k, n) if batch and seed % 2 else (k, n))
    c = arr(rng, (n,)) if bias else None
    want = np.matmul(a.astype(np.float64), b) + (c if bias else 0)
    if act:
        want = np.maximum(want, 0)
    got = matmul(provider.arena, a, b, act=act, bias=c)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.sqrt(k))


def _conv_numpy(x, w, b, stride, pads, dil, group):
    n, c, h, wd = x.shape
    m, cg, kh, kw = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh = (h + pads[0] + pads[2] - (kh - 1) * dil - 1) // stride + 1
    ow = (wd + pads[1] + pads[3] - (kw - 1) * dil - 1) // stride + 1
    y = np.zeros((n, m, oh, ow))
    mg = m // group
    for g in range(group):
        for i in range(kh):
            for j in range(kw):
                patch = xp[:, g * cg:(g + 1) * cg, i * dil:i * dil + stride * oh:stride,
                           j * dil:j * dil + stride * ow:stride]
                y[:, g * mg:(g + 1) * mg] += np.einsum("nchw,mc->nmhw", patch,
                                                       w[g * mg:(g + 1) * mg, :, i, j])
    return y + (b.reshape(1, -1, 1, 1) if b is not None else 0)


@SETTINGS
@given(n=st.integers(1, 2), cg=st.integers(1, 4), mg=st.integers(1, 6), group=st.integers(1, 2),
       h=st.integers(1, 9), w=st.integers(1, 9), k=st.sampled_from([1, 2, 3]),
       stride=st.integers(1, 2), pad=st.integers(0, 2), dil=st.integers(1, 2),
       bias=st.booleans(), seed=st.integers(0, 99))
def test_conv(provider, n, cg, mg, group, h, w, k, stride, pad, dil, bias, seed):
    if h + 2 * pad < (k - 1) * dil + 1 or w + 2 * pad < (k - 1) * dil + 1:
        return
    rng = np.random.default_rng(seed)
    x = arr(rng, (n, cg * group, h, w))
    wt = arr(rng, (mg * group, cg, k, k))
    b = arr(rng, (mg * group,)) if bias else None
    attrs = {"strides": [stride] * 2, "pads": [pad] * 4, "dilations": [dil] * 2, "group": group}
    got = conv2d(provider.arena, x, wt, b, attrs, act=0)
    np.testing.assert_allclose(got, _conv_numpy(x, wt, b, stride, [pad] * 4, dil, group),
                               rtol=1e-4, atol=1e-4)


@SETTINGS
@given(rows=st.integers(1, 6), n=st.integers(1, 40), seed=st.integers(0, 99))
def test_softmax_and_layernorm(provider, rows, n, seed):
    rng = np.random.default_rng(seed)
    x = arr(rng, (rows, n), -20, 20)
    e = np.exp(x - x.max(-1, keepdims=True))
    np.testing.assert_allclose(softmax_rows(provider.arena, x, rows, n),
                               e / e.sum(-1, keepdims=True), rtol=1e-5, atol=1e-7)
    g, b = arr(rng, (n,)), arr(rng, (n,))
    mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    want = (x - mu) / np.sqrt(var + 1e-5) * g + b
    np.testing.assert_allclose(layernorm(provider.arena, x, g, b, -1, 1e-5), want,
                               rtol=1e-4, atol=1e-4)


@SETTINGS
@given(shape=st.lists(dims, min_size=1, max_size=5), data=st.data(),
       dtype=st.sampled_from([np.float32, np.int64]))
def test_transpose(provider, shape, data, dtype):
    perm = data.draw(st.permutations(range(len(shape))))
    x = np.arange(np.prod(shape)).astype(dtype).reshape(shape)
    np.testing.assert_array_equal(transpose(provider.arena, x, perm), np.transpose(x, perm))


def test_gemm_rows_beyond_one_row_block(provider):
    """More rows than one packed A block (MC) plus a tail of single rows."""
    rng = np.random.default_rng(7)
    a, b = arr(rng, (301, 300)), arr(rng, (300, 45))
    np.testing.assert_allclose(matmul(provider.arena, a, b), a.astype(np.float64) @ b,
                               rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("n", [32, 203])
def test_gemm_split_over_two_threads_matches_one(runtime, n):
    """Big products split their columns between two instances on the shared memory."""
    rng = np.random.default_rng(n)
    a, b, c = arr(rng, (3, 67, 130)), arr(rng, (130, n)), arr(rng, (n,))
    results = []
    for threads in (1, 2):
        arena = runtime.providers["wasm"](runtime, threads=threads).arena
        assert (arena._worker is not None) == (threads == 2)
        results.append(np.array(matmul(arena, a, b, act=1, bias=c)))
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_allclose(results[0], np.maximum(a.astype(np.float64) @ b + c, 0),
                               rtol=1e-4, atol=1e-3)
