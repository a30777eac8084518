"""GEMMs through cuBLAS (``xp.matmul``): MatMul, Gemm, com.ronn FusedGemm / FusedMatMul."""

from __future__ import annotations

from ronn_gpu.ops.common import (backend_of, device_constant, epilogue, float_inputs,
                                 gpu_kernel, input_dtype)


def _matmul_supported(node, graph) -> bool:
    return float_inputs(node, graph) and input_dtype(graph, node.inputs[1]) is not None


@gpu_kernel("MatMul", since=1, supports=_matmul_supported)
@gpu_kernel("MatMul", since=9, supports=_matmul_supported)
@gpu_kernel("MatMul", since=13, supports=_matmul_supported)
def matmul(build):
    xp = backend_of(build).xp
    w = device_constant(build, 1)
    if w is not None:
        return lambda a, b: xp.matmul(a, w)
    return lambda a, b: xp.matmul(a, b)


@gpu_kernel("FusedMatMul", domain="com.ronn", since=1, supports=_matmul_supported)
def fused_matmul(build):
    backend = backend_of(build)
    act, params = build.attributes.get("activation", "Relu"), build.attributes.get(
        "activation_params")
    w = device_constant(build, 1)
    bias_const = device_constant(build, 2)

    def run(a, b, bias=None):
        y = backend.xp.matmul(a, w if w is not None else b)
        return epilogue(backend, y, bias_const if bias_const is not None else bias, act, params)
    return run


def _gemm(build, activation=None, params=None):
    backend = backend_of(build)
    xp = backend.xp
    attrs = build.attributes
    alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
    trans_a, trans_b = attrs.get("transA", 0), attrs.get("transB", 0)
    w = device_constant(build, 1)
    if w is not None and trans_b:
        w = xp.ascontiguousarray(w.T)        # prepacked once: [K, N]
    c_const = device_constant(build, 2)
    if c_const is not None and beta != 1.0:
        c_const = c_const * c_const.dtype.type(beta)

    def run(a, b, c=None):
        a = a.T if trans_a else a
        bm = w if w is not None else (b.T if trans_b else b)
        y = xp.matmul(a, bm)
        if alpha != 1.0:
            y *= y.dtype.type(alpha)
        bias = c_const
        if bias is None and c is not None:
            bias = c * c.dtype.type(beta) if beta != 1.0 else c
        return epilogue(backend, y, bias, activation, params)
    return run


@gpu_kernel("Gemm", since=7, supports=float_inputs)
@gpu_kernel("Gemm", since=9, supports=float_inputs)
@gpu_kernel("Gemm", since=11, supports=float_inputs)
@gpu_kernel("Gemm", since=13, supports=float_inputs)
def gemm(build):
    return _gemm(build)


@gpu_kernel("FusedGemm", domain="com.ronn", since=1, supports=float_inputs)
def fused_gemm(build):
    return _gemm(build, build.attributes.get("activation", "Relu"),
                 build.attributes.get("activation_params"))
