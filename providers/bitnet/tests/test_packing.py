"""Packing (ONNX UINT2 bit order), ternarization and activation quantization."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ronn_bitnet.packing import pack, quantize_activations, ternarize, unpack


def test_bit_order_is_onnx_uint2():
    # weights -1, 0, +1, +1 -> codes 0, 1, 2, 2 -> 0 | 1 << 2 | 2 << 4 | 2 << 6
    assert pack(np.array([[-1, 0, 1, 1]])).tolist() == [[0 | 1 << 2 | 2 << 4 | 2 << 6]]
    # K = 5 pads the second byte with code 1 (weight 0)
    assert pack(np.array([[1, 1, 1, 1, -1]])).tolist() == [[0b10101010, 0b01010100]]


@settings(max_examples=50, deadline=None)
@given(t=hnp.arrays(np.int8, hnp.array_shapes(min_dims=2, max_dims=2, max_side=37),
                    elements=st.integers(-1, 1)))
def test_pack_unpack_round_trip(t):
    packed = pack(t)
    assert packed.dtype == np.uint8 and packed.shape == (t.shape[0], (t.shape[1] + 3) // 4)
    np.testing.assert_array_equal(unpack(packed, t.shape[1]), t)


def test_invalid_code_is_rejected():
    with pytest.raises(ValueError, match=r"invalid 2-bit code 3 at weight \[0, 1\]"):
        unpack(np.array([[0b1100]], np.uint8), 4)
    with pytest.raises(ValueError, match="-1, 0 or \\+1"):
        pack(np.array([[2, 0]]))


def test_ternarize_follows_absmean_and_recovers_scaled_ternary(rng):
    w = rng.standard_normal((32, 40))
    t, _ = ternarize(w)
    np.testing.assert_array_equal(t, np.clip(np.rint(w / np.abs(w).mean()), -1, 1))
    t0 = rng.integers(-1, 2, (16, 24)).astype(np.int8)
    s = np.float32(0.0371)
    t1, s1 = ternarize(t0.astype(np.float32) * s)
    np.testing.assert_array_equal(t1, t0)
    assert s1 == s


def test_activation_quantization_is_absmax_per_row():
    x = np.array([[0.5, -1.0, 0.25], [0.0, 0.0, 0.0]], np.float32)
    xq, amax = quantize_activations(x)
    np.testing.assert_array_equal(xq, [[64, -127, 32], [0, 0, 0]])   # 63.5 rounds to even
    np.testing.assert_array_equal(amax.ravel(), [1.0, np.float32(1e-5)])
