"""The onnx package's light model-zoo networks, with random weights, match onnxruntime.

Each network's Softmax input (the logits) is added as an extra graph output, so a saturated or
near-uniform softmax cannot hide a wrong kernel. Both user APIs are checked: ``ronn.Model`` /
``Session.run`` and the onnxruntime-style ``ronn.InferenceSession``.
"""

from __future__ import annotations

import gc

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import helper

import ronn
from ronn.zoo import LIGHT_NETWORKS, light_model, random_inputs

RTOL, ATOL = 1e-3, 1e-4


def _expose_logits(model: onnx.ModelProto) -> str | None:
    """Add the final Softmax's input as a graph output; its name, or None without a Softmax."""
    outputs = {o.name for o in model.graph.output}
    for node in reversed(model.graph.node):
        if node.op_type == "Softmax" and node.output[0] in outputs:
            logits = node.input[0]
            model.graph.output.append(
                helper.make_tensor_value_info(logits, onnx.TensorProto.FLOAT, None))
            return logits
    return None


def _assert_outputs_match(got: dict, expected: dict, api: str) -> None:
    assert list(got) == list(expected), api
    for name, want in expected.items():
        assert got[name].shape == want.shape, f"{api}: {name}"
        np.testing.assert_allclose(got[name], want, rtol=RTOL, atol=ATOL,
                                   err_msg=f"{api}: output {name!r}")


@pytest.mark.slow
@pytest.mark.parametrize("name", LIGHT_NETWORKS)
def test_light_network_matches_onnxruntime_through_both_apis(name):
    model = light_model(name, seed=0)
    logits = _expose_logits(model)
    data = model.SerializeToString()
    output_names = [o.name for o in model.graph.output]
    del model

    loaded = ronn.Model.load(data)
    feeds = random_inputs(loaded.inputs, seed=1)
    expected = dict(zip(output_names, onnxruntime.InferenceSession(
        data, providers=["CPUExecutionProvider"]).run(None, feeds)))
    gc.collect()

    scores = expected[logits] if logits else expected[output_names[0]]
    assert np.ptp(scores) > 1e-3, "random weights should give the logits a spread"

    session = loaded.create_session()
    _assert_outputs_match(session.run(feeds), expected, "Model.create_session().run")
    del session, loaded
    gc.collect()

    compat = ronn.InferenceSession(data, providers=["CPUExecutionProvider"])
    result = compat.run(None, feeds)
    _assert_outputs_match(dict(zip(output_names, result)), expected, "InferenceSession.run")
    del compat, result, data
    gc.collect()
