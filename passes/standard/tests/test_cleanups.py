"""O1 passes: constant folding (shape chains too), no-op elimination, CSE, DCE, frozen IR<4
initializers. Each test checks the rewrite happened and the outputs did not change."""

import numpy as np
from onnx import TensorProto, helper

from ronn_passes_tests import (assert_same_outputs, assert_typed, make_model, ops, rand,
                               run_passes, tensor)

INT64 = TensorProto.INT64


def shape_chain_model():
    """y = Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])): batch kept, rest flattened."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "zero"], ["b"], axis=0),
        helper.make_node("Unsqueeze", ["b", "axes0"], ["bu"]),
        helper.make_node("Concat", ["bu", "minus1"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["y"]),
    ]
    return make_model(nodes, [tensor("x", [2, 3, 4])], [tensor("y", None)],
                      initializers={"zero": np.array(0, np.int64),
                                    "axes0": np.array([0], np.int64),
                                    "minus1": np.array([-1], np.int64)})


def test_shape_subgraph_folds_to_a_constant():
    model = shape_chain_model()
    graph, out, changed = run_passes(model, ["constant-folding"])
    assert changed["constant-folding"]
    assert ops(graph) == {"Reshape": 1}
    assert graph.values[graph.nodes[0].inputs[1]].constant.tolist() == [2, -1]
    assert_typed(graph)
    assert_same_outputs(model, out, {"x": rand(2, 3, 4)})


def test_shape_with_symbolic_dims_is_not_folded():
    model = shape_chain_model()
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    graph, _, _ = run_passes(model, ["constant-folding"])
    assert "Shape" in ops(graph)


def test_constant_arithmetic_folds_through_ronn_kernels():
    model = make_model([helper.make_node("Mul", ["a", "b"], ["ab"]),
                        helper.make_node("Add", ["x", "ab"], ["y"])],
                       [tensor("x", [3])], [tensor("y", [3])],
                       initializers={"a": np.ones(3, np.float32) * 2,
                                     "b": np.arange(3, dtype=np.float32)})
    graph, out, _ = run_passes(model, ["constant-folding"])
    assert ops(graph) == {"Add": 1}
    assert_same_outputs(model, out, {"x": rand(3)})


def test_overridable_initializers_are_not_constants():
    """An initializer that is also a graph input may be fed: never fold it."""
    model = make_model([helper.make_node("Mul", ["a", "b"], ["ab"]),
                        helper.make_node("Add", ["x", "ab"], ["y"])],
                       [tensor("x", [3])], [tensor("y", [3])],
                       initializers={"a": np.ones(3, np.float32), "b": np.ones(3, np.float32)},
                       extra_inputs=[tensor("a", [3])])
    graph, out, _ = run_passes(model, ["constant-folding", "freeze-initializers"])
    assert ops(graph) == {"Mul": 1, "Add": 1}
    import ronn
    s = ronn.Model.load(out.SerializeToString()).create_session(optimization_level="O0")
    y = s.run({"x": np.zeros(3, np.float32), "a": np.full(3, 5, np.float32)})["y"]
    assert y.tolist() == [5, 5, 5]


def test_ir3_initializers_are_frozen_like_onnxruntime():
    model = make_model([helper.make_node("Mul", ["a", "b"], ["ab"]),
                        helper.make_node("Add", ["x", "ab"], ["y"])],
                       [tensor("x", [3])], [tensor("y", [3])],
                       initializers={"a": np.ones(3, np.float32), "b": np.ones(3, np.float32)},
                       extra_inputs=[tensor("a", [3]), tensor("b", [3])], opset=9, ir_version=3)
    graph, out, changed = run_passes(model, ["constant-folding", "freeze-initializers"],
                                     ir_version=3)
    assert changed["freeze-initializers"]
    assert ops(graph) == {"Add": 1}
    assert graph.inputs == ["x"]
    assert_same_outputs(model, out, {"x": rand(3)})


def test_huge_expanding_results_are_not_folded():
    model = make_model([helper.make_node("ConstantOfShape", ["shape"], ["big"]),
                        helper.make_node("ReduceSum", ["big"], ["s"], keepdims=0),
                        helper.make_node("Add", ["x", "s"], ["y"])],
                       [tensor("x", [1])], [tensor("y", None)],
                       initializers={"shape": np.array([2048, 1024], np.int64)})
    graph, _, _ = run_passes(model, ["constant-folding"])
    assert "ConstantOfShape" in ops(graph)


def test_identity_and_dropout_are_removed():
    model = make_model([helper.make_node("Identity", ["x"], ["a"]),
                        helper.make_node("Dropout", ["a"], ["b"]),
                        helper.make_node("Relu", ["b"], ["c"]),
                        helper.make_node("Identity", ["c"], ["y"])],
                       [tensor("x", [2, 3])], [tensor("y", [2, 3])])
    graph, out, changed = run_passes(model, ["noop-elimination"])
    assert changed["noop-elimination"]
    assert ops(graph) == {"Relu": 1}
    assert graph.outputs == ["y"] and graph.nodes[0].outputs == ["y"]
    assert_same_outputs(model, out, {"x": rand(2, 3)})


def test_noops_that_do_nothing_are_removed_but_real_ops_stay():
    model = make_model([helper.make_node("Cast", ["x"], ["a"], to=TensorProto.FLOAT),
                        helper.make_node("Transpose", ["a"], ["b"], perm=[0, 1]),
                        helper.make_node("Add", ["b", "zero"], ["c"]),
                        helper.make_node("Mul", ["c", "two"], ["y"])],
                       [tensor("x", [2, 3])], [tensor("y", [2, 3])],
                       initializers={"zero": np.zeros(3, np.float32),
                                     "two": np.full(3, 2, np.float32)})
    graph, out, _ = run_passes(model, ["noop-elimination"])
    assert ops(graph) == {"Mul": 1}
    assert_same_outputs(model, out, {"x": rand(2, 3)})


def test_dropout_with_used_mask_stays():
    model = make_model([helper.make_node("Dropout", ["x"], ["y", "mask"])],
                       [tensor("x", [2])], [tensor("y", [2]), tensor("mask", [2], TensorProto.BOOL)])
    graph, _, _ = run_passes(model, ["noop-elimination"])
    assert ops(graph) == {"Dropout": 1}


def test_cse_merges_identical_nodes():
    model = make_model([helper.make_node("Relu", ["x"], ["a"]),
                        helper.make_node("Relu", ["x"], ["b"]),
                        helper.make_node("Add", ["a", "b"], ["y"])],
                       [tensor("x", [4])], [tensor("y", [4])])
    graph, out, changed = run_passes(model, ["cse"])
    assert changed["cse"]
    assert ops(graph) == {"Relu": 1, "Add": 1}
    assert_same_outputs(model, out, {"x": rand(4)})


def test_cse_keeps_nodes_with_different_attributes_and_graph_outputs():
    model = make_model([helper.make_node("LeakyRelu", ["x"], ["a"], alpha=0.1),
                        helper.make_node("LeakyRelu", ["x"], ["b"], alpha=0.2),
                        helper.make_node("Relu", ["x"], ["c"]),
                        helper.make_node("Relu", ["x"], ["d"])],
                       [tensor("x", [4])], [tensor(n, [4]) for n in "abcd"])
    graph, _, _ = run_passes(model, ["cse"])
    assert ops(graph) == {"LeakyRelu": 2, "Relu": 2}


def test_dce_removes_unused_nodes_and_initializers():
    model = make_model([helper.make_node("Relu", ["x"], ["y"]),
                        helper.make_node("Mul", ["x", "w"], ["unused"])],
                       [tensor("x", [4])], [tensor("y", [4])],
                       initializers={"w": np.ones(4, np.float32)})
    graph, out, changed = run_passes(model, [], dce=True)
    assert changed["dce"]
    assert ops(graph) == {"Relu": 1}
    assert "w" not in graph.values
    assert_same_outputs(model, out, {"x": rand(4)})
