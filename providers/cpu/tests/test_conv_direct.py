"""The direct convolution (conv_direct.py, direct_tile.py): its product against numpy over random
grids, and whole Conv / FusedConv nodes through it against the reference kernel, on each of its
grids (the image of a 1x1 conv, tiles per row, the widened grid)."""

from contextlib import contextmanager
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from cpu_harness import REFERENCE, one_node, ronn_node
from ronn_cpu.kernels import activations, conv, conv_direct
from ronn_cpu.kernels.direct_tile import OCB


@settings(max_examples=80, deadline=None)
@given(m=st.integers(1, 21), r=st.integers(1, 300), rows=st.integers(1, 4),
       width=st.integers(16, 130), gap=st.integers(0, 5), relu=st.booleans(),
       residual=st.booleans(), parallel=st.booleans(), seed=st.integers(0, 2**16))
def test_product_equals_the_matrix_product(m, r, rows, width, gap, relu, residual, parallel,
                                           seed):
    """Every pixel of every row, with widths that leave 16-wide tails (started early), channel
    counts that leave a partial block, reductions over several blocks of rows (``DEPTH``), and
    rows read ``gap`` apart."""
    rng = np.random.default_rng(seed)
    row_in = width + gap
    offsets = rng.permutation(r).astype(np.int64) * (rows * row_in + 3)
    x = rng.standard_normal(int(offsets.max()) + rows * row_in + 3).astype(np.float32)
    w = rng.standard_normal((m, r)).astype(np.float32)
    bias = rng.standard_normal(m).astype(np.float32)
    z = rng.standard_normal(m * rows * width).astype(np.float32) if residual else None
    out = np.full(m * rows * width, np.nan, np.float32)
    with patch.object(activations, "PARALLEL_MIN", 1 if parallel else 1 << 62):
        conv_direct.product(conv_direct.pack(w), x, offsets, out, (rows, width, row_in, width),
                            rows * width, m, bias, relu, z)
    b = np.stack([x[o + np.arange(rows)[:, None] * row_in + np.arange(width)] for o in offsets])
    want = np.einsum("mr,ryq->myq", w.astype(np.float64), b.astype(np.float64)) + \
        bias[:, None, None]
    if residual:
        want += z.reshape(m, rows, width)
    if relu:
        want = np.maximum(want, 0)
    np.testing.assert_allclose(out.reshape(m, rows, width), want, rtol=1e-4, atol=1e-3)


def test_pack_pads_the_last_block_with_zeros():
    w = np.arange(10 * 3, dtype=np.float32).reshape(10, 3)
    packed = conv_direct.pack(w)
    assert packed.shape == (2, 3, OCB)
    np.testing.assert_array_equal(packed[0], w[:OCB].T)
    np.testing.assert_array_equal(packed[1, :, :2], w[OCB:].T)
    assert not packed[1, :, 2:].any()


@contextmanager
def direct_products():
    """The grids ``conv_direct.product`` runs, with the direct kernel on (and the tiny-conv
    gather off)."""
    grids = []
    real = conv_direct.product
    with patch.object(conv_direct, "ENABLED", True), patch.object(conv, "GATHER_MAX_COLS", 0), \
            patch.object(conv_direct, "product",
                         lambda *args: (grids.append(args[4]), real(*args))[1]):
        yield grids


def run_both(model, feeds, threads=None):
    import ronn
    data = model.SerializeToString()
    fast = ronn.Model.load(data).create_session(optimization_level="O0", threads=threads)
    assert fast.placement[0].kernel_plugin == "cpu"
    return fast.run(feeds)["y"]


def reference_conv(x, w, b, attrs):
    import ronn
    model = one_node("Conv", x, attrs, [w, b])
    return ronn.Model.load(model.SerializeToString()).create_session(
        optimization_level="O0", runtime=REFERENCE).run({"x": x})["y"]


@settings(max_examples=40, deadline=None)
@given(c=st.integers(1, 12), m=st.integers(1, 19), group=st.sampled_from([1, 1, 2, 3]),
       size=st.integers(3, 40), k=st.sampled_from([1, 3, 5]), stride=st.integers(1, 2),
       dilation=st.integers(1, 2), pad=st.integers(0, 2), seed=st.integers(0, 999))
def test_conv_through_the_direct_kernel_matches_reference(c, m, group, size, k, stride,
                                                          dilation, pad, seed):
    """Groups of 16+ output channels run here too, the groups' blocks in one pass."""
    if group > 1:
        c, m = group * (2 + c % 4), group * (16 + m % 5)     # not depthwise: 2+ per group
    size = max(size, (k - 1) * dilation + 1)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, c, size, size)).astype(np.float32)
    w = rng.standard_normal((m, c // group, k, k)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    attrs = {"kernel_shape": [k, k], "strides": [stride] * 2, "dilations": [dilation] * 2,
             "pads": [pad] * 4, "group": group}
    want = reference_conv(x, w, b, attrs)
    with direct_products() as grids:
        got = run_both(one_node("Conv", x, attrs, [w, b]), {"x": x})
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    oh, ow = want.shape[2:]
    wq = ow + ((k - 1) * dilation) // stride
    assert bool(grids) == (oh * (ow if k == 1 and stride == 1 and not pad else wq) >= 16)


GRIDS = {   # name: (c, m, kernel, stride, size, the grid the product runs on[, groups])
    "1x1: the image": (12, 10, 1, 1, 9, lambda oh, ow, wq: (1, oh * ow, oh * ow, oh * ow)),
    "tiles per row": (5, 9, 3, 1, 16, lambda oh, ow, wq: (oh, ow, wq, ow)),
    "tiles per row, rows in blocks": (40, 9, 3, 1, 16, lambda oh, ow, wq: (oh, ow, wq, ow)),
    "widened grid": (5, 9, 3, 1, 13, lambda oh, ow, wq: (1, oh * wq, oh * wq, oh * wq)),
    "stride 2, widened": (3, 17, 3, 2, 21, lambda oh, ow, wq: (1, oh * wq, oh * wq, oh * wq)),
    "1x1, 3 groups": (6, 54, 1, 1, 9, lambda oh, ow, wq: (1, oh * ow, oh * ow, oh * ow), 3),
    "tiles per row, 2 groups": (8, 34, 3, 1, 16, lambda oh, ow, wq: (oh, ow, wq, ow), 2),
}


@pytest.mark.parametrize("case", list(GRIDS))
@pytest.mark.parametrize("activation,params,residual", [
    ("Relu", [], False), ("Relu", [], True), ("LeakyRelu", [0.1], False),
    ("Sigmoid", [], True)])
def test_fused_conv_on_each_grid(case, activation, params, residual):
    """ReLU without a residual runs inside the kernel; the rest in the epilogue after it."""
    c, m, k, s, size, grid, *groups = GRIDS[case]
    group = groups[0] if groups else 1
    rng = np.random.default_rng(len(case))
    x = rng.standard_normal((2, c, size, size)).astype(np.float32)
    w = rng.standard_normal((m, c // group, k, k)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    attrs = {"kernel_shape": [k, k], "strides": [s, s], "pads": [k // 2] * 4, "group": group}
    conv_out = reference_conv(x, w, b, attrs)
    feeds, inputs, pre = {"x": x}, ["x", "w", "b"], conv_out
    if residual:
        feeds["z"] = rng.standard_normal(conv_out.shape).astype(np.float32)
        inputs.append("z")
        pre = conv_out + feeds["z"]
    model = ronn_node("FusedConv", feeds, {"w": w, "b": b}, inputs, activation, params, **attrs)
    with direct_products() as grids:
        got = run_both(model, feeds, threads=2)
    want = {"Relu": np.maximum(pre, 0), "LeakyRelu": np.where(pre >= 0, pre, pre * 0.1),
            "Sigmoid": 1 / (1 + np.exp(-pre.astype(np.float64)))}[activation]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    oh, ow = conv_out.shape[2:]
    assert grids and set(grids) == {grid(oh, ow, ow + 2 // s)}


@settings(max_examples=30, deadline=None)
@given(m=st.integers(1, 30), r=st.integers(1, 50), seed=st.integers(0, 999))
def test_unpack_restores_the_packed_weights_exactly(m, r, seed):
    w = np.random.default_rng(seed).standard_normal((m, r)).astype(np.float32)
    np.testing.assert_array_equal(conv_direct.unpack(conv_direct.pack(w), m), w)


def test_a_conv_holds_packed_weights_and_makes_plain_ones_for_another_path():
    """The direct kernel's pack is the only copy kept; a tiny input (the gather path) makes the
    plain weights from it, and both sizes match the reference."""
    import ronn
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(3)
    w = rng.standard_normal((12, 5, 3, 3)).astype(np.float32)
    b = rng.standard_normal(12).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])
    graph = helper.make_graph(
        [node], "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                       [1, 5, "h", "w"])],
        [helper.make_empty_tensor_value_info("y")],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with patch.object(conv_direct, "ENABLED", True):
        session = ronn.Model.load(model.SerializeToString()).create_session(
            optimization_level="O0")
        for size in (16, 2):
            x = rng.standard_normal((1, 5, size, size)).astype(np.float32)
            np.testing.assert_allclose(session.run({"x": x})["y"],
                                       reference_conv(x, w, b, {"pads": [1, 1, 1, 1]}),
                                       rtol=1e-4, atol=1e-4)
