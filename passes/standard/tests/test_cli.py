"""``ronn optimize`` as a user runs it: a subprocess of the installed console script."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
from onnx import helper

from ronn_passes_tests import make_model, rand, tensor

RONN = str(Path(sys.executable).parent / "ronn")


def _model(tmp_path):
    model = make_model([helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
                        helper.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["n"]),
                        helper.make_node("Identity", ["n"], ["i"]),
                        helper.make_node("Relu", ["i"], ["y"])],
                       [tensor("x", [1, 3, 6, 6])], [tensor("y", [1, 4, 6, 6])],
                       initializers={"w": rand(4, 3, 3, 3), "b": rand(4, seed=1),
                                     "s": np.full(4, 1.5, np.float32),
                                     "bb": rand(4, seed=2), "m": rand(4, seed=3),
                                     "v": np.full(4, 0.8, np.float32)})
    path = tmp_path / "in.onnx"
    onnx.save(model, path)
    return model, path


def _ort(model_bytes, feeds):
    return onnxruntime.InferenceSession(model_bytes, providers=["CPUExecutionProvider"]).run(
        None, feeds)


def test_optimize_writes_standard_onnx_and_prints_a_table(tmp_path):
    model, src = _model(tmp_path)
    out = tmp_path / "out.onnx"
    proc = subprocess.run([RONN, "optimize", str(src), str(out), "--level", "O2"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "conv-affine-fusion" in proc.stdout and "4 -> 2 nodes" in proc.stdout
    written = onnx.load(out)
    onnx.checker.check_model(written)
    assert [n.op_type for n in written.graph.node] == ["Conv", "Relu"]
    assert all(not n.domain for n in written.graph.node)
    feeds = {"x": rand(1, 3, 6, 6, seed=9)}
    np.testing.assert_allclose(_ort(out.read_bytes(), feeds)[0],
                               _ort(model.SerializeToString(), feeds)[0], rtol=1e-3, atol=1e-4)


def _json_run(src, out, *extra):
    proc = subprocess.run([RONN, "optimize", str(src), str(out), "--json", *extra],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_optimize_json_levels_and_disable(tmp_path):
    _, src = _model(tmp_path)
    report = _json_run(src, tmp_path / "o3.onnx", "--level", "O3")
    assert report["nodes_before"] == 4 and report["nodes_after"] == 1
    assert report["domains"] == ["com.ronn"] and report["ops_after"] == {"com.ronn::FusedConv": 1}
    assert all(p["nodes_after"] <= p["nodes_before"] for p in report["passes"])

    report = _json_run(src, tmp_path / "o3b.onnx", "--level", "O3", "--disable",
                       "activation-fusion")
    names = [p["name"] for p in report["passes"]]
    assert "activation-fusion" not in names and "conv-affine-fusion" in names
    assert report["nodes_after"] == 2 and report["domains"] == []


def test_optimize_unknown_pass_fails_cleanly(tmp_path):
    _, src = _model(tmp_path)
    proc = subprocess.run([RONN, "optimize", str(src), str(tmp_path / "o.onnx"),
                           "--disable", "no-such-pass"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1
    assert "no pass named 'no-such-pass'" in proc.stderr
