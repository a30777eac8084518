"""O3 concat-into: convs feeding a channel Concat write into its output."""

import numpy as np
import onnxruntime
import pytest
from onnx import helper

import ronn
import ronn_opset_onnx.plugin
import ronn_passes.plugin
from ronn_core import Runtime, hookimpl
from ronn_core.errors import KernelError
from ronn_core.onnx_io import load
from ronn_core.passes import PassContext
from ronn_cpu import CPUExecutionProvider
from ronn_passes.concat_into import ConcatInto
from ronn_passes.kernels import write_channels
from ronn_passes_tests import assert_typed, make_model, ops, rand, run_passes, tensor


class ReferenceOnlyCPU:
    """The cpu provider without its fast kernels: the com.ronn reference kernels run."""

    @staticmethod
    @hookimpl
    def ronn_providers(register):
        register(CPUExecutionProvider)


REFERENCE = Runtime(plugins=[ronn_opset_onnx.plugin, ronn_passes.plugin, ReferenceOnlyCPU],
                    discover=False)


def fire_model(pool_branch=False, extra_reader=False, axis=1, residual=False, batch=1):
    """SqueezeNet's fire module on ``x`` (batch, 8, 7, 7): a squeeze 1x1 conv + Relu, then a
    1x1 expand (plain Conv, no activation) and a 3x3 expand + Relu, concatenated along
    ``axis``; optionally a MaxPool branch, a residual Add on the 3x3 expand, and a second
    reader of the 1x1 expand's output."""
    inits = {"ws": rand(4, 8, 1, 1, seed=1), "bs": rand(4, seed=2),
             "w1": rand(6, 4, 1, 1, seed=3), "b1": rand(6, seed=4),
             "w3": rand(5, 4, 3, 3, seed=5)}
    nodes = [helper.make_node("Conv", ["x", "ws", "bs"], ["s"]),
             helper.make_node("Relu", ["s"], ["sr"]),
             helper.make_node("Conv", ["sr", "w1", "b1"], ["e1"]),
             helper.make_node("Conv", ["sr", "w3"], ["e3"], pads=[1, 1, 1, 1])]
    e3 = "e3"
    if residual:
        inits["z"] = rand(batch, 5, 7, 7, seed=6)
        nodes.append(helper.make_node("Add", ["e3", "z"], ["e3z"]))
        e3 = "e3z"
    nodes.append(helper.make_node("Relu", [e3], ["e3r"]))
    parts = ["e1", "e3r"]
    if pool_branch:
        nodes.append(helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[3, 3],
                                      pads=[1, 1, 1, 1]))
        parts.insert(1, "p")
    nodes.append(helper.make_node("Concat", parts, ["cat"], axis=axis))
    nodes.append(helper.make_node("Sigmoid", ["cat"], ["y"]))
    outputs = [tensor("y", None)]
    if extra_reader:
        nodes.append(helper.make_node("Neg", ["e1"], ["n"]))
        outputs.append(tensor("n", None))
    return make_model(nodes, [tensor("x", [batch, 8, 7, 7])], outputs, initializers=inits,
                      ir_version=8)


def feeds(batch=1):
    return {"x": rand(batch, 8, 7, 7, seed=9)}


def onnxruntime_outputs(model, batch=1):
    return onnxruntime.InferenceSession(model.SerializeToString(),
                                        providers=["CPUExecutionProvider"]).run(None,
                                                                               feeds(batch))


def assert_matches_onnxruntime(model, optimized, batch=1):
    """The rewritten model on the cpu provider's fast kernels and on the reference kernels
    against onnxruntime on the original."""
    want = onnxruntime_outputs(model, batch)
    for runtime in (None, REFERENCE):
        session = ronn.Model.load(optimized.SerializeToString()).create_session(
            optimization_level="O0", runtime=runtime)
        got = session.run(feeds(batch))
        for value, w in zip(got.values(), want):
            np.testing.assert_allclose(value, w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("batch", [1, 2])
def test_fire_module_convs_write_into_the_concat_output(batch):
    model = fire_model(batch=batch)
    graph, out, changed = run_passes(model, ["activation-fusion", "concat-into"])
    assert changed["concat-into"]
    assert "Concat" not in ops(graph)
    into = [n for n in graph.nodes if "concat_channels" in n.attributes]
    assert [(n.attributes["concat_channels"], n.attributes["concat_offset"]) for n in into] == \
        [(11, 0), (11, 6)]
    assert into[0].attributes["activation"] == "Identity"         # the plain 1x1 expand
    assert len(into[1].inputs) == 5 and into[1].inputs[4] == into[0].outputs[0]
    assert into[1].outputs[0] == "cat"
    assert_typed(graph)
    assert graph.values[into[0].outputs[0]].type.shape == (batch, 11, 7, 7)
    assert_matches_onnxruntime(model, out, batch)


def test_inputs_no_conv_made_are_copied_in_by_concat_into():
    model = fire_model(pool_branch=True)
    graph, out, _ = run_passes(model, ["activation-fusion", "concat-into"])
    copy = next(n for n in graph.nodes if n.op_type == "ConcatInto")
    assert copy.inputs[1] == "p" and copy.attributes["offsets"] == [6]
    assert copy.outputs[0] == "cat" and "Concat" not in ops(graph)
    assert_typed(graph)
    assert_matches_onnxruntime(model, out)


def test_a_conv_with_a_residual_writes_into_the_buffer_too():
    model = fire_model(residual=True)
    graph, out, _ = run_passes(model, ["residual-fusion", "activation-fusion", "concat-into"])
    last = next(n for n in graph.nodes if n.outputs[0] == "cat")
    assert last.op_type == "FusedConv" and last.inputs[3] == "z" and len(last.inputs) == 5
    assert_matches_onnxruntime(model, out)


def test_a_conv_output_read_elsewhere_is_copied_not_written_in_place():
    model = fire_model(extra_reader=True)
    graph, out, _ = run_passes(model, ["activation-fusion", "concat-into"])
    copy = next(n for n in graph.nodes if n.op_type == "ConcatInto")
    assert copy.inputs[1] == "e1" and copy.attributes["offsets"] == [0]
    assert_matches_onnxruntime(model, out)


def test_other_axes_and_other_providers_keep_the_concat():
    graph, _, changed = run_passes(fire_model(axis=2), ["activation-fusion", "concat-into"])
    assert not changed["concat-into"] and ops(graph)["Concat"] == 1
    graph = load(fire_model().SerializeToString()).graph
    assert not ConcatInto().run(graph, PassContext(providers=["gpu", "cpu"]))
    assert ops(graph)["Concat"] == 1


def test_default_cpu_session_runs_the_rewrite_and_matches_onnxruntime():
    model = fire_model(pool_branch=True)
    session = ronn.Model.load(model.SerializeToString()).create_session()
    assert "Concat" not in [s.op_type for s in session.plan.steps]
    np.testing.assert_allclose(session.run(feeds())["y"], onnxruntime_outputs(model)[0],
                               rtol=1e-5, atol=1e-5)


def test_a_wrong_buffer_is_a_specific_error():
    part = np.ones((1, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match=r"expected float32\[1, 5, 3, 3\], got float32\[1, 4"):
        write_channels(np.zeros((1, 4, 3, 3), np.float32), part, 0, 5)
    with pytest.raises(ValueError, match="channels 4..5 do not fit a 5-channel buffer"):
        write_channels(None, part, 4, 5)
    # the fast kernel names the buffer it expected too, through the session's KernelError
    model = fire_model()
    graph, out, _ = run_passes(model, ["activation-fusion", "concat-into"])
    node = next(n for n in out.graph.node if n.op_type == "FusedConv" and len(n.input) == 5)
    out.graph.initializer.append(helper.make_tensor("bad", 1, [1, 3], [0.0] * 3))
    node.input[4] = "bad"
    session = ronn.Model.load(out.SerializeToString()).create_session(optimization_level="O0")
    with pytest.raises(KernelError, match=r"expected a C-contiguous float32\[1, 11, 7, 7\]"):
        session.run(feeds())
