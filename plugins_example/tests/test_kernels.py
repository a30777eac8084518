"""The reference kernels against independent numpy formulas, through a real session."""

from __future__ import annotations

import numpy as np
import pytest

from ronn_example.demo import rotary_model, swiglu_model
from ronn_example.kernels import rotary_embedding, swiglu


def silu_gate(x, gate, beta=1.0):
    return x / (1 + np.exp(-beta * x)) * gate


def rope_complex(x, positions, base=10000.0, interleaved=False, rotary_dim=0):
    """RoPE as complex multiplication: each feature pair is a complex number times e^(i t)."""
    d = rotary_dim or x.shape[-1]
    rot = x[..., :d].astype(np.float64)
    if interleaved:
        z = rot[..., 0::2] + 1j * rot[..., 1::2]
    else:
        z = rot[..., : d // 2] + 1j * rot[..., d // 2:]
    freqs = 1.0 / base ** (np.arange(0, d, 2) / d)
    theta = np.asarray(positions, np.float64)[..., None, None] * freqs      # [b, s, 1, d/2]
    z = z * np.exp(1j * theta)
    if interleaved:
        out = np.stack([z.real, z.imag], axis=-1).reshape(rot.shape)
    else:
        out = np.concatenate([z.real, z.imag], axis=-1)
    return np.concatenate([out, x[..., d:]], axis=-1).astype(x.dtype)


def test_swiglu_is_silu_times_gate(rng):
    x, g = rng.standard_normal((3, 7)).astype(np.float32), rng.standard_normal((3, 7)).astype(
        np.float32)
    np.testing.assert_allclose(swiglu(x, g), silu_gate(x, g), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(swiglu(x, g, beta=1.702), silu_gate(x, g, 1.702), rtol=1e-6,
                               atol=1e-6)


def test_swiglu_does_not_overflow_for_large_inputs():
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0], np.float32)
    with np.errstate(over="raise"):
        y = swiglu(x, np.ones_like(x))
    np.testing.assert_allclose(y, [0.0, 0.0, 0.0, 50.0, 1000.0], atol=1e-6)


def test_swiglu_in_a_session(session_of, rng):
    session = session_of(swiglu_model())
    x, g = (rng.standard_normal((4, 8)).astype(np.float32) for _ in range(2))
    y = session.run({"x": x, "gate": g})["y"]
    assert y.dtype == np.float32 and y.shape == (4, 8)
    np.testing.assert_allclose(y, silu_gate(x, g), rtol=1e-5, atol=1e-6)
    assert [p.kernel_plugin for p in session.placement] == ["ronn_example.plugin"]   # the module name, when given to Runtime(plugins=...)


def test_swiglu_beta_attribute_reaches_the_kernel(session_of, rng):
    x, g = (rng.standard_normal((2, 8)).astype(np.float32) for _ in range(2))
    y = session_of(swiglu_model(beta=2.0)).run({"x": x, "gate": g})["y"]
    np.testing.assert_allclose(y, silu_gate(x, g, 2.0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("interleaved", [0, 1])
@pytest.mark.parametrize("rotary_dim", [0, 8])
def test_rotary_embedding_matches_complex_rotation(session_of, rng, interleaved, rotary_dim):
    x = rng.standard_normal((2, 5, 3, 16)).astype(np.float32)
    pos = rng.integers(0, 100, size=(2, 5)).astype(np.int64)
    attrs = {"interleaved": interleaved, "rotary_dim": rotary_dim, "base": 500.0}
    y = session_of(rotary_model(shape=("batch", "seq", 3, 16), **attrs)).run({"x": x, "position_ids": pos})["y"]
    expected = rope_complex(x, pos, 500.0, bool(interleaved), rotary_dim)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    if rotary_dim:
        np.testing.assert_array_equal(y[..., rotary_dim:], x[..., rotary_dim:])


def test_rotary_position_ids_default_to_arange(session_of, rng):
    x = rng.standard_normal((2, 5, 2, 8)).astype(np.float32)
    y = session_of(rotary_model(shape=("batch", "seq", 2, 8), with_positions=False)).run({"x": x})["y"]
    np.testing.assert_allclose(y, rope_complex(x, np.broadcast_to(np.arange(5), (2, 5))),
                               rtol=1e-5, atol=1e-5)


def test_rotary_keeps_norms_and_position_zero():
    x = np.random.default_rng(3).standard_normal((1, 4, 2, 8))
    y = rotary_embedding(x, np.arange(4)[None])
    np.testing.assert_allclose(np.linalg.norm(y, axis=-1), np.linalg.norm(x, axis=-1))
    np.testing.assert_allclose(y[:, 0], x[:, 0])
