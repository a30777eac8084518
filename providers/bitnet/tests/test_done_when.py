"""Issue #7's acceptance model: a 4096 x 4096 MatMul, quantized by the CLI.

The file is at most 1/12 of the float32 one, runs on providers=["bitnet"] and matches the
reference BitLinear kernel (providers=["cpu"]) within rtol 1e-5 (in fact bit for bit). Its speed
against the float32 model is measured by benchmarks/bitnet.py, not here.
"""

from __future__ import annotations

import os

import numpy as np
import onnx

from ronn.cli import main
from ronn_bitnet.models import matmul_model


def test_4096_layer_size_placement_and_agreement(tmp_path, session_of, rng):
    src, dst = str(tmp_path / "f32.onnx"), str(tmp_path / "ternary.onnx")
    onnx.save(matmul_model(4096, 4096), src)
    assert main(["quantize", src, dst, "--scheme", "ternary", "--no-check"]) == 0
    assert os.path.getsize(dst) <= os.path.getsize(src) / 12

    q = onnx.load(dst)
    bitnet = session_of(q, providers=["bitnet"])
    cpu = session_of(q, providers=["cpu"])
    assert [(p.op_type, p.provider) for p in bitnet.placement] == [("BitLinear", "bitnet")]
    assert [(p.op_type, p.provider) for p in cpu.placement] == [("BitLinear", "cpu")]
    for batch in (1, 3):
        x = rng.standard_normal((batch, 4096)).astype(np.float32)
        got, want = bitnet.run({"x": x})["y"], cpu.run({"x": x})["y"]
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=0)
        np.testing.assert_array_equal(got, want)
