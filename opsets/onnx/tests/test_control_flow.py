"""If, Loop, Scan, sequence and optional ops agree with onnxruntime, run end to end through RONN.

Control flow needs the whole runtime (subgraphs compiled with their outer scope bound), so each
test builds a small model with ``onnx.helper`` and runs it in both ``ronn.InferenceSession`` and
onnxruntime's CPU provider.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

import ronn
from ronn_core.errors import RonnError

F, I64, B = TensorProto.FLOAT, TensorProto.INT64, TensorProto.BOOL
RNG = np.random.default_rng(0)


# --- helpers ---------------------------------------------------------------------------------

def t(name, elem=F, shape=None):
    """A tensor value_info (``shape=None``: unknown rank)."""
    return helper.make_tensor_value_info(name, elem, shape)


def seq(name, elem=F):
    """A sequence-of-tensors value_info."""
    return helper.make_tensor_sequence_value_info(name, elem, None)


def opt(name, elem=F):
    """An optional-tensor value_info."""
    return helper.make_value_info(
        name, helper.make_optional_type_proto(helper.make_tensor_type_proto(elem, None)))


def const(name, value):
    """A Constant node producing ``value``."""
    return helper.make_node("Constant", [], [name], value=helper.make_tensor(
        name, helper.np_dtype_to_tensor_dtype(np.asarray(value).dtype), np.shape(value),
        np.asarray(value).reshape(-1).tolist()))


def graph(nodes, inputs, outputs, name="body"):
    return helper.make_graph(nodes, name, inputs, outputs)


def model(nodes, inputs, outputs, *, opset):
    m = helper.make_model(graph(nodes, inputs, outputs, "main"),
                          opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8 if opset <= 17 else 10
    return m


def run_both(m, feeds):
    """The outputs of RONN and of onnxruntime for the same model and feeds."""
    data = m.SerializeToString()
    ours = ronn.InferenceSession(data).run(None, feeds)
    theirs = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, feeds)
    return ours, theirs


def assert_same(ours, theirs):
    """Tensors equal in dtype, shape and values; sequences element by element; None for None."""
    if theirs is None:
        assert ours is None
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert_same(a, b)
    else:
        ours = np.asarray(ours)
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape, \
            f"{ours.dtype}{ours.shape} != {theirs.dtype}{theirs.shape}"
        np.testing.assert_allclose(ours, theirs, rtol=1e-6)


def check(m, feeds):
    """Run ``m`` in both runtimes and assert every output matches; return RONN's outputs."""
    ours, theirs = run_both(m, feeds)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert_same(a, b)
    return ours


def floats(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


# --- If --------------------------------------------------------------------------------------

@pytest.mark.parametrize("opset", [11, 13, 16, 21])
@pytest.mark.parametrize("cond", [True, False])
def test_if_branches_read_outer_scope_values(opset, cond):
    """then: x + y, else: x * y; both branches read x and y from the enclosing graph."""
    then_branch = graph([helper.make_node("Add", ["x", "y"], ["sum"])], [], [t("sum")])
    else_branch = graph([helper.make_node("Mul", ["x", "y"], ["prod"])], [], [t("prod")])
    m = model([helper.make_node("If", ["c"], ["out"], then_branch=then_branch,
                                else_branch=else_branch)],
              [t("c", B, []), t("x", F, [3]), t("y", F, [3])], [t("out")], opset=opset)
    x, y = floats(3), floats(3)
    (out,) = check(m, {"c": np.array(cond), "x": x, "y": y})
    np.testing.assert_allclose(out, x + y if cond else x * y, rtol=1e-6)


def test_if_branch_produces_several_outputs_and_a_sequence():
    """A branch may return several values, including a sequence (opset 13+)."""
    then_branch = graph([helper.make_node("SequenceConstruct", ["x", "x"], ["s"]),
                         helper.make_node("Neg", ["x"], ["n"])], [], [seq("s"), t("n")])
    else_branch = graph([helper.make_node("SequenceConstruct", ["x"], ["s2"]),
                         helper.make_node("Abs", ["x"], ["a"])], [], [seq("s2"), t("a")])
    m = model([helper.make_node("If", ["c"], ["s_out", "v_out"], then_branch=then_branch,
                                else_branch=else_branch)],
              [t("c", B, []), t("x", F, [2])], [seq("s_out"), t("v_out")], opset=13)
    for cond in (True, False):
        s, _ = check(m, {"c": np.array(cond), "x": floats(2)})
        assert len(s) == (2 if cond else 1)


# --- Loop ------------------------------------------------------------------------------------

def counting_body(extra_nodes=(), stop_below=None):
    """Loop body: ``acc += i`` (as float) and scan out ``acc * 2`` each iteration.

    With ``stop_below`` the body's condition output is ``acc < stop_below``; otherwise it passes
    the incoming condition through.
    """
    nodes = [helper.make_node("Cast", ["i"], ["i_f"], to=F),
             helper.make_node("Add", ["acc_in", "i_f"], ["acc_out"]),
             helper.make_node("Add", ["acc_out", "acc_out"], ["doubled"]), *extra_nodes]
    if stop_below is None:
        nodes.append(helper.make_node("Identity", ["cond_in"], ["cond_out"]))
    else:
        nodes += [const("limit", np.array(stop_below, np.float32)),
                  helper.make_node("Less", ["acc_out", "limit"], ["cond_out"])]
    return graph(nodes, [t("i", I64, []), t("cond_in", B, []), t("acc_in", F, [])],
                 [t("cond_out", B, []), t("acc_out", F, []), t("doubled", F, [])])


def loop_model(body, *, trip_count: bool, condition: bool, opset=13):
    m_in = [t("M", I64, [])] if trip_count else []
    c_in = [t("cond", B, [])] if condition else []
    node = helper.make_node("Loop", ["M" if trip_count else "", "cond" if condition else "",
                                     "acc0"], ["acc", "scan"], body=body)
    return model([node], [*m_in, *c_in, t("acc0", F, [])], [t("acc"), t("scan")], opset=opset)


@pytest.mark.parametrize("opset", [11, 13, 16, 21])
def test_loop_with_trip_count_only_runs_M_times(opset):
    """A for-loop: no condition input, the body passes its condition through unchanged."""
    m = loop_model(counting_body(), trip_count=True, condition=False, opset=opset)
    acc, scan = check(m, {"M": np.array(5, np.int64), "acc0": np.array(1, np.float32)})
    assert acc == 1 + 0 + 1 + 2 + 3 + 4
    np.testing.assert_array_equal(scan, [2, 4, 8, 14, 22])


def test_loop_without_condition_input_still_stops_on_the_body_condition():
    """The spec's pseudocode ignores it, but onnxruntime stops once the body returns false."""
    m = loop_model(counting_body(stop_below=0.0), trip_count=True, condition=False)
    acc, scan = check(m, {"M": np.array(5, np.int64), "acc0": np.array(1, np.float32)})
    assert acc == 1 and scan.shape == (1,)


def test_loop_with_condition_only_runs_while_it_holds():
    """A while-loop: stops after the first iteration whose body returns false."""
    m = loop_model(counting_body(stop_below=10.0), trip_count=False, condition=True)
    acc, scan = check(m, {"cond": np.array(True), "acc0": np.array(0, np.float32)})
    assert acc == 0 + 1 + 2 + 3 + 4 and scan.shape == (5,)


@pytest.mark.parametrize("max_trips, stop_below", [(3, 100.0), (10, 5.0), (4, 7.0)])
def test_loop_with_trip_count_and_condition_stops_at_whichever_comes_first(max_trips,
                                                                           stop_below):
    m = loop_model(counting_body(stop_below=stop_below), trip_count=True, condition=True)
    check(m, {"M": np.array(max_trips, np.int64), "cond": np.array(True),
              "acc0": np.array(0, np.float32)})


def test_loop_that_never_runs_returns_the_initial_values():
    """False initial condition: the carried value comes back as given, the scan output empty."""
    m = loop_model(counting_body(), trip_count=True, condition=True)
    acc, scan = check(m, {"M": np.array(5, np.int64), "cond": np.array(False),
                          "acc0": np.array(3, np.float32)})
    assert acc == 3 and scan.size == 0


def test_loop_with_zero_trip_count_returns_the_initial_values():
    m = loop_model(counting_body(), trip_count=True, condition=False)
    acc, scan = check(m, {"M": np.array(0, np.int64), "acc0": np.array(3, np.float32)})
    assert acc == 3 and scan.size == 0


@pytest.mark.xfail(strict=True, reason="RONN does not infer a body's output shapes: a loop "
                   "that never runs gives scan outputs of shape (0,); onnxruntime (0, 2, 3)")
def test_loop_that_never_runs_gives_scan_outputs_of_the_inferred_element_shape():
    body = graph([helper.make_node("Identity", ["state_in"], ["state_out"]),
                  helper.make_node("Identity", ["state_in"], ["trace"]),
                  helper.make_node("Identity", ["cond_in"], ["cond_out"])],
                 [t("i", I64, []), t("cond_in", B, []), t("state_in", F, [2, 3])],
                 [t("cond_out", B, []), t("state_out", F, [2, 3]), t("trace", F, [2, 3])])
    m = model([helper.make_node("Loop", ["M", "", "s0"], ["s", "states"], body=body)],
              [t("M", I64, []), t("s0", F, [2, 3])], [t("s", F, [2, 3]), t("states")],
              opset=13)
    check(m, {"M": np.array(0, np.int64), "s0": floats(2, 3)})


def test_loop_body_reads_an_outer_scope_value_and_carries_tensors():
    """``state = state * w + i``, where ``w`` lives in the main graph; scan out each state."""
    body = graph([helper.make_node("Mul", ["state_in", "w"], ["scaled"]),
                  helper.make_node("Cast", ["i"], ["i_f"], to=F),
                  helper.make_node("Add", ["scaled", "i_f"], ["state_out"]),
                  helper.make_node("Identity", ["state_out"], ["trace"]),
                  helper.make_node("Identity", ["cond_in"], ["cond_out"])],
                 [t("i", I64, []), t("cond_in", B, []), t("state_in", F, [2, 3])],
                 [t("cond_out", B, []), t("state_out", F, [2, 3]), t("trace", F, [2, 3])])
    m = model([helper.make_node("Loop", ["M", "", "s0"], ["s", "states"], body=body)],
              [t("M", I64, []), t("s0", F, [2, 3]), t("w", F, [3])],
              [t("s", F, [2, 3]), t("states")], opset=13)
    _, states = check(m, {"M": np.array(4, np.int64), "s0": floats(2, 3), "w": floats(3)})
    assert states.shape == (4, 2, 3)             # scan outputs stack along a new axis 0


def test_nested_if_inside_loop_body_reads_values_from_two_scopes_up():
    """Each iteration adds ``x`` (main graph) on even ``i`` and subtracts it on odd ``i``."""
    add = graph([helper.make_node("Add", ["acc_in", "x"], ["plus"])], [], [t("plus", F, [2])])
    sub = graph([helper.make_node("Sub", ["acc_in", "x"], ["minus"])], [], [t("minus", F, [2])])
    body = graph([const("two", np.array(2, np.int64)),
                  const("zero", np.array(0, np.int64)),
                  helper.make_node("Mod", ["i", "two"], ["parity"]),
                  helper.make_node("Equal", ["parity", "zero"], ["even"]),
                  helper.make_node("If", ["even"], ["acc_out"], then_branch=add,
                                   else_branch=sub),
                  helper.make_node("Identity", ["cond_in"], ["cond_out"])],
                 [t("i", I64, []), t("cond_in", B, []), t("acc_in", F, [2])],
                 [t("cond_out", B, []), t("acc_out", F, [2])])
    m = model([helper.make_node("Loop", ["M", "", "acc0"], ["acc"], body=body)],
              [t("M", I64, []), t("acc0", F, [2]), t("x", F, [2])], [t("acc", F, [2])],
              opset=16)
    x = np.array([1.0, 10.0], np.float32)
    (acc,) = check(m, {"M": np.array(5, np.int64), "acc0": np.zeros(2, np.float32), "x": x})
    np.testing.assert_array_equal(acc, x)        # + - + - +


def test_loop_carries_a_sequence():
    """Opset 13 lets a loop carry a sequence: collect ``i * x`` then concatenate once."""
    body = graph([helper.make_node("Cast", ["i"], ["i_f"], to=F),
                  helper.make_node("Mul", ["x", "i_f"], ["item"]),
                  helper.make_node("SequenceInsert", ["items_in", "item"], ["items_out"]),
                  helper.make_node("Identity", ["cond_in"], ["cond_out"])],
                 [t("i", I64, []), t("cond_in", B, []), seq("items_in")],
                 [t("cond_out", B, []), seq("items_out")])
    m = model([helper.make_node("SequenceEmpty", [], ["empty"], dtype=F),
               helper.make_node("Loop", ["M", "", "empty"], ["items"], body=body),
               helper.make_node("ConcatFromSequence", ["items"], ["joined"], axis=0)],
              [t("M", I64, []), t("x", F, [2])], [seq("items"), t("joined")], opset=13)
    items, joined = check(m, {"M": np.array(3, np.int64), "x": np.ones(2, np.float32)})
    assert len(items) == 3
    np.testing.assert_array_equal(joined, [0, 0, 1, 1, 2, 2])


# --- Scan ------------------------------------------------------------------------------------

def running_sum_body(shape):
    """Scan body: ``total += slice``; scan out the running total and the slice doubled."""
    return graph([helper.make_node("Add", ["total_in", "x_t"], ["total_out"]),
                  helper.make_node("Identity", ["total_out"], ["running"]),
                  helper.make_node("Add", ["x_t", "x_t"], ["doubled"])],
                 [t("total_in", F, shape), t("x_t", F, shape)],
                 [t("total_out", F, shape), t("running", F, shape), t("doubled", F, shape)])


@pytest.mark.parametrize("opset", [9, 11, 16, 21])
@pytest.mark.parametrize("in_axis, in_dir, out_axes, out_dirs", [
    (0, 0, [0, 0], [0, 0]),
    (1, 0, [0, 1], [0, 0]),       # slice along axis 1; stack the second output along axis 1
    (1, 1, [0, 0], [0, 0]),       # read the scan input backwards
    (0, 0, [1, 0], [1, 0]),       # write the first output backwards along axis 1
    (1, 1, [0, 1], [1, 1]),
])
def test_scan_axes_and_directions(opset, in_axis, in_dir, out_axes, out_dirs):
    x = floats(4, 3)                              # sliced along in_axis: 4 or 3 steps
    slice_shape = [3] if in_axis == 0 else [4]
    node = helper.make_node("Scan", ["init", "x"], ["total", "running", "doubled"],
                            body=running_sum_body(slice_shape), num_scan_inputs=1,
                            scan_input_axes=[in_axis], scan_input_directions=[in_dir],
                            scan_output_axes=out_axes, scan_output_directions=out_dirs)
    m = model([node], [t("init", F, slice_shape), t("x", F, [4, 3])],
              [t("total"), t("running"), t("doubled")], opset=opset)
    total, _, _ = check(m, {"init": np.zeros(slice_shape, np.float32), "x": x})
    np.testing.assert_allclose(total, x.sum(axis=in_axis), rtol=1e-5)


def test_scan_negative_output_axis_and_outer_scope_value():
    """Opset 11+: ``scan_output_axes=[-1]`` stacks last; the body reads ``scale`` from outside."""
    body = graph([helper.make_node("Mul", ["a_t", "scale"], ["scaled"]),
                  helper.make_node("Add", ["scaled", "b_t"], ["out_t"])],
                 [t("a_t", F, [2]), t("b_t", F, [2])], [t("out_t", F, [2])])
    node = helper.make_node("Scan", ["a", "b"], ["out"], body=body, num_scan_inputs=2,
                            scan_input_axes=[0, 1], scan_output_axes=[-1])
    m = model([node], [t("a", F, [5, 2]), t("b", F, [2, 5]), t("scale", F, [])], [t("out")],
              opset=11)
    a, b, scale = floats(5, 2), floats(2, 5), np.array(3, np.float32)
    (out,) = check(m, {"a": a, "b": b, "scale": scale})
    np.testing.assert_allclose(out, (a * scale).T + b, rtol=1e-5)


@pytest.mark.parametrize("directions", [[0], [1]])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_scan_v8_runs_each_batch_entry_separately(directions, with_lengths):
    """Opset 8: inputs are ``[batch, seq, ...]``; ``sequence_lens`` cuts each entry short."""
    x = floats(2, 4, 3)
    node = helper.make_node("Scan", ["lens" if with_lengths else "", "init", "x"],
                            ["total", "running", "doubled"], body=running_sum_body([3]),
                            num_scan_inputs=1, directions=directions)
    inputs = [t("init", F, [2, 3]), t("x", F, [2, 4, 3])]
    feeds = {"init": np.zeros((2, 3), np.float32), "x": x}
    if with_lengths:
        inputs.insert(0, t("lens", I64, [2]))
        feeds["lens"] = np.array([4, 2], np.int64)
    m = model([node], inputs, [t("total"), t("running"), t("doubled")], opset=8)
    total, running, _ = check(m, feeds)
    assert running.shape == (2, 4, 3)


# --- sequences -------------------------------------------------------------------------------

def test_sequence_construct_insert_at_erase_length():
    """Build [a, b], insert c at -1 -> [a, c, b], read at -1 and -3, erase 0 -> [c, b]."""
    nodes = [helper.make_node("SequenceConstruct", ["a", "b"], ["ab"]),
             const("minus1", np.array(-1, np.int64)),
             const("minus3", np.array(-3, np.int64)),
             const("zero", np.array(0, np.int64)),
             helper.make_node("SequenceInsert", ["ab", "c", "minus1"], ["acb"]),
             helper.make_node("SequenceAt", ["acb", "minus1"], ["last"]),
             helper.make_node("SequenceAt", ["acb", "minus3"], ["first"]),
             helper.make_node("SequenceErase", ["acb", "zero"], ["cb"]),
             helper.make_node("SequenceErase", ["acb"], ["ac"]),     # default: the last one
             helper.make_node("SequenceLength", ["cb"], ["n"])]
    m = model(nodes, [t("a", F, [2]), t("b", F, [2]), t("c", F, [2])],
              [seq("acb"), t("last"), t("first"), seq("cb"), seq("ac"), t("n", I64, [])],
              opset=11)
    a, b, c = floats(2), floats(2), floats(2)
    acb, last, first, cb, ac, n = check(m, {"a": a, "b": b, "c": c})
    np.testing.assert_array_equal(last, b)
    np.testing.assert_array_equal(first, a)
    assert [e.tolist() for e in cb] == [c.tolist(), b.tolist()]
    assert [e.tolist() for e in ac] == [a.tolist(), c.tolist()]
    assert n == 2 and n.dtype == np.int64


def test_sequence_empty_then_insert_appends():
    nodes = [helper.make_node("SequenceEmpty", [], ["empty"], dtype=F),
             helper.make_node("SequenceInsert", ["empty", "x"], ["one"]),
             helper.make_node("SequenceInsert", ["one", "y"], ["two"]),
             helper.make_node("SequenceLength", ["empty"], ["n0"])]
    m = model(nodes, [t("x", F, [2]), t("y", F, [3])], [seq("two"), t("n0", I64, [])],
              opset=11)
    two, n0 = check(m, {"x": floats(2), "y": floats(3)})
    assert [e.shape for e in two] == [(2,), (3,)] and n0 == 0


@pytest.mark.parametrize("split, split_attrs, concat_attrs", [
    (None, {"axis": 1}, {"axis": 1}),                                   # size-1 pieces kept
    (None, {"axis": 1, "keepdims": 0}, {"axis": 1, "new_axis": 1}),     # squeezed, re-stacked
    (None, {"axis": -1, "keepdims": 0}, {"axis": -1, "new_axis": 1}),   # new last axis
    (np.array(2, np.int64), {"axis": 1}, {"axis": 1}),                  # 2, 2, 1
    (np.array([1, 4], np.int64), {"axis": 1}, {"axis": -1}),
    (np.array([3, 1], np.int64), {"axis": 0}, {"axis": 0}),
])
def test_split_to_sequence_and_concat_from_sequence_round_trip(split, split_attrs,
                                                               concat_attrs):
    x = floats(4, 5)
    nodes = [helper.make_node("SplitToSequence", ["x"] + (["split"] if split is not None else []),
                              ["pieces"], **split_attrs),
             helper.make_node("ConcatFromSequence", ["pieces"], ["back"], **concat_attrs)]
    inputs = [t("x", F, [4, 5])] + ([t("split", I64, list(split.shape))]
                                    if split is not None else [])
    feeds = {"x": x, **({"split": split} if split is not None else {})}
    m = model(nodes, inputs, [seq("pieces"), t("back")], opset=11)
    _, back = check(m, feeds)
    np.testing.assert_array_equal(back, x)


def test_concat_from_sequence_new_axis_stacks():
    nodes = [helper.make_node("SequenceConstruct", ["a", "b", "c"], ["s"]),
             helper.make_node("ConcatFromSequence", ["s"], ["stacked"], axis=0, new_axis=1)]
    m = model(nodes, [t(n, F, [2, 3]) for n in "abc"], [t("stacked")], opset=11)
    (stacked,) = check(m, {n: floats(2, 3) for n in "abc"})
    assert stacked.shape == (3, 2, 3)


def test_sequence_map_walks_sequences_and_repeats_tensors():
    """Body ``(x, y, bias) -> (x + y + bias, shape(x))``: y is a sequence, bias a tensor."""
    body = graph([helper.make_node("Add", ["x", "y"], ["xy"]),
                  helper.make_node("Add", ["xy", "bias"], ["sum"]),
                  helper.make_node("Shape", ["x"], ["shape"])],
                 [t("x", F, None), t("y", F, None), t("bias", F, [])],
                 [t("sum", F, None), t("shape", I64, [1])])
    nodes = [helper.make_node("SequenceConstruct", ["a", "b"], ["xs"]),
             helper.make_node("SequenceConstruct", ["b", "a"], ["ys"]),
             helper.make_node("SequenceMap", ["xs", "ys", "bias"], ["sums", "shapes"],
                              body=body)]
    m = model(nodes, [t("a", F, [3]), t("b", F, [3]), t("bias", F, [])],
              [seq("sums"), seq("shapes", I64)], opset=17)
    a, b = floats(3), floats(3)
    sums, shapes = check(m, {"a": a, "b": b, "bias": np.array(1, np.float32)})
    np.testing.assert_allclose(sums[0], a + b + 1, rtol=1e-6)
    assert [s.tolist() for s in shapes] == [[3], [3]]


def test_sequence_at_out_of_range_is_an_error():
    nodes = [helper.make_node("SequenceConstruct", ["a"], ["s"]),
             helper.make_node("SequenceAt", ["s", "pos"], ["out"])]
    m = model(nodes, [t("a", F, [2]), t("pos", I64, [])], [t("out")], opset=11)
    session = ronn.InferenceSession(m.SerializeToString())
    np.testing.assert_array_equal(
        session.run(None, {"a": np.ones(2, np.float32), "pos": np.array(-1, np.int64)})[0], 1)
    with pytest.raises(RonnError, match="out of range"):
        session.run(None, {"a": np.ones(2, np.float32), "pos": np.array(1, np.int64)})


# --- optionals -------------------------------------------------------------------------------

def test_optional_wraps_and_unwraps_a_tensor():
    nodes = [helper.make_node("Optional", ["x"], ["maybe"]),
             helper.make_node("OptionalHasElement", ["maybe"], ["has"]),
             helper.make_node("OptionalGetElement", ["maybe"], ["value"])]
    m = model(nodes, [t("x", F, [2])], [t("has", B, []), t("value")], opset=15)
    has, value = check(m, {"x": np.array([1, 2], np.float32)})
    assert has.dtype == np.bool_ and has
    np.testing.assert_array_equal(value, [1, 2])


@pytest.mark.parametrize("opset", [15, 18])
def test_empty_optional_has_no_element(opset):
    empty_type = helper.make_tensor_type_proto(F, None)
    nodes = [helper.make_node("Optional", [], ["nothing"], type=empty_type),
             helper.make_node("OptionalHasElement", ["nothing"], ["has"])]
    m = model(nodes, [], [opt("nothing"), t("has", B, [])], opset=opset)
    nothing, has = check(m, {})
    assert nothing is None and not has


def test_optional_ops_accept_plain_tensors_and_absent_inputs_from_opset_18():
    nodes = [helper.make_node("OptionalHasElement", ["x"], ["has_x"]),
             helper.make_node("OptionalHasElement", [""], ["has_nothing"]),
             helper.make_node("OptionalGetElement", ["x"], ["same"])]
    m = model(nodes, [t("x", F, [2])], [t("has_x", B, []), t("has_nothing", B, []),
                                        t("same")], opset=18)
    has_x, has_nothing, same = check(m, {"x": np.array([1, 2], np.float32)})
    assert has_x and not has_nothing


def test_optional_sequence_round_trip():
    nodes = [helper.make_node("SequenceConstruct", ["x", "x"], ["s"]),
             helper.make_node("Optional", ["s"], ["maybe"]),
             helper.make_node("OptionalGetElement", ["maybe"], ["back"])]
    m = model(nodes, [t("x", F, [2])], [seq("back")], opset=15)
    (back,) = check(m, {"x": floats(2)})
    assert len(back) == 2
