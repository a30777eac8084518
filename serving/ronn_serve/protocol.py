"""KServe Open Inference Protocol v2 (REST): tensors in JSON and the binary-data extension.

A request body is JSON, or (binary extension) a JSON header of ``Inference-Header-Content-Length``
bytes followed by raw tensor bytes, in the order of the inputs whose ``parameters`` carry a
``binary_data_size``. Responses mirror that: outputs asked for with ``binary_data`` (or all,
with the request parameter ``binary_data_output``) go after the JSON header as raw bytes.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ronn_serve.errors import InferRequestError

HEADER_LENGTH = "Inference-Header-Content-Length"
DATATYPES: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_), "UINT8": np.dtype(np.uint8), "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32), "UINT64": np.dtype(np.uint64), "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16), "INT32": np.dtype(np.int32), "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16), "FP32": np.dtype(np.float32), "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}
_BY_DTYPE = {dtype: name for name, dtype in DATATYPES.items()}


def datatype_of(dtype: np.dtype | None) -> str:
    """The protocol's name for a numpy dtype (strings are BYTES)."""
    if dtype is None:
        return "UNKNOWN"
    dtype = np.dtype(dtype)
    if dtype.kind in "OUS":
        return "BYTES"
    return _BY_DTYPE.get(dtype, str(dtype).upper())


@dataclass
class InferRequest:
    id: str | None
    inputs: dict[str, np.ndarray]
    outputs: list[tuple[str, bool]] = field(default_factory=list)   # (name, binary) asked for
    binary_output: bool = False                                     # default for the rest


def parse_infer_request(body: bytes, header_length: str | None) -> InferRequest:
    """Decode an infer request; errors (InferRequestError) name the offending field."""
    if header_length is not None:
        try:
            size = int(header_length)
        except ValueError:
            size = -1
        if not 0 <= size <= len(body):
            raise InferRequestError(f"header {HEADER_LENGTH} = {header_length!r}: expected an "
                                    f"integer between 0 and the body size {len(body)}")
        head, binary = body[:size], memoryview(body)[size:]
    else:
        head, binary = body, memoryview(b"")
    try:
        doc = json.loads(head)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InferRequestError(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise InferRequestError(f"request body must be a JSON object, got {type(doc).__name__}")
    request_id = doc.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InferRequestError(f"field 'id' must be a string, got {type(request_id).__name__}")
    params = _params(doc, "parameters")
    raw_inputs = doc.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InferRequestError(f"field 'inputs' must be a non-empty list of tensors, got "
                                f"{_show(raw_inputs)}")
    inputs: dict[str, np.ndarray] = {}
    offset = 0
    for index, tensor in enumerate(raw_inputs):
        name, array, used = _decode_input(tensor, f"inputs[{index}]", binary, offset)
        if name in inputs:
            raise InferRequestError(f"field 'inputs[{index}].name': input {name!r} is given twice")
        inputs[name] = array
        offset += used
    if offset != len(binary):
        raise InferRequestError(f"the body has {len(binary) - offset} binary bytes that no "
                                f"input's parameters.binary_data_size accounts for")
    outputs = []
    raw_outputs = doc.get("outputs", [])
    if not isinstance(raw_outputs, list):
        raise InferRequestError(f"field 'outputs' must be a list, got {_show(raw_outputs)}")
    for index, out in enumerate(raw_outputs):
        where = f"outputs[{index}]"
        if not isinstance(out, dict) or not isinstance(out.get("name"), str):
            raise InferRequestError(f"field '{where}.name' must be a string, got "
                                    f"{_show(out.get('name') if isinstance(out, dict) else out)}")
        out_params = _params(out, f"{where}.parameters")
        if out_params.get("classification"):
            raise InferRequestError(f"field '{where}.parameters.classification': the "
                                    f"classification extension is not supported")
        outputs.append((out["name"], bool(out_params.get("binary_data", False))))
    return InferRequest(request_id, inputs, outputs, bool(params.get("binary_data_output", False)))


def _decode_input(tensor: Any, where: str, binary: memoryview,
                  offset: int) -> tuple[str, np.ndarray, int]:
    if not isinstance(tensor, dict):
        raise InferRequestError(f"field '{where}' must be a JSON object, got {_show(tensor)}")
    name, datatype, shape = tensor.get("name"), tensor.get("datatype"), tensor.get("shape")
    if not isinstance(name, str):
        raise InferRequestError(f"field '{where}.name' must be a string, got {_show(name)}")
    if datatype not in DATATYPES:
        raise InferRequestError(f"field '{where}.datatype' = {_show(datatype)}: expected one of "
                                f"{sorted(DATATYPES)}")
    if (not isinstance(shape, list)
            or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)):
        raise InferRequestError(f"field '{where}.shape' must be a list of non-negative "
                                f"integers, got {_show(shape)}")
    count = int(np.prod(shape, dtype=np.int64))
    dtype = DATATYPES[datatype]
    size = _params(tensor, f"{where}.parameters").get("binary_data_size")
    if size is not None:
        if not isinstance(size, int) or size < 0 or offset + size > len(binary):
            raise InferRequestError(f"field '{where}.parameters.binary_data_size' = {size!r}: "
                                    f"only {len(binary) - offset} binary bytes are left")
        chunk = binary[offset:offset + size]
        array = _from_bytes(chunk, dtype, count, where)
        return name, array.reshape(shape), size
    if "data" not in tensor:
        raise InferRequestError(f"field '{where}.data' is missing (and there is no "
                                f"parameters.binary_data_size)")
    try:
        flat = np.asarray(tensor["data"], dtype=dtype).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise InferRequestError(f"field '{where}.data' is not a list of {datatype} values: "
                                f"{exc}") from exc
    if flat.size != count:
        raise InferRequestError(f"field '{where}.data' has {flat.size} elements; shape {shape} "
                                f"needs {count}")
    if datatype == "BYTES":
        flat = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in flat],
                        dtype=object)
    return name, flat.reshape(shape), 0


def _from_bytes(chunk: memoryview, dtype: np.dtype, count: int, where: str) -> np.ndarray:
    if dtype == np.dtype(object):
        items, pos = [], 0
        while pos < len(chunk):
            if pos + 4 > len(chunk):
                raise InferRequestError(f"field '{where}': truncated BYTES element length")
            (length,) = struct.unpack_from("<I", chunk, pos)
            items.append(bytes(chunk[pos + 4:pos + 4 + length]).decode())
            pos += 4 + length
        if len(items) != count:
            raise InferRequestError(f"field '{where}': {len(items)} BYTES elements, shape needs "
                                    f"{count}")
        return np.array(items, dtype=object)
    want = count * dtype.itemsize
    if len(chunk) != want:
        raise InferRequestError(f"field '{where}.parameters.binary_data_size' = {len(chunk)} "
                                f"bytes; {count} elements of {datatype_of(dtype)} need {want}")
    return np.frombuffer(chunk, dtype=dtype.newbyteorder("<")).astype(dtype, copy=True)


def encode_infer_response(model: str, version: str, request: InferRequest,
                          outputs: dict[str, np.ndarray]) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of the response; binary outputs follow the JSON header."""
    asked = dict(request.outputs)
    order = [n for n, _ in request.outputs] if request.outputs else list(outputs)
    entries, chunks = [], []
    for name in order:
        array = np.asarray(outputs[name])
        entry: dict[str, Any] = {"name": name, "datatype": datatype_of(array.dtype),
                                 "shape": list(array.shape)}
        if asked.get(name, request.binary_output):
            raw = _to_bytes(array)
            entry["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            entry["data"] = _to_json_list(array)
        entries.append(entry)
    doc: dict[str, Any] = {"model_name": model, "model_version": version, "outputs": entries}
    if request.id is not None:
        doc["id"] = request.id
    head = json.dumps(doc).encode()
    if not chunks:
        return head, {"Content-Type": "application/json"}
    return b"".join([head, *chunks]), {"Content-Type": "application/octet-stream",
                                       HEADER_LENGTH: str(len(head))}


def _to_bytes(array: np.ndarray) -> bytes:
    if array.dtype.kind in "OUS":
        parts = []
        for item in array.reshape(-1):
            raw = item if isinstance(item, bytes) else str(item).encode()
            parts.append(struct.pack("<I", len(raw)) + raw)
        return b"".join(parts)
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()


def _to_json_list(array: np.ndarray) -> list:
    flat = array.reshape(-1)
    if array.dtype.kind in "OUS":
        return [v.decode() if isinstance(v, bytes) else str(v) for v in flat]
    return flat.tolist()


def _params(doc: dict, where: str) -> dict:
    """``doc["parameters"]`` (``where`` names it in errors)."""
    params = doc.get("parameters", {})
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise InferRequestError(f"field '{where}' must be a JSON object, got {_show(params)}")
    return params


def _show(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, memoryview) else "bytes"
    return text if len(text) <= 60 else text[:57] + "..."
