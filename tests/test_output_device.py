"""``Session.run(..., output_device=...)``: outputs stay on a device provider's device, and device
arrays (``__cuda_array_interface__``) are accepted as feeds without a host copy. A toy provider
whose "device memory" is a wrapper class stands in for the GPU."""

from __future__ import annotations

import numpy as np
import pytest

import ronn
from ronn_core import ExecutionProvider, Runtime, kernel
from ronn_core.errors import ConfigValueError, InputShapeError, InputTypeError
from ronn_tests import add_relu_expected, add_relu_model, make_plugin


class DeviceArray:
    """An array "on the toy device": not numpy, describes itself like a CUDA array does."""

    def __init__(self, data: np.ndarray):
        self.data = np.ascontiguousarray(data)

    @property
    def __cuda_array_interface__(self) -> dict:
        return {"shape": self.data.shape, "typestr": self.data.dtype.str,
                "data": (self.data.ctypes.data, False), "version": 3}


class ToyDevice(ExecutionProvider):
    name = "toy"
    device = "toy"
    uses_reference_kernels = False
    copies: list[str] = []

    def to_device(self, value):
        ToyDevice.copies.append("to_device")
        return value if isinstance(value, DeviceArray) else DeviceArray(value)

    def to_host(self, value):
        ToyDevice.copies.append("to_host")
        return value.data


@kernel("Relu", since=14, provider="toy")
def toy_relu(x):
    return DeviceArray(np.maximum(x.data, 0))


@pytest.fixture
def session():
    import ronn_cpu.plugin
    import ronn_opset_onnx.plugin
    toy = make_plugin("toy", ronn_providers=lambda register: register(ToyDevice),
                      ronn_operators=lambda register: register(toy_relu))
    rt = Runtime(plugins=[ronn_opset_onnx.plugin, ronn_cpu.plugin, toy], discover=False)
    ToyDevice.copies = []
    return ronn.Model.load(add_relu_model().SerializeToString()).create_session(
        providers=["toy", "cpu"], optimization_level="O0", runtime=rt)


def test_outputs_come_back_to_the_host_by_default(session):
    x = np.array([[1.0, 2.0, -3.0]], np.float32)
    y = session.run({"x": x})["y"]
    assert isinstance(y, np.ndarray)
    np.testing.assert_array_equal(y, add_relu_expected(x))
    assert ToyDevice.copies == ["to_device", "to_host"]


def test_output_device_keeps_the_output_on_the_device(session):
    x = np.array([[1.0, 2.0, -3.0]], np.float32)
    y = session.run({"x": x}, output_device="toy")["y"]
    assert isinstance(y, DeviceArray)
    np.testing.assert_array_equal(y.data, add_relu_expected(x))
    assert ToyDevice.copies == ["to_device"]
    assert isinstance(session.run({"x": x})["y"], np.ndarray)   # the host plan is unchanged


def test_unknown_output_device_names_the_session_devices(session):
    with pytest.raises(ConfigValueError, match=r"output_device='cuda'.*\['toy'\]"):
        session.run({"x": np.zeros((1, 3), np.float32)}, output_device="cuda")


def test_device_feeds_are_checked_from_their_interface(session):
    with pytest.raises(InputTypeError, match="device array of float64"):
        session.run({"x": DeviceArray(np.zeros((1, 3)))})
    with pytest.raises(InputShapeError):
        session.run({"x": DeviceArray(np.zeros((1, 4), np.float32))})


def test_device_feed_is_not_copied_to_the_host(session):
    # Relu alone on the toy device: the feed goes straight in, the output stays there.
    from onnx import TensorProto, helper
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "relu",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    s = ronn.Model.load(model.SerializeToString()).create_session(
        providers=["toy", "cpu"], runtime=session.runtime)
    ToyDevice.copies = []
    feed = DeviceArray(np.array([-1.0, 2.0], np.float32))
    y = s.run({"x": feed}, output_device="toy")["y"]
    np.testing.assert_array_equal(y.data, [0.0, 2.0])
    assert ToyDevice.copies == ["to_device"]     # a pass-through: the feed already lives there
