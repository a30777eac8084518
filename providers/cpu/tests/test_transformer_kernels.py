"""The CPU provider's transformer kernels (MatMul/FusedMatMul, Gelu, LayerNorm, SkipLayerNorm,
Attention, Softmax) give their reference kernels' results over random shapes (hypothesis), and a
BERT-style encoder at O3 matches onnxruntime."""

import math
from types import SimpleNamespace

import numba
import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ronn
from ronn.zoo_builders import bert_encoder
from ronn_core.context import KernelBuild
from ronn_cpu.kernels import (transformer_attention, transformer_elementwise, transformer_math,
                              transformer_matmul, transformer_norm)
from ronn_opset_onnx.ops import activation as onnx_activation
from ronn_opset_onnx.ops import gemm as onnx_gemm
from ronn_opset_onnx.ops import normalization as onnx_norm
from ronn_opset_onnx.ops import softmax as onnx_softmax
from ronn_passes import kernels as ronn_ref

FLOATS = st.sampled_from([np.float32, np.float64])
SEEDS = st.integers(0, 2**16)
ACTIVATIONS = [("Identity", []), ("Relu", []), ("LeakyRelu", [0.2]), ("Sigmoid", []),
               ("Tanh", []), ("HardSigmoid", [0.3, 0.4]), ("Clip", [-0.5, 0.7]), ("Gelu", []),
               ("GeluTanh", [])]


def build(factory, reference, *, inputs, outputs=("y",), constants=(), version=1, **attrs):
    """Run a factory kernel's build step the way a session does, for a hand-made node."""
    node = SimpleNamespace(inputs=list(inputs), outputs=list(outputs), version=version)
    consts = list(constants) + [None] * (len(inputs) - len(constants))

    def bound():
        return lambda *args: reference(*args, **attrs)

    return factory(KernelBuild(node=node, attributes=dict(attrs), constants=consts,
                               input_types=[None] * len(inputs), output_types=[None],
                               threads=2, reference=bound))


def tol(dtype):
    return dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-12)


def rand(rng, shape, dtype, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(dtype)


# -- scalar math ---------------------------------------------------------------------------


@numba.njit
def _map(fn_code, x):
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        if fn_code == 0:
            out[i] = transformer_math.exp(x[i])
        elif fn_code == 1:
            out[i] = transformer_math.gelu_fast32(x[i])
        else:
            out[i] = transformer_math.exp32(x[i])
    return out


def test_exp_is_accurate_and_ieee_at_the_edges():
    x = np.concatenate([np.linspace(-745, 710, 20001), [-np.inf, np.inf, np.nan, 0.0, -0.0]])
    got = _map(0, x)
    with np.errstate(over="ignore"):
        want = np.exp(x)
    normal = np.abs(want) > 1e-300
    np.testing.assert_allclose(got[normal], want[normal], rtol=5e-15)
    assert np.all(got[~normal & ~np.isnan(x)] <= 1e-300)
    assert got[-5] == 0.0 and got[-4] == np.inf and np.isnan(got[-3]) and got[-2] == 1.0


def test_float32_exp_of_non_positive_values_is_accurate():
    x = np.concatenate([np.linspace(-87, 0, 300001), [-100.0, -np.inf, np.nan]]).astype(np.float32)
    got = _map(2, x)
    want = np.exp(x[:-3].astype(np.float64))
    np.testing.assert_allclose(got[:-3], want, rtol=3e-7)
    assert got[-3] == 0.0 and got[-2] == 0.0 and np.isnan(got[-1])


def test_float32_gelu_matches_libm():
    x = np.concatenate([np.linspace(-16, 16, 400001), [np.inf, -np.inf, np.nan, 3e38, -3e38]])
    x = x.astype(np.float32)
    got = _map(1, x)
    want = np.array([0.5 * float(v) * math.erfc(-float(v) / math.sqrt(2)) for v in x[:-5]])
    main = np.abs(x[:-5]) <= 3
    np.testing.assert_allclose(got[:-5][main], want[main], rtol=2e-6, atol=1e-35)
    np.testing.assert_allclose(got[:-5], want, rtol=3e-5, atol=1e-35)
    assert got[-5] == np.inf and np.isnan(got[-4]) and np.isnan(got[-3])
    assert got[-2] == np.float32(3e38) and got[-1] == 0.0


# -- Gelu ----------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(dtype=FLOATS, approximate=st.sampled_from(["none", "tanh"]),
       shape=st.lists(st.integers(1, 40), min_size=0, max_size=3), seed=SEEDS,
       onnx_op=st.booleans())
def test_gelu_matches_reference(dtype, approximate, shape, seed, onnx_op):
    x = rand(np.random.default_rng(seed), shape, dtype, scale=4.0)
    if x.size > 3:
        x.reshape(-1)[:3] = [np.inf, -50.0, np.nan]
    factory = transformer_elementwise.gelu if onnx_op else transformer_elementwise.gelu_ronn
    reference = onnx_activation.gelu if onnx_op else ronn_ref.gelu
    run = build(factory, reference, inputs=["x"], approximate=approximate)
    got, want = run(x), reference(x, approximate=approximate)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, **tol(dtype), equal_nan=True)


# -- MatMul / FusedMatMul ------------------------------------------------------------------


@st.composite
def matmul_cases(draw):
    dtype = draw(FLOATS)
    batch = draw(st.lists(st.integers(1, 3), min_size=0, max_size=2))
    m, k, n = draw(st.integers(1, 33)), draw(st.integers(1, 40)), draw(st.integers(1, 37))
    bias = draw(st.sampled_from([None, "vector", "row", "runtime"]))
    activation = draw(st.sampled_from(ACTIVATIONS))
    return dtype, batch, m, k, n, bias, activation, draw(SEEDS), draw(st.booleans())


@settings(max_examples=60, deadline=None)
@given(matmul_cases())
def test_fused_matmul_matches_reference(case):
    dtype, batch, m, k, n, bias_kind, (activation, params), seed, transposed = case
    rng = np.random.default_rng(seed)
    a = rand(rng, [*batch, k, m] if transposed else [*batch, m, k], dtype)
    a = np.swapaxes(a, -1, -2) if transposed else a        # strided A is copied, not misread
    w = rand(rng, (k, n), dtype, scale=1 / math.sqrt(k))
    bias = None if bias_kind is None else rand(rng, (n,) if bias_kind != "row" else (1, n), dtype)
    attrs = {"activation": activation, "activation_params": params}
    inputs = ["a", "w"] + ([] if bias is None else ["bias"])
    constants = [None, w] + ([bias] if bias_kind in ("vector", "row") else [])
    run = build(transformer_matmul.fused_matmul, ronn_ref.fused_matmul, inputs=inputs,
                constants=constants, **attrs)
    args = (a, w) if bias is None else (a, w, bias)
    got, want = run(*args), ronn_ref.fused_matmul(*args, **attrs)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4 if dtype == np.float32 else 1e-10,
                               atol=1e-5 if dtype == np.float32 else 1e-12)


@settings(max_examples=25, deadline=None)
@given(dtype=FLOATS, batch=st.lists(st.integers(1, 3), max_size=2), m=st.integers(1, 20),
       k=st.integers(1, 20), n=st.integers(1, 20), seed=SEEDS)
def test_matmul_with_constant_weights_matches_reference(dtype, batch, m, k, n, seed):
    rng = np.random.default_rng(seed)
    a, w = rand(rng, [*batch, m, k], dtype), rand(rng, (k, n), dtype)
    run = build(transformer_matmul.matmul, onnx_gemm.matmul, inputs=["a", "w"],
                constants=[None, w])
    got, want = run(a, w), onnx_gemm.matmul(a, w)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_matmul_outside_the_fast_path_runs_the_reference():
    w = np.ones((3, 2), np.float32)
    run = build(transformer_matmul.matmul, onnx_gemm.matmul, inputs=["a", "w"],
                constants=[None, w])
    a1 = np.arange(3, dtype=np.float32)                       # 1-D A
    np.testing.assert_array_equal(run(a1, w), onnx_gemm.matmul(a1, w))
    ai = np.ones((2, 3), np.int64)                            # another dtype
    assert run(ai, w).dtype == onnx_gemm.matmul(ai, w).dtype
    with pytest.raises(ValueError):                           # the reference's own error
        run(np.ones((2, 4), np.float32), w)
    empty = np.zeros((0, 2), np.float32)                      # K = 0: the reference
    run0 = build(transformer_matmul.matmul, onnx_gemm.matmul, inputs=["a", "w"],
                 constants=[None, empty])
    np.testing.assert_array_equal(run0(np.ones((2, 3, 0), np.float32), empty),
                                  np.zeros((2, 3, 2), np.float32))


# -- LayerNormalization / SkipLayerNormalization -------------------------------------------


@settings(max_examples=40, deadline=None)
@given(dtype=FLOATS, lead=st.lists(st.integers(1, 5), max_size=2), n=st.integers(1, 70),
       with_beta=st.booleans(), onnx_op=st.booleans(), seed=SEEDS,
       eps=st.sampled_from([1e-5, 1e-12, 0.1]))
def test_layer_norm_matches_reference(dtype, lead, n, with_beta, onnx_op, seed, eps):
    rng = np.random.default_rng(seed)
    x = rand(rng, [*lead, n], dtype, scale=3.0) + dtype(0.5)
    scale, beta = rand(rng, (n,), dtype), rand(rng, (n,), dtype) if with_beta else None
    if onnx_op:
        factory, ref = transformer_norm.layer_normalization, onnx_norm.layer_normalization
        run = build(factory, ref, inputs=["x", "s", "b"], version=17, axis=-1, epsilon=eps)
        want = ref(x, scale, beta, axis=-1, epsilon=eps)[0]
    else:
        factory, ref = transformer_norm.layer_normalization_ronn, ronn_ref.layer_normalization
        run = build(factory, ref, inputs=["x", "s", "b"], axis=-1, epsilon=eps)
        want = ref(x, scale, beta, axis=-1, epsilon=eps)
    got = run(x, scale, beta)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4 if dtype == np.float32 else 1e-10,
                               atol=1e-4 if dtype == np.float32 else 1e-10)


@settings(max_examples=40, deadline=None)
@given(dtype=FLOATS, lead=st.lists(st.integers(1, 4), max_size=2), n=st.integers(1, 70),
       with_beta=st.booleans(), with_bias=st.booleans(), keep_sum=st.booleans(), seed=SEEDS)
def test_skip_layer_norm_matches_reference(dtype, lead, n, with_beta, with_bias, keep_sum, seed):
    rng = np.random.default_rng(seed)
    x, skip = rand(rng, [*lead, n], dtype), rand(rng, [*lead, n], dtype)
    gamma = rand(rng, (n,), dtype)
    beta = rand(rng, (n,), dtype) if with_beta else None
    bias = rand(rng, (n,), dtype) if with_bias else None
    outputs = ["y", "", "", "sum"] if keep_sum else ["y"]
    run = build(transformer_norm.skip_layer_normalization, ronn_ref.skip_layer_normalization,
                inputs=["x", "skip", "g", "b", "bias"], outputs=outputs, epsilon=1e-5)
    got = run(x, skip, gamma, beta, bias)
    want = ronn_ref.skip_layer_normalization(x, skip, gamma, beta, bias, epsilon=1e-5)
    close = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    if keep_sum:
        np.testing.assert_allclose(got[0], want[0], **close)
        np.testing.assert_array_equal(got[3], want[3])
    else:
        assert isinstance(got, np.ndarray)
        np.testing.assert_allclose(got, want[0], **close)


# -- Attention / Softmax -------------------------------------------------------------------


@st.composite
def attention_cases(draw):
    dtype = draw(FLOATS)
    batch = draw(st.sampled_from([[], [2], [2, 3], [1, 4]]))
    s, t, d, dv = (draw(st.integers(1, 24)) for _ in range(4))
    full = [*batch, s, t]
    mask = draw(st.sampled_from([None, "full", "keys", "queries", "lower-rank"]))
    mask_shape = {None: None, "full": full, "keys": [*[1] * len(batch), 1, t],
                  "queries": [*batch, s, 1], "lower-rank": [s, t]}[mask]
    views = draw(st.booleans()) and len(batch) == 2
    return dtype, batch, s, t, d, dv, mask_shape, draw(st.sampled_from(["Mul", "Div"])), \
        views, draw(SEEDS)


@settings(max_examples=60, deadline=None)
@given(attention_cases())
def test_attention_matches_reference(case):
    dtype, batch, s, t, d, dv, mask_shape, scale_op, views, seed = case
    rng = np.random.default_rng(seed)
    if views:      # head views of [B, S, H, D] tensors, as Reshape + Transpose hand them over
        b, h = batch
        q = rand(rng, (b, s, h, d), dtype).transpose(0, 2, 1, 3)
        k_t = rand(rng, (b, t, h, d), dtype).transpose(0, 2, 3, 1)
        v = rand(rng, (b, t, h, dv), dtype).transpose(0, 2, 1, 3)
    else:
        q, k_t, v = (rand(rng, [*batch, *p], dtype) for p in ((s, d), (d, t), (t, dv)))
    mask = None
    if mask_shape is not None:
        mask = np.where(rng.random(mask_shape) < 0.3, -1e4, 0).astype(dtype)
        mask.reshape(-1)[0] = -np.inf          # -inf masks stay exact
    attrs = {"scale": 0.37, "scale_op": scale_op}
    run = build(transformer_attention.attention, ronn_ref.attention,
                inputs=["q", "kt", "v"] + (["mask"] if mask is not None else []), **attrs)
    with np.errstate(invalid="ignore"):           # the reference on fully masked rows
        got, want = run(q, k_t, v, mask), ronn_ref.attention(q, k_t, v, mask, **attrs)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4 if dtype == np.float32 else 1e-10,
                               atol=1e-5 if dtype == np.float32 else 1e-12, equal_nan=True)
    if got.ndim == 4:              # head-interleaved: merging the heads after is a free view
        assert got.transpose(0, 2, 1, 3).flags.c_contiguous


def test_fully_masked_rows_and_unbroadcastable_masks_behave_like_the_reference():
    rng = np.random.default_rng(0)
    q, k_t, v = rand(rng, (2, 3, 4), np.float32), rand(rng, (2, 4, 5), np.float32), \
        rand(rng, (2, 5, 4), np.float32)
    run = build(transformer_attention.attention, ronn_ref.attention,
                inputs=["q", "kt", "v", "mask"], scale=1.0, scale_op="Mul")
    mask = np.zeros((2, 3, 5), np.float32)
    mask[0, 1] = -np.inf
    with np.errstate(invalid="ignore"):
        got, want = run(q, k_t, v, mask), ronn_ref.attention(q, k_t, v, mask)
    assert np.isnan(got[0, 1]).all() and np.isnan(want[0, 1]).all()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, equal_nan=True)
    with pytest.raises(ValueError):     # no keys (T = 0): the reference's own error
        run(q, k_t[..., :0], v[:, :0], mask[..., :0])
    wide = np.zeros((3, 2, 3, 5), np.float32)      # broadcasting grows the scores: reference
    np.testing.assert_allclose(run(q, k_t, v, wide), ronn_ref.attention(q, k_t, v, wide),
                               rtol=1e-5, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(dtype=FLOATS, shape=st.lists(st.integers(1, 9), min_size=1, max_size=4), seed=SEEDS,
       version=st.sampled_from([11, 13]), axis=st.integers(-4, 3))
def test_softmax_matches_reference(dtype, shape, seed, version, axis):
    axis = axis % len(shape)
    x = rand(np.random.default_rng(seed), shape, dtype, scale=5.0)
    ref = onnx_softmax.softmax if version == 13 else onnx_softmax.softmax_2d
    run = build(transformer_attention.softmax, ref, inputs=["x"], version=version, axis=axis)
    got, want = run(x), ref(x, axis=axis)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, **tol(dtype))


# -- the whole encoder ---------------------------------------------------------------------


@pytest.mark.parametrize("batch, seq", [(2, 16), (1, 7)])
def test_bert_encoder_at_o3_matches_onnxruntime_and_uses_the_fast_kernels(batch, seq):
    model = bert_encoder(layers=2, hidden=64, heads=4, ffn=128, seed=1)
    data = model.SerializeToString()
    x = np.random.default_rng(seq).standard_normal((batch, seq, 64)).astype(np.float32)
    want = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    session = ronn.Model.load(data).create_session(optimization_level="O3", threads=2)
    placed = {(p.domain, p.op_type): p.kernel_plugin for p in session.placement}
    for op in ("FusedMatMul", "Attention", "SkipLayerNormalization"):
        assert placed[("com.ronn", op)] == "cpu", op
    got = session.run({"x": x})["y"]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
