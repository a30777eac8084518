"""The CPU provider's fast kernels give the reference kernels' results (hypothesis)."""

from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

import ronn
import ronn_opset_onnx.plugin
from ronn_core import Runtime
from ronn_cpu.kernels import activations, conv, conv_direct, gemm
from cpu_harness import REFERENCE, ReferenceOnlyCPU, one_node, ronn_node


def assert_fast_matches_reference(model, x, rtol=1e-4, atol=1e-5, threads=None):
    data = model.SerializeToString()
    fast = ronn.Model.load(data).create_session(optimization_level="O0", threads=threads)
    assert fast.placement[0].kernel_plugin == "cpu", "the fast kernel did not run"
    slow = ronn.Model.load(data).create_session(optimization_level="O0", runtime=REFERENCE)
    assert slow.placement[0].kernel_plugin == "ronn_opset_onnx.plugin"
    got, want = fast.run({"x": x})["y"], slow.run({"x": x})["y"]
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


@st.composite
def conv_cases(draw):
    group = draw(st.sampled_from([1, 1, 2, 3]))
    depthwise = draw(st.booleans())
    cg = 1 if depthwise else draw(st.integers(1, 3))
    c = cg * group if not depthwise else draw(st.integers(1, 4))
    if depthwise:
        group = c
    m = group * draw(st.integers(1, 3))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    h, w = draw(st.integers(kh, 12)), draw(st.integers(kw, 12))
    attrs = {"group": group, "kernel_shape": [kh, kw],
             "strides": [draw(st.integers(1, 3)), draw(st.integers(1, 3))],
             "dilations": [draw(st.integers(1, 2)), draw(st.integers(1, 2))]}
    auto_pad = draw(st.sampled_from(["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"]))
    if auto_pad == "NOTSET":
        attrs["pads"] = [draw(st.integers(0, 2)) for _ in range(4)]
    else:
        attrs["auto_pad"] = auto_pad
    eh, ew = (kh - 1) * attrs["dilations"][0] + 1, (kw - 1) * attrs["dilations"][1] + 1
    h, w = max(h, eh), max(w, ew)
    seed = draw(st.integers(0, 2**16))
    return draw(st.integers(1, 2)), c, h, w, m, cg, kh, kw, attrs, draw(st.booleans()), seed


CONV_PATHS = ["as chosen", "no gather", "no gather, no direct kernel"]


def on_path(path: str, check, *args):
    """``check(*args)`` with the tiny-conv gather path off (``no gather``: the direct kernel or
    the column matrix runs instead), and the direct kernel off too (the column matrix)."""
    with patch.object(conv, "GATHER_MAX_COLS", 0 if "no gather" in path else
                      conv.GATHER_MAX_COLS), \
            patch.object(conv_direct, "ENABLED", "no direct" not in path and
                         conv_direct.ENABLED):
        check(*args)


@settings(max_examples=60, deadline=None)
@given(conv_cases(), st.sampled_from(CONV_PATHS))
def test_fast_conv_matches_reference(case, path):
    """Small cases take the gather path (gather_index) unless it is off."""
    on_path(path, check_conv, case)


def check_conv(case):
    n, c, h, w, m, cg, kh, kw, attrs, with_bias, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    weights = [rng.standard_normal((m, cg, kh, kw)).astype(np.float32)]
    if with_bias:
        weights.append(rng.standard_normal(m).astype(np.float32))
    assert_fast_matches_reference(one_node("Conv", x, attrs, weights), x)


@settings(max_examples=60, deadline=None)
@given(k=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       s=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       d=st.tuples(st.integers(1, 2), st.integers(1, 2)),
       pads=st.lists(st.integers(0, 1), min_size=4, max_size=4),
       ceil=st.sampled_from([0, 1]), auto_pad=st.sampled_from(["NOTSET", "SAME_UPPER", "VALID"]),
       size=st.tuples(st.integers(4, 11), st.integers(4, 11)), seed=st.integers(0, 999))
def test_fast_maxpool_matches_reference(k, s, d, pads, ceil, auto_pad, size, seed):
    pads = [min(p, kk - 1) for p, kk in zip(pads, (*k, *k))]
    size = tuple(max(n, (kk - 1) * dd + 1) for n, kk, dd in zip(size, k, d))   # window fits
    attrs = {"kernel_shape": list(k), "strides": list(s), "dilations": list(d),
             "ceil_mode": ceil}
    if auto_pad == "NOTSET":
        attrs["pads"] = pads
    else:
        attrs["auto_pad"] = auto_pad
        if auto_pad != "VALID":
            attrs["dilations"] = [1, 1]
    x = np.random.default_rng(seed).standard_normal((2, 3, *size)).astype(np.float32)
    assert_fast_matches_reference(one_node("MaxPool", x, attrs), x, rtol=0, atol=0)


def test_conv_with_weights_fed_at_run_time_uses_the_reference_kernel():
    """Prepacking needs constant weights; a fed weight still runs (through the reference)."""
    x = np.ones((1, 1, 3, 3), np.float32)
    w_info = helper.make_tensor_value_info("w", TensorProto.FLOAT, [1, 1, 2, 2])
    graph = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"])], "conv",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape),
                               w_info], [helper.make_empty_tensor_value_info("y")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    session = ronn.Model.load(model.SerializeToString()).create_session()
    y = session.run({"x": x, "w": np.full((1, 1, 2, 2), 2, np.float32)})["y"]
    np.testing.assert_array_equal(y, np.full((1, 1, 2, 2), 8, np.float32))


FUSED = Runtime(plugins=[ronn_opset_onnx.plugin, ReferenceOnlyCPU,
                         __import__("ronn_passes.plugin").plugin], discover=False)


@settings(max_examples=30, deadline=None)
@given(activation=st.sampled_from([("Relu", []), ("LeakyRelu", [0.2]), ("Sigmoid", []),
                                   ("HardSigmoid", [0.3, 0.4]), ("Clip", [-0.5, 0.5]),
                                   ("Tanh", [])]),
       stride=st.integers(1, 2), seed=st.integers(0, 999))
def test_fast_fused_conv_matches_the_passes_plugin_reference(activation, stride, seed):
    name, params = activation
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((1, 3, 9, 9)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    data = ronn_node("FusedConv", {"x": x}, {"w": w, "b": b}, ["x", "w", "b"], name, params,
                     pads=[1, 1, 1, 1], strides=[stride, stride]).SerializeToString()
    fast = ronn.Model.load(data).create_session(optimization_level="O0")
    assert fast.placement[0].kernel_plugin == "cpu"
    slow = ronn.Model.load(data).create_session(optimization_level="O0", runtime=FUSED)
    np.testing.assert_allclose(fast.run({"x": x})["y"], slow.run({"x": x})["y"],
                               rtol=1e-4, atol=1e-5)


@settings(max_examples=40, deadline=None)
@given(c=st.integers(1, 5), m=st.integers(1, 6), k=st.integers(1, 4), stride=st.integers(1, 3),
       dilation=st.integers(1, 2), pads=st.tuples(st.integers(0, 2), st.integers(0, 2)),
       length=st.integers(0, 20), auto_pad=st.sampled_from(["NOTSET", "SAME_UPPER", "VALID"]),
       with_bias=st.booleans(), seed=st.integers(0, 999), path=st.sampled_from(CONV_PATHS))
def test_fast_conv_1d_matches_reference(c, m, k, stride, dilation, pads, length, auto_pad,
                                        with_bias, seed, path):
    on_path(path, check_conv_1d, c, m, k, stride, dilation, pads, length, auto_pad, with_bias,
            seed)


def check_conv_1d(c, m, k, stride, dilation, pads, length, auto_pad, with_bias, seed):
    rng = np.random.default_rng(seed)
    length += (k - 1) * dilation + 1
    x = rng.standard_normal((2, c, length)).astype(np.float32)
    weights = [rng.standard_normal((m, c, k)).astype(np.float32)]
    if with_bias:
        weights.append(rng.standard_normal(m).astype(np.float32))
    attrs = {"strides": [stride], "dilations": [dilation]}
    if auto_pad == "NOTSET":
        attrs["pads"] = list(pads)
    else:
        attrs["auto_pad"] = auto_pad
    assert_fast_matches_reference(one_node("Conv", x, attrs, weights), x)


@pytest.fixture
def parallel_loops(monkeypatch):
    """Every numba loop takes its parallel twin, however small the problem."""
    monkeypatch.setattr(activations, "PARALLEL_MIN", 1)


@pytest.mark.parametrize("direct", [False, True])
@pytest.mark.parametrize("depthwise", [False, True])
@pytest.mark.parametrize("stride,pad", [(1, 1), (2, 0)])
def test_fast_conv_parallel_loops_match_reference(parallel_loops, monkeypatch, direct, depthwise,
                                                  stride, pad):
    monkeypatch.setattr(conv_direct, "ENABLED", direct)
    rng = np.random.default_rng(stride * 10 + pad)
    c, m = 8, 16
    group = c if depthwise else 1
    x = rng.standard_normal((2, c, 13, 11)).astype(np.float32)
    w = rng.standard_normal((m, c // group, 3, 3)).astype(np.float32)
    b = rng.standard_normal(m).astype(np.float32)
    attrs = {"group": group, "strides": [stride, stride], "pads": [pad] * 4}
    assert_fast_matches_reference(one_node("Conv", x, attrs, [w, b]), x)


@pytest.mark.parametrize("op,attrs", [
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("AveragePool", {"kernel_shape": [3, 2], "pads": [1, 0, 1, 1], "count_include_pad": 1}),
    ("GlobalAveragePool", {})])
def test_fast_pool_parallel_loops_match_reference(parallel_loops, op, attrs):
    x = np.random.default_rng(1).standard_normal((2, 5, 9, 8)).astype(np.float32)
    assert_fast_matches_reference(one_node(op, x, attrs), x)


@settings(max_examples=60, deadline=None)
@given(k=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       s=st.tuples(st.integers(1, 3), st.integers(1, 3)),
       pads=st.lists(st.integers(0, 1), min_size=4, max_size=4),
       ceil=st.sampled_from([0, 1]), include_pad=st.sampled_from([0, 1]),
       auto_pad=st.sampled_from(["NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"]),
       size=st.tuples(st.integers(4, 11), st.integers(4, 11)), one_d=st.booleans(),
       seed=st.integers(0, 999))
def test_fast_average_pool_matches_reference(k, s, pads, ceil, include_pad, auto_pad, size,
                                             one_d, seed):
    pads = [min(p, kk - 1) for p, kk in zip(pads, (*k, *k))]
    attrs = {"kernel_shape": list(k), "strides": list(s), "ceil_mode": ceil,
             "count_include_pad": include_pad}
    if auto_pad == "NOTSET":
        attrs["pads"] = pads
    else:
        attrs["auto_pad"] = auto_pad
    if one_d:
        attrs = {**attrs, "kernel_shape": [k[0]], "strides": [s[0]]}
        if "pads" in attrs:
            attrs["pads"] = [pads[0], pads[2]]
        shape = (2, 3, size[0])
    else:
        shape = (2, 3, *size)
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    assert_fast_matches_reference(one_node("AveragePool", x, attrs, opset=19), x)


@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 9), min_size=3, max_size=4),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 999))
def test_fast_global_average_pool_matches_reference(shape, dtype, seed):
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    assert_fast_matches_reference(one_node("GlobalAveragePool", x, {}), x)


def test_fast_maxpool_propagates_nan_and_handles_1d():
    x = np.arange(12, dtype=np.float32).reshape(1, 2, 6)
    x[0, 0, 1] = np.nan
    assert_fast_matches_reference(one_node("MaxPool", x, {"kernel_shape": [2], "strides": [2]}),
                                  x, rtol=0, atol=0)


@st.composite
def gemm_cases(draw):
    m, k, n = draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(1, 6))
    trans_a, trans_b = draw(st.booleans()), draw(st.booleans())
    c_shape = draw(st.sampled_from([None, (n,), (1, n), (m, n), (m, 1), ()]))
    alpha = draw(st.sampled_from([1.0, 0.5, -2.0]))
    beta = draw(st.sampled_from([1.0, 0.0, 3.0]))
    return m, k, n, trans_a, trans_b, c_shape, alpha, beta, draw(st.integers(0, 999))


@settings(max_examples=60, deadline=None)
@given(gemm_cases(), st.booleans())
def test_fast_gemm_matches_reference(case, small):
    """Tiny cases take small_gemm unless ``small`` is off (then BLAS and the epilogue run)."""
    saved = gemm.SMALL_MACS
    gemm.SMALL_MACS = saved if small else 0
    try:
        check_gemm(case)
    finally:
        gemm.SMALL_MACS = saved


def check_gemm(case):
    m, k, n, trans_a, trans_b, c_shape, alpha, beta, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((k, m) if trans_a else (m, k)).astype(np.float32)
    consts = [rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)]
    if c_shape is not None:
        consts.append(np.asarray(rng.standard_normal(c_shape), np.float32))
    attrs = {"transA": int(trans_a), "transB": int(trans_b), "alpha": alpha, "beta": beta}
    assert_fast_matches_reference(one_node("Gemm", x, attrs, consts), x)


@settings(max_examples=30, deadline=None)
@given(activation=st.sampled_from([("Relu", []), ("LeakyRelu", [0.2]), ("Sigmoid", []),
                                   ("HardSigmoid", [0.3, 0.4]), ("Clip", [-0.5, 0.5]),
                                   ("Tanh", [])]),
       rows=st.sampled_from([1, 3, 300]), parallel=st.booleans(), seed=st.integers(0, 999))
def test_fast_fused_gemm_matches_the_passes_plugin_reference(activation, rows, parallel, seed):
    """With ``parallel`` every epilogue takes the parallel loop."""
    with patch.object(activations, "PARALLEL_MIN", 1 if parallel else activations.PARALLEL_MIN):
        check_fused_gemm(activation, rows, seed)


def check_fused_gemm(activation, rows, seed):
    name, params = activation
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((rows, 16)) * 3).astype(np.float32)
    w = rng.standard_normal((16, 128)).astype(np.float32)
    b = rng.standard_normal(128).astype(np.float32)
    data = ronn_node("FusedGemm", {"x": x}, {"w": w, "b": b}, ["x", "w", "b"], name,
                     params).SerializeToString()
    fast = ronn.Model.load(data).create_session(optimization_level="O0")
    assert fast.placement[0].kernel_plugin == "cpu"
    slow = ronn.Model.load(data).create_session(optimization_level="O0", runtime=FUSED)
    np.testing.assert_allclose(fast.run({"x": x})["y"], slow.run({"x": x})["y"],
                               rtol=1e-4, atol=1e-5)


@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=2, max_size=4),
       dtype=st.sampled_from([np.float32, np.float64]), epsilon=st.sampled_from([1e-5, 1e-3]),
       opset=st.sampled_from([9, 15]), seed=st.integers(0, 999))
def test_fast_batch_normalization_matches_reference(shape, dtype, epsilon, opset, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    c = shape[1]
    params = [rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype),
              rng.standard_normal(c).astype(dtype), rng.uniform(0.1, 2, c).astype(dtype)]
    assert_fast_matches_reference(
        one_node("BatchNormalization", x, {"epsilon": epsilon}, params, opset=opset), x,
        rtol=1e-5, atol=1e-6)


@settings(max_examples=25, deadline=None)
@given(c=st.integers(16, 24), m=st.integers(16, 20), h=st.integers(1, 13), w=st.integers(1, 13),
       pads=st.lists(st.integers(0, 2), min_size=4, max_size=4), seed=st.integers(0, 999))
def test_winograd_conv_matches_reference(c, m, h, w, pads, seed):
    """3x3 stride-1 convolutions with 16+ channels on one thread take Winograd F(2x2, 3x3)."""
    from ronn_cpu.kernels import winograd
    rng = np.random.default_rng(seed)
    h, w = max(h, 3 - pads[0] - pads[2]), max(w, 3 - pads[1] - pads[3])
    x = rng.standard_normal((2, c, h, w)).astype(np.float32)
    weights = [rng.standard_normal((m, c, 3, 3)).astype(np.float32),
               rng.standard_normal(m).astype(np.float32)]
    model = one_node("Conv", x, {"pads": pads}, weights)
    calls = []
    real = winograd.winograd_conv
    winograd.winograd_conv = lambda *args: (calls.append(1), real(*args))[1]
    try:
        with patch.object(conv_direct, "ENABLED", False):     # it would beat Winograd here
            assert_fast_matches_reference(model, x, rtol=1e-4, atol=1e-4, threads=1)
    finally:
        winograd.winograd_conv = real
    assert len(calls) == 2          # one per image of the batch


def test_winograd_weights_transform_as_g_w_gt():
    from ronn_cpu.kernels import winograd
    w = np.random.default_rng(0).standard_normal((2, 3, 3, 3))
    u = winograd.transform_weights(w)
    g = winograd._G
    np.testing.assert_allclose(u.reshape(4, 4, 2, 3)[:, :, 1, 2], g @ w[1, 2] @ g.T)
