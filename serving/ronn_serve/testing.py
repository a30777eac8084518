"""Helpers for tests and the load test: a batchable MLP, a ``ronn serve`` subprocess, a binary
v2 request."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np


def build_mlp(features: int = 1024, hidden: int = 2048, classes: int = 10, layers: int = 3,
              seed: int = 0):
    """x[N, features] -> ``layers`` hidden ReLU layers -> softmax y[N, classes]; N symbolic."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    shapes = [(features, hidden)] + [(hidden, hidden)] * (layers - 1) + [(hidden, classes)]
    inits, nodes, prev = [], [], "x"
    for i, (k, n) in enumerate(shapes):
        w = (rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"W{i}"),
                  numpy_helper.from_array(np.zeros(n, np.float32), f"b{i}")]
        nodes += [helper.make_node("MatMul", [prev, f"W{i}"], [f"m{i}"]),
                  helper.make_node("Add", [f"m{i}", f"b{i}"], [f"a{i}"])]
        prev = f"a{i}"
        if i < len(shapes) - 1:
            nodes.append(helper.make_node("Relu", [prev], [f"r{i}"]))
            prev = f"r{i}"
    nodes.append(helper.make_node("Softmax", [prev], ["y"], axis=-1))
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", classes])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


@contextlib.contextmanager
def running_server(config: Path, timeout: float = 60.0) -> Iterator[tuple[subprocess.Popen, str]]:
    """``ronn serve CONFIG --port 0`` as a subprocess; yields (process, base URL)."""
    proc = subprocess.Popen([sys.executable, "-m", "ronn", "serve", str(config), "--host",
                             "127.0.0.1", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        url = wait_for_listening(proc, timeout)
        yield proc, url
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdout, proc.stderr):
            stream.close()


def wait_for_listening(proc: subprocess.Popen, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"ronn serve exited ({proc.wait()}): {proc.stderr.read()}")
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            return match.group(1)
    raise RuntimeError("ronn serve did not start listening in time")


def binary_request(x: np.ndarray) -> tuple[bytes, dict[str, str]]:
    """A v2 infer request with ``x`` as binary data, asking for binary outputs."""
    raw = x.astype(np.float32).tobytes()
    head = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": list(x.shape),
                                   "parameters": {"binary_data_size": len(raw)}}],
                       "parameters": {"binary_data_output": True}}).encode()
    return head + raw, {"Inference-Header-Content-Length": str(len(head)),
                        "Content-Type": "application/octet-stream"}
