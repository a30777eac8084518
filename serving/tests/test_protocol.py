"""The v2 codec against tritonclient's own encoder and decoder, for every datatype."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.http._utils import _get_inference_request

from ronn_serve.errors import InferRequestError
from ronn_serve.protocol import encode_infer_response, parse_infer_request

ARRAYS = {
    "FP32": np.arange(6, dtype=np.float32).reshape(2, 3) / 7,
    "FP16": np.arange(4, dtype=np.float16).reshape(2, 2) / 3,
    "FP64": np.linspace(-1, 1, 5),
    "INT8": np.array([[-128, 0, 127]], np.int8),
    "INT64": np.array([2**40, -3], np.int64),
    "UINT16": np.array([65535, 1], np.uint16),
    "BOOL": np.array([[True, False], [False, True]]),
    "BYTES": np.array(["héllo", "", "x" * 300], dtype=object),
}


def triton_body(arrays: dict, binary: bool, outputs=None):
    inputs = []
    for name, array in arrays.items():
        inp = httpclient.InferInput(name, list(array.shape), name)
        inp.set_data_from_numpy(array, binary_data=binary)
        inputs.append(inp)
    return _get_inference_request(inputs, "id-7", outputs, 0, False, False, 0, None, None)


@pytest.mark.parametrize("binary", [True, False])
def test_requests_encoded_by_tritonclient_decode_exactly(binary):
    body, header_length = triton_body(ARRAYS, binary)
    request = parse_infer_request(body, None if header_length is None else str(header_length))
    assert request.id == "id-7" and request.binary_output is True     # no outputs named
    for name, want in ARRAYS.items():
        got = request.inputs[name]
        assert got.shape == want.shape
        if name == "BYTES":
            assert list(got) == list(want)
        elif binary or name != "FP16":
            np.testing.assert_array_equal(got, want)
            assert got.dtype == want.dtype
        else:
            np.testing.assert_allclose(got, want, rtol=1e-3)


@pytest.mark.parametrize("binary", [True, False])
def test_responses_decode_in_tritonclient(binary):
    outputs = [httpclient.InferRequestedOutput(name, binary_data=binary) for name in ARRAYS]
    body, header_length = triton_body({"FP32": ARRAYS["FP32"]}, True, outputs)
    request = parse_infer_request(body, str(header_length))
    raw, headers = encode_infer_response("m", "1", request, ARRAYS)
    size = headers.get("Inference-Header-Content-Length")
    result = httpclient.InferResult.from_response_body(
        raw, header_length=None if size is None else int(size))
    assert result.get_response()["model_name"] == "m"
    for name, want in ARRAYS.items():
        got = result.as_numpy(name)
        if name == "BYTES":
            assert [g.decode() if isinstance(g, bytes) else g for g in got] == list(want)
        elif binary or name not in ("FP16", "FP32", "FP64"):
            np.testing.assert_array_equal(got, want)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-3)


def test_binary_sizes_are_checked_against_shape_and_datatype():
    body, header_length = triton_body({"FP32": ARRAYS["FP32"]}, True)
    doc = json.loads(body[:header_length])
    doc["inputs"][0]["parameters"]["binary_data_size"] = 20
    head = json.dumps(doc).encode()
    with pytest.raises(InferRequestError, match=r"binary_data_size' = 20 bytes; 6 elements of "
                                                r"FP32 need 24"):
        parse_infer_request(head + body[header_length:-4], str(len(head)))
    with pytest.raises(InferRequestError, match="only 20 binary bytes are left"):
        parse_infer_request(body[:-4], str(header_length))
