"""Without a GPU: the plugin loads and is listed, says why it is unavailable, and sessions
fall back to cpu with a warning. These run for real on machines without a GPU."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import warnings

import numpy as np
import pytest
from onnx import TensorProto, helper

import ronn
from ronn_core.errors import ConfigValueError, ProviderError
from ronn_gpu import probe
from ronn_gpu.provider import GpuProvider

pytestmark = pytest.mark.skipif(probe.unavailable_reason(0) is None,
                                reason="a usable GPU is present: these test the fallback path")


def _model():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    m = helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                                            [x], [y]), opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def test_reason_names_what_is_missing():
    reason = GpuProvider.unavailable_reason()
    assert reason
    if importlib.util.find_spec("cupy") is None:
        assert "CuPy is not installed" in reason
    else:
        assert "CUDA" in reason or "device" in reason


def test_reason_without_cupy_in_a_fresh_process():
    code = ("import sys, importlib.abc\n"
            "class Block(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path, target=None):\n"
            "        if name == 'cupy' or name.startswith('cupy.'): raise ImportError(name)\n"
            "sys.meta_path.insert(0, Block())\n"
            "import importlib.util\n"
            "importlib.util.find_spec = (lambda f: lambda n, *a: None if n == 'cupy' else f(n, *a))"
            "(importlib.util.find_spec)\n"
            "from ronn_gpu.provider import GpuProvider\n"
            "print(GpuProvider.unavailable_reason())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "CuPy is not installed" in out.stdout


def test_listed_by_ronn_plugins():
    out = subprocess.run([sys.executable, "-m", "ronn", "plugins"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    line = next(l for l in out.stdout.splitlines() if l.startswith("gpu "))
    assert "ronn-provider-gpu" in line and "providers: gpu" in line and "bench_suites: gpu" in line


def test_session_falls_back_to_cpu_with_warning():
    model = ronn.Model.load(_model().SerializeToString())
    with pytest.warns(UserWarning, match=r"falling back to \['cpu'\].*gpu \("):
        session = model.create_session(providers=["gpu", "cpu"])
    assert session.provider_names == ["cpu"]
    assert session.unavailable_providers and session.unavailable_providers[0].startswith("gpu (")
    assert all(p.provider == "cpu" for p in session.placement)
    x = np.array([[-1, 2, -3], [4, -5, 6]], np.float32)
    np.testing.assert_array_equal(session.run({"x": x})["y"], np.maximum(x, 0))


def test_ort_name_falls_back_too():
    model = ronn.Model.load(_model().SerializeToString())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        session = model.create_session(providers=["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert session.provider_names == ["cpu"]
    assert any("gpu" in str(w.message) for w in caught)


def test_gpu_alone_raises_provider_error_naming_the_reason():
    model = ronn.Model.load(_model().SerializeToString())
    with pytest.raises(ProviderError, match="no requested provider is available.*gpu"):
        model.create_session(providers=["gpu"])


def test_bench_suite_reports_no_gpu():
    from ronn_gpu.bench import run_suite
    with pytest.raises(ProviderError, match="needs a CUDA GPU: .+"):
        run_suite(quick=True)


def test_option_validation():
    with pytest.raises(ConfigValueError, match="precision.*float16"):
        GpuProvider.validate_options({"precision": "int4"})
    with pytest.raises(ConfigValueError, match="no option 'device'"):
        GpuProvider.validate_options({"device": 1})
    with pytest.raises(ConfigValueError, match="device_id.*expected a"):
        GpuProvider.validate_options({"device_id": "0"})
    assert GpuProvider.validate_options({"precision": "float16"})["precision"] == "float16"
