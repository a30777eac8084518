"""Shared pieces of the GPU kernels: registration, constants, activations, claim predicates."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from ronn_core.kernel_spec import kernel

PROVIDER = "gpu"

# (domain, op_type) -> predicate(node, graph) -> bool: the provider claims only such nodes.
SUPPORTS: dict[tuple[str, str], Callable[[Any, Any], bool]] = {}

FLOATS = (np.dtype("float32"), np.dtype("float16"))


def gpu_kernel(op_type: str, *, domain: str = "", since: int = 1,
               supports: Callable[[Any, Any], bool] | None = None):
    """``@kernel(op_type, provider="gpu", factory=True)``, plus an optional claim predicate."""
    def decorate(fn):
        if supports is not None:
            SUPPORTS[(domain, op_type)] = supports
        return kernel(op_type, domain=domain, since=since, provider=PROVIDER, factory=True)(fn)
    return decorate


def supported(node, graph) -> bool:
    pred = SUPPORTS.get((node.domain, node.op_type))
    return True if pred is None else bool(pred(node, graph))


def input_dtype(graph, name: str) -> np.dtype | None:
    v = graph.values.get(name) if name else None
    t = getattr(v, "type", None)
    return getattr(t, "dtype", None)


def input_rank(graph, name: str) -> int | None:
    v = graph.values.get(name) if name else None
    shape = getattr(getattr(v, "type", None), "shape", None)
    return None if shape is None else len(shape)


def float_inputs(node, graph) -> bool:
    """All present inputs are float32/float16 (unknown types are not claimed)."""
    return all(input_dtype(graph, n) in FLOATS for n in node.inputs[:1] if n)


def backend_of(build):
    return build.provider.backend


def device_constant(build, index: int, *, dtype=None):
    """Constant input ``index`` moved to the device once (compute dtype for float32), or None."""
    host = build.constants[index] if index < len(build.constants) else None
    if host is None:
        return None
    host = np.asarray(host)
    if dtype is not None:
        host = host.astype(dtype)
    return build.provider.to_device(host)


def host_constant(build, index: int):
    return build.constants[index] if index < len(build.constants) else None


def host_ints(backend, value) -> list[int]:
    """An int tensor that arrived on the device (a shape, axes) as a Python list."""
    return [int(v) for v in np.asarray(backend.to_host(value)).reshape(-1)]


ACTIVATIONS = {"Identity", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "Clip", "Gelu", "GeluTanh"}


def activation_step(activation: str | None, params, arg) -> tuple | None:
    """The fused-chain step of a com.ronn activation name (FusedConv/FusedGemm attributes)."""
    if not activation or activation == "Identity":
        return None
    p = list(params or [])
    if activation == "LeakyRelu":
        return ("LeakyRelu", [arg], {"alpha": p[0] if p else 0.01})
    if activation == "HardSigmoid":
        alpha, beta = (p + [0.2, 0.5][len(p):])[:2]
        return ("HardSigmoid", [arg], {"alpha": alpha, "beta": beta})
    if activation == "Clip":
        return ("Clip", [arg], {"min": p[0], "max": p[1]})
    if activation == "Gelu":
        return ("Gelu", [arg], {})
    if activation == "GeluTanh":
        return ("Gelu", [arg], {"approximate": "tanh"})
    if activation in ("Relu", "Sigmoid", "Tanh"):
        return (activation, [arg], {})
    raise ValueError(f"unknown fused activation {activation!r}")


def epilogue(backend, y, bias=None, activation: str | None = None, params=None):
    """``activation(y + bias)`` in one Triton pass (bias broadcasts like ONNX); y if neither."""
    if bias is None and not activation:
        return y
    from ronn_gpu.triton_kernels.elementwise import run_fused
    program, inputs = [], [y]
    arg = ("in", 0)
    if bias is not None:
        inputs.append(bias)
        program.append(("Add", [arg, ("in", 1)], {}))
        arg = ("t", 0)
    step = activation_step(activation, params, arg)
    if step is not None:
        program.append(step)
    return run_fused(backend, program, inputs, out_dtype=y.dtype)
