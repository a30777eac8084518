"""``ronn export-web``: the bundle replays in Node.js and in headless Chromium and matches the
Python run; tampering with the expected outputs makes the check fail."""

from __future__ import annotations

import functools
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
from onnx import TensorProto, helper

from ronn.zoo import light_model
from ronn_core.errors import ModelError
from ronn_wasm.export import export_web
from ronn_wasm.kernels import module_bytes

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed; CI installs it with providers/wasm/ci-setup.sh")
    return path


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """The light SqueezeNet exported through the real CLI, in a subprocess."""
    root = tmp_path_factory.mktemp("web")
    model = root / "squeezenet.onnx"
    model.write_bytes(light_model("squeezenet", seed=0).SerializeToString())
    out = root / "bundle"
    done = subprocess.run([sys.executable, "-m", "ronn", "export-web", str(model), str(out)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "kernel calls" in done.stdout
    return out


def _node_check(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([_tool("node"), str(path / "ronn.mjs"), "--check"],
                          capture_output=True, text=True, timeout=120)


def test_bundle_is_self_contained(bundle):
    plan = json.loads((bundle / "plan.json").read_text())
    assert (bundle / "kernels.wasm").read_bytes() == module_bytes()   # the same kernels
    assert {c[0] for c in plan["calls"]} >= {"im2col", "gemm", "maxpool3s2", "softmax",
                                             "wino_in", "wino_out", "wino4_in", "wino4_out"}
    assert (bundle / "weights.bin").stat().st_size <= plan["memory_bytes"]
    for entry in plan["inputs"] + plan["outputs"]:
        assert (bundle / entry.get("sample", entry.get("expected"))).exists()
    assert (bundle / "index.html").exists()


def test_node_check_passes(bundle):
    done = _node_check(bundle)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout.splitlines()[0])
    assert report["ok"] and report["outputs"][0]["shape"] == [1, 1000, 1, 1]


def test_node_check_fails_when_outputs_differ(bundle, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(bundle, bad)
    expected = bad / "sample" / "expected_0.bin"
    values = np.frombuffer(expected.read_bytes(), np.float32).copy()
    values[7] += 0.05
    expected.write_bytes(values.tobytes())
    done = _node_check(bad)
    assert done.returncode == 1 and "FAIL" in done.stdout


class _BundleServer(http.server.SimpleHTTPRequestHandler):
    """Serves the bundle; a POST to /result hands the page's outcome to the test."""

    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".mjs": "text/javascript", ".wasm": "application/wasm"}
    outcome: list = []
    received = threading.Event()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        type(self).outcome.append(body)
        type(self).received.set()
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_chromium_runs_the_page(bundle):
    chromium = _tool("chromium")
    handler = type("Handler", (_BundleServer,), {"outcome": [], "received": threading.Event()})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(bundle)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory() as profile, \
            tempfile.TemporaryFile("w+") as log:      # a file: a full pipe would block chromium
        browser = subprocess.Popen([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                                    f"{base}/index.html?report={base}/result"],
                                   stdout=log, stderr=log, start_new_session=True)
        try:
            arrived = handler.received.wait(timeout=120)
        finally:
            os.killpg(browser.pid, signal.SIGKILL)
            browser.wait()
            server.shutdown()
        log.seek(0)
        assert arrived, f"the page never reported; chromium said: {log.read()[-2000:]}"
    [text] = handler.outcome
    assert text.startswith("PASS "), text
    report = json.loads(text[len("PASS "):])
    assert report["ok"] and report["outputs"][0]["mismatched"] == 0


def test_export_refuses_host_computation(tmp_path):
    nodes = [helper.make_node("Shape", ["x"], ["y"])]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                         ["n", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.INT64, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(ModelError, match="host Shape"):
        export_web(model.SerializeToString(), tmp_path / "out",
                   feeds={"x": np.ones((2, 3), np.float32)})
