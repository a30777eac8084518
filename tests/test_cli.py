"""The ``ronn`` command line, run as a real subprocess through the installed console script."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

RONN = str(Path(sys.executable).parent / "ronn")


def ronn(*args, cwd=None, check=True):
    proc = subprocess.run([RONN, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"ronn {' '.join(map(str, args))} exited {proc.returncode}:\n"
                             f"{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture
def scale_model(tmp_path):
    """y = relu(x * 2) with a symbolic batch dim."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    graph = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["t"]),
                               helper.make_node("Relu", ["t"], ["y"])], "scale", [x], [y], [two])
    path = tmp_path / "scale.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_plugins_json_lists_the_onnx_opset_and_cpu_provider_as_discovered():
    plugins = {p["name"]: p for p in json.loads(ronn("plugins", "--json").stdout)}
    assert plugins["onnx"]["distribution"] == "ronn-opset-onnx"
    assert plugins["onnx"]["kinds"] == ["operators"]
    assert plugins["onnx"]["source"] == "entry point"
    assert plugins["cpu"]["distribution"] == "ronn-provider-cpu"
    assert plugins["cpu"]["registered"]["providers"] == ["cpu"]
    assert plugins["onnx"]["error"] is None and plugins["cpu"]["error"] is None


def test_plugins_table_shows_versions_and_what_each_registers():
    out = ronn("plugins").stdout
    assert "ronn-opset-onnx" in out and "kernels" in out and "providers: cpu" in out


def test_ops_lists_operators_with_versions_and_filters_by_domain():
    ops = json.loads(ronn("ops", "--domain", "ai.onnx", "--json").stdout)
    by_name = {o["op_type"]: o for o in ops}
    assert {1, 11}.issubset(set(by_name["Conv"]["versions"]))
    assert "onnx" in by_name["Conv"]["plugins"]
    assert {"reference", "cpu"} <= set(by_name["Conv"]["providers"])   # the fast kernel too
    assert json.loads(ronn("ops", "--domain", "no.such.domain", "--json").stdout) == []


def test_info_reports_inputs_outputs_opsets_histogram_and_placement(scale_model):
    info = json.loads(ronn("info", scale_model, "--json").stdout)
    assert info["inputs"] == [{"name": "x", "type": "tensor(float)", "shape": ["batch", 4]}]
    assert info["opsets"] == {"ai.onnx": 17}
    assert info["ops"] == {"Mul": 1, "Relu": 1}
    assert info["placement"] == {"Mul": {"cpu": 1}, "Relu": {"cpu": 1}}


def test_run_a_model_with_random_inputs_prints_outputs_and_latency(scale_model):
    out = ronn("run", scale_model, "--repeat", "3").stdout
    assert "random (seed 0) for: x" in out
    assert "output 'y': float32 [1, 4]" in out
    assert "best" in out and "over 3 runs" in out


def test_run_a_config_with_input_files_writes_outputs(scale_model, tmp_path):
    x = np.array([[-1.0, 0.5, 2.0, -3.0]], np.float32)
    np.save(tmp_path / "x.npy", x)
    config = tmp_path / "conf" / "session.toml"
    config.parent.mkdir()
    config.write_text('model = "../scale.onnx"\noptimization_level = "O1"\n'
                      '[inputs]\nx = "../x.npy"\n')
    result = json.loads(ronn("run", config, "--output-dir", tmp_path / "out", "--json",
                             cwd="/").stdout)
    assert result["random_inputs"] == []
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "y.npy"), np.maximum(x * 2, 0))


def test_run_with_profile_writes_a_chrome_trace(scale_model, tmp_path):
    trace = tmp_path / "trace.json"
    ronn("run", scale_model, "--profile", trace, "--repeat", "2")
    events = json.loads(trace.read_text())
    assert {e["args"]["op_name"] for e in events} == {"Mul", "Relu"}
    assert all(e["ph"] == "X" and e["dur"] >= 0 for e in events)
    assert len(events) == 2 * 3   # two nodes, first run plus two repeats


def test_errors_are_one_line_messages_with_exit_code_1(tmp_path, scale_model):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07this is not an onnx model")
    proc = ronn("run", bad, check=False)
    assert proc.returncode == 1
    assert proc.stderr.startswith("ronn: error: cannot load model")
    assert "Traceback" not in proc.stderr

    config = tmp_path / "typo.toml"
    config.write_text(f'model = "{scale_model}"\noptimisation_level = "O2"\n')
    proc = ronn("run", config, check=False)
    assert proc.returncode == 1
    assert "did you mean 'optimization_level'" in proc.stderr


def test_python_dash_m_ronn_is_the_same_command():
    proc = subprocess.run([sys.executable, "-m", "ronn", "--version"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.startswith("ronn ")
