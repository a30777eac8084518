"""Loading a model's large initializers straight into numpy, never into the protobuf.

Parsing a whole ``.onnx`` file holds every weight twice at once: in the parsed protobuf and in
the arrays made from it (VGG-19: 1.1 GB for 549 MB of weights). Here a scan of the protobuf
wire format finds each large ``raw_data`` payload of the main graph's initializers; the model is
parsed without them, and each payload is read from the file into its own array (``os.preadv``:
the file is never resident in this process). Anything the scan does not expect (a second
``graph`` field, a repeated ``raw_data``, a payload whose size does not match its dims, a
truncated field) raises ``WireFormatError`` and the caller parses the plain way.
"""

from __future__ import annotations

import mmap
import os
from typing import Callable

import numpy as np
from onnx import TensorProto

MIN_PAYLOAD = 4096   # smaller payloads stay in the proto (shape inference reads small tensors)
# element types read straight from their little-endian bytes (INT64 stays in the proto: shape
# inference propagates int64 constants)
DIRECT_TYPES = {TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64,
                TensorProto.FLOAT16: np.float16, TensorProto.INT8: np.int8,
                TensorProto.UINT8: np.uint8, TensorProto.INT16: np.int16,
                TensorProto.UINT16: np.uint16, TensorProto.INT32: np.int32,
                TensorProto.UINT32: np.uint32, TensorProto.UINT64: np.uint64,
                TensorProto.BOOL: np.bool_}
_GRAPH, _INITIALIZER = 7, 5                        # ModelProto.graph, GraphProto.initializer
_DIMS, _DATA_TYPE, _RAW_DATA = 1, 2, 9             # TensorProto fields
_LENGTH_DELIMITED = 2


class WireFormatError(ValueError):
    """The bytes are not laid out as the split loader expects (parse them the plain way)."""


def split_model(buf) -> tuple[bytes, dict[int, tuple[int, int, tuple[int, ...], np.dtype]]]:
    """``buf`` (a ModelProto's bytes) without the large initializer payloads, and for each one
    stripped, by initializer index: (offset in ``buf``, byte length, dims, dtype)."""
    parts, payloads, graphs = [], {}, 0
    for number, wire, first, start, end in _fields(buf, 0, len(buf)):
        if number == _GRAPH and wire == _LENGTH_DELIMITED:
            graphs += 1
            if graphs > 1:
                raise WireFormatError("more than one graph field")
            parts.append(_length_delimited(_GRAPH, _strip_graph(buf, start, end, payloads)))
        else:
            parts.append(bytes(buf[first:end]))
    return b"".join(parts), payloads


def read_arrays(payloads: dict, read: Callable[[int, np.ndarray], None]) -> dict[int, np.ndarray]:
    """The stripped initializers as arrays: ``read(offset, array)`` fills each one's bytes."""
    arrays = {}
    for index, (offset, _, dims, dtype) in payloads.items():
        array = np.empty(dims, dtype)
        read(offset, array)
        arrays[index] = array
    return arrays


def file_reader(fd: int) -> Callable[[int, np.ndarray], None]:
    """``read(offset, array)`` for an open file: ``preadv`` straight into the array."""
    def read(offset: int, array: np.ndarray) -> None:
        view = memoryview(array.reshape(-1).view(np.uint8))
        done = 0
        while done < len(view):
            got = os.preadv(fd, [view[done:]], offset + done)
            if got <= 0:
                raise WireFormatError(f"the file ended inside a tensor at byte {offset + done}")
            done += got
    return read


def buffer_reader(buf) -> Callable[[int, np.ndarray], None]:
    """``read(offset, array)`` for bytes already in memory."""
    def read(offset: int, array: np.ndarray) -> None:
        flat = array.reshape(-1).view(np.uint8)
        flat[:] = np.frombuffer(buf, np.uint8, count=flat.size, offset=offset)
    return read


def map_file(fd: int) -> mmap.mmap:
    """A read-only map of the file for the scan (it reads tags and lengths, not payloads)."""
    return mmap.mmap(fd, 0, access=mmap.ACCESS_READ)


# -- the wire format ----------------------------------------------------------------------------

def _strip_graph(buf, start: int, end: int, payloads: dict) -> bytes:
    parts, index = [], 0
    for number, wire, first, p0, p1 in _fields(buf, start, end):
        if number == _INITIALIZER and wire == _LENGTH_DELIMITED:
            found = _large_payload(buf, p0, p1)
            if found is None:
                parts.append(bytes(buf[first:p1]))
            else:
                payloads[index] = found[0]
                parts.append(_length_delimited(_INITIALIZER, found[1]))
            index += 1
        else:
            parts.append(bytes(buf[first:p1]))
    return b"".join(parts)


def _large_payload(buf, start: int, end: int):
    """((offset, length, dims, dtype), the tensor's bytes without it) for a TensorProto whose
    raw_data is large and of a direct type; None to keep the tensor as it is."""
    raw, dims, data_type, others = None, [], TensorProto.UNDEFINED, []
    for number, wire, first, p0, p1 in _fields(buf, start, end):
        if number == _RAW_DATA and wire == _LENGTH_DELIMITED:
            if raw is not None:
                raise WireFormatError("a tensor with two raw_data fields")
            raw = (p0, p1)
            continue
        if number == _DATA_TYPE and wire == 0:
            data_type = _varint(buf, p0, p1)[0]
        elif number == _DIMS and wire == 0:
            dims.append(_varint(buf, p0, p1)[0])
        elif number == _DIMS and wire == _LENGTH_DELIMITED:      # packed dims
            pos = p0
            while pos < p1:
                value, pos = _varint(buf, pos, p1)
                dims.append(value)
        others.append((first, p1))
    dtype = DIRECT_TYPES.get(data_type)
    if raw is None or dtype is None or raw[1] - raw[0] < MIN_PAYLOAD:
        return None
    dims = tuple(d - (1 << 64) if d >= 1 << 63 else d for d in dims)
    if any(d < 0 for d in dims) or \
            int(np.prod(dims, dtype=np.int64)) * np.dtype(dtype).itemsize != raw[1] - raw[0]:
        raise WireFormatError(f"raw_data of {raw[1] - raw[0]} bytes for dims {list(dims)}")
    rest = b"".join(bytes(buf[a:b]) for a, b in others)
    return (raw[0], raw[1] - raw[0], dims, np.dtype(dtype)), rest


def _fields(buf, start: int, end: int):
    """(number, wire type, field start, payload start, payload end) of each field."""
    pos = start
    while pos < end:
        first = pos
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if wire == 0:
            p0 = pos
            pos = _varint(buf, pos, end)[1]
        elif wire == 1:
            p0, pos = pos, pos + 8
        elif wire == 5:
            p0, pos = pos, pos + 4
        elif wire == _LENGTH_DELIMITED:
            length, p0 = _varint(buf, pos, end)
            pos = p0 + length
        else:
            raise WireFormatError(f"wire type {wire} (groups) at byte {first}")
        if pos > end or number == 0:
            raise WireFormatError(f"a field at byte {first} runs past its message")
        yield number, wire, first, p0, pos


def _varint(buf, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise WireFormatError(f"a truncated varint at byte {pos}")
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _length_delimited(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | _LENGTH_DELIMITED) + _encode_varint(len(payload)) + \
        payload
