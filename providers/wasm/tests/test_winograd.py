"""Winograd F(2x2, 3x3) and F(4x4, 3x3) conv kernels (input transform, batched GEMM, output transform) vs a numpy conv."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings, strategies as st

from ronn_wasm import ops_winograd as winograd

SETTINGS = settings(max_examples=30, deadline=None)


def conv3x3_numpy(x, w, b, pads):
    """Direct 3x3 stride-1 convolution in float64."""
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    oh, ow = xp.shape[2] - 2, xp.shape[3] - 2
    y = sum(np.einsum("nchw,mc->nmhw", xp[:, :, i:i + oh, j:j + ow], w[:, :, i, j])
            for i in range(3) for j in range(3))
    return y + (b.reshape(1, -1, 1, 1) if b is not None else 0)


@SETTINGS
@given(n=st.integers(1, 2), c=st.integers(1, 12), m=st.integers(1, 11), h=st.integers(1, 13),
       w=st.integers(1, 19), pads=st.lists(st.integers(0, 2), min_size=4, max_size=4),
       bias=st.booleans(), relu=st.booleans(), tile=st.sampled_from([2, 4]),
       seed=st.integers(0, 99))
def test_winograd_conv_matches_direct(provider, n, c, m, h, w, pads, bias, relu, tile, seed):
    if h + pads[0] + pads[2] < 3 or w + pads[1] + pads[3] < 3:
        return
    rng = np.random.default_rng(seed)
    x = rng.uniform(-3, 3, (n, c, h, w)).astype(np.float32)
    wt = rng.uniform(-1, 1, (m, c, 3, 3)).astype(np.float32)
    b = rng.uniform(-1, 1, (m,)).astype(np.float32) if bias else None
    arena = provider.arena
    u = winograd.prepare(arena, wt, tile)
    got = winograd.conv(arena, arena.adopt(x), u, arena.adopt(b) if bias else None, pads,
                        act=int(relu))
    want = conv3x3_numpy(x, wt, b, pads)
    if relu:
        want = np.maximum(want, 0)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=3e-4 * np.sqrt(9 * c))


def test_variant_follows_the_output_width():
    assert winograd.variant_for(56) == 4 and winograd.variant_for(28) == 4
    assert winograd.variant_for(14) == 2 and winograd.variant_for(None) == 2


def test_usable_only_for_3x3_stride1_ungrouped():
    geo = (3, 3, 1, 1, 1, 1)
    assert winograd.usable((16, 16, 3, 3), {}, geo)
    assert not winograd.usable((16, 16, 3, 3), {}, (3, 3, 2, 2, 1, 1))
    assert not winograd.usable((16, 16, 3, 3), {}, (3, 3, 1, 1, 2, 2))
    assert not winograd.usable((16, 8, 3, 3), {"group": 2}, geo)
    assert not winograd.usable((16, 16, 1, 1), {}, (1, 1, 1, 1, 1, 1))
    assert not winograd.usable((4, 16, 3, 3), {}, geo)
