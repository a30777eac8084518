"""Elementwise ops: float tensors through the Triton chain kernel, integers through ``xp``."""

from __future__ import annotations

from ronn_gpu.ops.common import FLOATS, backend_of, gpu_kernel, host_constant, input_dtype

_XP = {
    "Add": lambda xp, a, b: a + b, "Sub": lambda xp, a, b: a - b,
    "Mul": lambda xp, a, b: a * b,
    "Div": lambda xp, a, b: (a / b) if a.dtype.kind == "f" else xp.trunc(a / b).astype(a.dtype),
    "Neg": lambda xp, a: -a, "Abs": lambda xp, a: xp.abs(a),
    "Relu": lambda xp, a: xp.maximum(a, 0),
}


def _float_node(node, graph) -> bool:
    return input_dtype(graph, node.inputs[0]) in FLOATS if node.inputs else False


def _any_node(node, graph) -> bool:
    return _float_node(node, graph) or (node.op_type in _XP
                                        and input_dtype(graph, node.inputs[0]) is not None)


def _elementwise(op_type: str):
    def build_kernel(build):
        from ronn_gpu.triton_kernels.elementwise import run_fused
        backend = backend_of(build)
        attrs = dict(build.attributes)
        fallback = _XP.get(op_type)

        def run(*inputs):
            present = [a for a in inputs if a is not None]
            if present[0].dtype.kind != "f":
                return fallback(backend.xp, *present)
            program = [(op_type, [("in", i) for i in range(len(present))], attrs)]
            return run_fused(backend, program, present)
        return run
    return build_kernel


_FAMILIES = [
    (("Add", "Sub", "Mul", "Div"), (7, 13, 14), _any_node),
    (("Relu", "Neg", "Abs"), (6, 13, 14), _any_node),
    (("Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Reciprocal"), (6, 13), _float_node),
    (("Sum", "Max", "Min"), (8, 12, 13), _float_node),
    (("LeakyRelu", "HardSigmoid"), (6, 16), _float_node),
    (("Erf",), (9, 13), _float_node),
    (("Gelu",), (20,), _float_node),
]


def _register(op_type: str, versions, supports, domain: str = "") -> None:
    fn = _elementwise(op_type)
    for since in versions:
        fn = gpu_kernel(op_type, domain=domain, since=since, supports=supports)(fn)
    fn.__name__ = f"{op_type.lower()}_{domain.replace('.', '_') or 'onnx'}"
    globals()[fn.__name__] = fn      # module-level, so registering the module finds it


for _ops, _versions, _supports in _FAMILIES:
    for _op in _ops:
        _register(_op, _versions, _supports)
_register("Gelu", (1,), _float_node, domain="com.ronn")


def _clip_supported(node, graph) -> bool:
    if not _float_node(node, graph):
        return False
    if node.version < 11:
        return True
    # bounds must be constants: they become literals of the kernel
    return all(not n or (graph.values.get(n) is not None and graph.values[n].is_constant
                         and n not in graph.inputs) for n in node.inputs[1:3])


@gpu_kernel("Clip", since=6, supports=_clip_supported)
@gpu_kernel("Clip", since=11, supports=_clip_supported)
@gpu_kernel("Clip", since=12, supports=_clip_supported)
@gpu_kernel("Clip", since=13, supports=_clip_supported)
def clip(build):
    from ronn_gpu.triton_kernels.elementwise import run_fused
    backend = backend_of(build)
    if build.node.version < 11:
        lo = build.attributes.get("min", -3.4028234663852886e38)
        hi = build.attributes.get("max", 3.4028234663852886e38)
    else:
        lo_c, hi_c = host_constant(build, 1), host_constant(build, 2)
        lo = None if lo_c is None else float(lo_c)
        hi = None if hi_c is None else float(hi_c)
    program = [("Clip", [("in", 0)], {"min": lo, "max": hi})]
    return lambda x, *bounds: run_fused(backend, program, [x])
