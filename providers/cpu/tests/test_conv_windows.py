"""The row-copy column matrix (conv_windows.py) against a plain per-element im2col, and the
residual input of FusedConv on every conv path."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ronn_cpu.kernels import conv_windows
from ronn_cpu.kernels.conv import scratch


def naive_im2col(x, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow):
    c, h, w = x.shape
    cols = np.zeros((c, kh, kw, oh, ow), x.dtype)
    for i in range(kh):
        for j in range(kw):
            for y in range(oh):
                for xo in range(ow):
                    iy, ix = y * sh - pt + i * dh, xo * sw - pl + j * dw
                    if 0 <= iy < h and 0 <= ix < w:
                        cols[:, i, j, y, xo] = x[:, iy, ix]
    return cols.reshape(c * kh * kw, oh, ow)


@settings(max_examples=80, deadline=None)
@given(c=st.integers(1, 3), h=st.integers(1, 11), w=st.integers(1, 11),
       kh=st.integers(1, 4), kw=st.integers(1, 4), sh=st.integers(1, 3), sw=st.integers(1, 3),
       dh=st.integers(1, 2), dw=st.integers(1, 2), pads=st.lists(st.integers(0, 3), min_size=4,
                                                                 max_size=4),
       seed=st.integers(0, 2**16))
def test_window_columns_equal_im2col(c, h, w, kh, kw, sh, sw, dh, dw, pads, seed):
    pt, pl, pb, pr = pads
    oh = (h + pt + pb - (kh - 1) * dh - 1) // sh + 1
    ow = (w + pl + pr - (kw - 1) * dw - 1) // sw + 1
    if oh <= 0 or ow <= 0:
        return
    x = np.random.default_rng(seed).standard_normal((c, h, w)).astype(np.float32)
    geo = conv_windows.window_geometry(kh, kw, sh, sw, dh, dw, oh, ow)
    cols = conv_windows.window_columns(x, geo, sh, sw, pt, pl, scratch)
    assert cols.shape == (c * kh * kw, geo.columns)
    got = cols.reshape(c * kh * kw, oh, ow)
    np.testing.assert_array_equal(got, naive_im2col(x, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow))


def test_column_rows_are_compact_on_every_map_size():
    small = conv_windows.window_geometry(3, 3, 1, 1, 1, 1, 7, 7)
    large = conv_windows.window_geometry(3, 3, 1, 1, 1, 1, 56, 56)
    assert (small.wq, small.columns) == (9, 7 * 7)
    assert (large.wq, large.columns) == (58, 56 * 56)
    strided = conv_windows.window_geometry(3, 3, 2, 2, 1, 1, 28, 28)
    assert strided.phases.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1]]


def test_epilogue_adds_bias_and_residual_then_activates():
    rng = np.random.default_rng(0)
    src = rng.standard_normal((3, 4 * 6)).astype(np.float32)        # rows widened to 6
    bias = rng.standard_normal(3).astype(np.float32)
    residual = rng.standard_normal((3, 4, 5)).astype(np.float32)
    out = np.empty((3, 4, 5), np.float32)
    conv_windows.epilogue(src, out, bias, residual, 6, 1, 0.0, 0.0)   # code 1: Relu
    want = np.maximum(src.reshape(3, 4, 6)[:, :, :5] + bias[:, None, None] + residual, 0)
    np.testing.assert_allclose(out, want, rtol=1e-6)


RESIDUAL_CASES = {   # name: (c, m, group, kernel, stride, size, threads)
    "windows 3x3 s2": (4, 6, 1, 3, 2, 9, None),
    "taps 3x3 s1 (few output channels)": (8, 4, 1, 3, 1, 7, None),
    "taps 3x3 s2": (8, 3, 1, 3, 2, 9, None),
    "direct 1x1": (5, 7, 1, 1, 1, 6, None),
    "depthwise": (6, 6, 6, 3, 1, 8, None),
    "winograd": (16, 16, 1, 3, 1, 6, 1),
    "grouped": (4, 6, 2, 3, 1, 7, None),
    "tiny (gather path without a residual)": (2, 3, 1, 3, 1, 3, None),
}


@pytest.mark.parametrize("case", list(RESIDUAL_CASES))
def test_fused_conv_adds_the_residual_before_the_activation(monkeypatch, case):
    """On the paths besides the direct kernel (test_conv_direct covers its own)."""
    import ronn
    from cpu_harness import REFERENCE, one_node, ronn_node
    from ronn_cpu.kernels import conv_direct
    monkeypatch.setattr(conv_direct, "ENABLED", False)
    c, m, group, k, s, size, threads = RESIDUAL_CASES[case]
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, c, size, size)).astype(np.float32)
    w = rng.standard_normal((m, c // group, k, k)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    attrs = {"kernel_shape": [k, k], "strides": [s, s], "pads": [k // 2] * 4, "group": group}
    plain = one_node("Conv", x, attrs, [w, b])
    conv_out = ronn.Model.load(plain.SerializeToString()).create_session(
        optimization_level="O0", runtime=REFERENCE).run({"x": x})["y"]
    z = rng.standard_normal(conv_out.shape).astype(np.float32)
    model = ronn_node("FusedConv", {"x": x, "z": z}, {"w": w, "b": b}, ["x", "w", "b", "z"],
                      "LeakyRelu", [0.1], **attrs)
    session = ronn.Model.load(model.SerializeToString()).create_session(
        optimization_level="O0", threads=threads)
    assert session.placement[0].kernel_plugin == "cpu"
    got = session.run({"x": x, "z": z})["y"]
    pre = conv_out + z
    np.testing.assert_allclose(got, np.where(pre >= 0, pre, pre * np.float32(0.1)),
                               rtol=1e-4, atol=1e-4)


@settings(max_examples=40, deadline=None)
@given(c=st.integers(1, 6), m=st.integers(1, 4), h=st.integers(1, 9), w=st.integers(1, 9),
       k=st.integers(1, 3), s=st.integers(1, 2), pad=st.integers(0, 2), seed=st.integers(0, 99))
def test_tap_products_equal_the_column_matrix_product(c, m, h, w, k, s, pad, seed):
    oh, ow = (h + 2 * pad - k) // s + 1, (w + 2 * pad - k) // s + 1
    if oh <= 0 or ow <= 0:
        return
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((c, h, w)).astype(np.float32)
    weights = rng.standard_normal((m, c, k, k)).astype(np.float32)
    geo = conv_windows.window_geometry(k, k, s, s, 1, 1, oh, ow)
    product = np.empty((m, oh * geo.wq), np.float32)
    conv_windows.tap_products(x, np.ascontiguousarray(weights.transpose(2, 3, 0, 1).reshape(
        k * k, m, c)), geo, s, s, pad, pad, scratch, product)
    cols = naive_im2col(x, k, k, s, s, 1, 1, pad, pad, oh, ow).reshape(c * k * k, -1)
    want = (weights.reshape(m, -1) @ cols).reshape(m, oh, ow)
    np.testing.assert_allclose(product.reshape(m, oh, geo.wq)[:, :, :ow], want, rtol=1e-4,
                               atol=1e-4)
