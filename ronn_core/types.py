"""Value types of the IR: tensors (with symbolic dims), sequences, optionals and maps."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np
from onnx import TensorProto, helper

Dim = Union[int, str, None]   # a static size, a symbolic name ('batch'), or unknown


def np_dtype(elem_type: int) -> np.dtype:
    """The numpy dtype of an ONNX element type (bfloat16 and float8 through ml_dtypes)."""
    if elem_type == TensorProto.STRING:
        return np.dtype(object)
    return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))


def onnx_type_name(elem_type: int) -> str:
    """onnxruntime's spelling of an element type, e.g. ``float`` for FLOAT."""
    name = TensorProto.DataType.Name(elem_type).lower()
    return {"float": "float", "double": "double", "float16": "float16"}.get(name, name)


@dataclass(frozen=True)
class TensorType:
    elem_type: int                      # onnx.TensorProto.DataType value (0: unknown)
    shape: tuple[Dim, ...] | None       # None: unknown rank

    @property
    def dtype(self) -> np.dtype | None:
        return np_dtype(self.elem_type) if self.elem_type else None

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    def __str__(self) -> str:
        elem = onnx_type_name(self.elem_type) if self.elem_type else "?"
        if self.shape is None:
            return f"tensor({elem})"
        return f"tensor({elem})[{', '.join('?' if d is None else str(d) for d in self.shape)}]"


@dataclass(frozen=True)
class SequenceType:
    elem: "ValueType | None"

    def __str__(self) -> str:
        return f"seq({self.elem or '?'})"


@dataclass(frozen=True)
class OptionalType:
    elem: "ValueType | None"

    def __str__(self) -> str:
        return f"optional({self.elem or '?'})"


@dataclass(frozen=True)
class MapType:
    key_type: int
    value: "ValueType | None"

    def __str__(self) -> str:
        return f"map({onnx_type_name(self.key_type)}, {self.value or '?'})"


ValueType = Union[TensorType, SequenceType, OptionalType, MapType]


def from_type_proto(tp) -> ValueType | None:
    """Decode an onnx TypeProto (None when it carries no type)."""
    kind = tp.WhichOneof("value")
    if kind == "tensor_type" or kind == "sparse_tensor_type":
        t = getattr(tp, kind)
        shape = None
        if t.HasField("shape"):
            shape = tuple(d.dim_value if d.HasField("dim_value")
                          else (d.dim_param or None) for d in t.shape.dim)
        return TensorType(t.elem_type, shape)
    if kind == "sequence_type":
        return SequenceType(from_type_proto(tp.sequence_type.elem_type))
    if kind == "optional_type":
        return OptionalType(from_type_proto(tp.optional_type.elem_type))
    if kind == "map_type":
        return MapType(tp.map_type.key_type, from_type_proto(tp.map_type.value_type))
    return None


def to_type_proto(vt: ValueType | None):
    """Encode a value type as an onnx TypeProto."""
    if vt is None:
        return helper.TypeProto()
    if isinstance(vt, TensorType):
        shape = None if vt.shape is None else list(vt.shape)
        return helper.make_tensor_type_proto(vt.elem_type, shape)
    if isinstance(vt, SequenceType):
        return helper.make_sequence_type_proto(to_type_proto(vt.elem))
    if isinstance(vt, OptionalType):
        return helper.make_optional_type_proto(to_type_proto(vt.elem))
    if isinstance(vt, MapType):
        return helper.make_map_type_proto(vt.key_type, to_type_proto(vt.value))
    raise TypeError(f"not a value type: {vt!r}")


def type_of_array(array: np.ndarray) -> TensorType:
    """The tensor type of a numpy array."""
    return TensorType(helper.np_dtype_to_tensor_dtype(array.dtype), tuple(array.shape))
