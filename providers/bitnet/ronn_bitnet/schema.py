"""The contract of ``com.ronn.bitnet::BitLinear`` (opset 1)."""

from __future__ import annotations

from onnx import TensorProto

from ronn_core import Attr, Input, OpSchema, Output, TensorType
from ronn_core.errors import ModelError

from ronn_bitnet import DOMAIN


def _name(elem_type: int) -> str:
    return TensorProto.DataType.Name(elem_type).lower()


def infer_bit_linear(node, input_types):
    """Y: float32 ``[..., N]``; checks X's last dim and W's packed width against in_features."""
    x, w = (list(input_types) + [None, None])[:2]
    k = node.attributes.get("in_features")
    if not isinstance(k, int) or k < 1:
        raise ModelError(f"node {node.describe()}: in_features must be a positive int, got {k!r}")
    if isinstance(x, TensorType) and x.elem_type and x.elem_type != TensorProto.FLOAT:
        raise ModelError(f"node {node.describe()}: X is {_name(x.elem_type)}; BitLinear takes "
                         f"float")
    if isinstance(w, TensorType) and w.elem_type and w.elem_type != TensorProto.UINT8:
        raise ModelError(f"node {node.describe()}: W is {_name(w.elem_type)}; BitLinear takes "
                         f"uint8 (four 2-bit weights per byte)")
    n = None
    if isinstance(w, TensorType) and w.shape is not None:
        if len(w.shape) != 2:
            raise ModelError(f"node {node.describe()}: W must be [N, ceil(in_features / 4)], "
                             f"got rank {len(w.shape)}")
        if isinstance(w.shape[1], int) and w.shape[1] != (k + 3) // 4:
            raise ModelError(f"node {node.describe()}: W has {w.shape[1]} bytes per row; "
                             f"in_features {k} needs {(k + 3) // 4}")
        n = w.shape[0]
    if not isinstance(x, TensorType) or x.shape is None:
        return [TensorType(TensorProto.FLOAT, None)]
    if not x.shape:
        raise ModelError(f"node {node.describe()}: X must have at least one dimension")
    if isinstance(x.shape[-1], int) and x.shape[-1] != k:
        raise ModelError(f"node {node.describe()}: X's last dimension is {x.shape[-1]}; "
                         f"in_features is {k}")
    return [TensorType(TensorProto.FLOAT, tuple(x.shape[:-1]) + (n,))]


BIT_LINEAR = OpSchema(
    "BitLinear", DOMAIN, since=1,
    inputs=(Input("X", "T"), Input("W", "Q"), Input("scale", "T"),
            Input("B", "T", optional=True)),
    outputs=(Output("Y", "T"),),
    attributes=(Attr("in_features", int, doc="K: the length of X's last axis"),),
    type_constraints={"T": ("tensor(float)",), "Q": ("tensor(uint8)",)},
    infer=infer_bit_linear,
    doc="BitNet b1.58 linear layer: Y[..., n] = sum_k int8(X)[..., k] * t[n, k] * "
        "(absmax(X row) / 127) * scale + B[n]. W is [N, ceil(K/4)] uint8 holding ternary "
        "t + 1 as 2-bit codes, four per byte (x0 | x1<<2 | x2<<4 | x3<<6), consecutive along K; "
        "scale is a scalar or [N]; X is quantized per row to int8 with its absmax.",
)

ALL = (BIT_LINEAR,)
