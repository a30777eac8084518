"""Neural-network kernels (conv, pooling, normalization, gemm, softmax, dropout) vs onnxruntime."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from op_harness import check_node, run_reference  # noqa: E402

RNG = np.random.default_rng(2024)


def randn(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


# Float32 sums over many terms differ from onnxruntime's order of summation in the last bits.
LOOSE = dict(rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------------------------------------
# Conv
# ---------------------------------------------------------------------------------------------

CONV_2D_CASES = {
    "plain 3x3": dict(),
    "padded": dict(pads=[1, 1, 1, 1]),
    "asymmetric pads": dict(pads=[0, 2, 1, 0]),
    "strided": dict(strides=[2, 3]),
    "dilated": dict(dilations=[2, 1], pads=[2, 1, 2, 1]),
    "strided, dilated, padded": dict(strides=[2, 2], dilations=[1, 2], pads=[1, 0, 0, 1]),
    "SAME_UPPER strided": dict(auto_pad="SAME_UPPER", strides=[2, 2]),
    "SAME_LOWER strided": dict(auto_pad="SAME_LOWER", strides=[2, 3]),
    "VALID strided dilated": dict(auto_pad="VALID", strides=[2, 1], dilations=[2, 2]),
}


@pytest.mark.parametrize("opset", [9, 11, 21])
@pytest.mark.parametrize("attrs", CONV_2D_CASES.values(), ids=CONV_2D_CASES.keys())
def test_conv_2d_matches_onnxruntime(attrs, opset):
    inputs = {"x": randn(2, 3, 9, 8), "w": randn(4, 3, 3, 3), "b": randn(4)}
    check_node("Conv", inputs, dict(attrs, kernel_shape=[3, 3]), opset=opset, **LOOSE)


def test_conv_without_bias_or_kernel_shape_attribute():
    check_node("Conv", {"x": randn(1, 2, 6, 6), "w": randn(3, 2, 2, 2), "b": None}, opset=11,
               **LOOSE)


@pytest.mark.parametrize("group, out_channels", [(2, 4), (3, 6), (6, 6), (6, 12)],
                         ids=["2 groups", "3 groups", "depthwise", "depthwise x2"])
def test_grouped_and_depthwise_conv(group, out_channels):
    inputs = {"x": randn(2, 6, 7, 7), "w": randn(out_channels, 6 // group, 3, 3),
              "b": randn(out_channels)}
    check_node("Conv", inputs, {"group": group, "pads": [1, 1, 1, 1], "strides": [2, 2]},
               opset=11, **LOOSE)


@pytest.mark.parametrize("auto_pad", ["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"])
def test_conv_1d(auto_pad):
    attrs = {"auto_pad": auto_pad, "strides": [2]}
    if auto_pad == "NOTSET":
        attrs.update(pads=[2, 1], dilations=[2])
    check_node("Conv", {"x": randn(2, 3, 11), "w": randn(5, 3, 3), "b": randn(5)}, attrs,
               opset=11, **LOOSE)


@pytest.mark.parametrize("auto_pad", ["NOTSET", "SAME_UPPER", "VALID"])
def test_conv_3d(auto_pad):
    attrs = {"auto_pad": auto_pad, "strides": [1, 2, 2], "group": 2}
    if auto_pad == "NOTSET":
        attrs.update(pads=[1, 0, 1, 0, 1, 1], dilations=[1, 2, 1])
    check_node("Conv", {"x": randn(1, 4, 5, 7, 6), "w": randn(4, 2, 2, 3, 2), "b": randn(4)},
               attrs, opset=11, **LOOSE)


def test_conv_is_a_cross_correlation():
    """A kernel with one 1 at its top-left copies the input shifted by the padding."""
    x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    w = np.zeros((1, 1, 2, 2), np.float32)
    w[0, 0, 0, 0] = 1
    (y,) = run_reference("Conv", {"x": x, "w": w}, {"pads": [1, 1, 0, 0]}, opset=11)
    assert y.dtype == np.float32 and y.shape == (1, 1, 4, 4)
    np.testing.assert_array_equal(y[0, 0, 1:, 1:], x[0, 0, :3, :3])
    np.testing.assert_array_equal(y[0, 0, 0], 0)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_conv_random_geometry_matches_onnxruntime(data):
    nd = data.draw(st.integers(1, 3), label="spatial dims")
    group = data.draw(st.sampled_from([1, 2, 3]), label="group")
    cg = data.draw(st.integers(1, 2), label="channels per group")
    mg = data.draw(st.integers(1, 2), label="filters per group")
    kernel = [data.draw(st.integers(1, 3)) for _ in range(nd)]
    dilations = [data.draw(st.integers(1, 2)) for _ in range(nd)]
    strides = [data.draw(st.integers(1, 3)) for _ in range(nd)]
    pads = [data.draw(st.integers(0, k - 1)) for k in kernel] * 2
    pads = [data.draw(st.integers(0, p)) for p in pads]
    spans = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    size = [data.draw(st.integers(max(1, s - p_b - p_e), 7 if nd < 3 else 5))
            for s, p_b, p_e in zip(spans, pads[:nd], pads[nd:])]
    with_bias = data.draw(st.booleans(), label="bias")
    auto_pad = data.draw(st.sampled_from(["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"]))
    if auto_pad.startswith("SAME"):
        dilations = [1] * nd                      # onnxruntime rejects dilated SAME padding
    if auto_pad == "VALID":
        size = [max(n, s) for n, s in zip(size, spans)]
    inputs = {"x": randn(2, group * cg, *size), "w": randn(group * mg, cg, *kernel),
              "b": randn(group * mg) if with_bias else None}
    attrs = {"group": group, "strides": strides, "dilations": dilations, "auto_pad": auto_pad}
    if auto_pad == "NOTSET":
        attrs["pads"] = pads
    check_node("Conv", inputs, attrs, opset=11, **LOOSE)


# ---------------------------------------------------------------------------------------------
# ConvTranspose
# ---------------------------------------------------------------------------------------------

CONV_TRANSPOSE_CASES = {
    "plain": dict(),
    "strided": dict(strides=[2, 2]),
    "strided, padded, output_padding": dict(strides=[2, 3], pads=[1, 0, 0, 1],
                                            output_padding=[1, 2]),
    "dilated": dict(dilations=[2, 1], strides=[1, 2]),
    "grouped": dict(group=2, strides=[2, 1]),
    "output_shape": dict(strides=[2, 2], output_shape=[17, 15]),
    "output_shape, SAME_UPPER": dict(strides=[2, 2], output_shape=[17, 15], auto_pad="SAME_UPPER"),
    "output_shape, SAME_LOWER": dict(strides=[2, 2], output_shape=[17, 15], auto_pad="SAME_LOWER"),
    "SAME_UPPER": dict(strides=[3, 2], auto_pad="SAME_UPPER"),
    "SAME_LOWER dilated": dict(strides=[3, 2], auto_pad="SAME_LOWER", dilations=[2, 2]),
    "VALID with output_padding": dict(strides=[3, 2], auto_pad="VALID", output_padding=[2, 1]),
}


@pytest.mark.parametrize("attrs", CONV_TRANSPOSE_CASES.values(), ids=CONV_TRANSPOSE_CASES.keys())
def test_conv_transpose_2d(attrs):
    inputs = {"x": randn(2, 4, 8, 7), "w": randn(4, 3, 3, 2), "b": randn(3 * attrs.get("group", 1))}
    check_node("ConvTranspose", inputs, attrs, opset=11, **LOOSE)


@pytest.mark.parametrize("shape, kernel, attrs", [
    ((1, 2, 6), (2, 3, 3), {"strides": [2], "pads": [1, 0]}),
    ((1, 2, 3, 4, 3), (2, 2, 2, 3, 2), {"strides": [2, 1, 2], "dilations": [1, 2, 1]}),
], ids=["1-D", "3-D"])
def test_conv_transpose_1d_and_3d(shape, kernel, attrs):
    check_node("ConvTranspose", {"x": randn(*shape), "w": randn(*kernel), "b": None}, attrs,
               opset=11, **LOOSE)


# ---------------------------------------------------------------------------------------------
# Pooling
# ---------------------------------------------------------------------------------------------

POOL_CASES = {
    "3x3 stride 2": dict(kernel_shape=[3, 3], strides=[2, 2]),
    "3x3 stride 2 ceil_mode": dict(kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
    "padded ceil_mode": dict(kernel_shape=[3, 2], strides=[2, 3], pads=[1, 1, 1, 0], ceil_mode=1),
    # The last ceil window would start inside the end padding, so it is dropped.
    "ceil_mode drops window in padding": dict(kernel_shape=[2, 2], strides=[2, 2],
                                              pads=[1, 1, 1, 1], ceil_mode=1),
    "SAME_UPPER": dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"),
    "SAME_LOWER": dict(kernel_shape=[2, 3], strides=[2, 2], auto_pad="SAME_LOWER"),
    "VALID": dict(kernel_shape=[3, 3], strides=[1, 2], auto_pad="VALID"),
    "VALID ceil_mode": dict(kernel_shape=[2, 2], strides=[3, 3], auto_pad="VALID", ceil_mode=1),
    # SAME pads go negative when the stride outgrows the kernel: windows shift into the input.
    "SAME stride > kernel": dict(kernel_shape=[1, 2], strides=[3, 4], auto_pad="SAME_UPPER"),
}


@pytest.mark.parametrize("storage_order", [0, 1])
@pytest.mark.parametrize("attrs", POOL_CASES.values(), ids=POOL_CASES.keys())
def test_max_pool_values_and_indices(attrs, storage_order):
    opset = 8 if "ceil_mode" not in attrs else 10
    check_node("MaxPool", {"x": randn(2, 3, 9, 8)}, dict(attrs, storage_order=storage_order),
               opset=opset, n_outputs=2)


def test_max_pool_dilated_3d_and_int8():
    attrs = dict(kernel_shape=[2, 3, 2], strides=[2, 2, 3], pads=[1, 0, 1, 0, 1, 1],
                 dilations=[1, 1, 2])
    check_node("MaxPool", {"x": randn(1, 2, 5, 6, 7)}, attrs, opset=12, n_outputs=2)
    x8 = RNG.integers(-128, 127, (1, 2, 5, 5), dtype=np.int8)
    check_node("MaxPool", {"x": x8}, dict(kernel_shape=[2, 2], pads=[1, 1, 1, 1]), opset=12)


@pytest.mark.parametrize("count_include_pad", [0, 1])
@pytest.mark.parametrize("attrs", POOL_CASES.values(), ids=POOL_CASES.keys())
def test_average_pool(attrs, count_include_pad):
    # Opset 19 because onnxruntime's older AveragePool rejects the negative SAME pads.
    check_node("AveragePool", {"x": randn(2, 3, 9, 8)},
               dict(attrs, count_include_pad=count_include_pad), opset=19)


def test_average_pool_dilated_needs_opset_19():
    attrs = dict(kernel_shape=[3, 3], dilations=[2, 1], strides=[2, 2], pads=[1, 1, 1, 1],
                 ceil_mode=1, count_include_pad=1)
    check_node("AveragePool", {"x": randn(1, 2, 9, 8)}, attrs, opset=19)


def test_average_pool_opset_7_has_no_ceil_mode():
    check_node("AveragePool", {"x": randn(1, 2, 7, 7)},
               dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1), opset=7)


@pytest.mark.parametrize("opset, attrs", [
    (11, dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], p=2)),
    (11, dict(kernel_shape=[2, 3], auto_pad="SAME_UPPER", p=3)),
    (18, dict(kernel_shape=[3, 3], strides=[2, 2], dilations=[1, 2], ceil_mode=1, p=1)),
])
def test_lp_pool(opset, attrs):
    check_node("LpPool", {"x": randn(2, 3, 9, 8)}, attrs, opset=opset, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", ["GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"])
@pytest.mark.parametrize("shape", [(2, 3, 7), (2, 3, 7, 6), (1, 2, 3, 4, 5)])
def test_global_pools_keep_spatial_dims_as_ones(op, shape):
    (y,) = check_node(op, {"x": randn(*shape)}, opset=11)
    assert y.shape == shape[:2] + (1,) * (len(shape) - 2)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_pool_random_geometry_matches_onnxruntime(data):
    nd = data.draw(st.integers(1, 3), label="spatial dims")
    kernel = [data.draw(st.integers(1, 3)) for _ in range(nd)]
    strides = [data.draw(st.integers(1, 3)) for _ in range(nd)]
    auto_pad = data.draw(st.sampled_from(["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"]))
    # onnxruntime sizes dilated SAME pools with the undilated kernel, against the spec.
    dilations = [data.draw(st.integers(1, 1 if auto_pad.startswith("SAME") else 2))
                 for _ in range(nd)]
    spans = [(k - 1) * d + 1 for k, d in zip(kernel, dilations)]
    size = [data.draw(st.integers(span, 7)) for span in spans]
    attrs = {"kernel_shape": kernel, "strides": strides, "dilations": dilations,
             "auto_pad": auto_pad, "ceil_mode": data.draw(st.integers(0, 1), label="ceil_mode")}
    if auto_pad == "NOTSET":
        attrs["pads"] = [data.draw(st.integers(0, k - 1)) for k in kernel * 2]
    x = randn(2, 2, *size)
    check_node("MaxPool", {"x": x}, dict(attrs, storage_order=data.draw(st.integers(0, 1))),
               opset=12, n_outputs=2)
    check_node("AveragePool", {"x": x},
               dict(attrs, count_include_pad=data.draw(st.integers(0, 1))), opset=19)


# ---------------------------------------------------------------------------------------------
# Normalization
# ---------------------------------------------------------------------------------------------

def batch_norm_inputs(channels=6):
    return {"x": randn(2, channels, 5, 4), "scale": randn(channels), "b": randn(channels),
            "mean": randn(channels), "var": np.abs(randn(channels)) + 0.1}


@pytest.mark.parametrize("opset", [7, 9, 14, 15])
def test_batch_normalization_inference(opset):
    check_node("BatchNormalization", batch_norm_inputs(), {"epsilon": 1e-3}, opset=opset,
               rtol=1e-5, atol=1e-5)


def test_batch_normalization_accepts_legacy_attributes():
    inputs = batch_norm_inputs()
    (y,) = run_reference("BatchNormalization", inputs, {"spatial": 1, "is_test": 1,
                                                        "momentum": 0.9}, opset=6)
    (expected,) = run_reference("BatchNormalization", inputs, {}, opset=9)
    np.testing.assert_array_equal(y, expected)


def test_batch_normalization_training_mode_updates_running_stats():
    check_node("BatchNormalization", batch_norm_inputs(), {"training_mode": 1, "momentum": 0.8},
               opset=15, n_outputs=3, **LOOSE)


@pytest.mark.parametrize("size", [1, 3, 5])
def test_lrn(size):
    check_node("LRN", {"x": randn(2, 7, 4, 3)},
               {"size": size, "alpha": 0.01, "beta": 0.6, "bias": 2.0}, opset=13)


def test_lrn_even_size_follows_the_spec_window():
    """onnxruntime rejects even sizes; the spec window is [c - (size-1)//2, c + ceil((size-1)/2)]."""
    x = randn(1, 4, 1, 1)
    (y,) = run_reference("LRN", {"x": x}, {"size": 2, "alpha": 1.0, "beta": 1.0, "bias": 0.5},
                         opset=13)
    sq = x[0, :, 0, 0] ** 2
    window = sq + np.append(sq[1:], 0)                        # channels c and c + 1
    np.testing.assert_allclose(y[0, :, 0, 0], x[0, :, 0, 0] / (0.5 + window / 2), rtol=1e-6)


def test_instance_normalization():
    check_node("InstanceNormalization", {"x": randn(2, 3, 5, 4), "s": randn(3), "b": randn(3)},
               {"epsilon": 1e-3}, opset=7, **LOOSE)


@pytest.mark.parametrize("axes", [None, [1, 2], [0, 1, 2, 3]])
def test_mean_variance_normalization(axes):
    attrs = {} if axes is None else {"axes": axes}
    check_node("MeanVarianceNormalization", {"x": randn(2, 3, 5, 4)}, attrs, opset=13, **LOOSE)


@pytest.mark.parametrize("axis", [-1, 1, 2])
def test_layer_normalization_gives_y_mean_and_inv_std_dev(axis):
    x = randn(2, 3, 5, 4)
    shape = x.shape[axis % 4:]
    y, mean, inv_std = check_node("LayerNormalization",
                                  {"x": x, "scale": randn(*shape), "b": randn(*shape)},
                                  {"axis": axis}, opset=17, n_outputs=3, **LOOSE)
    assert mean.shape == inv_std.shape == x.shape[:axis % 4] + (1,) * len(shape)


def test_layer_normalization_without_bias():
    check_node("LayerNormalization", {"x": randn(3, 8), "scale": randn(8), "b": None},
               {"epsilon": 1e-3}, opset=17, n_outputs=3, **LOOSE)


@pytest.mark.parametrize("opset, per", [(18, "group"), (21, "channel")])
def test_group_normalization_scale_is_per_group_in_18_per_channel_in_21(opset, per):
    n = 3 if per == "group" else 6
    check_node("GroupNormalization", {"x": randn(2, 6, 5, 4), "s": randn(n), "b": randn(n)},
               {"num_groups": 3}, opset=opset, **LOOSE)


# ---------------------------------------------------------------------------------------------
# Gemm and MatMul
# ---------------------------------------------------------------------------------------------

C_SHAPES = {"full": (3, 5), "row": (5,), "row 2-D": (1, 5), "column": (3, 1), "scalar": (1,)}


@pytest.mark.parametrize("opset", [7, 9, 13])
@pytest.mark.parametrize("c_shape", C_SHAPES.values(), ids=C_SHAPES.keys())
@pytest.mark.parametrize("trans_a, trans_b", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_gemm(trans_a, trans_b, c_shape, opset):
    a = randn(4, 3) if trans_a else randn(3, 4)
    b = randn(5, 4) if trans_b else randn(4, 5)
    check_node("Gemm", {"a": a, "b": b, "c": randn(*c_shape)},
               {"transA": trans_a, "transB": trans_b, "alpha": 0.5, "beta": 2.0}, opset=opset)


def test_gemm_c_is_optional_from_opset_11():
    check_node("Gemm", {"a": randn(3, 4), "b": randn(4, 5), "c": None}, {"alpha": 3.0}, opset=11)


def test_gemm_opset_6_accepts_broadcast():
    """onnxruntime has no Gemm-6 kernel; compare with opset 7, where broadcasting is implicit."""
    inputs = {"a": randn(3, 4), "b": randn(4, 5), "c": randn(5)}
    (y6,) = run_reference("Gemm", inputs, {"broadcast": 1, "beta": 0.5}, opset=6)
    check_node("Gemm", inputs, {"beta": 0.5}, opset=7)
    (y7,) = run_reference("Gemm", inputs, {"beta": 0.5}, opset=7)
    np.testing.assert_array_equal(y6, y7)


MATMUL_SHAPES = {
    "vector . vector": ((4,), (4,)),
    "vector . matrix": ((4,), (4, 3)),
    "matrix . vector": ((2, 4), (4,)),
    "batched . matrix": ((2, 3, 4), (4, 5)),
    "broadcast batches": ((2, 1, 3, 4), (5, 4, 2)),
    "vector . batched": ((4,), (2, 4, 3)),
}


@pytest.mark.parametrize("opset", [9, 13])
@pytest.mark.parametrize("shapes", MATMUL_SHAPES.values(), ids=MATMUL_SHAPES.keys())
def test_matmul(shapes, opset):
    check_node("MatMul", {"a": randn(*shapes[0]), "b": randn(*shapes[1])}, opset=opset,
               rtol=1e-5, atol=1e-5)


def test_matmul_int64():
    a, b = np.arange(6, dtype=np.int64).reshape(2, 3), np.arange(6, dtype=np.int64).reshape(3, 2)
    check_node("MatMul", {"a": a, "b": b}, opset=13)


# ---------------------------------------------------------------------------------------------
# Softmax, LogSoftmax, Hardmax
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("opset", [11, 13])
@pytest.mark.parametrize("axis", [None, 0, 1, 2, -1, -3])
@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
def test_softmax_family_on_3d_input(op, axis, opset):
    """Opset 11 flattens to 2-D at ``axis`` (default 1); opset 13 reduces along ``axis`` only."""
    attrs = {} if axis is None else {"axis": axis}
    check_node(op, {"x": randn(2, 3, 4) * 5}, attrs, opset=opset)


def test_softmax_versions_differ_on_3d_input():
    x = randn(2, 3, 4)
    (v11,) = run_reference("Softmax", {"x": x}, {"axis": 1}, opset=11)
    (v13,) = run_reference("Softmax", {"x": x}, {"axis": 1}, opset=13)
    np.testing.assert_allclose(v11.sum(axis=(1, 2)), 1, rtol=1e-6)
    np.testing.assert_allclose(v13.sum(axis=1), 1, rtol=1e-6)
    assert not np.allclose(v11, v13)


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
def test_softmax_is_stable_for_large_inputs(op):
    (y,) = check_node(op, {"x": np.array([[1000, 0, -1000]], np.float32)}, opset=13)
    assert np.all(np.isfinite(y))


def test_hardmax_picks_the_first_maximum():
    (y,) = check_node("Hardmax", {"x": np.array([[1, 3, 3], [2, 2, 0]], np.float32)}, opset=13)
    np.testing.assert_array_equal(y, [[0, 1, 0], [1, 0, 0]])


# ---------------------------------------------------------------------------------------------
# Dropout
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("opset, mask_dtype", [(6, np.float32), (7, np.float32), (10, np.bool_)])
def test_dropout_before_12_is_identity_with_a_keep_everything_mask(opset, mask_dtype):
    """onnxruntime fills these masks with zeros; RONN's mask says every element was kept."""
    x = randn(2, 3, 4)
    y, mask = run_reference("Dropout", {"x": x}, {"ratio": 0.3}, opset=opset)
    if opset >= 7:
        check_node("Dropout", {"x": x}, {"ratio": 0.3}, opset=opset)
    np.testing.assert_array_equal(y, x)
    assert mask.dtype == mask_dtype and mask.shape == x.shape and np.all(mask)


@pytest.mark.parametrize("inputs", ["data only", "ratio", "ratio and training_mode=False"])
def test_dropout_12_plus_inference_matches_onnxruntime(inputs):
    feeds = {"x": randn(2, 3, 4)}
    if inputs != "data only":
        feeds["ratio"] = np.array(0.4, np.float32)
    if inputs == "ratio and training_mode=False":
        feeds["training_mode"] = np.array(False)
    check_node("Dropout", feeds, opset=13, n_outputs=2)


def test_dropout_training_needs_a_seed():
    feeds = {"x": randn(100), "ratio": np.array(0.5, np.float32), "training_mode": np.array(True)}
    with pytest.raises(NotImplementedError, match="seed"):
        run_reference("Dropout", feeds, opset=13)
    y, mask = run_reference("Dropout", feeds, {"seed": 7}, opset=13)
    y2, _ = run_reference("Dropout", feeds, {"seed": 7}, opset=13)
    np.testing.assert_array_equal(y, y2)
    assert mask.dtype == np.bool_ and 0 < mask.sum() < 100
    np.testing.assert_allclose(y, np.where(mask, feeds["x"] * 2, 0), rtol=1e-6)
