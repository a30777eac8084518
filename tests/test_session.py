"""Models and sessions as a user sees them: inputs, run, the onnxruntime-style API, placement,
provider fallback, device copies, profiling, memory release and concurrent runs."""

from __future__ import annotations

import json
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import ronn
from ronn_core import ExecutionProvider, kernel
from ronn_core.errors import ConfigValueError, ProviderError

from ronn_tests import add_relu_expected, make_model, make_plugin, tensor


# -- model inputs and outputs -----------------------------------------------------------------


@pytest.fixture
def typed_model_path(tmp_path):
    """Inputs ``image: float32['N', 3, 'H', 'W']`` and ``ids: int64['N']``; the initializer
    ``scale`` is also a graph input (overridable). Outputs ``scaled`` and ``ids_out``."""
    scale = numpy_helper.from_array(np.array(2.0, np.float32), "scale")
    model = make_model(
        [helper.make_node("Mul", ["image", "scale"], ["scaled"]),
         helper.make_node("Identity", ["ids"], ["ids_out"])],
        [tensor("image", ["N", 3, "H", "W"]), tensor("ids", ["N"], TensorProto.INT64),
         tensor("scale", [])],
        [tensor("scaled", ["N", 3, "H", "W"]), tensor("ids_out", ["N"], TensorProto.INT64)],
        initializers=[scale])
    path = tmp_path / "typed.onnx"
    path.write_bytes(model.SerializeToString())
    return path


def test_model_inputs_give_name_dtype_and_shape_with_symbolic_dims(typed_model_path):
    model = ronn.Model.load(typed_model_path)
    assert [(i.name, i.dtype, i.shape) for i in model.inputs] == [
        ("image", np.dtype(np.float32), ["N", 3, "H", "W"]),
        ("ids", np.dtype(np.int64), ["N"])]


def test_model_outputs_give_name_dtype_and_shape(typed_model_path):
    model = ronn.Model.load(typed_model_path)
    assert [(o.name, o.dtype, o.shape) for o in model.outputs] == [
        ("scaled", np.dtype(np.float32), ["N", 3, "H", "W"]),
        ("ids_out", np.dtype(np.int64), ["N"])]


def test_initializer_that_is_a_graph_input_is_not_listed_but_can_be_fed(typed_model_path):
    session = ronn.Model.load(typed_model_path).create_session()
    image = np.ones((1, 3, 2, 2), np.float32)
    ids = np.array([4], np.int64)

    default = session.run({"image": image, "ids": ids})["scaled"]
    overridden = session.run({"image": image, "ids": ids,
                              "scale": np.array(5.0, np.float32)})["scaled"]

    assert "scale" not in [i.name for i in session.inputs]
    np.testing.assert_array_equal(default, 2 * image)
    np.testing.assert_array_equal(overridden, 5 * image)
    np.testing.assert_array_equal(session.run({"image": image, "ids": ids})["scaled"], 2 * image)


def test_run_returns_every_output_by_name(typed_model_path):
    session = ronn.Model.load(typed_model_path).create_session()
    out = session.run({"image": np.ones((2, 3, 1, 1), np.float32), "ids": np.arange(2)})
    assert list(out) == ["scaled", "ids_out"]
    assert out["ids_out"].dtype == np.int64 and out["scaled"].shape == (2, 3, 1, 1)


def test_run_with_output_names_returns_only_those_in_that_order(typed_model_path):
    session = ronn.Model.load(typed_model_path).create_session()
    out = session.run({"image": np.ones((2, 3, 1, 1), np.float32), "ids": np.arange(2)},
                      output_names=["ids_out"])
    assert list(out) == ["ids_out"]
    np.testing.assert_array_equal(out["ids_out"], [0, 1])


def test_model_loads_from_bytes_as_from_a_path(typed_model_path):
    from_bytes = ronn.Model.load(typed_model_path.read_bytes())
    assert [i.name for i in from_bytes.inputs] == ["image", "ids"]
    assert from_bytes.opsets == {"": 17}


# -- the onnxruntime-style API ----------------------------------------------------------------


def test_inference_session_run_none_returns_every_output_as_a_list(add_relu_path, x_batch2):
    session = ronn.InferenceSession(str(add_relu_path), providers=["CPUExecutionProvider"])
    result = session.run(None, {"x": x_batch2})
    assert isinstance(result, list) and len(result) == 1
    np.testing.assert_allclose(result[0], add_relu_expected(x_batch2))


def test_inference_session_run_named_outputs(typed_model_path):
    session = ronn.InferenceSession(typed_model_path)
    result = session.run(["ids_out", "scaled"],
                         {"image": np.ones((1, 3, 1, 1), np.float32), "ids": np.array([9])})
    np.testing.assert_array_equal(result[0], [9])
    np.testing.assert_array_equal(result[1], 2 * np.ones((1, 3, 1, 1)))


def test_inference_session_describes_inputs_and_outputs_like_onnxruntime(typed_model_path):
    session = ronn.InferenceSession(typed_model_path.read_bytes())
    assert [(i.name, i.shape, i.type) for i in session.get_inputs()] == [
        ("image", ["N", 3, "H", "W"], "tensor(float)"), ("ids", ["N"], "tensor(int64)")]
    assert [(o.name, o.shape, o.type) for o in session.get_outputs()] == [
        ("scaled", ["N", 3, "H", "W"], "tensor(float)"), ("ids_out", ["N"], "tensor(int64)")]


def test_inference_session_reports_onnxruntime_provider_names(add_relu_bytes):
    session = ronn.InferenceSession(add_relu_bytes, providers=["CPUExecutionProvider"])
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert ronn.InferenceSession(add_relu_bytes).get_providers() == ["CPUExecutionProvider"]


def test_inference_session_matches_onnxruntime_on_the_same_model(add_relu_bytes, x_batch2):
    import onnxruntime
    expected = onnxruntime.InferenceSession(add_relu_bytes,
                                            providers=["CPUExecutionProvider"]).run(None,
                                                                                    {"x": x_batch2})
    got = ronn.InferenceSession(add_relu_bytes).run(None, {"x": x_batch2})
    np.testing.assert_allclose(got[0], expected[0], rtol=1e-6)


# -- placement --------------------------------------------------------------------------------


def test_placement_names_the_provider_and_kernel_plugin_of_every_node(add_relu_bytes):
    session = ronn.Model.load(add_relu_bytes).create_session()
    assert [(p.node, p.op_type, p.version, p.provider, p.fallback)
            for p in session.placement] == [("add", "Add", 17, "cpu", False),
                                            ("relu", "Relu", 17, "cpu", False)]
    # the reference kernel (onnx), or a fast one the cpu plugin brings
    assert {p.kernel_plugin for p in session.placement} <= {"onnx", "cpu"}


class _ReluOnly(ExecutionProvider):
    """A CPU-memory provider that accelerates Relu only (and runs no reference kernels)."""

    name = "relu_only"
    uses_reference_kernels = False


@kernel("Relu", since=1, provider="relu_only")
def _relu_only_kernel(x):
    _ReluOnly.calls += 1
    return np.maximum(x, 0)


@pytest.fixture
def relu_only_runtime(make_runtime):
    _ReluOnly.calls = 0
    return make_runtime(make_plugin(
        "relu_only_plugin",
        ronn_providers=lambda register: register(_ReluOnly),
        ronn_operators=lambda register: register(_relu_only_kernel)))


def test_nodes_a_preferred_provider_cannot_run_fall_back_to_the_next(relu_only_runtime,
                                                                     add_relu_bytes, x_batch2):
    session = ronn.Model.load(add_relu_bytes).create_session(
        providers=["relu_only", "cpu"], runtime=relu_only_runtime)

    y = session.run({"x": x_batch2})["y"]

    assert [(p.op_type, p.provider, p.fallback) for p in session.placement] == [
        ("Add", "cpu", True), ("Relu", "relu_only", False)]
    assert {p.op_type: p.kernel_plugin for p in session.placement}["Relu"] == "relu_only_plugin"
    assert _ReluOnly.calls == 1
    np.testing.assert_allclose(y, add_relu_expected(x_batch2))


def test_provider_order_decides_who_runs_a_node_both_can_run(relu_only_runtime, add_relu_bytes,
                                                             x_batch2):
    session = ronn.Model.load(add_relu_bytes).create_session(
        providers=["cpu", "relu_only"], runtime=relu_only_runtime)
    session.run({"x": x_batch2})
    assert {p.provider for p in session.placement} == {"cpu"}
    assert _ReluOnly.calls == 0


class _Missing(ExecutionProvider):
    name = "missing"

    @classmethod
    def unavailable_reason(cls):
        return "libmissing.so not found"


@pytest.fixture
def missing_runtime(make_runtime):
    return make_runtime(make_plugin("missing_plugin",
                                    ronn_providers=lambda register: register(_Missing)))


def test_unavailable_provider_is_skipped_with_a_warning_when_another_is_listed(
        missing_runtime, add_relu_bytes, x_batch2):
    with pytest.warns(UserWarning, match=r"falling back to \['cpu'\]: missing \(libmissing\.so "
                                         r"not found\)"):
        session = ronn.Model.load(add_relu_bytes).create_session(
            providers=["missing", "cpu"], runtime=missing_runtime)

    assert session.provider_names == ["cpu"]
    assert session.unavailable_providers == ["missing (libmissing.so not found)"]
    np.testing.assert_allclose(session.run({"x": x_batch2})["y"], add_relu_expected(x_batch2))


def test_unavailable_provider_alone_is_an_error_saying_why(missing_runtime, add_relu_bytes):
    with pytest.raises(ProviderError, match=r"no requested provider is available here: missing "
                                            r"\(libmissing\.so not found\)"):
        ronn.Model.load(add_relu_bytes).create_session(providers=["missing"],
                                                       runtime=missing_runtime)


# -- a provider with its own device memory ----------------------------------------------------


class OnFake:
    """An array living on the fake device; kernels of other providers cannot read it."""

    def __init__(self, data):
        assert isinstance(data, np.ndarray), "only host arrays are copied to the device"
        self.data = data


class _FakeDevice(ExecutionProvider):
    name = "fake"
    device = "fake"
    uses_reference_kernels = False

    def to_device(self, value):
        _FakeDevice.copies.append("to_device")
        return OnFake(value)

    def to_host(self, value):
        _FakeDevice.copies.append("to_host")
        assert isinstance(value, OnFake)
        return value.data


@kernel("Relu", since=1, provider="fake")
def _fake_relu(x):
    assert isinstance(x, OnFake), f"fake Relu got {type(x).__name__}"
    return OnFake(np.maximum(x.data, 0))


@kernel("Mul", since=1, provider="fake")
def _fake_mul(a, b):
    assert isinstance(a, OnFake) and isinstance(b, OnFake), "fake Mul got a host array"
    return OnFake(a.data * b.data)


@pytest.fixture
def fake_device_session(make_runtime):
    """``r = Relu(x)`` (fake) -> ``s = r + b`` (cpu) -> ``y = s * w`` (fake, w an initializer)."""
    _FakeDevice.copies = []
    runtime = make_runtime(make_plugin(
        "fake_device", ronn_providers=lambda register: register(_FakeDevice),
        ronn_operators=lambda register: register(_fake_relu, _fake_mul)))
    model = make_model(
        [helper.make_node("Relu", ["x"], ["r"], name="relu"),
         helper.make_node("Add", ["r", "b"], ["s"], name="add"),
         helper.make_node("Mul", ["s", "w"], ["y"], name="mul")],
        [tensor("x", [3])], [tensor("y", [3])],
        initializers=[numpy_helper.from_array(np.array([1, 1, 1], np.float32), "b"),
                      numpy_helper.from_array(np.array([2, 3, 4], np.float32), "w")])
    return ronn.Model.load(model.SerializeToString()).create_session(
        providers=["fake", "cpu"], runtime=runtime)


def test_device_provider_gets_copies_at_its_boundaries_and_outputs_come_back_as_numpy(
        fake_device_session):
    y = fake_device_session.run({"x": np.array([-1, 0, 2], np.float32)})["y"]

    assert type(y) is np.ndarray
    np.testing.assert_array_equal(y, [2, 3, 12])
    assert [p.provider for p in fake_device_session.placement] == ["fake", "cpu", "fake"]


def test_device_copies_are_steps_of_the_plan(fake_device_session):
    labels = [(s.op_type, s.provider) for s in fake_device_session.plan.steps]
    assert labels == [("CopyToDevice", "fake"), ("Relu", "fake"),
                      ("CopyToHost", "fake"), ("CopyToDevice", "cpu"), ("Add", "cpu"),
                      ("CopyToDevice", "fake"), ("Mul", "fake"), ("CopyToHost", "fake")]


def test_initializers_are_copied_to_the_device_once_when_the_session_is_built(
        fake_device_session):
    built = list(_FakeDevice.copies)
    fake_device_session.run({"x": np.zeros(3, np.float32)})
    ran_once = _FakeDevice.copies[len(built):]
    assert built == ["to_device"]                     # w, at compile time
    assert ran_once == ["to_device", "to_host", "to_device", "to_host"]   # x, r, s, y


# -- threads, profiling -----------------------------------------------------------------------


def test_session_with_one_thread_runs(add_relu_bytes, x_batch2):
    session = ronn.Model.load(add_relu_bytes).create_session(threads=1)
    assert session.threads == 1
    np.testing.assert_allclose(session.run({"x": x_batch2})["y"], add_relu_expected(x_batch2))


@pytest.fixture
def profiled(add_relu_bytes, x_batch2):
    session = ronn.Model.load(add_relu_bytes).create_session(profiling=True)
    for _ in range(3):
        session.run({"x": x_batch2})
    return session


def test_profile_summarizes_time_per_op_type_and_node(profiled):
    profile = profiled.profile()
    assert profile.runs == 3
    assert set(profile.per_op_type()) == {"Add", "Relu"}
    assert set(profile.per_node()) == {"add", "relu"}
    assert all(ms >= 0 for ms in profile.per_op_type().values())


def test_profile_writes_a_chrome_trace_of_complete_events(profiled, tmp_path):
    path = tmp_path / "trace.json"
    profiled.profile().write_chrome_trace(path)
    events = json.loads(path.read_text())

    assert len(events) == 6
    assert {e["ph"] for e in events} == {"X"}
    assert {(e["name"], e["args"]["op_name"], e["args"]["provider"]) for e in events} == {
        ("add", "Add", "cpu"), ("relu", "Relu", "cpu")}
    assert all(e["dur"] >= 0 and e["ts"] >= 0 for e in events)


def test_profile_of_an_unprofiled_session_is_an_error(add_relu_bytes):
    session = ronn.Model.load(add_relu_bytes).create_session()
    with pytest.raises(ConfigValueError, match="profiling=True"):
        session.profile()


# -- memory -----------------------------------------------------------------------------------


def test_intermediate_values_are_released_after_their_last_use(make_runtime):
    """``big = Big(x)`` -> ``small = Shrink(big)`` -> ``y = Probe(small)``: by the time Probe runs,
    nothing may hold ``big`` any more."""
    seen = {}

    @kernel("Big", domain="test.mem")
    def big(x):
        array = np.ones((256, 1024), np.float32)
        seen["big"] = weakref.ref(array)
        return array

    @kernel("Shrink", domain="test.mem")
    def shrink(b):
        return b.sum(keepdims=True).reshape(1)

    @kernel("Probe", domain="test.mem")
    def probe(s):
        seen["alive_at_probe"] = seen["big"]() is not None
        return s

    runtime = make_runtime(make_plugin(
        "mem", ronn_operators=lambda register: register(big, shrink, probe)))
    model = make_model([helper.make_node("Big", ["x"], ["big"], domain="test.mem"),
                        helper.make_node("Shrink", ["big"], ["small"], domain="test.mem"),
                        helper.make_node("Probe", ["small"], ["y"], domain="test.mem")],
                       [tensor("x", [1])], [tensor("y", [1])], opsets={"test.mem": 1})
    session = ronn.Model.load(model.SerializeToString()).create_session(runtime=runtime)

    y = session.run({"x": np.zeros(1, np.float32)})["y"]

    assert y[0] == 256 * 1024
    assert seen["alive_at_probe"] is False


# -- concurrency ------------------------------------------------------------------------------


def test_concurrent_runs_on_one_session_match_sequential_runs():
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((256, 256)).astype(np.float32), "w")
    model = make_model([helper.make_node("MatMul", ["x", "w"], ["h"]),
                        helper.make_node("Relu", ["h"], ["r"]),
                        helper.make_node("Add", ["r", "x"], ["y"])],
                       [tensor("x", ["batch", 256])], [tensor("y", ["batch", 256])],
                       initializers=[w])
    session = ronn.Model.load(model.SerializeToString()).create_session()
    feeds = [rng.standard_normal((1 + i % 7, 256)).astype(np.float32) for i in range(400)]
    sequential = [session.run({"x": x})["y"] for x in feeds]
    results: dict[int, np.ndarray] = {}
    start = threading.Barrier(8)

    def worker(offset):
        start.wait()   # all threads run at once
        for i in range(offset, len(feeds), 8):
            results[i] = session.run({"x": feeds[i]})["y"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(worker, range(8)))

    assert sorted(results) == list(range(len(feeds)))
    for i, expected in enumerate(sequential):
        np.testing.assert_array_equal(results[i], expected)
