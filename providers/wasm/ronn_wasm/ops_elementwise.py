"""Elementwise kernels on the wasm provider: unary activations and broadcasting binary ops.

Every kernel here is a factory: at session creation it decides, from the node's attributes and
constant inputs, whether the wasm kernels cover it, else it runs the host reference kernel on
the arena views (shape ops stay zero-copy that way).
"""

from __future__ import annotations

import numpy as np

from ronn_core.kernel_spec import kernel

F32 = np.dtype(np.float32)


def arena_of(build):
    return build.provider.arena


def host(build):
    """The reference kernel on arena views; outputs not already in the arena are copied in."""
    ref, arena, label = build.fallback(), arena_of(build), build.node.op_type

    def run(*inputs):
        out = ref(*inputs)
        if isinstance(out, tuple):
            return tuple(_keep(arena, o, label) for o in out)
        return _keep(arena, out, label)
    return run


def _keep(arena, value, label):
    if isinstance(value, np.ndarray) or np.isscalar(value):
        return arena.adopt(np.asarray(value), f"host {label}")
    return value


def unary(arena, name: str, x: np.ndarray, p0: float = 0.0, p1: float = 0.0,
          out: np.ndarray | None = None) -> np.ndarray:
    x = arena.adopt(x)
    y = arena.empty(x.shape) if out is None else out
    if x.size:
        arena.call(f"u_{name}", arena.ptr(x), arena.ptr(y), x.size, p0, p1)
    return y


def _collapse(shape, sa, sb):
    """Drop size-1 dims and merge dims that are contiguous for both operands."""
    dims = [(n, a, b) for n, a, b in zip(shape, sa, sb) if n != 1]
    merged: list[list[int]] = []
    for n, a, b in dims:
        if merged:
            pn, pa, pb = merged[-1]
            if pa == a * n and pb == b * n:
                merged[-1] = [pn * n, a, b]
                continue
        merged.append([n, a, b])
    return merged or [[1, 1, 1]]


def _bstrides(shape, out_shape):
    """Element strides of a contiguous ``shape`` broadcast to ``out_shape`` (0 on broadcast)."""
    shape = (1,) * (len(out_shape) - len(shape)) + tuple(shape)
    strides, acc = [], 1
    for n in reversed(shape):
        strides.append(acc if n != 1 else 0)
        acc *= n
    return list(reversed(strides))


def binary(arena, name: str, a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None):
    """``a OP b`` with numpy broadcasting, in one kernel call (or a few for rank > 4)."""
    a, b = arena.adopt(a), arena.adopt(b)
    shape = np.broadcast_shapes(a.shape, b.shape)
    y = arena.empty(shape) if out is None else out
    if y.size == 0:
        return y
    dims = _collapse(shape, _bstrides(a.shape, shape), _bstrides(b.shape, shape))
    inner_n, ia, ib = dims[-1]
    if ia == 0 and ib == 0:          # both broadcast along the innermost dim: add a unit dim
        dims.append([1, 1, 1])
        inner_n, ia, ib = 1, 1, 1
    if len(dims) > 4 or ia > 1 or ib > 1:
        ya = np.broadcast_to(a, shape)   # rare layouts: materialise a, then go elementwise
        a = arena.adopt(np.ascontiguousarray(ya), f"broadcast {name}")
        return binary(arena, name, a, np.ascontiguousarray(np.broadcast_to(b, shape)), y)
    outer = [[1, 0, 0]] * (4 - len(dims)) + dims[:-1]
    mode = ("v" if ia else "s") + ("v" if ib else "s")
    if mode == "ss":
        mode = "vs"
    arena.call(f"b_{name}_{mode}", arena.ptr(a), arena.ptr(b), arena.ptr(y),
               *[d[0] for d in outer], inner_n, *[d[1] for d in outer], *[d[2] for d in outer])
    return y


def _elem_ok(build, count=None) -> bool:
    """False when a (first ``count``) input is known not to be float32."""
    return all(t is None or getattr(t, "dtype", None) in (None, F32)
               for t in build.input_types[:count])


def guarded(build, fast, count=None):
    """``fast`` while the first ``count`` inputs are float32 arrays, else the host kernel."""
    slow = host(build)

    def run(*inputs):
        if all(x is None or getattr(x, "dtype", None) == F32 for x in inputs[:count]):
            return fast(*inputs)
        return slow(*inputs)
    return run


# -- unary ------------------------------------------------------------------------------------

_UNARY = {"Relu": "relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Exp": "exp", "Erf": "erf",
          "Sqrt": "sqrt", "Neg": "neg", "Abs": "abs", "Reciprocal": "reciprocal"}


def _unary_factory(build):
    op = build.node.op_type
    if not _elem_ok(build, 1):
        return host(build)
    arena, a = arena_of(build), build.attributes
    if op in _UNARY:
        name, p0, p1 = _UNARY[op], 0.0, 0.0
    elif op == "LeakyRelu":
        name, p0, p1 = "leaky_relu", float(a.get("alpha", 0.01)), 0.0
    elif op == "HardSigmoid":
        name, p0, p1 = "hard_sigmoid", float(a.get("alpha", 0.2)), float(a.get("beta", 0.5))
    elif op in ("Gelu",):
        name, p0, p1 = ("gelu_tanh" if a.get("approximate", "none") == "tanh" else "gelu"), 0., 0.
    elif op == "Clip":
        if build.node.version < 11:
            lo, hi = a.get("min", -3.4e38), a.get("max", 3.4e38)
        else:
            consts = build.constants + [None, None]
            names = list(build.node.inputs) + ["", ""]
            if any(names[i] and consts[i] is None for i in (1, 2)):
                return host(build)
            lo = float(consts[1]) if names[1] else -3.4e38
            hi = float(consts[2]) if names[2] else 3.4e38
        name, p0, p1 = "clip", float(lo), float(hi)
    else:
        return host(build)
    return guarded(build, lambda x, *_: unary(arena, name, x, p0, p1), 1)


for _op in [*_UNARY, "LeakyRelu", "HardSigmoid", "Clip", "Gelu"]:
    _unary_factory = kernel(_op, provider="wasm", factory=True)(_unary_factory)
_unary_factory = kernel("Gelu", domain="com.ronn", provider="wasm", factory=True)(_unary_factory)

# -- binary -----------------------------------------------------------------------------------

_BINARY = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Max": "max", "Min": "min",
           "Sum": "add"}


@kernel("Add", provider="wasm", factory=True)
@kernel("Sub", provider="wasm", factory=True)
@kernel("Mul", provider="wasm", factory=True)
@kernel("Div", provider="wasm", factory=True)
@kernel("Max", provider="wasm", factory=True)
@kernel("Min", provider="wasm", factory=True)
@kernel("Sum", provider="wasm", factory=True)
def binary_factory(build):
    """Broadcasting binary ops (variadic Sum/Max/Min fold left)."""
    if not _elem_ok(build) or not build.node.inputs:
        return host(build)
    arena, name = arena_of(build), _BINARY[build.node.op_type]

    def run(*xs):
        if len(xs) == 1:
            return arena.adopt(np.array(xs[0], copy=True), "copy")
        y = binary(arena, name, xs[0], xs[1])
        for x in xs[2:]:
            y = binary(arena, name, y, x)
        return y
    return guarded(build, run)


@kernel("BatchNormalization", provider="wasm", factory=True)
def batchnorm_factory(build):
    """Inference BatchNorm with constant statistics: one scale-and-shift pass per channel."""
    c = build.constants
    if (len(build.node.outputs) > 1 or len(c) < 5 or any(v is None for v in c[1:5])
            or not _elem_ok(build, 1) or build.attributes.get("training_mode", 0)):
        return host(build)
    arena = arena_of(build)
    eps = build.attributes.get("epsilon", 1e-5)
    scale = (c[1] / np.sqrt(c[4].astype(np.float64) + eps)).astype(np.float32)
    shift = (c[2] - c[3] * scale).astype(np.float32)
    s_dev, t_dev = arena.adopt(scale, "input"), arena.adopt(shift, "input")

    def run(x, *_):
        extra = (1,) * (x.ndim - 2)
        y = binary(arena, "mul", x, s_dev.reshape((-1,) + extra))
        return binary(arena, "add", y, t_dev.reshape((-1,) + extra), out=y)
    return guarded(build, run, 1)


@kernel("Reshape", provider="wasm", factory=True)
@kernel("Flatten", provider="wasm", factory=True)
@kernel("Squeeze", provider="wasm", factory=True)
@kernel("Unsqueeze", provider="wasm", factory=True)
@kernel("Identity", provider="wasm", factory=True)
@kernel("Dropout", provider="wasm", factory=True)
@kernel("Shape", provider="wasm", factory=True)
def view_factory(build):
    """Shape-only ops: the reference kernel returns views of the arena array (no copy)."""
    return host(build)
