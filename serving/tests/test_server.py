"""``ronn serve`` as a real subprocess on loopback, driven by tritonclient and by plain HTTP."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from ronn_serve.testing import binary_request, build_mlp, running_server

CONFIG = """
[models.mlp]
path = "mlp.onnx"
workers = 2
[models.mlp.batching]
enabled = true
max_batch_size = 16
timeout_ms = 20

[models.plain]
path = "mlp.onnx"
version = "7"

[models.static]
path = "static.onnx"
[models.static.batching]
enabled = true

[models.slow]
path = "mlp.onnx"
max_queue_size = 2
[models.slow.batching]
enabled = true
max_batch_size = 64
timeout_ms = 3000
"""


def static_batch(model: onnx.ModelProto) -> onnx.ModelProto:
    model = onnx.ModelProto.FromString(model.SerializeToString())
    for value in (*model.graph.input, *model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_value = 2
    return model


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("serve")
    mlp = build_mlp(8, 16)
    onnx.save(mlp, folder / "mlp.onnx")
    onnx.save(static_batch(mlp), folder / "static.onnx")
    (folder / "serve.toml").write_text(CONFIG)
    return folder


@pytest.fixture(scope="module")
def server(models):
    with running_server(models / "serve.toml") as (proc, url):
        yield url


@pytest.fixture(scope="module")
def reference(models):
    return ort.InferenceSession(str(models / "mlp.onnx"), providers=["CPUExecutionProvider"])


def client(url: str, **kwargs) -> httpclient.InferenceServerClient:
    return httpclient.InferenceServerClient(url=url.removeprefix("http://"), **kwargs)


def post(url: str, path: str, body: bytes, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url + path, data=body, headers=headers or {},
                                     method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            raw, size = resp.read(), resp.headers.get("Inference-Header-Content-Length")
            if size is None:
                return resp.status, json.loads(raw)
            return resp.status, {**json.loads(raw[:int(size)]), "binary": raw[int(size):]}
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def get(url: str, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url + path, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def tensor(x: np.ndarray, name: str = "x", binary: bool = True) -> httpclient.InferInput:
    inp = httpclient.InferInput(name, list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=binary)
    return inp


# -- tritonclient -----------------------------------------------------------------------------


def test_health_and_metadata_through_tritonclient(server):
    c = client(server)
    assert c.is_server_live() and c.is_server_ready()
    assert c.is_model_ready("mlp") and c.is_model_ready("plain", "7")
    assert not c.is_model_ready("nope")
    meta = c.get_model_metadata("mlp")
    assert meta["name"] == "mlp" and meta["versions"] == ["1"]
    assert meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 8]}]
    assert meta["outputs"] == [{"name": "y", "datatype": "FP32", "shape": [-1, 10]}]
    assert c.get_model_metadata("static")["inputs"][0]["shape"] == [2, 8]
    assert "binary_tensor_data" in c.get_server_metadata()["extensions"]
    with pytest.raises(InferenceServerException, match="unknown model 'nope'"):
        c.get_model_metadata("nope")


@pytest.mark.parametrize("binary", [True, False])
def test_infer_matches_onnxruntime_in_json_and_binary(server, reference, binary):
    x = np.random.default_rng(1).standard_normal((3, 8)).astype(np.float32)
    c = client(server)
    for model in ("mlp", "plain"):
        result = c.infer(model, [tensor(x, binary=binary)],
                         outputs=[httpclient.InferRequestedOutput("y", binary_data=binary)],
                         request_id="req-1")
        np.testing.assert_allclose(result.as_numpy("y"), reference.run(None, {"x": x})[0],
                                   rtol=1e-5, atol=1e-6)
        assert result.get_response()["id"] == "req-1"
    result = c.infer("static", [tensor(x[:2])])                  # no outputs named: all, binary
    np.testing.assert_allclose(result.as_numpy("y"), reference.run(None, {"x": x[:2]})[0],
                               rtol=1e-5, atol=1e-6)


def test_concurrent_clients_are_batched_and_each_gets_its_own_answer(server, reference):
    c = client(server, concurrency=16)
    rng = np.random.default_rng(2)
    xs = [rng.standard_normal((1 + i % 3, 8)).astype(np.float32) for i in range(48)]
    pending = [c.async_infer("mlp", [tensor(x)]) for x in xs]
    for x, handle in zip(xs, pending):
        got = handle.get_result().as_numpy("y")
        np.testing.assert_allclose(got, reference.run(None, {"x": x})[0], rtol=1e-5, atol=1e-6)
    c.close()
    _, text = get(server, "/metrics")
    rows = float(re.search(r'ronn_serve_batch_size_sum\{model="mlp"\} (\S+)', text).group(1))
    runs = float(re.search(r'ronn_serve_batch_size_count\{model="mlp"\} (\S+)', text).group(1))
    assert rows / runs > 1.0                           # some runs carried several requests


# -- plain HTTP: errors -----------------------------------------------------------------------


def infer_json(shape, data, datatype="FP32") -> bytes:
    return json.dumps({"inputs": [{"name": "x", "shape": shape, "datatype": datatype,
                                   "data": data}]}).encode()


@pytest.mark.parametrize("body, message", [
    (b"{not json", "request body is not valid JSON"),
    (b"{}", "field 'inputs' must be a non-empty list"),
    (json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "data": [1]}]}).encode(),
     "field 'inputs[0].shape' must be a list"),
    (json.dumps({"inputs": [{"name": "x", "datatype": "FLOAT", "shape": [1],
                             "data": [1]}]}).encode(), "field 'inputs[0].datatype' = \"FLOAT\""),
    (infer_json([1, 8], [1.0] * 7), "field 'inputs[0].data' has 7 elements; shape [1, 8] needs 8"),
    (infer_json([1, 9], [1.0] * 9), "input 'x': expected shape [-1, 8], got [1, 9]"),
    (infer_json([1, 8], [1] * 8, "INT64"), "input 'x': expected datatype FP32, got INT64"),
    (json.dumps({"inputs": [{"name": "z", "shape": [1], "datatype": "FP32", "data": [1]}]})
     .encode(), "unknown input 'z'; model 'mlp' has inputs ['x']"),
    (json.dumps({"inputs": [{"name": "x", "shape": [1, 8], "datatype": "FP32", "data": [0] * 8}],
                 "outputs": [{"name": "q"}]}).encode(), "field 'outputs[0].name': unknown "
                                                        "output 'q'"),
])
def test_bad_requests_get_400_naming_the_field(server, body, message):
    status, doc = post(server, "/v2/models/mlp/infer", body)
    assert status == 400
    assert message in doc["error"]


def test_binary_data_errors_and_unknown_models(server):
    body, headers = binary_request(np.ones((1, 8), np.float32))
    status, doc = post(server, "/v2/models/mlp/infer", body + b"xx", headers)
    assert status == 400 and "2 binary bytes that no input" in doc["error"]
    status, doc = post(server, "/v2/models/mlp/infer", body,
                       {**headers, "Inference-Header-Content-Length": "999999"})
    assert status == 400 and "Inference-Header-Content-Length" in doc["error"]
    status, doc = post(server, "/v2/models/mlp/infer", body, headers)
    assert status == 200 and doc["outputs"][0]["parameters"]["binary_data_size"] == 40
    assert np.frombuffer(doc["binary"], np.float32).sum() == pytest.approx(1.0)   # softmax row
    status, doc = post(server, "/v2/models/nope/infer", body, headers)
    assert status == 404 and "unknown model 'nope'; served models: ['mlp', 'plain'" in doc["error"]
    status, doc = post(server, "/v2/models/plain/versions/2/infer", body, headers)
    assert status == 404 and "no version '2'" in doc["error"]
    assert get(server, "/v2/models/nope/ready")[0] == 404


def test_a_full_queue_is_refused_with_503_and_the_queued_requests_complete(server):
    """``slow`` holds requests 3 s waiting for company and queues at most 2."""
    body = infer_json([1, 8], [0.5] * 8)
    with ThreadPoolExecutor(2) as pool:
        queued = [pool.submit(post, server, "/v2/models/slow/infer", body) for _ in range(2)]
        deadline = time.monotonic() + 10
        while 'ronn_serve_queue_depth{model="slow"} 2.0' not in get(server, "/metrics")[1]:
            assert time.monotonic() < deadline, "the two requests never queued"
            time.sleep(0.02)
        status, doc = post(server, "/v2/models/slow/infer", body)
        assert status == 503
        assert "model 'slow' is overloaded: 2 requests already wait" in doc["error"]
        answers = [f.result() for f in queued]
    assert [s for s, _ in answers] == [200, 200]
    assert answers[0][1]["outputs"][0]["data"] == answers[1][1]["outputs"][0]["data"]
    _, text = get(server, "/metrics")
    assert 'ronn_serve_errors_total{kind="overloaded",model="slow"} 1.0' in text
    assert 'ronn_serve_batch_size_bucket{le="2.0",model="slow"} 1.0' in text  # one batch of 2


def test_metrics_count_requests_latency_and_errors(server):
    post(server, "/v2/models/plain/infer", infer_json([1, 8], [0.0] * 8))
    post(server, "/v2/models/plain/infer", infer_json([1, 7], [0.0] * 7))
    status, text = get(server, "/metrics")
    assert status == 200
    for line in ('ronn_serve_requests_total{code="200",model="plain"}',
                 'ronn_serve_requests_total{code="400",model="plain"}',
                 'ronn_serve_errors_total{kind="bad_request",model="plain"}',
                 'ronn_serve_request_latency_seconds_bucket{le="+Inf",model="plain"}',
                 'ronn_serve_batch_size_count{model="plain"}',
                 'ronn_serve_queue_depth{model="plain"} 0.0',
                 'ronn_serve_inflight_requests'):
        assert line in text


# -- graceful shutdown ------------------------------------------------------------------------


def test_sigterm_finishes_requests_in_flight_then_exits_0(models):
    body = infer_json([1, 8], [0.25] * 8)
    with running_server(models / "serve.toml") as (proc, url):
        answer = {}
        worker = threading.Thread(target=lambda: answer.update(
            result=post(url, "/v2/models/slow/infer", body)))
        worker.start()
        deadline = time.monotonic() + 10
        while 'ronn_serve_queue_depth{model="slow"} 1.0' not in get(url, "/metrics")[1]:
            assert time.monotonic() < deadline, "the request never queued"
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        worker.join(20)
        assert proc.wait(20) == 0
        out = proc.stdout.read()
    status, doc = answer["result"]
    assert status == 200 and doc["outputs"][0]["shape"] == [1, 10]
    assert "finishing 1 request(s) in flight" in out and "ronn serve: stopped" in out
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url + "/v2/health/live", timeout=5)
