"""MaxPool on the wasm provider (the generic kernel and the 3x3 stride-2 SIMD one) vs
onnxruntime, over shapes drawn by hypothesis."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from hypothesis import given, settings, strategies as st
from onnx import TensorProto, helper

from ronn_core.onnx_io import load
from ronn_core.session import Session


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(3, 17), w=st.integers(3, 23),
       k=st.sampled_from([2, 3]), s=st.sampled_from([1, 2]), pad=st.integers(0, 1),
       ceil=st.integers(0, 1), seed=st.integers(0, 99))
def test_maxpool_matches_onnxruntime(runtime, n, c, h, w, k, s, pad, ceil, seed):
    node = helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[k, k], strides=[s, s],
                            pads=[pad] * 4, ceil_mode=ceil)
    graph = helper.make_graph([node], "pool", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [n, c, h, w])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, None)])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    proto.ir_version = 8
    data = proto.SerializeToString()
    x = np.random.default_rng(seed).uniform(-5, 5, (n, c, h, w)).astype(np.float32)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    want = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"]).run(
        None, {"x": x})[0]
    got = Session(load(data), providers=["wasm"], runtime=runtime).run({"x": x})["y"]
    np.testing.assert_array_equal(got, want)
