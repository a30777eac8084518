"""Resize/Upsample, quantization and image ops through ``ronn.InferenceSession``, against
onnxruntime."""

from __future__ import annotations

import itertools

import ml_dtypes
import numpy as np
import onnx
import onnx.numpy_helper
import pytest
from onnx import TensorProto, helper

import ronn
from op_harness import node_model, run_onnxruntime

RNG = np.random.default_rng(7)


def run_ronn(model: onnx.ModelProto, inputs: dict) -> list:
    sess = ronn.InferenceSession(model.SerializeToString())
    return sess.run(None, {k: v for k, v in inputs.items() if v is not None})


def _is_ml_dtype(dtype) -> bool:
    return np.dtype(dtype).type.__module__ == "ml_dtypes"


def _as_initializers(model: onnx.ModelProto, inputs: dict) -> dict:
    """Inputs of ml_dtypes types (which onnxruntime's Python API can't feed) made initializers."""
    feeds = {}
    for name, value in inputs.items():
        if value is not None and _is_ml_dtype(value.dtype):
            model.graph.initializer.append(onnx.numpy_helper.from_array(value, name))
            kept = [i for i in model.graph.input if i.name != name]
            del model.graph.input[:]
            model.graph.input.extend(kept)
        else:
            feeds[name] = value
    return feeds


def compare(op, inputs, attrs=None, *, opset, n_outputs=1, atol=1e-5, rtol=1e-5):
    """Run one node in RONN and onnxruntime; assert equal dtypes, shapes and values."""
    model = node_model(op, inputs, attrs, opset=opset, n_outputs=n_outputs)
    inputs = _as_initializers(model, inputs)
    expected = run_onnxruntime(model, inputs)
    got = run_ronn(model, inputs)
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        g = np.asarray(g)
        if _is_ml_dtype(g.dtype) and e.dtype == np.uint8:   # onnxruntime returns float8 as bytes
            g = g.view(np.uint8)
        assert g.dtype == e.dtype and g.shape == e.shape, (g.dtype, g.shape, e.dtype, e.shape)
        if e.dtype.kind in "iub":
            np.testing.assert_allclose(g.astype(np.int64), e.astype(np.int64), atol=atol, rtol=0)
        else:
            np.testing.assert_allclose(g.astype(np.float64), e.astype(np.float64), atol=atol,
                                       rtol=rtol)
    return got


# --- Resize ------------------------------------------------------------------------------------

IMAGE = RNG.uniform(-5, 5, (1, 3, 17, 23)).astype(np.float32)
TARGETS = [("scales", [1, 1, 2.0, 1.5]), ("scales", [1, 1, 0.5, 0.7]),
           ("scales", [1, 1, 1 / 3, 3.3]), ("sizes", [1, 3, 40, 9]), ("sizes", [1, 3, 5, 50])]
CTMS = ["half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
        "asymmetric", "tf_crop_and_resize"]


def resize_inputs(x, kind, value, ctm="half_pixel"):
    roi = np.array([0, 0, 0.1, 0.2, 1, 1, 0.8, 0.9], np.float32) \
        if ctm == "tf_crop_and_resize" else None
    return {"X": x, "roi": roi,
            "scales": np.array(value, np.float32) if kind == "scales" else None,
            "sizes": np.array(value, np.int64) if kind == "sizes" else None}


# align_corners with scales: onnxruntime uses the rounded output length, the spec the exact one;
# RONN follows the spec, which the conformance suite's resize cases check.
@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
@pytest.mark.parametrize("ctm, target", [(c, t) for c in CTMS for t in TARGETS
                                         if not (c == "align_corners" and t[0] == "scales")],
                         ids=lambda v: v if isinstance(v, str) else f"{v[0]}{v[1][2:]}")
def test_resize_modes(mode, ctm, target):
    kind, value = target
    attrs = {"mode": mode, "coordinate_transformation_mode": ctm, "extrapolation_value": -7.0}
    compare("Resize", resize_inputs(IMAGE, kind, value, ctm), attrs, opset=19, atol=1e-4)


@pytest.mark.parametrize("nearest_mode", ["round_prefer_floor", "round_prefer_ceil", "floor",
                                          "ceil"])
@pytest.mark.parametrize("target", TARGETS, ids=lambda t: f"{t[0]}{t[1][2:]}")
def test_resize_nearest_modes(nearest_mode, target):
    attrs = {"mode": "nearest", "nearest_mode": nearest_mode}
    compare("Resize", resize_inputs(IMAGE, *target), attrs, opset=19, atol=0)


@pytest.mark.parametrize("mode", ["linear", "cubic"])
@pytest.mark.parametrize("target", TARGETS, ids=lambda t: f"{t[0]}{t[1][2:]}")
@pytest.mark.parametrize("exclude_outside", [0, 1])
def test_resize_antialias(mode, target, exclude_outside):
    attrs = {"mode": mode, "antialias": 1, "exclude_outside": exclude_outside,
             "cubic_coeff_a": -0.5}
    compare("Resize", resize_inputs(IMAGE, *target), attrs, opset=19, atol=1e-4)


@pytest.mark.parametrize("policy", ["not_larger", "not_smaller"])
@pytest.mark.parametrize("axes", [[2, 3], [3, 2]])
@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_resize_axes_and_aspect_ratio(policy, axes, mode):
    inputs = {"X": IMAGE, "roi": None, "scales": None, "sizes": np.array([30, 12], np.int64)}
    attrs = {"mode": mode, "axes": axes, "keep_aspect_ratio_policy": policy}
    compare("Resize", inputs, attrs, opset=19, atol=1e-4)


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_resize_uint8_image(mode):
    x = RNG.integers(0, 256, (1, 3, 17, 23)).astype(np.uint8)
    inputs = {"X": x, "roi": None, "scales": np.array([1, 1, 2.0, 0.7], np.float32)}
    compare("Resize", inputs, {"mode": mode}, opset=13, atol=1)   # rounding is unspecified


def test_resize_3d_volume():
    x = RNG.uniform(-1, 1, (1, 2, 5, 6, 7)).astype(np.float32)
    inputs = {"X": x, "roi": None, "scales": np.array([1, 1, 1.5, 2, 0.6], np.float32)}
    compare("Resize", inputs, {"mode": "linear"}, opset=13, atol=1e-5)


@pytest.mark.parametrize("mode", ["nearest", "linear"])
@pytest.mark.parametrize("scales", [[1, 1, 2, 2], [1, 1, 1.3, 2.7], [1, 1, 0.5, 0.7]])
def test_resize_10_and_upsample(mode, scales):
    inputs = {"X": IMAGE, "scales": np.array(scales, np.float32)}
    compare("Resize", inputs, {"mode": mode}, opset=10)
    if min(scales) >= 1:
        compare("Upsample", inputs, {"mode": mode}, opset=9)
        compare("Upsample", {"X": IMAGE}, {"mode": mode, "scales": [float(s) for s in scales]},
                opset=7)


# --- quantization ------------------------------------------------------------------------------

@pytest.mark.parametrize("zp_dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("per_channel", [False, True])
def test_qlinear_conv(zp_dtype, per_channel):
    lo, hi = (0, 256) if zp_dtype == np.uint8 else (-128, 128)
    x = RNG.integers(lo, hi, (1, 4, 11, 13)).astype(zp_dtype)
    w = RNG.integers(-128, 128, (6, 2, 3, 3)).astype(np.int8)
    w_scale = RNG.uniform(0.001, 0.01, 6 if per_channel else ()).astype(np.float32)
    inputs = {"x": x, "x_scale": np.array(0.05, np.float32), "x_zp": np.array(lo + 7, zp_dtype),
              "w": w, "w_scale": w_scale, "w_zp": np.zeros(w_scale.shape, np.int8),
              "y_scale": np.array(0.2, np.float32), "y_zp": np.array(lo + 100, zp_dtype),
              "b": RNG.integers(-500, 500, 6).astype(np.int32)}
    attrs = {"group": 2, "pads": [1, 0, 1, 2], "strides": [2, 1]}
    compare("QLinearConv", inputs, attrs, opset=10, atol=1)   # ties may round either way


@pytest.mark.parametrize("a_dtype,b_dtype", [(np.uint8, np.uint8), (np.uint8, np.int8),
                                             (np.int8, np.int8)])
def test_qlinear_matmul_and_matmul_integer(a_dtype, b_dtype):
    def q(dtype, shape):
        lo, hi = (0, 256) if dtype == np.uint8 else (-128, 128)
        return RNG.integers(lo, hi, shape).astype(dtype), np.array(3 if lo == 0 else -2, dtype)
    (a, a_zp), (b, b_zp) = q(a_dtype, (2, 5, 16)), q(b_dtype, (16, 7))
    inputs = {"a": a, "a_scale": np.array(0.02, np.float32), "a_zp": a_zp,
              "b": b, "b_scale": np.array(0.03, np.float32), "b_zp": b_zp,
              "y_scale": np.array(0.5, np.float32), "y_zp": np.array(9, a_dtype)}
    compare("QLinearMatMul", inputs, opset=10, atol=1)
    compare("MatMulInteger", {"a": a, "b": b, "a_zp": a_zp, "b_zp": b_zp}, opset=10, atol=0)


def test_conv_integer():
    x = RNG.integers(0, 256, (1, 3, 8, 9)).astype(np.uint8)
    w = RNG.integers(0, 256, (4, 3, 3, 3)).astype(np.uint8)
    inputs = {"x": x, "w": w, "x_zp": np.array(12, np.uint8), "w_zp": np.array(100, np.uint8)}
    compare("ConvInteger", inputs, {"pads": [1, 1, 1, 1]}, opset=10, atol=0)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int32])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_dequantize_per_axis(dtype, axis):
    info = np.iinfo(dtype)
    x = RNG.integers(max(info.min, -1000), min(info.max, 1000), (3, 4, 5)).astype(dtype)
    n = x.shape[axis]
    inputs = {"x": x, "scale": RNG.uniform(0.01, 2, n).astype(np.float32),
              "zp": None if dtype == np.int32 else RNG.integers(0, 50, n).astype(dtype)}
    compare("DequantizeLinear", inputs, {"axis": axis}, opset=13)


@pytest.mark.parametrize("zp_dtype", [np.uint8, np.int8, np.int16, np.uint16, ml_dtypes.int4,
                                      ml_dtypes.uint4])
def test_quantize_dequantize_blocked(zp_dtype):
    x = RNG.uniform(-20, 20, (4, 10)).astype(np.float32)
    scale = RNG.uniform(0.05, 0.5, (4, 3)).astype(np.float32)
    zp = np.zeros((4, 3), dtype=zp_dtype)
    attrs = {"axis": 1, "block_size": 4}
    if zp.dtype in (np.dtype(ml_dtypes.int4), np.dtype(ml_dtypes.uint4)):
        # onnxruntime can't return 4-bit tensors: compare the QuantizeLinear -> Dequantize chain.
        graph = helper.make_graph(
            [helper.make_node("QuantizeLinear", ["x", "scale", "zp"], ["q"], **attrs),
             helper.make_node("DequantizeLinear", ["q", "scale", "zp"], ["y"], **attrs)],
            "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, x.shape)],
            [onnx.numpy_helper.from_array(scale, "scale"), onnx.numpy_helper.from_array(zp, "zp")])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
        model.ir_version = 10
        np.testing.assert_allclose(run_ronn(model, {"x": x})[0],
                                   run_onnxruntime(model, {"x": x})[0], rtol=1e-6)
        return
    q = compare("QuantizeLinear", {"x": x, "scale": scale, "zp": zp}, attrs, opset=21, atol=0)[0]
    compare("DequantizeLinear", {"x": q, "scale": scale, "zp": zp}, attrs, opset=21)


@pytest.mark.parametrize("target", [np.uint8, np.int8, ml_dtypes.float8_e4m3fn])
def test_quantize_saturates_and_rounds_half_even(target):
    x = np.array([-1e6, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.49, 1e6, 300.0], np.float32)
    inputs = {"x": x, "scale": np.array(1.0, np.float32), "zp": np.zeros((), target)}
    compare("QuantizeLinear", inputs, opset=19, atol=0)


@pytest.mark.parametrize("saturate,largest", [(1, 57344.0), (0, np.inf)])
def test_quantize_float8_e5m2_saturate(saturate, largest):
    """onnxruntime can't return float8e5m2 to Python: check the spec's values directly."""
    x = np.array([1e6, -1e6, 2.5, 0.1], np.float32)
    inputs = {"x": x, "scale": np.array(0.5, np.float32)}
    model = node_model("QuantizeLinear", inputs, {"saturate": saturate,
                                                  "output_dtype": TensorProto.FLOAT8E5M2},
                       opset=21)
    (got,) = run_ronn(model, inputs)
    assert got.dtype == ml_dtypes.float8_e5m2
    np.testing.assert_array_equal(got.astype(np.float32), [largest, -largest, 5.0, 0.1875])


def test_dynamic_quantize_linear():
    x = RNG.uniform(-3, 7, (5, 9)).astype(np.float32)
    compare("DynamicQuantizeLinear", {"x": x}, opset=11, n_outputs=3, atol=0)


# --- image ops ---------------------------------------------------------------------------------

@pytest.mark.parametrize("mode,opset", [("bilinear", 16), ("nearest", 16), ("bicubic", 16),
                                        ("linear", 20), ("cubic", 20)])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [0, 1])
def test_grid_sample(mode, opset, padding_mode, align_corners):
    x = RNG.uniform(-3, 3, (2, 3, 9, 11)).astype(np.float32)
    grid = RNG.uniform(-1.3, 1.3, (2, 5, 7, 2)).astype(np.float32)
    attrs = {"mode": mode, "padding_mode": padding_mode, "align_corners": align_corners}
    compare("GridSample", {"X": x, "grid": grid}, attrs, opset=opset, atol=1e-5)


def test_roi_align_and_nms():
    x = RNG.uniform(0, 5, (2, 3, 20, 24)).astype(np.float32)
    rois = np.array([[0, 0, 9, 9], [2.3, 1.1, 17.5, 19.2], [-3, -2, 30, 25]], np.float32)
    batch = np.array([0, 1, 0], np.int64)
    for mode, ratio in itertools.product(["avg", "max"], [0, 2]):
        attrs = {"mode": mode, "sampling_ratio": ratio, "spatial_scale": 0.5,
                 "output_height": 3, "output_width": 4}
        compare("RoiAlign", {"X": x, "rois": rois, "b": batch}, attrs, opset=16)
    boxes = RNG.uniform(0, 10, (2, 30, 4)).astype(np.float32)
    scores = RNG.uniform(0, 1, (2, 3, 30)).astype(np.float32)
    for center, (limit, iou, score) in itertools.product([0, 1], [(5, 0.3, 0.2), (50, 0.5, 0)]):
        inputs = {"boxes": boxes, "scores": scores, "m": np.array([limit], np.int64),
                  "iou": np.array([iou], np.float32), "score": np.array([score], np.float32)}
        compare("NonMaxSuppression", inputs, {"center_point_box": center}, opset=11, atol=0)


def test_deform_conv_and_col2im():
    x = RNG.uniform(-1, 1, (2, 4, 7, 8)).astype(np.float32)
    w = RNG.uniform(-1, 1, (6, 2, 3, 3)).astype(np.float32)
    inputs = {"X": x, "W": w, "offset": RNG.uniform(-2, 2, (2, 36, 4, 4)).astype(np.float32),
              "B": RNG.uniform(-1, 1, 6).astype(np.float32),
              "mask": RNG.uniform(0, 1, (2, 18, 4, 4)).astype(np.float32)}
    attrs = {"group": 2, "offset_group": 2, "pads": [1, 1, 1, 0], "strides": [2, 2]}
    compare("DeformConv", inputs, attrs, opset=19)
    cols = RNG.uniform(-1, 1, (2, 18, 25)).astype(np.float32)
    inputs = {"input": cols, "image_shape": np.array([9, 8], np.int64),
              "block_shape": np.array([2, 3], np.int64)}
    compare("Col2Im", inputs, {"strides": [2, 1], "pads": [1, 0, 1, 1], "dilations": [1, 2]},
            opset=18)


def test_kernels_can_fail():
    """The comparison catches a wrong answer (guards against a vacuous harness)."""
    inputs = resize_inputs(IMAGE, "scales", [1, 1, 2.0, 1.5])
    model = node_model("Resize", inputs, {"mode": "linear"}, opset=19)
    (expected,) = run_onnxruntime(model, inputs)
    model = node_model("Resize", inputs, {"mode": "cubic"}, opset=19)
    (got,) = run_ronn(model, inputs)
    assert not np.allclose(got, expected, atol=1e-4)
