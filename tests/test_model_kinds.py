"""Small models of the kinds found in the wild (issue #3's scope), each against onnxruntime:
a detection/OCR head, a voice model with If, LSTM and float16 weights, a torch-style transformer
encoder, all with dynamic dims."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import ronn
from ronn.zoo_builders import bert_encoder

RNG = np.random.default_rng(0)


def w(*shape, scale=0.3, dtype=np.float32):
    return (RNG.standard_normal(shape) * scale).astype(dtype)


def init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def model_of(nodes, inputs, outputs, inits, opset=17):
    graph = helper.make_graph(nodes, "m", inputs, outputs, inits)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m.SerializeToString()


def assert_matches_onnxruntime(data, feeds, rtol=1e-3, atol=1e-4, level="O3"):
    expected = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feeds)
    got = ronn.InferenceSession(data).run(None, feeds)
    session = ronn.Model.load(data).create_session(optimization_level=level)
    for e, g, s in zip(expected, got, session.run(feeds).values()):
        assert g.dtype == e.dtype and g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol)
        np.testing.assert_allclose(s, e, rtol=rtol, atol=atol)


def detection_head():
    """Conv backbone, HardSigmoid/Clip activations, ConvTranspose and Resize (nearest and
    linear) up-sampling, Concat of feature maps; input 'batch' x 3 x 'height' x 'width'."""
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("HardSigmoid", ["c1"], ["h1"], alpha=0.2, beta=0.5),
        helper.make_node("Mul", ["c1", "h1"], ["a1"]),                      # hard-swish
        helper.make_node("Conv", ["a1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Clip", ["c2", "lo", "hi"], ["a2"]),               # relu6
        helper.make_node("ConvTranspose", ["a2", "wt"], ["up1"], strides=[2, 2], pads=[1, 1, 1, 1],
                         output_padding=[1, 1], kernel_shape=[3, 3]),
        helper.make_node("Resize", ["a2", "", "scales"], ["up2"], mode="nearest"),
        helper.make_node("Concat", ["up1", "up2", "a1"], ["cat"], axis=1),
        helper.make_node("Resize", ["cat", "", "scales"], ["full"], mode="linear",
                         coordinate_transformation_mode="half_pixel"),
        helper.make_node("Conv", ["full", "w3"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["scores"]),
    ]
    inits = [init("w1", w(8, 3, 3, 3)), init("b1", w(8)), init("w2", w(16, 8, 3, 3)),
             init("b2", w(16)), init("lo", np.float32(0)), init("hi", np.float32(6)),
             init("wt", w(16, 8, 3, 3)), init("scales", np.array([1, 1, 2, 2], np.float32)),
             init("w3", w(2, 32, 1, 1))]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, "height", "width"])
    y = helper.make_tensor_value_info("scores", TensorProto.FLOAT, None)
    return model_of(nodes, [x], [y], inits, opset=13)


@pytest.mark.parametrize("shape", [(1, 3, 32, 32), (2, 3, 48, 64)])
def test_a_detection_head_with_dynamic_sizes_matches_onnxruntime(shape):
    x = RNG.standard_normal(shape).astype(np.float32)
    assert_matches_onnxruntime(detection_head(), {"x": x})


def voice_model():
    """float16 weights cast up, an LSTM over 'frames', and an If choosing a post-processing
    branch from an input flag (both branches read outer-scope values)."""
    hidden, feat = 8, 5
    then_graph = helper.make_graph(
        [helper.make_node("Softmax", ["last"], ["t_out"], axis=-1)], "then", [],
        [helper.make_tensor_value_info("t_out", TensorProto.FLOAT, None)])
    else_graph = helper.make_graph(
        [helper.make_node("Mul", ["last", "gain"], ["e_out"])], "else", [],
        [helper.make_tensor_value_info("e_out", TensorProto.FLOAT, None)])
    nodes = [
        helper.make_node("Cast", ["W16"], ["W"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["R16"], ["R"], to=TensorProto.FLOAT),
        helper.make_node("LSTM", ["x", "W", "R", "B"], ["Y", "Y_h"], hidden_size=hidden),
        helper.make_node("Squeeze", ["Y_h", "axis0"], ["last"]),
        helper.make_node("If", ["use_softmax"], ["out"], then_branch=then_graph,
                         else_branch=else_graph),
    ]
    inits = [init("W16", w(1, 4 * hidden, feat, dtype=np.float16)),
             init("R16", w(1, 4 * hidden, hidden, dtype=np.float16)),
             init("B", w(1, 8 * hidden)), init("axis0", np.array([0], np.int64)),
             init("gain", np.float32(2.5))]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["frames", "batch", feat]),
              helper.make_tensor_value_info("use_softmax", TensorProto.BOOL, [])]
    return model_of(nodes, inputs, [helper.make_tensor_value_info("out", TensorProto.FLOAT,
                                                                  None)], inits)


@pytest.mark.parametrize("flag", [True, False])
@pytest.mark.parametrize("frames", [1, 7])
def test_a_voice_model_with_if_lstm_and_float16_weights_matches_onnxruntime(flag, frames):
    feeds = {"x": RNG.standard_normal((frames, 2, 5)).astype(np.float32),
             "use_softmax": np.array(flag)}
    assert_matches_onnxruntime(voice_model(), feeds)


@pytest.mark.parametrize("level", ["O0", "O3"])
@pytest.mark.parametrize("batch,seq", [(1, 7), (2, 16)])
def test_a_torch_style_transformer_encoder_with_dynamic_batch_and_sequence(level, batch, seq):
    data = bert_encoder(layers=2, hidden=32, heads=4, ffn=64).SerializeToString()
    x = RNG.standard_normal((batch, seq, 32)).astype(np.float32)
    assert_matches_onnxruntime(data, {"x": x}, level=level)


def test_a_masked_encoder_with_where_expand_range_and_erf():
    """The mask plumbing torch exports: Range over the sequence, Expand, Less, Where, Erf-GELU."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "one"], ["seq"], axis=0),
        helper.make_node("Range", ["zero", "seq", "one"], ["positions"]),
        helper.make_node("Unsqueeze", ["lengths", "axis1"], ["len2"]),
        helper.make_node("Less", ["positions", "len2"], ["valid"]),
        helper.make_node("Unsqueeze", ["valid", "axis2"], ["valid3"]),
        helper.make_node("Expand", ["valid3", "shape"], ["mask"]),
        helper.make_node("Div", ["x", "sqrt2"], ["xs"]),
        helper.make_node("Erf", ["xs"], ["e"]),
        helper.make_node("Add", ["e", "onef"], ["e1"]),
        helper.make_node("Mul", ["x", "e1"], ["g2"]),
        helper.make_node("Mul", ["g2", "half"], ["gelu"]),
        helper.make_node("Where", ["mask", "gelu", "zerof"], ["masked"]),
        helper.make_node("LayerNormalization", ["masked", "gamma", "beta"], ["y"], axis=-1),
    ]
    inits = [init("one", np.array(1, np.int64)), init("zero", np.array(0, np.int64)),
             init("axis1", np.array([1], np.int64)), init("axis2", np.array([2], np.int64)),
             init("sqrt2", np.float32(np.sqrt(2))), init("onef", np.float32(1)),
             init("half", np.float32(0.5)), init("zerof", np.float32(0)),
             init("gamma", w(6) + 1), init("beta", w(6))]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "seq", 6]),
              helper.make_tensor_value_info("lengths", TensorProto.INT64, ["batch"])]
    data = model_of(nodes, inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                    inits)
    feeds = {"x": RNG.standard_normal((3, 9, 6)).astype(np.float32),
             "lengths": np.array([9, 4, 1], np.int64)}
    assert_matches_onnxruntime(data, feeds)
