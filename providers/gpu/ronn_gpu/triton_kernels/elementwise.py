"""Fused elementwise chains: one generated Triton kernel per chain of ops, one memory pass.

A chain is a small program: ``[(op, args, attrs), ...]`` where each arg is ``("in", i)`` (the
i-th tensor input) or ``("t", j)`` (the result of step j); the last step is the output. Inputs
broadcast against the output shape; an input whose broadcast is one block of dimensions (full,
trailing such as a bias, per-channel such as ``[C, 1, 1]``, scalar) is read in place with
``(offset // inner) % size``; any other broadcast is materialized first. Math is float32.

Triton compiles kernels from source files, so each generated kernel is written once to a cache
directory (``RONN_GPU_CACHE`` or ``~/.cache/ronn_gpu``) and imported from there.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path
from typing import Any, Sequence

from ronn_gpu.triton_kernels import next_power_of_2

_UNARY = {
    "Relu": "tl.maximum({0}, 0.0)",
    "Sigmoid": "tl.sigmoid({0})",
    "Tanh": "(2.0 * tl.sigmoid(2.0 * {0}) - 1.0)",
    "Exp": "tl.exp({0})",
    "Log": "tl.log({0})",
    "Neg": "(-{0})",
    "Abs": "tl.abs({0})",
    "Sqrt": "tl.sqrt({0})",
    "Reciprocal": "(1.0 / {0})",
    "Erf": "tl.math.erf({0})",
}
_BINARY = {"Add": "({0} + {1})", "Sub": "({0} - {1})", "Mul": "({0} * {1})",
           "Div": "({0} / {1})", "Max": "tl.maximum({0}, {1})", "Min": "tl.minimum({0}, {1})"}
OPS = frozenset(_UNARY) | frozenset(_BINARY) | {"Sum", "LeakyRelu", "Gelu", "Clip",
                                                 "HardSigmoid"}

_modules: dict[str, Any] = {}


def expression(op: str, args: Sequence[str], attrs: dict[str, Any]) -> str:
    """The Triton expression of one op over already-computed float32 operands."""
    if op in _UNARY:
        return _UNARY[op].format(*args)
    if op in _BINARY and len(args) == 2:
        return _BINARY[op].format(*args)
    if op == "Sum" or (op in ("Max", "Min") and len(args) != 2):
        if op == "Sum":
            return "(" + " + ".join(args) + ")"
        fn = "tl.maximum" if op == "Max" else "tl.minimum"
        out = args[0]
        for a in args[1:]:
            out = f"{fn}({out}, {a})"
        return out
    if op == "LeakyRelu":
        alpha = float(attrs.get("alpha", 0.01))
        return f"tl.where({args[0]} >= 0.0, {args[0]}, {args[0]} * {alpha!r})"
    if op == "HardSigmoid":
        alpha, beta = float(attrs.get("alpha", 0.2)), float(attrs.get("beta", 0.5))
        return f"tl.minimum(tl.maximum({args[0]} * {alpha!r} + {beta!r}, 0.0), 1.0)"
    if op == "Clip":
        lo, hi = attrs.get("min"), attrs.get("max")
        out = args[0]
        if lo is not None:
            out = f"tl.maximum({out}, {float(lo)!r})"
        if hi is not None:
            out = f"tl.minimum({out}, {float(hi)!r})"
        return out
    if op == "Gelu":
        x = args[0]
        if attrs.get("approximate", "none") == "tanh":
            inner = f"(0.7978845608028654 * ({x} + 0.044715 * {x} * {x} * {x}))"
            return f"(0.5 * {x} * (1.0 + (2.0 * tl.sigmoid(2.0 * {inner}) - 1.0)))"
        return f"(0.5 * {x} * (1.0 + tl.math.erf({x} * 0.7071067811865476)))"
    raise ValueError(f"no fused expression for {op!r} with {len(args)} operand(s)")


def kernel_source(program: Sequence[tuple], n_inputs: int) -> str:
    """Source of the ``fused`` kernel for ``program`` over ``n_inputs`` tensor inputs."""
    params = ", ".join(f"in{i}, inner{i}, size{i}" for i in range(n_inputs))
    lines = [
        "import triton",
        "import triton.language as tl",
        "",
        "",
        "@triton.jit",
        f"def fused(out_ptr, n, {params}, BLOCK: tl.constexpr):",
        "    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)",
        "    mask = offs < n",
    ]
    for i in range(n_inputs):
        lines.append(f"    x{i} = tl.load(in{i} + (offs // inner{i}) % size{i}, mask=mask,"
                     f" other=0.0).to(tl.float32)")
    for j, (op, args, attrs) in enumerate(program):
        names = [f"x{k}" if kind == "in" else f"t{k}" for kind, k in args]
        lines.append(f"    t{j} = {expression(op, names, attrs)}")
    lines.append(f"    tl.store(out_ptr + offs, t{len(program) - 1}.to(out_ptr.dtype.element_ty),"
                 f" mask=mask)")
    return "\n".join(lines) + "\n"


def cache_dir() -> Path:
    root = os.environ.get("RONN_GPU_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "ronn_gpu")
    path = Path(root) / "fused"
    path.mkdir(parents=True, exist_ok=True)
    return path


def compiled(program: Sequence[tuple], n_inputs: int):
    """The ``@triton.jit`` kernel for ``program`` (generated, cached on disk and in memory)."""
    source = kernel_source(program, n_inputs)
    key = hashlib.sha256(source.encode()).hexdigest()[:20]
    module = _modules.get(key)
    if module is None:
        path = cache_dir() / f"fused_{key}.py"
        if not path.exists() or path.read_text() != source:
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(source)
            os.replace(tmp, path)
        spec = importlib.util.spec_from_file_location(f"ronn_gpu_fused_{key}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _modules[key] = module
    return module.fused


def broadcast_shape(shapes: Sequence[tuple]) -> tuple:
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(ndim):
        dims = {s[axis - ndim + len(s)] for s in shapes if axis - ndim + len(s) >= 0} - {1}
        if len(dims) > 1:
            raise ValueError(f"shapes {list(shapes)} do not broadcast")
        out.append(dims.pop() if dims else 1)
    return tuple(out)


def block_broadcast(shape: tuple, out: tuple) -> tuple[int, int] | None:
    """(inner, size) when ``shape`` broadcast to ``out`` is one block of dims, else None."""
    padded = (1,) * (len(out) - len(shape)) + tuple(shape)
    live = [i for i, d in enumerate(padded) if d != 1]
    if not live:
        return 1, 1
    lo, hi = live[0], live[-1] + 1
    if any(padded[i] != out[i] for i in range(lo, hi)):
        return None
    inner = size = 1
    for d in out[hi:]:
        inner *= d
    for d in out[lo:hi]:
        size *= d
    return inner, size


def run_fused(backend, program: Sequence[tuple], inputs: Sequence[Any], out_dtype=None):
    """Run the chain over ``inputs`` (device arrays); returns the output array."""
    xp = backend.xp
    out_shape = broadcast_shape([tuple(a.shape) for a in inputs])
    dtype = out_dtype or inputs[0].dtype
    out = xp.empty(out_shape, dtype=dtype)
    n = out.size
    if n == 0:
        return out
    args: list[Any] = []
    for a in inputs:
        a = xp.ascontiguousarray(a)
        layout = block_broadcast(tuple(a.shape), out_shape)
        if layout is None:
            a = xp.ascontiguousarray(xp.broadcast_to(a, out_shape))
            layout = (1, n)
        args.extend((a, *layout))
    block = 1024 if not backend.interpreted else min(1024, next_power_of_2(n))
    backend.launch(compiled(program, len(inputs)), ((n + block - 1) // block,), out, n, *args,
                   BLOCK=block)
    return out
