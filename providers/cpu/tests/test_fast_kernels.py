"""The CPU provider's fast kernels give the reference kernels' results (hypothesis)."""

import numpy as np
import onnx
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

import ronn
import ronn_opset_onnx.plugin
from ronn_core import Runtime, hookimpl
from ronn_cpu import CPUExecutionProvider


class ReferenceOnlyCPU:
    """The cpu provider without its fast kernels: every node runs the reference kernel."""

    @staticmethod
    @hookimpl
    def ronn_providers(register):
        register(CPUExecutionProvider)


REFERENCE = Runtime(plugins=[ronn_opset_onnx.plugin, ReferenceOnlyCPU], discover=False)


def one_node(op, x, attrs, constants=(), opset=17):
    inits = [numpy_helper.from_array(a, f"c{i}") for i, a in enumerate(constants)]
    node = helper.make_node(op, ["x"] + [t.name for t in inits], ["y"], **attrs)
    graph = helper.make_graph([node], op, [helper.make_tensor_value_info(
        "x", helper.np_dtype_to_tensor_dtype(x.dtype), x.shape)],
        [helper.make_empty_tensor_value_info("y")], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def assert_fast_matches_reference(model, x, rtol=1e-4, atol=1e-5):
    data = model.SerializeToString()
    fast = ronn.Model.load(data).create_session(optimization_level="O0")
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


@settings(max_examples=60, deadline=None)
@given(conv_cases())
def test_fast_conv_matches_reference(case):
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
    extra = {"activation_params": params} if params else {}
    node = helper.make_node("FusedConv", ["x", "w", "b"], ["y"], domain="com.ronn",
                            activation=name, pads=[1, 1, 1, 1], strides=[stride, stride],
                            **extra)
    graph = helper.make_graph([node], "fused", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, x.shape)], [helper.make_empty_tensor_value_info("y")],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.ronn", 1)])
    data = model.SerializeToString()
    fast = ronn.Model.load(data).create_session(optimization_level="O0")
    assert fast.placement[0].kernel_plugin == "cpu"
    slow = ronn.Model.load(data).create_session(optimization_level="O0", runtime=FUSED)
    np.testing.assert_allclose(fast.run({"x": x})["y"], slow.run({"x": x})["y"],
                               rtol=1e-4, atol=1e-5)
