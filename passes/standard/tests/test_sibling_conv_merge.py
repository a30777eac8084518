"""O3 sibling-conv merge: convs reading one input become one Conv and a Split."""

import numpy as np
import pytest
from onnx import helper

import ronn
from ronn_core.onnx_io import load
from ronn_core.passes import PassContext
from ronn_passes.sibling_conv_merge import SiblingConvMerge
from ronn_passes_tests import assert_same_outputs, assert_typed, make_model, ops, rand, \
    run_passes, tensor


def siblings_model(specs, opset=17):
    """One input ``x`` (1, 8, 6, 6) read by a conv per spec (out channels, kernel, stride,
    bias?), each conv followed by Relu or Sigmoid (alternating) and a Neg, whose outputs are
    the graph's."""
    nodes, inits, outs = [], {}, []
    for i, (m, k, stride, bias) in enumerate(specs):
        inits[f"w{i}"] = rand(m, 8, k, k, seed=10 + i)
        inputs = ["x", f"w{i}"]
        if bias:
            inits[f"b{i}"] = rand(m, seed=20 + i)
            inputs.append(f"b{i}")
        nodes += [helper.make_node("Conv", inputs, [f"c{i}"], pads=[k // 2] * 4,
                                   strides=[stride] * 2),
                  helper.make_node("Relu" if i % 2 == 0 else "Sigmoid", [f"c{i}"], [f"a{i}"]),
                  helper.make_node("Neg", [f"a{i}"], [f"y{i}"])]
        outs.append(tensor(f"y{i}", None))
    return make_model(nodes, [tensor("x", [1, 8, 6, 6])], outs, initializers=inits,
                      opset=opset)


FEEDS = {"x": rand(1, 8, 6, 6, seed=3)}


@pytest.mark.parametrize("opset", [11, 17])
def test_three_sibling_convs_become_one_conv_and_a_split(opset):
    model = siblings_model([(4, 1, 1, True), (6, 1, 1, False), (2, 1, 1, True)], opset=opset)
    graph, out, changed = run_passes(model, ["sibling-conv-merge"])
    assert changed["sibling-conv-merge"]
    assert ops(graph) == {"Conv": 1, "Split": 1, "Relu": 2, "Sigmoid": 1, "Neg": 3}
    conv = next(n for n in graph.nodes if n.op_type == "Conv")
    assert graph.values[conv.inputs[1]].constant.shape == (12, 8, 1, 1)
    assert graph.values[conv.inputs[2]].constant.shape == (12,)
    assert_typed(graph)
    assert_same_outputs(model, out, FEEDS)


def test_fused_siblings_merge_only_with_the_same_activation():
    model = siblings_model([(4, 3, 1, True), (6, 3, 1, True), (5, 3, 1, True)])
    graph, out, _ = run_passes(model, ["activation-fusion", "sibling-conv-merge"])
    # Relu, Sigmoid, Relu after the convs: the two Relu ones merge, the Sigmoid one stays
    assert ops(graph) == {"com.ronn::FusedConv": 2, "Split": 1, "Neg": 3}
    assert_same_outputs(model, out, FEEDS, ort=False)


def test_different_strides_kernels_or_a_graph_output_are_left_alone():
    for specs in ([(4, 1, 1, True), (6, 1, 2, True)], [(4, 1, 1, True), (6, 3, 1, True)]):
        graph, _, changed = run_passes(siblings_model(specs), ["sibling-conv-merge"])
        assert not changed["sibling-conv-merge"] and ops(graph)["Conv"] == 2
    model = siblings_model([(4, 1, 1, True), (6, 1, 1, True)])
    model.graph.output.append(tensor("c0", None))            # a conv output the user reads
    graph, _, changed = run_passes(model, ["sibling-conv-merge"])
    assert not changed["sibling-conv-merge"]


def test_sessions_with_other_providers_keep_the_siblings():
    graph = load(siblings_model([(4, 1, 1, True), (6, 1, 1, True)]).SerializeToString()).graph
    assert not SiblingConvMerge().run(graph, PassContext(providers=["gpu", "cpu"]))
    assert ops(graph)["Conv"] == 2


def test_cpu_session_merges_and_matches_onnxruntime():
    import onnxruntime
    model = siblings_model([(4, 1, 1, True), (6, 1, 1, False), (2, 1, 1, True)])
    model.ir_version = 8
    session = ronn.Model.load(model.SerializeToString()).create_session()
    assert sorted(s.op_type for s in session.plan.steps).count("Split") == 1
    got = session.run(FEEDS)
    want = onnxruntime.InferenceSession(model.SerializeToString(),
                                        providers=["CPUExecutionProvider"]).run(None, FEEDS)
    for name, w in zip(["y0", "y1", "y2"], want):
        np.testing.assert_allclose(got[name], w, rtol=1e-5, atol=1e-6)
