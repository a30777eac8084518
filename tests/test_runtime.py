"""The Runtime: plugin discovery, isolation, broken plugins, kernel resolution, hooks, passes, modules."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from onnx import helper

import ronn
import ronn_core
from ronn_core import ExecutionProvider, Pass, Runtime, SessionModule, hookimpl, kernel
from ronn_core.errors import ConfigValueError, PluginError
from ronn_core.kernel_spec import KernelSpec
from ronn_core.passes import order_passes, select_passes
from ronn_core.registry import KernelRegistry

from ronn_tests import (add_relu_expected, add_relu_model, custom_op_model, make_model,
                      make_plugin, tensor)


# -- discovery through installed entry points -------------------------------------------------


def test_default_runtime_discovers_installed_onnx_and_cpu_plugins():
    """The ai.onnx operator set and the cpu provider are found through group ``ronn``."""
    infos = {p.name: p for p in Runtime().plugins()}

    assert infos["onnx"].distribution == "ronn-opset-onnx"
    assert "operators" in infos["onnx"].kinds
    assert infos["cpu"].distribution == "ronn-provider-cpu"
    assert "providers" in infos["cpu"].kinds
    assert all(p.source == "entry point" for p in (infos["onnx"], infos["cpu"]))
    assert [p.name for p in infos.values() if p.error] == []


def test_default_runtime_offers_the_cpu_provider_and_ai_onnx_kernels():
    runtime = Runtime()
    assert "cpu" in runtime.providers
    assert runtime.kernels.resolve("", "Relu", 17, "cpu") is not None


def test_plugin_info_as_dict_reports_what_each_plugin_registered():
    info = {p.name: p for p in Runtime().plugins()}["cpu"].as_dict()
    assert info["registered"]["providers"] == ["cpu"]
    assert info["error"] is None and info["module"] == "ronn_cpu.plugin"


# -- isolated runtimes ------------------------------------------------------------------------


class _PlusHundredProvider(ExecutionProvider):
    name = "plus100"
    uses_reference_kernels = False


@kernel("Add", since=1, provider="plus100")
def _add_plus_hundred(a, b):
    return a + b + 100


@kernel("Relu", since=1, provider="plus100")
def _relu_plain(x):
    return np.maximum(x, 0)


class _ClassPlugin:
    """A plugin given as an object with ``@hookimpl`` methods."""

    @hookimpl
    def ronn_operators(self, register):
        register(_add_plus_hundred, _relu_plain)

    @hookimpl
    def ronn_providers(self, register):
        register(_PlusHundredProvider)


def test_isolated_runtime_sees_only_the_plugin_it_was_given():
    runtime = Runtime(plugins=[_ClassPlugin()], discover=False)

    assert [p.name for p in runtime.plugins()] == ["_ClassPlugin"]
    assert runtime.plugins()[0].source == "runtime"
    assert list(runtime.providers) == ["plus100"]
    assert {(s.op_type, s.provider) for s in runtime.kernels} == {("Add", "plus100"),
                                                                  ("Relu", "plus100")}


def test_session_on_isolated_runtime_runs_the_plugins_own_kernel(x_batch2):
    runtime = Runtime(plugins=[_ClassPlugin()], discover=False)
    session = ronn.Model.load(add_relu_model().SerializeToString()).create_session(
        providers=["plus100"], runtime=runtime)

    y = session.run({"x": x_batch2})["y"]

    b = np.array([1.0, -2.0, 0.5], np.float32)
    np.testing.assert_allclose(y, np.maximum(x_batch2 + b + 100, 0))
    assert {p.provider for p in session.placement} == {"plus100"}
    assert {p.kernel_plugin for p in session.placement} == {"_ClassPlugin"}


def test_isolated_runtime_accepts_a_module_like_plugin(make_runtime, x_batch2):
    @kernel("Twice", domain="test.iso")
    def twice(x):
        return 2 * x

    plugin = make_plugin("iso_ops", ronn_operators=lambda register: register(twice))
    runtime = make_runtime(plugin)
    session = ronn.Model.load(custom_op_model("Twice", "test.iso").SerializeToString()) \
        .create_session(runtime=runtime)

    np.testing.assert_array_equal(session.run({"x0": x_batch2})["y"], 2 * x_batch2)
    assert [p.name for p in runtime.plugins()] == ["iso_ops", "ronn_cpu.plugin",
                                                   "ronn_opset_onnx.plugin"]


def test_default_cpu_provider_is_missing_from_an_isolated_runtime(add_relu_bytes):
    runtime = Runtime(plugins=[_ClassPlugin()], discover=False)
    with pytest.raises(ronn_core.errors.ProviderError, match="unknown execution provider 'cpu'"):
        ronn.Model.load(add_relu_bytes).create_session(runtime=runtime)


def test_plugin_registered_after_construction_extends_the_runtime(make_runtime):
    runtime = make_runtime()
    assert "plus100" not in runtime.providers
    runtime.register(_ClassPlugin())
    assert "plus100" in runtime.providers
    assert "cpu" in runtime.providers


# -- broken plugins ---------------------------------------------------------------------------


def _contribution_that_raises(register):
    raise RuntimeError("kaboom while registering")


def test_plugin_whose_operators_hook_raises_is_reported_with_its_error(make_runtime):
    runtime = make_runtime(make_plugin("raiser", ronn_operators=_contribution_that_raises))
    infos = {p.name: p for p in runtime.plugins()}

    assert "ronn_operators failed" in infos["raiser"].error
    assert "RuntimeError: kaboom while registering" in infos["raiser"].error
    assert infos["ronn_opset_onnx.plugin"].error is None
    assert "cpu" in runtime.providers


def test_plugin_registering_a_non_provider_is_reported_as_a_plugin_error(make_runtime):
    runtime = make_runtime(make_plugin("wrong", ronn_providers=lambda register: register(42)))
    error = {p.name: p for p in runtime.plugins()}["wrong"].error
    assert "PluginError" in error and "ExecutionProvider subclass" in error


def test_plugin_registering_a_non_kernel_as_operators_is_reported(make_runtime):
    runtime = make_runtime(make_plugin("wrong", ronn_operators=lambda register: register("x")))
    error = {p.name: p for p in runtime.plugins()}["wrong"].error
    assert "PluginError" in error and "@kernel" in error


def _write_broken_distribution(root):
    """Two plugins installed on ``root`` (a sys.path entry) by a ``*.dist-info`` folder:
    ``broken`` fails to import, ``raiser`` imports but its ``ronn_operators`` raises."""
    (root / "brokenplug").mkdir()
    (root / "brokenplug" / "__init__.py").write_text(
        "raise ImportError('brokenplug needs libfoo, which is not installed')\n")
    (root / "raiserplug.py").write_text(textwrap.dedent("""
        from ronn_core import hookimpl

        @hookimpl
        def ronn_operators(register):
            raise ValueError("raiserplug cannot register today")
    """))
    dist = root / "ronn_broken_example-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ronn-broken-example\n"
                                   "Version: 0.1\n")
    (dist / "entry_points.txt").write_text("[ronn]\nbroken = brokenplug\nraiser = raiserplug\n")


_REPORT_SCRIPT = textwrap.dedent("""
    import json, numpy as np, ronn, ronn_core
    from onnx import helper, TensorProto
    infos = [p.as_dict() for p in ronn_core.Runtime().plugins()]
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    y = ronn.Model.load(model.SerializeToString()).create_session().run(
        {"x": np.array([-1.0, 0.0, 2.0], np.float32)})["y"]
    print(json.dumps({"plugins": infos, "y": y.tolist()}))
""")


def _run_in_subprocess(tmp_path, **env):
    environment = {k: v for k, v in os.environ.items() if k != "RONN_PLUGINS"}
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])])
    environment.update(env)
    done = subprocess.run([sys.executable, "-c", _REPORT_SCRIPT], env=environment,
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    return {p["name"]: p for p in report["plugins"]}, report["y"]


def test_plugin_that_fails_to_import_is_reported_and_the_others_still_work(tmp_path):
    _write_broken_distribution(tmp_path)
    plugins, y = _run_in_subprocess(tmp_path)

    broken = plugins["broken"]
    assert broken["distribution"] == "ronn-broken-example"
    assert broken["error"].startswith("ImportError: brokenplug needs libfoo")
    assert plugins["onnx"]["error"] is None and plugins["cpu"]["error"] is None
    assert y == [0.0, 0.0, 2.0]


def test_installed_plugin_whose_hook_raises_is_reported_with_the_error(tmp_path):
    _write_broken_distribution(tmp_path)
    plugins, y = _run_in_subprocess(tmp_path)

    assert "ronn_operators failed: ValueError: raiserplug cannot register today" in \
        plugins["raiser"]["error"]
    assert y == [0.0, 0.0, 2.0]


def test_ronn_plugins_allowlist_skips_every_other_entry_point(tmp_path):
    _write_broken_distribution(tmp_path)
    plugins, y = _run_in_subprocess(tmp_path, RONN_PLUGINS="cpu,onnx")

    assert sorted(plugins) == ["cpu", "onnx"]
    assert y == [0.0, 0.0, 2.0]


def test_allowlist_argument_limits_which_entry_points_load():
    runtime = Runtime(allowlist=["cpu"])
    assert [p.name for p in runtime.plugins()] == ["cpu"]
    assert list(runtime.providers) == ["cpu"]
    assert runtime.kernels.resolve("", "Relu", 17, "cpu") is None   # the onnx plugin's


# -- kernel version resolution ----------------------------------------------------------------


def _spec(since, provider=None, op="Probe", domain="test.resolve", priority=0, plugin="p",
          tag=None):
    def fn(x):
        return tag
    return KernelSpec(op, domain, since, fn, provider, False, priority, plugin)


def _registry(*specs):
    registry = KernelRegistry()
    for spec in specs:
        registry.add(spec)
    return registry


@pytest.mark.parametrize("opset, expected_since", [(1, 1), (4, 1), (5, 5), (8, 5), (9, 9),
                                                   (30, 9)])
def test_resolution_picks_the_highest_since_not_above_the_opset(opset, expected_since):
    registry = _registry(_spec(1), _spec(5), _spec(9))
    assert registry.resolve("test.resolve", "Probe", opset, "cpu").since == expected_since


def test_resolution_finds_nothing_below_the_first_since():
    registry = _registry(_spec(5))
    assert registry.resolve("test.resolve", "Probe", 4, "cpu") is None


def test_provider_kernel_beats_reference_kernel_at_the_same_since():
    registry = _registry(_spec(5, tag="reference"), _spec(5, provider="fast", tag="fast"))

    assert registry.resolve("test.resolve", "Probe", 7, "fast").provider == "fast"
    assert registry.resolve("test.resolve", "Probe", 7, "cpu").provider is None


def test_provider_kernel_at_lower_since_does_not_override_newer_reference_kernel():
    """A fast kernel written for version 1 must not run a version-13 node: semantics changed."""
    registry = _registry(_spec(1, provider="fast"), _spec(13))

    assert registry.resolve("test.resolve", "Probe", 17, "fast").since == 13
    assert registry.resolve("test.resolve", "Probe", 17, "fast").provider is None
    assert registry.resolve("test.resolve", "Probe", 12, "fast").provider == "fast"


def test_provider_without_reference_kernels_sees_only_its_own():
    registry = _registry(_spec(13), _spec(1, provider="fast"))
    assert registry.resolve("test.resolve", "Probe", 17, "fast", use_reference=False).since == 1
    assert registry.resolve("test.resolve", "Probe", 17, "gpu", use_reference=False) is None


def test_session_runs_the_kernel_version_matching_the_model_opset(make_runtime):
    versions = []
    for since in (1, 5, 9):
        @kernel("Which", domain="test.ver", since=since)
        def which(x, _since=since):
            return np.full_like(x, _since)
        versions.append(which)
    runtime = make_runtime(make_plugin("ver", ronn_operators=lambda register: register(*versions)))
    x = np.zeros((2, 3), np.float32)

    for opset, expected in [(3, 1), (5, 5), (11, 9)]:
        model = custom_op_model("Which", "test.ver", version=opset)
        session = ronn.Model.load(model.SerializeToString()).create_session(runtime=runtime)
        assert session.run({"x0": x})["y"][0, 0] == expected, f"opset {opset}"


def _conflicting_plugins(priority_a, priority_b):
    @kernel("Clash", domain="test.clash", priority=priority_a)
    def clash_a(x):
        return x + 1

    @kernel("Clash", domain="test.clash", priority=priority_b)
    def clash_b(x):
        return x + 2

    return (make_plugin("alpha", ronn_operators=lambda register: register(clash_a)),
            make_plugin("beta", ronn_operators=lambda register: register(clash_b)))


def test_same_kernel_key_from_two_plugins_keeps_the_higher_priority_with_a_warning():
    alpha, beta = _conflicting_plugins(0, 5)
    runtime = Runtime(plugins=[alpha, beta], discover=False)

    with pytest.warns(UserWarning, match=r"registered by both .*using 'beta' \(priority 5\)"):
        winner = runtime.kernels.resolve("test.clash", "Clash", 1, "cpu")

    assert winner.plugin == "beta"
    assert runtime.kernels.conflicts[0].loser.plugin == "alpha"


@pytest.mark.parametrize("order", [0, 1])
def test_kernel_conflict_at_equal_priority_goes_to_the_first_plugin_name_in_any_order(order):
    alpha, beta = _conflicting_plugins(3, 3)
    plugins = [alpha, beta] if order == 0 else [beta, alpha]
    runtime = Runtime(plugins=plugins, discover=False)

    with pytest.warns(UserWarning, match="registered by both"):
        winner = runtime.kernels.resolve("test.clash", "Clash", 1, "cpu")

    assert winner.plugin == "alpha"


def test_kernel_with_since_below_one_is_refused():
    with pytest.raises(PluginError, match="since must be >= 1"):
        _registry(_spec(0))


# -- lifecycle hooks --------------------------------------------------------------------------


def test_lifecycle_hooks_fire_for_session_creation_and_each_run(add_relu_bytes, x_batch2):
    events = []
    observer = make_plugin(
        "observer",
        ronn_session_created=lambda session: events.append(("created", session)),
        ronn_run_started=lambda session, feeds: events.append(("started", sorted(feeds))),
        ronn_run_finished=lambda session, outputs, seconds: events.append(
            ("finished", sorted(outputs), seconds >= 0)))
    runtime = Runtime(plugins=[observer])   # entry points are discovered too

    session = ronn.Model.load(add_relu_bytes).create_session(runtime=runtime)
    session.run({"x": x_batch2})
    session.run({"x": x_batch2})

    assert events == [("created", session),
                      ("started", ["x"]), ("finished", ["y"], True),
                      ("started", ["x"]), ("finished", ["y"], True)]
    assert {p.name for p in runtime.plugins()} >= {"observer", "onnx", "cpu"}
    assert {p.name: p for p in runtime.plugins()}["observer"].registered == {
        "observers": ["ronn_session_created", "ronn_run_started", "ronn_run_finished"]}


def test_run_finished_is_not_called_when_the_run_fails(make_runtime):
    finished = []

    @kernel("Fail", domain="test.fail")
    def fail(x):
        raise ValueError("nope")

    runtime = make_runtime(make_plugin(
        "obs", ronn_operators=lambda register: register(fail),
        ronn_run_finished=lambda session, outputs, seconds: finished.append(outputs)))
    session = ronn.Model.load(custom_op_model("Fail", "test.fail").SerializeToString()) \
        .create_session(runtime=runtime)

    with pytest.raises(ronn_core.errors.KernelError):
        session.run({"x0": np.zeros((2, 3), np.float32)})
    assert finished == []


# -- passes -----------------------------------------------------------------------------------


def _pass(name, level="O1", after=(), before=(), providers=(), run=None):
    cls = type(f"Pass_{name}", (Pass,), {
        "name": name, "level": level, "after": tuple(after), "before": tuple(before),
        "providers": tuple(providers), "run": run or (lambda self, graph, ctx: False)})
    return cls()


def _names(passes):
    return [p.name for p in passes]


def test_passes_are_ordered_by_after_and_before_whatever_the_registration_order():
    passes = [_pass("fold", after=["simplify"]), _pass("simplify"),
              _pass("cleanup", after=["fold"]), _pass("annotate", before=["simplify"])]

    for perm in itertools.permutations(passes):
        ordered = _names(order_passes({p.name: p for p in perm}))
        assert ordered == ["annotate", "simplify", "fold", "cleanup"], [p.name for p in perm]


def test_unconstrained_passes_run_by_level_then_name():
    passes = {p.name: p for p in [_pass("zeta", "O1"), _pass("beta", "O2"), _pass("alpha", "O2"),
                                  _pass("omega", "O1")]}
    assert _names(order_passes(passes)) == ["omega", "zeta", "alpha", "beta"]


def test_constraint_naming_an_unselected_pass_is_ignored():
    passes = {"late": _pass("late", after=["not_selected"])}
    assert _names(order_passes(passes)) == ["late"]


def test_contradictory_pass_constraints_are_a_plugin_error():
    passes = {"a": _pass("a", after=["b"]), "b": _pass("b", after=["a"])}
    with pytest.raises(PluginError, match=r"\['a', 'b'\] have contradictory"):
        order_passes(passes)


_LEVELLED = {p.name: p for p in [_pass("o1", "O1"), _pass("o2", "O2"), _pass("o3", "O3")]}


@pytest.mark.parametrize("level, expected", [("O0", []), ("O1", ["o1"]), ("O2", ["o1", "o2"]),
                                             ("O3", ["o1", "o2", "o3"])])
def test_passes_are_selected_up_to_the_optimization_level(level, expected):
    assert _names(select_passes(_LEVELLED, level, providers=["cpu"])) == expected


def test_enable_adds_a_pass_above_the_level_and_disable_removes_one():
    chosen = select_passes(_LEVELLED, "O1", providers=["cpu"], enable=["o3"], disable=["o1"])
    assert _names(chosen) == ["o3"]


def test_provider_specific_pass_runs_only_when_its_provider_is_in_the_session():
    passes = {"gpu_fuse": _pass("gpu_fuse", providers=["gpu"])}
    assert _names(select_passes(passes, "O3", providers=["cpu"])) == []
    assert _names(select_passes(passes, "O3", providers=["gpu", "cpu"])) == ["gpu_fuse"]


def test_unknown_pass_name_is_an_error_naming_the_nearest_pass():
    with pytest.raises(ConfigValueError, match=r"no pass named 'o22'; did you mean 'o2'\?"):
        select_passes(_LEVELLED, "O1", providers=["cpu"], disable=["o22"])


def test_unknown_optimization_level_is_refused():
    with pytest.raises(ConfigValueError, match="O5.*O0, O1, O2, O3"):
        select_passes(_LEVELLED, "O5", providers=["cpu"])


def _drop_identity(self, graph, ctx):
    """Remove Identity nodes that feed other nodes (the graph's outputs stay the same)."""
    changed = False
    for node in list(graph.nodes):
        if node.op_type == "Identity" and node.outputs[0] not in graph.outputs:
            graph.replace_uses(node.outputs[0], node.inputs[0])
            graph.remove_node(node)
            changed = True
    return changed


@pytest.fixture
def identity_model_bytes():
    return make_model([helper.make_node("Identity", ["x"], ["t"]),
                       helper.make_node("Relu", ["t"], ["y"])],
                      [tensor("x", [3])], [tensor("y", [3])]).SerializeToString()


@pytest.fixture
def pass_runtime(make_runtime):
    toy = _pass("drop_identity", "O1", run=_drop_identity)
    return make_runtime(make_plugin("toy_passes", ronn_passes=lambda register: register(toy)))


@pytest.mark.parametrize("level", ["O1", "O2", "O3"])
def test_session_applies_a_registered_pass_at_its_level_and_above(
        pass_runtime, identity_model_bytes, level):
    session = ronn.Model.load(identity_model_bytes).create_session(
        runtime=pass_runtime, optimization_level=level)

    assert [n.op_type for n in session.graph.nodes] == ["Relu"]
    assert [(r.name, r.changed, r.nodes_before, r.nodes_after) for r in session.pass_log] == [
        ("drop_identity", True, 2, 1)]
    np.testing.assert_array_equal(session.run({"x": np.array([-1, 0, 2], np.float32)})["y"],
                                  [0, 0, 2])


def test_session_at_o0_runs_no_pass(pass_runtime, identity_model_bytes):
    session = ronn.Model.load(identity_model_bytes).create_session(
        runtime=pass_runtime, optimization_level="O0")
    assert [n.op_type for n in session.graph.nodes] == ["Identity", "Relu"]
    assert session.pass_log == []


def test_session_disable_passes_skips_a_pass_by_name(pass_runtime, identity_model_bytes):
    session = ronn.Model.load(identity_model_bytes).create_session(
        runtime=pass_runtime, disable_passes=["drop_identity"])
    assert [n.op_type for n in session.graph.nodes] == ["Identity", "Relu"]


def test_passes_never_change_the_loaded_model(pass_runtime, identity_model_bytes):
    model = ronn.Model.load(identity_model_bytes)
    model.create_session(runtime=pass_runtime)
    assert [n.op_type for n in model.graph.nodes] == ["Identity", "Relu"]


# -- session modules --------------------------------------------------------------------------


class _CountAndScale(SessionModule):
    """Counts runs and multiplies every output by ``config['factor']``."""

    name = "count_and_scale"
    instances: list = []

    def __init__(self, session, config):
        super().__init__(session, config)
        self.calls, self.closed = 0, False
        _CountAndScale.instances.append(self)

    def run(self, feeds, call_next):
        self.calls += 1
        return {k: v * self.config["factor"] for k, v in call_next(feeds).items()}

    def close(self):
        self.closed = True


class _AddOne(SessionModule):
    name = "add_one"

    def run(self, feeds, call_next):
        return {k: v + 1 for k, v in call_next(feeds).items()}


@pytest.fixture
def module_runtime(make_runtime):
    _CountAndScale.instances.clear()
    return make_runtime(make_plugin(
        "toy_modules", ronn_modules=lambda register: register(_CountAndScale, _AddOne)))


def test_enabled_session_module_wraps_each_run(module_runtime, add_relu_bytes, x_batch2):
    session = ronn.Model.load(add_relu_bytes).create_session(
        runtime=module_runtime, modules={"count_and_scale": {"factor": 10}})

    y1 = session.run({"x": x_batch2})["y"]
    session.run({"x": x_batch2})

    np.testing.assert_allclose(y1, 10 * add_relu_expected(x_batch2))
    module = _CountAndScale.instances[-1]
    assert module.calls == 2 and module.session is session
    session.close()
    assert module.closed


def test_session_modules_nest_in_the_order_given(module_runtime, add_relu_bytes, x_batch2):
    """The first module listed is the outermost: it sees the others' outputs."""
    outer_scale = ronn.Model.load(add_relu_bytes).create_session(
        runtime=module_runtime, modules={"count_and_scale": {"factor": 10}, "add_one": {}})
    outer_add = ronn.Model.load(add_relu_bytes).create_session(
        runtime=module_runtime, modules={"add_one": {}, "count_and_scale": {"factor": 10}})
    expected = add_relu_expected(x_batch2)

    np.testing.assert_allclose(outer_scale.run({"x": x_batch2})["y"], 10 * (expected + 1))
    np.testing.assert_allclose(outer_add.run({"x": x_batch2})["y"], 10 * expected + 1)


def test_registered_module_is_inert_unless_enabled(module_runtime, add_relu_bytes, x_batch2):
    session = ronn.Model.load(add_relu_bytes).create_session(runtime=module_runtime)
    np.testing.assert_allclose(session.run({"x": x_batch2})["y"], add_relu_expected(x_batch2))
    assert _CountAndScale.instances == []


def test_unknown_session_module_is_an_error_naming_the_nearest(module_runtime, add_relu_bytes):
    with pytest.raises(ConfigValueError, match="no session module named 'add_on'; did you mean "
                                               "'add_one'"):
        ronn.Model.load(add_relu_bytes).create_session(runtime=module_runtime,
                                                       modules={"add_on": {}})
