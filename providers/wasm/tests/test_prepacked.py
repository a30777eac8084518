"""The GEMM with A prepacked at build time (``apre``) and with a residual added in its epilogue,
vs numpy, the convs that use them, and the direct kernel calls (``fastcall``)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from ronn_wasm.ops_dense import conv2d
from ronn_wasm.wat_gemm import KC, pack_a

SETTINGS = settings(max_examples=25, deadline=None)


@SETTINGS
@given(m=st.integers(1, 140), n=st.integers(1, 21), k=st.integers(1, 2 * KC + 5),
       batch=st.integers(1, 3), act=st.integers(0, 1), residual=st.booleans(),
       seed=st.integers(0, 99))
def test_gemm_with_prepacked_a(provider, m, n, k, batch, act, residual, seed):
    rng = np.random.default_rng(seed)
    arena = provider.arena
    a = arena.adopt(rng.uniform(-1, 1, (batch, m, k)).astype(np.float32))
    b = arena.adopt(rng.uniform(-1, 1, (batch, k, n)).astype(np.float32))
    bias = arena.adopt(rng.uniform(-1, 1, (m,)).astype(np.float32))
    packed = arena.adopt(pack_a(a))
    res = arena.adopt(rng.uniform(-1, 1, (batch, m, n)).astype(np.float32))
    c = arena.empty((batch, m, n))
    arena.gemm(arena.ptr(a), arena.ptr(b), arena.ptr(c), arena.ptr(bias), m, n, k, k, n, n,
               1, act, 1.0, batch, m * k, k * n, m * n, arena.ptr(packed),
               arena.ptr(res) if residual else 0)
    want = np.matmul(a.astype(np.float64), b) + bias[:, None] + (res if residual else 0)
    if act:
        want = np.maximum(want, 0)
    np.testing.assert_allclose(c, want, rtol=1e-4, atol=1e-4 * np.sqrt(k))


@SETTINGS
@given(group=st.integers(1, 3), cg=st.integers(1, 5), mg=st.integers(1, 9), k=st.integers(1, 3),
       stride=st.integers(1, 2), seed=st.integers(0, 99))
def test_conv_with_prepacked_weights_equals_unpacked(provider, group, cg, mg, k, stride, seed):
    rng = np.random.default_rng(seed)
    arena = provider.arena
    x = rng.uniform(-2, 2, (2, cg * group, 7, 6)).astype(np.float32)
    w = rng.uniform(-1, 1, (mg * group, cg, k, k)).astype(np.float32)
    b = rng.uniform(-1, 1, (mg * group,)).astype(np.float32)
    attrs = {"strides": [stride] * 2, "pads": [1] * 4, "group": group}
    packed = arena.adopt(pack_a(w.reshape(group, mg, -1)))
    want = np.array(conv2d(arena, x, w, b, attrs, act=1))
    got = conv2d(arena, x, w, b, attrs, act=1, apre=packed)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@SETTINGS
@given(group=st.integers(1, 2), cg=st.integers(1, 5), mg=st.integers(1, 9), k=st.integers(1, 3),
       stride=st.integers(1, 2), threads=st.integers(1, 2), seed=st.integers(0, 99))
def test_conv_with_residual_in_the_epilogue(runtime, group, cg, mg, k, stride, threads, seed):
    rng = np.random.default_rng(seed)
    arena = runtime.providers["wasm"](runtime, threads=threads).arena
    x = rng.uniform(-2, 2, (2, cg * group, 9, 40)).astype(np.float32)
    w = rng.uniform(-1, 1, (mg * group, cg, k, k)).astype(np.float32)
    b = rng.uniform(-1, 1, (mg * group,)).astype(np.float32)
    attrs = {"strides": [stride] * 2, "pads": [1] * 4, "group": group}
    plain = np.array(conv2d(arena, x, w, b, attrs))
    res = arena.adopt(rng.uniform(-3, 3, plain.shape).astype(np.float32))
    got = conv2d(arena, x, w, b, attrs, act=1, res=res)
    np.testing.assert_allclose(got, np.maximum(plain + res, 0), rtol=1e-5, atol=1e-5)


def test_fast_calls_equal_wasmtimes_own_call(provider):
    """Kernel calls skip wasmtime-py's per-call conversions (i32 and f32 arguments); results
    equal the public call's."""
    from ronn_wasm.fastcall import FastFunc
    arena = provider.arena
    assert isinstance(arena.funcs["u_clip"], FastFunc)
    x = arena.adopt(np.random.default_rng(3).uniform(-3, 3, 37).astype(np.float32))
    outs = [arena.empty((37,)) for _ in range(2)]
    arena.funcs["u_clip"](arena.ptr(x), arena.ptr(outs[0]), x.size, -1.25, 0.5)
    raw = arena.instance.exports(arena.store)["u_clip"]
    raw(arena.store, arena.ptr(x), arena.ptr(outs[1]), x.size, -1.25, 0.5)
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], np.clip(x, -1.25, 0.5))
