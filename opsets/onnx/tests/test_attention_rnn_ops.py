"""RNN/GRU/LSTM, Attention, RotaryEmbedding, RMSNormalization, losses, Einsum and the assorted
signal/random ops, run end to end through ``ronn.InferenceSession``.

Most tests compare with onnxruntime's CPU provider; where onnxruntime lacks the op (or a mode),
a tiny case is checked against values computed by hand with numpy.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import helper

import ronn

RNG = np.random.default_rng(7)
LOOSE = dict(rtol=1e-4, atol=1e-5)

_ORT_OPTIONS = ort.SessionOptions()
_ORT_OPTIONS.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
_ORT_OPTIONS.log_severity_level = 3


def randn(*shape, dtype=np.float32):
    return RNG.standard_normal(shape).astype(dtype)


def node_model(op_type, inputs, attrs=None, *, opset, n_outputs=1, output_names=None):
    """A one-node model whose graph inputs are the given arrays (None = absent optional input)."""
    in_names = [name if arr is not None else "" for name, arr in inputs.items()]
    out_names = output_names or [f"out{i}" for i in range(n_outputs)]
    node = helper.make_node(op_type, in_names, out_names, **(attrs or {}))
    graph_inputs = [
        helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(arr.dtype), arr.shape)
        for name, arr in inputs.items() if arr is not None]
    graph_outputs = [helper.make_empty_tensor_value_info(n) for n in out_names if n]
    graph = helper.make_graph([node], f"{op_type}_test", graph_inputs, graph_outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = min(model.ir_version, 10)
    return model.SerializeToString()


def run_ronn(model, inputs):
    feeds = {k: v for k, v in inputs.items() if v is not None}
    return ronn.InferenceSession(model).run(None, feeds)


def run_ort(model, inputs):
    sess = ort.InferenceSession(model, _ORT_OPTIONS, providers=["CPUExecutionProvider"])
    return sess.run(None, {k: v for k, v in inputs.items() if v is not None})


def check(op_type, inputs, attrs=None, *, opset, n_outputs=1, output_names=None, **tol):
    """Assert RONN and onnxruntime give the same outputs (dtype, shape and values)."""
    model = node_model(op_type, inputs, attrs, opset=opset, n_outputs=n_outputs,
                       output_names=output_names)
    got, expected = run_ronn(model, inputs), run_ort(model, inputs)
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g.dtype == e.dtype, f"output {i}: dtype {g.dtype} vs {e.dtype}"
        assert g.shape == e.shape, f"output {i}: shape {g.shape} vs {e.shape}"
        np.testing.assert_allclose(g.astype(np.float64), e.astype(np.float64),
                                   err_msg=f"output {i}", **(tol or LOOSE))
    return got


# ---------------------------------------------------------------------------------------------
# RNN, GRU, LSTM
# ---------------------------------------------------------------------------------------------

SEQ, BATCH, INPUT, HIDDEN = 5, 3, 4, 3


def rnn_inputs(gates, directions, *, lstm=False, with_lens=True):
    inputs = {
        "X": randn(SEQ, BATCH, INPUT),
        "W": randn(directions, gates * HIDDEN, INPUT),
        "R": randn(directions, gates * HIDDEN, HIDDEN),
        "B": randn(directions, 2 * gates * HIDDEN),
        "sequence_lens": np.array([5, 2, 3], dtype=np.int32) if with_lens else None,
        "initial_h": randn(directions, BATCH, HIDDEN),
    }
    if lstm:
        inputs["initial_c"] = randn(directions, BATCH, HIDDEN)
        inputs["P"] = randn(directions, 3 * HIDDEN)
    return inputs


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_lstm_with_peepholes_and_sequence_lens(direction):
    dirs = 2 if direction == "bidirectional" else 1
    check("LSTM", rnn_inputs(4, dirs, lstm=True),
          dict(hidden_size=HIDDEN, direction=direction), opset=14, n_outputs=3)


def test_lstm_activations_clip_and_input_forget():
    attrs = dict(hidden_size=HIDDEN, clip=0.7, input_forget=1,
                 activations=["HardSigmoid", "LeakyRelu", "ScaledTanh"],
                 activation_alpha=[0.3, 0.05, 1.5], activation_beta=[0.4, 0.8])
    check("LSTM", rnn_inputs(4, 1, lstm=True), attrs, opset=7, n_outputs=3)


def test_lstm_layout_1_is_the_batch_major_transpose_of_layout_0():
    inputs = rnn_inputs(4, 2, lstm=True, with_lens=False)
    attrs = dict(hidden_size=HIDDEN, direction="bidirectional")
    y, y_h, y_c = run_ronn(node_model("LSTM", inputs, attrs, opset=14, n_outputs=3), inputs)
    batch_major = dict(inputs, X=inputs["X"].transpose(1, 0, 2),
                       initial_h=inputs["initial_h"].transpose(1, 0, 2),
                       initial_c=inputs["initial_c"].transpose(1, 0, 2))
    y1, y_h1, y_c1 = run_ronn(node_model("LSTM", batch_major, dict(attrs, layout=1), opset=14,
                                         n_outputs=3), batch_major)
    np.testing.assert_allclose(y1, y.transpose(2, 0, 1, 3), rtol=1e-6)
    np.testing.assert_allclose(y_h1, y_h.transpose(1, 0, 2), rtol=1e-6)
    np.testing.assert_allclose(y_c1, y_c.transpose(1, 0, 2), rtol=1e-6)


@pytest.mark.parametrize("linear_before_reset", [0, 1])
@pytest.mark.parametrize("direction", ["forward", "bidirectional"])
def test_gru(linear_before_reset, direction):
    dirs = 2 if direction == "bidirectional" else 1
    check("GRU", rnn_inputs(3, dirs),
          dict(hidden_size=HIDDEN, direction=direction, linear_before_reset=linear_before_reset),
          opset=14, n_outputs=2)


@pytest.mark.parametrize("direction", ["reverse", "bidirectional"])
def test_rnn_with_custom_activation(direction):
    dirs = 2 if direction == "bidirectional" else 1
    check("RNN", rnn_inputs(1, dirs),
          dict(hidden_size=HIDDEN, direction=direction, activations=["Affine", "Elu"][:dirs],
               activation_alpha=[0.5, 0.9][:dirs], activation_beta=[0.1]),
          opset=14, n_outputs=2)


def test_float16_lstm_keeps_its_dtype():
    inputs = {k: (v.astype(np.float16) if v is not None and v.dtype == np.float32 else v)
              for k, v in rnn_inputs(4, 1, lstm=True).items()}
    outs = run_ronn(node_model("LSTM", inputs, dict(hidden_size=HIDDEN), opset=14,
                               n_outputs=3), inputs)
    assert [o.dtype for o in outs] == [np.float16] * 3
    ref = run_ronn(node_model("LSTM", {k: (v.astype(np.float32) if v is not None and
                                           v.dtype == np.float16 else v)
                                       for k, v in inputs.items()},
                              dict(hidden_size=HIDDEN), opset=14, n_outputs=3),
                   {k: (v.astype(np.float32) if v is not None and v.dtype == np.float16 else v)
                    for k, v in inputs.items()})
    np.testing.assert_allclose(outs[0].astype(np.float32), ref[0], atol=2e-3)


# ---------------------------------------------------------------------------------------------
# Attention, RotaryEmbedding, RMSNormalization
# ---------------------------------------------------------------------------------------------

ATTENTION_CASES = {
    "4d MHA": (dict(Q=randn(2, 3, 4, 8), K=randn(2, 3, 6, 8), V=randn(2, 3, 6, 8)), {}),
    "4d GQA causal scaled": (dict(Q=randn(2, 4, 4, 8), K=randn(2, 2, 4, 8), V=randn(2, 2, 4, 5)),
                             dict(is_causal=1, scale=0.3)),
    "float 2d mask + softcap": (dict(Q=randn(1, 2, 3, 4), K=randn(1, 2, 5, 4), V=randn(1, 2, 5, 4),
                                     attn_mask=randn(3, 5)), dict(softcap=2.0)),
    "bool 4d mask": (dict(Q=randn(2, 2, 3, 4), K=randn(2, 2, 5, 4), V=randn(2, 2, 5, 4),
                          attn_mask=RNG.random((2, 1, 3, 5)) > 0.3), {}),
}


@pytest.mark.parametrize("case", ATTENTION_CASES.values(), ids=ATTENTION_CASES.keys())
def test_attention_4d(case):
    inputs, attrs = case
    check("Attention", inputs, attrs, opset=23)


def test_attention_3d_gqa_with_past_and_present_and_qk_output():
    inputs = dict(Q=randn(2, 3, 4 * 8), K=randn(2, 3, 2 * 8), V=randn(2, 3, 2 * 6),
                  attn_mask=randn(3, 7), past_key=randn(2, 2, 4, 8), past_value=randn(2, 2, 4, 6))
    for mode, causal in ((0, 1), (1, 1), (2, 0)):   # onnxruntime masks with -FLT_MAX, not -inf
        check("Attention", inputs, dict(q_num_heads=4, kv_num_heads=2, is_causal=causal,
                                        qk_matmul_output_mode=mode, softcap=3.0),
              opset=23, n_outputs=4)


def test_attention_fully_masked_row_is_zero_and_window_limits_keys():
    q, k = np.ones((1, 1, 3, 2), np.float32), np.ones((1, 1, 3, 2), np.float32)
    v = np.arange(6, dtype=np.float32).reshape(1, 1, 3, 2)
    mask = np.array([[True, True, False], [False, False, False], [True, True, True]])
    inputs = dict(Q=q, K=k, V=v, attn_mask=mask)
    model = node_model("Attention", inputs, dict(qk_matmul_output_mode=3), opset=24,
                       output_names=["Y", "", "", "P"])
    y, probs = run_ronn(model, inputs)
    np.testing.assert_allclose(y[0, 0], [[1, 2], [0, 0], [2, 3]], rtol=1e-6)   # equal scores
    np.testing.assert_allclose(probs[0, 0, 1], 0)
    # Opset 25 window: query i sees keys i-1..i (left 1, right 0).
    inputs = dict(Q=q, K=k, V=v)
    model = node_model("Attention", inputs, dict(left_window_size=1, right_window_size=0),
                       opset=25)
    (y,) = run_ronn(model, inputs)
    np.testing.assert_allclose(y[0, 0], [[0, 1], [1, 2], [3, 4]], rtol=1e-6)


def test_attention_nonpad_kv_seqlen_is_bottom_right_causal():
    q, k = np.ones((2, 1, 2, 2), np.float32), np.ones((2, 1, 4, 2), np.float32)
    v = np.arange(8, dtype=np.float32).reshape(1, 1, 4, 2).repeat(2, axis=0)
    inputs = dict(Q=q, K=k, V=v, nonpad_kv_seqlen=np.array([3, 2], dtype=np.int64))
    model = node_model("Attention", {"Q": q, "K": k, "V": v, "attn_mask": None,
                                     "past_key": None, "past_value": None,
                                     "nonpad_kv_seqlen": inputs["nonpad_kv_seqlen"]},
                       dict(is_causal=1), opset=24)
    (y,) = run_ronn(model, inputs)
    # batch 0: offset 1 -> query 0 sees keys 0..1, query 1 sees keys 0..2.
    np.testing.assert_allclose(y[0, 0], [[1, 2], [2, 3]], rtol=1e-6)
    # batch 1: offset 0 -> lower triangular over the 2 valid keys.
    np.testing.assert_allclose(y[1, 0], [[0, 1], [1, 2]], rtol=1e-6)


def test_attention_float16_keeps_dtype():
    inputs = dict(Q=randn(1, 2, 3, 4, dtype=np.float16), K=randn(1, 2, 3, 4, dtype=np.float16),
                  V=randn(1, 2, 3, 4, dtype=np.float16))
    check("Attention", inputs, dict(is_causal=1), opset=23, rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("attrs", [dict(), dict(interleaved=1), dict(rotary_embedding_dim=4),
                                   dict(interleaved=1, rotary_embedding_dim=4)],
                         ids=["halves", "interleaved", "partial", "partial interleaved"])
def test_rotary_embedding(attrs):
    dim = attrs.get("rotary_embedding_dim", 8)
    inputs = dict(X=randn(2, 3, 5, 8), cos_cache=randn(10, dim // 2),
                  sin_cache=randn(10, dim // 2),
                  position_ids=RNG.integers(0, 10, (2, 5)).astype(np.int64))
    check("RotaryEmbedding", inputs, attrs, opset=23)


def test_rotary_embedding_3d_without_position_ids():
    inputs = dict(X=randn(2, 5, 3 * 8), cos_cache=randn(2, 5, 4), sin_cache=randn(2, 5, 4))
    check("RotaryEmbedding", inputs, dict(num_heads=3), opset=23)


@pytest.mark.parametrize("axis", [-1, 1])
def test_rms_normalization(axis):
    x = randn(2, 3, 4)
    check("RMSNormalization", dict(X=x, scale=randn(*x.shape[axis:])),
          dict(axis=axis, epsilon=1e-3), opset=23)


# ---------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("weighted", [False, True])
def test_softmax_cross_entropy_and_nll(reduction, weighted):
    scores = randn(3, 5, 2)
    labels = RNG.integers(0, 5, (3, 2)).astype(np.int64)
    labels[0, 0] = -1
    weights = RNG.random(5).astype(np.float32) if weighted else None
    attrs = dict(reduction=reduction, ignore_index=-1)
    check("SoftmaxCrossEntropyLoss", dict(scores=scores, labels=labels, weights=weights), attrs,
          opset=13, n_outputs=2)
    check("NegativeLogLikelihoodLoss", dict(input=scores, target=labels, weight=weights), attrs,
          opset=13)


# ---------------------------------------------------------------------------------------------
# Einsum and the rest
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("equation, shapes", [
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
    ("ii->i", [(4, 4)]),
    ("ij->", [(3, 4)]),
    ("...ij,...jk", [(2, 3, 4), (2, 4, 2)]),
])
def test_einsum(equation, shapes):
    check("Einsum", {f"x{i}": randn(*s) for i, s in enumerate(shapes)},
          dict(equation=equation), opset=12)


@pytest.mark.parametrize("sorted_", [0, 1])
def test_unique(sorted_):
    x = np.array([[1, 3], [1, 3], [0, 2], [1, 3]], dtype=np.float32)
    check("Unique", dict(X=x), dict(sorted=sorted_), opset=11, n_outputs=4)
    check("Unique", dict(X=x), dict(sorted=sorted_, axis=0), opset=11, n_outputs=4)


def test_reverse_sequence_and_compress():
    x = randn(4, 3, 2)
    check("ReverseSequence", dict(x=x, lens=np.array([4, 1, 3], np.int64)), {}, opset=10)
    check("ReverseSequence", dict(x=x, lens=np.array([2, 3, 3, 1], np.int64)),
          dict(batch_axis=0, time_axis=1), opset=10)
    check("Compress", dict(x=x, c=np.array([True, False, True])), dict(axis=1), opset=11)
    check("Compress", dict(x=x, c=np.array([False, True, True])), {}, opset=11)


def test_shrink_lp_normalization_det():
    check("Shrink", dict(x=randn(3, 4)), dict(lambd=0.6, bias=0.2), opset=9)
    check("LpNormalization", dict(x=randn(3, 4)), dict(p=1, axis=0), opset=1)
    check("Det", dict(x=randn(2, 3, 3)), {}, opset=11)


def test_cumprod_matches_numpy():
    x = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int32)
    model = node_model("CumProd", dict(x=x, axis=np.array(1, np.int64)),
                       dict(exclusive=1, reverse=1), opset=26)
    (y,) = run_ronn(model, dict(x=x, axis=np.array(1, np.int64)))
    assert y.dtype == np.int32
    np.testing.assert_array_equal(y, [[6, 3, 1], [30, 6, 1]])


@pytest.mark.parametrize("op", ["HannWindow", "HammingWindow", "BlackmanWindow"])
@pytest.mark.parametrize("periodic", [0, 1])
def test_windows(op, periodic):
    check(op, dict(size=np.array(10, np.int64)), dict(periodic=periodic), opset=17,
          rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("attrs", [dict(), dict(inverse=1), dict(onesided=1)],
                         ids=["forward", "inverse", "rfft"])
def test_dft_and_stft(attrs):
    x = randn(2, 8, 1 if attrs.get("onesided") else 2)
    check("DFT", dict(x=x, n=None, axis=np.array(1, np.int64)), attrs, opset=20)
    signal = randn(2, 16, 1)
    check("STFT", dict(signal=signal, step=np.array(4, np.int64), window=randn(6),
                       length=np.array(6, np.int64)), {}, opset=17)


def test_seeded_random_ops_repeat_and_keep_dtype():
    for op, inputs, attrs in [
        ("RandomUniform", {}, dict(shape=[3, 4], seed=2.0, dtype=11)),
        ("RandomNormalLike", dict(x=randn(2, 5)), dict(seed=3.0)),
        ("Bernoulli", dict(x=RNG.random(20).astype(np.float32)), dict(seed=4.0)),
        ("Multinomial", dict(x=randn(2, 4)), dict(seed=5.0, sample_size=6)),
    ]:
        model = node_model(op, inputs, attrs, opset=21)   # onnxruntime lacks the opset-22 ones
        first, second = run_ronn(model, inputs)[0], run_ronn(model, inputs)[0]
        np.testing.assert_array_equal(first, second)
        expected = run_ort(model, inputs)[0]
        assert (first.dtype, first.shape) == (expected.dtype, expected.shape), op
