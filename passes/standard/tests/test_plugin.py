"""The plugin as RONN sees it: installed entry point, isolated runtime, pass order that ignores
registration order, passes disabled by name from a session config, kernels for com.ronn ops."""

import types

import numpy as np
import pytest
from onnx import helper

import ronn
import ronn_cpu.plugin
import ronn_opset_onnx.plugin
import ronn_passes.plugin
from ronn_core import Runtime, hookimpl
from ronn_core.errors import ConfigValueError
from ronn_core.passes import select_passes
from ronn_passes.registry import ALL_PASSES
from ronn_passes_tests import make_model, rand, tensor

NAMES = {p.name for p in ALL_PASSES}


def test_installed_entry_point_registers_every_pass_and_kernel():
    rt = Runtime()
    assert NAMES <= set(rt.passes)
    info = next(i for i in rt.plugins() if i.name == "passes")
    assert info.error is None and info.distribution == "ronn-passes"
    assert set(info.registered["passes"]) == NAMES
    for op in ("FusedConv", "FusedGemm", "FusedMatMul", "Gelu", "LayerNormalization",
               "SkipLayerNormalization", "Attention", "NhwcConv"):
        assert rt.kernels.resolve("com.ronn", op, 1, "cpu") is not None, op


def test_isolated_runtime_through_the_plugin_module():
    rt = Runtime(plugins=[ronn_opset_onnx.plugin, ronn_cpu.plugin, ronn_passes.plugin],
                 discover=False)
    assert set(rt.passes) == NAMES


def _plugin(name, passes):
    mod = types.ModuleType(name)

    @hookimpl
    def ronn_passes(register):
        register(*passes)

    mod.ronn_passes = ronn_passes
    return mod


@pytest.mark.parametrize("level", ["O1", "O2", "O3"])
def test_order_does_not_depend_on_registration_order(level):
    forward = Runtime(plugins=[_plugin("a", ALL_PASSES)], discover=False)
    backward = Runtime(plugins=[_plugin("b", tuple(reversed(ALL_PASSES)))], discover=False)
    split = Runtime(plugins=[_plugin("c", ALL_PASSES[::2]), _plugin("d", ALL_PASSES[1::2])],
                    discover=False)
    orders = [[p.name for p in select_passes(rt.passes, level, providers=["cpu"])]
              for rt in (forward, backward, split)]
    assert orders[0] == orders[1] == orders[2]
    order = orders[0]
    assert order[-1] == "dce"
    if level != "O1":
        assert order.index("constant-folding") < order.index("conv-affine-fusion")
    if level == "O3":
        assert order.index("gelu-fusion-ronn") < order.index("activation-fusion")


def test_levels():
    by_level = {p.name: p.level for p in ALL_PASSES}
    assert by_level["constant-folding"] == by_level["cse"] == by_level["dce"] == "O1"
    assert by_level["conv-affine-fusion"] == by_level["matmul-add-fusion"] == "O2"
    assert by_level["activation-fusion"] == by_level["attention-fusion"] == "O3"
    rt = Runtime()
    assert select_passes(rt.passes, "O0", providers=["cpu"]) == []


def _twin_relu_model():
    return make_model([helper.make_node("Relu", ["x"], ["a"]),
                       helper.make_node("Relu", ["x"], ["b"]),
                       helper.make_node("Add", ["a", "b"], ["y"])],
                      [tensor("x", [4])], [tensor("y", [4])])


def test_disable_a_pass_by_name_in_a_session_config(tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(_twin_relu_model().SerializeToString())
    (tmp_path / "s.toml").write_text('model = "m.onnx"\noptimization_level = "O2"\n'
                                     '[passes]\ndisable = ["cse"]\n')
    session = ronn.load_config(tmp_path / "s.toml").create_session()
    ran = [r.name for r in session.pass_log]
    assert "cse" not in ran and "constant-folding" in ran
    assert session.graph.op_histogram()["Relu"] == 2
    on = ronn.Model.load(path).create_session(optimization_level="O2")
    assert on.graph.op_histogram()["Relu"] == 1
    x = rand(4)
    np.testing.assert_array_equal(session.run({"x": x})["y"], on.run({"x": x})["y"])


def test_unknown_pass_name_is_a_clear_error():
    with pytest.raises(ConfigValueError, match="cse"):
        ronn.Model.load(_twin_relu_model().SerializeToString()).create_session(
            disable_passes=["csee"])


def test_o3_session_runs_fused_ops_with_the_plugin_kernels():
    model = make_model([helper.make_node("Conv", ["x", "w"], ["c"]),
                        helper.make_node("Relu", ["c"], ["y"])],
                       [tensor("x", [1, 3, 5, 5])], [tensor("y", None)],
                       initializers={"w": rand(2, 3, 3, 3)})
    m = ronn.Model.load(model.SerializeToString())
    fused = m.create_session(optimization_level="O3")
    assert [n.op_type for n in fused.graph.nodes] == ["FusedConv"]
    x = rand(1, 3, 5, 5)
    np.testing.assert_allclose(fused.run({"x": x})["y"],
                               m.create_session(optimization_level="O0").run({"x": x})["y"],
                               rtol=1e-5, atol=1e-6)
