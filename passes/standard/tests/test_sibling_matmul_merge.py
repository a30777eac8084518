"""O3 sibling-MatMul merge: products of one input with constant weights become one MatMul and a
Split on the last axis."""

import numpy as np
import pytest
from onnx import helper

import ronn
from ronn_core.onnx_io import load
from ronn_core.passes import PassContext
from ronn_passes.sibling_matmul_merge import SiblingMatMulMerge
from ronn_passes_tests import assert_same_outputs, assert_typed, make_model, ops, rand, \
    run_passes, tensor


def projections_model(widths, *, activations=("Relu",), bias=True, depth=16, opset=17):
    """``x`` (2, 5, depth) times a constant (depth, width) per entry of ``widths`` (+ a bias
    Add), then an activation (cycling through ``activations``; None: none) and a Neg, whose
    outputs are the graph's."""
    nodes, inits, outs = [], {}, []
    for i, width in enumerate(widths):
        inits[f"w{i}"] = rand(depth, width, seed=10 + i)
        nodes.append(helper.make_node("MatMul", ["x", f"w{i}"], [f"m{i}"]))
        y = f"m{i}"
        if bias:
            inits[f"b{i}"] = rand(width, seed=20 + i)
            nodes.append(helper.make_node("Add", [y, f"b{i}"], [f"p{i}"]))
            y = f"p{i}"
        act = activations[i % len(activations)]
        if act:
            nodes.append(helper.make_node(act, [y], [f"a{i}"]))
            y = f"a{i}"
        nodes.append(helper.make_node("Neg", [y], [f"y{i}"]))
        outs.append(tensor(f"y{i}", None))
    return make_model(nodes, [tensor("x", [2, 5, depth])], outs, initializers=inits,
                      opset=opset)


FEEDS = {"x": rand(2, 5, 16, seed=3)}
FUSIONS = ["matmul-add-fusion", "matmul-bias-fusion", "activation-fusion"]


@pytest.mark.parametrize("opset", [11, 17])
def test_three_projections_become_one_matmul_and_a_split(opset):
    model = projections_model([8, 12, 4], activations=(None,), bias=False, opset=opset)
    graph, out, changed = run_passes(model, ["sibling-matmul-merge"])
    assert changed["sibling-matmul-merge"]
    assert ops(graph) == {"MatMul": 1, "Split": 1, "Neg": 3}
    matmul = next(n for n in graph.nodes if n.op_type == "MatMul")
    assert graph.values[matmul.inputs[1]].constant.shape == (16, 24)
    assert_typed(graph)
    assert_same_outputs(model, out, FEEDS)


def test_fused_projections_with_biases_merge_by_activation():
    model = projections_model([8, 12, 4, 6], activations=("Relu", "Sigmoid"))
    graph, out, _ = run_passes(model, FUSIONS + ["sibling-matmul-merge"])
    # Relu, Sigmoid, Relu, Sigmoid: two merged FusedMatMuls, each split in two
    assert ops(graph) == {"com.ronn::FusedMatMul": 2, "Split": 2, "Neg": 4}
    fused = [n for n in graph.nodes if n.op_type == "FusedMatMul"]
    assert sorted(graph.values[n.inputs[2]].constant.shape for n in fused) == [(12,), (18,)]
    assert_same_outputs(model, out, FEEDS, ort=False)


def test_weights_fed_at_run_time_or_a_graph_output_are_left_alone():
    model = projections_model([8, 12], activations=(None,), bias=False)
    model.graph.output.append(tensor("m0", None))            # a product the user reads
    graph, _, changed = run_passes(model, ["sibling-matmul-merge"])
    assert not changed["sibling-matmul-merge"] and ops(graph)["MatMul"] == 2
    model = projections_model([8, 12, 4], activations=(None,), bias=False)
    w0 = next(i for i in model.graph.initializer if i.name == "w0")
    model.graph.initializer.remove(w0)                        # w0 becomes an input
    model.graph.input.append(tensor("w0", [16, 8]))
    graph, _, changed = run_passes(model, ["sibling-matmul-merge"])
    assert changed["sibling-matmul-merge"] and ops(graph)["MatMul"] == 2   # w1 and w2 merge
    kept = next(n for n in graph.nodes if n.op_type == "MatMul" and n.inputs[1] == "w0")
    assert kept.outputs == ["m0"]


def test_sessions_with_other_providers_keep_the_siblings():
    model = projections_model([8, 12], activations=(None,), bias=False)
    graph = load(model.SerializeToString()).graph
    assert not SiblingMatMulMerge().run(graph, PassContext(providers=["gpu", "cpu"]))
    assert ops(graph)["MatMul"] == 2


def test_cpu_session_merges_and_matches_onnxruntime():
    import onnxruntime
    model = projections_model([8, 12, 4])
    model.ir_version = 8
    session = ronn.Model.load(model.SerializeToString()).create_session()
    assert [s.op_type for s in session.plan.steps].count("Split") == 1
    got = session.run(FEEDS)
    want = onnxruntime.InferenceSession(model.SerializeToString(),
                                        providers=["CPUExecutionProvider"]).run(None, FEEDS)
    for name, w in zip(["y0", "y1", "y2"], want):
        np.testing.assert_allclose(got[name], w, rtol=1e-5, atol=1e-5)
