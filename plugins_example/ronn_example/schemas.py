"""The contracts of the com.example operators: inputs, outputs, attributes, type inference.

RONN checks every com.example node of a model against these schemas when a session is created
(a missing required input or an unknown attribute is a ``ModelError`` naming the node) and uses
the ``infer`` functions to type the outputs.
"""

from __future__ import annotations

from onnx import TensorProto

from ronn_core import Attr, Input, OpSchema, Output, TensorType
from ronn_core.errors import ModelError

from ronn_example import DOMAIN

FLOATS = ("tensor(float16)", "tensor(float)", "tensor(double)")
_FLOAT_TYPES = (TensorProto.FLOAT16, TensorProto.FLOAT, TensorProto.DOUBLE)


def broadcast_shape(a, b):
    """numpy's broadcasting rule on symbolic shapes (None: unknown rank or dim)."""
    if a is None or b is None:
        return None
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        da = a[-i] if i <= len(a) else 1
        db = b[-i] if i <= len(b) else 1
        if da == 1:
            out.append(db)
        elif db == 1 or da == db:
            out.append(da)
        elif isinstance(da, int) and isinstance(db, int):
            raise ModelError(f"shapes {list(a)} and {list(b)} do not broadcast")
        else:
            out.append(None)
    return tuple(reversed(out))


def _check_float(node, name, t):
    if isinstance(t, TensorType) and t.elem_type and t.elem_type not in _FLOAT_TYPES:
        raise ModelError(f"node {node.describe()}: input {name!r} is "
                         f"{TensorProto.DataType.Name(t.elem_type).lower()}; {node.op_type} "
                         f"takes float16, float or double")


# -- SwiGLU -----------------------------------------------------------------------------------


def infer_swiglu(node, input_types):
    """Output: the inputs' element type, their broadcast shape."""
    x, gate = (list(input_types) + [None, None])[:2]
    _check_float(node, "X", x)
    _check_float(node, "gate", gate)
    if not isinstance(x, TensorType):
        return [None]
    try:
        shape = broadcast_shape(x.shape, gate.shape) if isinstance(gate, TensorType) else None
    except ModelError as exc:
        raise ModelError(f"node {node.describe()}: X and gate: {exc}") from None
    return [TensorType(x.elem_type, shape)]


SWIGLU = OpSchema(
    "SwiGLU", DOMAIN, since=1,
    inputs=(Input("X", "T"), Input("gate", "T")),
    outputs=(Output("Y", "T"),),
    attributes=(Attr("beta", float, 1.0, "Swish slope: Y = X * sigmoid(beta * X) * gate"),),
    type_constraints={"T": FLOATS},
    infer=infer_swiglu,
    doc="Gated SiLU: Y = X * sigmoid(beta * X) * gate, with numpy broadcasting between X "
        "and gate. The fused form of LLaMA's MLP activation silu(x @ W1) * (x @ W3).",
)


# -- RotaryEmbedding --------------------------------------------------------------------------


def infer_rotary(node, input_types):
    """Output: same type and shape as X; checks rank 4, even (rotary) head_dim, int64 ids."""
    x, ids = (list(input_types) + [None, None])[:2]
    _check_float(node, "X", x)
    if isinstance(ids, TensorType) and ids.elem_type and ids.elem_type != TensorProto.INT64:
        raise ModelError(f"node {node.describe()}: position_ids must be int64, got "
                         f"{TensorProto.DataType.Name(ids.elem_type).lower()}")
    if not isinstance(x, TensorType):
        return [None]
    if x.shape is not None:
        if len(x.shape) != 4:
            raise ModelError(f"node {node.describe()}: X must be [batch, seq, heads, head_dim], "
                             f"got rank {len(x.shape)}")
        head_dim = x.shape[-1]
        rotary_dim = node.attributes.get("rotary_dim", 0) or head_dim
        if isinstance(head_dim, int) and isinstance(rotary_dim, int):
            if rotary_dim % 2 or rotary_dim > head_dim:
                raise ModelError(f"node {node.describe()}: rotary_dim {rotary_dim} must be even "
                                 f"and at most head_dim {head_dim}")
    return [TensorType(x.elem_type, x.shape)]


ROTARY_EMBEDDING = OpSchema(
    "RotaryEmbedding", DOMAIN, since=1,
    inputs=(Input("X", "T"), Input("position_ids", "I", optional=True)),
    outputs=(Output("Y", "T"),),
    attributes=(
        Attr("base", float, 10000.0, "theta base: frequency i is base ** (-2i / rotary_dim)"),
        Attr("interleaved", int, 0, "1: rotate pairs (x[2i], x[2i+1]) (GPT-J); "
                                    "0: rotate halves (x[i], x[i + d/2]) (GPT-NeoX, LLaMA)"),
        Attr("rotary_dim", int, 0, "how many leading features of each head rotate (0: all)"),
    ),
    type_constraints={"T": FLOATS, "I": ("tensor(int64)",)},
    infer=infer_rotary,
    doc="Rotary position embedding of X[batch, seq, heads, head_dim]. position_ids "
        "([seq] or [batch, seq], int64) default to 0..seq-1.",
)

ALL = (SWIGLU, ROTARY_EMBEDDING)
