"""``ronn quantize --scheme ternary``: the rewrite, its report, lossless ternary weights, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from ronn.cli import main
from ronn_bitnet import DOMAIN
from ronn_bitnet.models import matmul_model, mlp_model
from ronn_bitnet.packing import pack, quantize_activations
from ronn_bitnet.quantize import quantize_model


def write(model, path):
    onnx.save(model, str(path))
    return str(path)


def ops(model):
    return [(n.domain, n.op_type) for n in model.graph.node]


def test_mlp_is_rewritten_and_reported(tmp_path, capsys, session_of, rng):
    src, dst = write(mlp_model(), tmp_path / "mlp.onnx"), str(tmp_path / "q.onnx")
    assert main(["quantize", src, dst, "--scheme", "ternary", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["converted"] == ["fc1", "fc2", "fc3"] and report["skipped"] == []
    assert report["bytes_after"] < report["bytes_before"] / 5
    [out] = report["outputs"]
    assert out["output"] == "y" and 0.8 < out["cosine_similarity"] <= 1.0
    q = onnx.load(dst)
    assert ops(q) == [(DOMAIN, "BitLinear"), ("", "Add"), ("", "Relu"), (DOMAIN, "BitLinear"),
                      (DOMAIN, "BitLinear"), ("", "Tanh")]
    assert {i.name for i in q.graph.initializer}.isdisjoint({"w1", "w2", "w3"})
    assert any(o.domain == DOMAIN and o.version == 1 for o in q.opset_import)
    # the reported deviation is the real one: recompute it
    x = np.random.default_rng(0).standard_normal((1, 48)).astype(np.float32)
    want = session_of(mlp_model(), providers=["cpu"]).run({"x": x})["y"]
    got = session_of(q, providers=["bitnet", "cpu"]).run({"x": x})["y"]
    cos = float(want.ravel() @ got.ravel() / np.linalg.norm(want) / np.linalg.norm(got))
    assert cos == pytest.approx(out["cosine_similarity"], rel=1e-5)
    # cpu (reference kernel) and bitnet agree exactly on the quantized model
    np.testing.assert_array_equal(session_of(q, providers=["cpu"]).run({"x": x})["y"], got)


def test_text_report_and_given_inputs(tmp_path, capsys):
    src, dst = write(mlp_model(), tmp_path / "mlp.onnx"), str(tmp_path / "q.onnx")
    np.savez(tmp_path / "in.npz", x=np.ones((3, 48), np.float32))
    assert main(["quantize", src, dst, "--exclude", "fc3", "--inputs",
                 str(tmp_path / "in.npz")]) == 0
    text = capsys.readouterr().out
    assert "quantized 2 of 3 MatMul/Gemm nodes" in text
    assert "kept fc3 in float: excluded" in text
    assert "size: 32.92 KiB -> " in text and "x smaller" in text
    assert f"output y: cosine similarity" in text and "in.npz" in text
    assert [n.op_type for n in onnx.load(dst).graph.node].count("Gemm") == 1


def test_ternary_weights_convert_without_loss_beyond_activation_quantization(session_of, rng):
    t = rng.integers(-1, 2, (96, 40)).astype(np.int8)        # [K, N]
    s = np.float32(0.0123)
    model = matmul_model(96, 40, weight=t.astype(np.float32) * s)
    q, result = quantize_model(model)
    assert result.converted == ["matmul"]
    init = {i.name: numpy_helper.to_array(i) for i in q.graph.initializer}
    np.testing.assert_array_equal(init["W_ternary"], pack(t.T))
    assert init["W_scale"] == s
    x = rng.standard_normal((6, 96)).astype(np.float32)
    y = session_of(q, providers=["bitnet", "cpu"]).run({"x": x})["y"]
    xq, amax = quantize_activations(x)                          # only this step loses
    exact = (xq.astype(np.float64) * amax / 127) @ (t.astype(np.float64) * s)
    np.testing.assert_allclose(y, exact, rtol=1e-5, atol=1e-6)
    float_y = session_of(model, providers=["cpu"]).run({"x": x})["y"]
    assert np.abs(float_y - y).max() <= np.abs(x).max() / 127 * np.abs(t).sum(0).max() * s


def test_size_ratio_of_a_square_layer(tmp_path):
    src = write(matmul_model(1024, 1024), tmp_path / "m.onnx")
    dst = str(tmp_path / "q.onnx")
    assert main(["quantize", src, dst, "--no-check"]) == 0
    import os
    assert os.path.getsize(dst) <= os.path.getsize(src) / 12


def test_shared_weight_is_packed_once():
    model = matmul_model(16, 8)
    g = model.graph
    g.node.append(onnx.helper.make_node("MatMul", ["x", "W"], ["y2"], name="again"))
    g.output.append(onnx.helper.make_tensor_value_info("y2", onnx.TensorProto.FLOAT, None))
    q, result = quantize_model(model)
    assert result.converted == ["matmul", "again"]
    assert sorted(i.name for i in q.graph.initializer) == ["W_scale", "W_ternary"]


def test_unconvertible_nodes_are_kept_with_a_reason():
    model = mlp_model()
    model.graph.node[3].attribute.append(onnx.helper.make_attribute("transA", 1))
    q, result = quantize_model(model)
    assert result.skipped == [("fc2", "Gemm with transA=1")]
    assert ops(q)[3] == ("", "Gemm") and "w2" in {i.name for i in q.graph.initializer}


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "ronn", "quantize", *args],
                          capture_output=True, text=True, timeout=120)


def test_errors_in_a_real_subprocess(tmp_path):
    missing = run_cli(str(tmp_path / "nope.onnx"), str(tmp_path / "o.onnx"))
    assert missing.returncode == 1
    assert "cannot quantize" in missing.stderr and "nope.onnx" in missing.stderr
    assert "no such file" in missing.stderr and "Traceback" not in missing.stderr
    src = write(mlp_model(), tmp_path / "m.onnx")
    scheme = run_cli(src, str(tmp_path / "o.onnx"), "--scheme", "int3")
    assert scheme.returncode == 1
    assert "unsupported quantization scheme 'int3'; supported: ['ternary']" in scheme.stderr
    assert not (tmp_path / "o.onnx").exists()


def test_nothing_to_quantize(tmp_path, capsys):
    model = matmul_model(8, 4)
    model.graph.input.append(onnx.helper.make_tensor_value_info("W", 1, [8, 4]))  # overridable
    assert main(["quantize", write(model, tmp_path / "m.onnx"), str(tmp_path / "o.onnx")]) == 1
    err = capsys.readouterr().err
    assert "nothing to quantize" in err and "matmul: its weight (input 1) is not a constant" in err


def test_bad_arguments(tmp_path, capsys):
    src = write(mlp_model(), tmp_path / "m.onnx")
    assert main(["quantize", src, str(tmp_path / "o.onnx"), "--exclude", "fc9"]) == 1
    assert "--exclude 'fc9' names no MatMul/Gemm node" in capsys.readouterr().err
    assert main(["quantize", src, str(tmp_path / "o.onnx"), "--dim", "batch"]) == 1
    assert "expected NAME=VALUE" in capsys.readouterr().err
    assert main(["quantize", src, str(tmp_path / "no" / "dir" / "o.onnx")]) == 1
    assert "cannot write" in capsys.readouterr().err
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    assert main(["quantize", str(tmp_path / "junk.onnx"), str(tmp_path / "o.onnx")]) == 1
    assert "not a valid ONNX protobuf" in capsys.readouterr().err
    assert main(["quantize", src, str(tmp_path / "o.onnx"), "--inputs", "missing.npz"]) == 1
    assert "--inputs 'missing.npz': no such file" in capsys.readouterr().err


def test_gemm_attributes_are_folded_exactly(session_of, rng):
    """Gemm(x, s*T as [N, K] with transB=1, C) * alpha/beta: only activations are quantized."""
    from onnx import TensorProto, helper
    t = rng.integers(-1, 2, (12, 40)).astype(np.int8)                     # [N, K]
    s, c = np.float32(0.25), rng.standard_normal(12).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "W", "C"], ["y"], name="gemm", transB=1, alpha=0.5,
                          beta=2.0)], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 40])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 12])],
        [numpy_helper.from_array(t.astype(np.float32) * s, "W"), numpy_helper.from_array(c, "C")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    q, result = quantize_model(model)
    assert result.converted == ["gemm"]
    x = rng.standard_normal((3, 40)).astype(np.float32)
    xq, amax = quantize_activations(x)
    exact = 0.5 * ((xq.astype(np.float64) * amax / 127) @ (t.T.astype(np.float64) * s)) + 2 * c
    y = session_of(q, providers=["bitnet", "cpu"]).run({"x": x})["y"]
    np.testing.assert_allclose(y, exact, rtol=1e-5, atol=1e-5)
