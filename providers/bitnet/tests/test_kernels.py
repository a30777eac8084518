"""The numba kernels (I2_S on AVX2 and portable, TL) equal the reference kernel bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ronn_bitnet import fast, prepared
from ronn_bitnet.packing import pack
from ronn_bitnet.prepared import KERNELS, PreparedBitLinear
from ronn_bitnet.reference import bit_linear
from ronn_bitnet.simd import HAS_AVX2


def independent(x, t, scale, bias):
    """The BitNet b1.58 formula in float64 with integer products (no shared code)."""
    amax = np.maximum(np.abs(x).max(axis=-1, keepdims=True), np.float32(1e-5))
    xq = np.clip(np.rint(x * (np.float32(127) / amax)), -128, 127).astype(np.int64)
    y = (xq @ t.T.astype(np.int64)) * (amax.astype(np.float64) / 127) * np.float64(scale)
    return y + (0 if bias is None else bias)


@st.composite
def layers(draw):
    m = draw(st.integers(0, 9))
    k = draw(st.sampled_from([1, 3, 4, 5, 31, 127, 128, 129, 131, 257, 515]))
    n = draw(st.integers(1, 24))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    t = rng.integers(-1, 2, (n, k)).astype(np.int8)
    x = (rng.standard_normal((m, k)) * draw(st.sampled_from([1e-3, 1.0, 50.0]))).astype(
        np.float32)
    if draw(st.booleans()):
        x[:, rng.integers(0, k)] = 0.0
    scale = (np.float32(rng.uniform(0.01, 2)) if draw(st.booleans())
             else rng.uniform(0.01, 2, n).astype(np.float32))
    bias = rng.standard_normal(n).astype(np.float32) if draw(st.booleans()) else None
    return x, t, scale, bias


@settings(max_examples=60, deadline=None)
@given(layer=layers(), kernel=st.sampled_from(KERNELS))
def test_kernel_equals_reference_bit_for_bit(layer, kernel):
    x, t, scale, bias = layer
    k = t.shape[1]
    want = bit_linear(x, pack(t), scale, bias, in_features=k)
    got = PreparedBitLinear(pack(t), k, scale, bias, kernel=kernel)(x)
    assert got.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(want, independent(x, t, scale, bias), rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not HAS_AVX2, reason="the AVX2 kernels need an AVX2 CPU")
@settings(max_examples=25, deadline=None)
@given(layer=layers())
def test_avx2_and_portable_kernels_agree(layer):
    """On AVX2 hosts the portable loops do not run in sessions: check them here."""
    x, t, scale, bias = layer
    p = PreparedBitLinear(pack(t), t.shape[1], scale, bias)
    m, k4 = x.shape[0], p.k4
    planes, amax, xsum = np.empty((m, 4, k4), np.int8), np.empty(m, np.float32), np.empty(
        m, np.int32)
    fast.quantize_planes(np.ascontiguousarray(x), planes, amax, xsum)
    outs = [np.empty((m, p.out_features), np.float32) for _ in range(4)]
    fast.i2s_matmul_avx2(planes, xsum, amax, p.packed, p.scale, p.bias, outs[0])
    fast.i2s_matmul_generic(planes, xsum, amax, p.packed, p.scale, p.bias, outs[1])
    lut = np.empty((m, k4, 256), np.int16)
    fast.build_tables(planes, lut)
    fast.tl_matmul(lut, amax, p.packed, p.scale, p.bias, outs[2])
    tables = np.empty((m, 2 * k4, 64), np.uint8)
    fast.build_pair_tables(planes, tables)
    fast.tl_matmul_avx2(tables, amax, fast.tile_rows(p.packed), p.scale, p.bias, outs[3])
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])


def test_leading_dimensions_and_one_dimensional_x(rng):
    t = rng.integers(-1, 2, (7, 130)).astype(np.int8)
    x = rng.standard_normal((2, 3, 130)).astype(np.float32)
    p = PreparedBitLinear(pack(t), 130, np.float32(0.5))
    np.testing.assert_array_equal(p(x), bit_linear(x, pack(t), np.float32(0.5), in_features=130))
    assert p(x[0, 0]).shape == (7,)


def test_auto_measures_once_per_shape_and_rows_class(rng, monkeypatch):
    monkeypatch.setattr(prepared, "CHOICES", {})
    t = rng.integers(-1, 2, (40, 200)).astype(np.int8)
    p = PreparedBitLinear(pack(t), 200, np.float32(1.0), threads=1)
    calls = []
    real = p.measure
    monkeypatch.setattr(p, "measure", lambda x2: calls.append(x2.shape[0]) or real(x2))
    for m in (1, 1, 3, 4, 1):
        p(rng.standard_normal((m, 200)).astype(np.float32))
    assert calls == [1, 3]                                  # rows classes 1 and 4
    assert set(prepared.CHOICES) == {(40, 200, 1, 1), (40, 200, 4, 1)}
    assert set(prepared.CHOICES.values()) <= set(KERNELS)
    assert p.used == {1: prepared.CHOICES[(40, 200, 1, 1)], 4: prepared.CHOICES[(40, 200, 4, 1)]}


def test_tl_is_not_a_candidate_when_its_table_is_too_big(monkeypatch):
    p = PreparedBitLinear(np.zeros((4, 256), np.uint8) + 0b01010101, 1024, np.float32(1))
    assert p.candidates(1) == KERNELS
    monkeypatch.setattr(prepared, "TL_TABLE_LIMIT", p.table_bytes(2))
    assert p.candidates(2) == KERNELS and p.candidates(3) == ("i2s",)


def test_unknown_kernel_name():
    with pytest.raises(ValueError, match=r"kernel 'fastest'.*'i2s', 'tl', 'auto'"):
        PreparedBitLinear(np.zeros((1, 1), np.uint8), 4, np.float32(1), kernel="fastest")



@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("sign", [1, -1])
def test_extreme_sums_do_not_overflow(kernel, sign):
    """All activations at +-127 and all weights equal: the largest partial sums every kernel
    keeps in int16 (TL blocks, vpmaddubsw pairs) and the largest int32 totals."""
    k = 4096 + 131
    t = np.full((33, k), sign, np.int8)
    t[1] = -sign
    t[2, ::2] = 0
    x = np.stack([np.full(k, 3.0, np.float32), np.full(k, -3.0, np.float32)])
    want = bit_linear(x, pack(t), np.float32(1), in_features=k)
    np.testing.assert_array_equal(PreparedBitLinear(pack(t), k, np.float32(1), kernel=kernel)(x),
                                  want)
    assert abs(want[0, 0]) == pytest.approx(3.0 * k, rel=1e-6)
