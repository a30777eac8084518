"""Pooling and normalization over NCHW: MaxPool, AveragePool, global pools, BatchNorm, LRN."""

from __future__ import annotations

import math

import numpy as np

from ronn_gpu.ops.common import backend_of, float_inputs, gpu_kernel, host_constant, input_rank
from ronn_gpu.ops.conv import pads_for, windows


def _pool_supported(node, graph) -> bool:
    outputs = [o for o in node.outputs if o]
    return float_inputs(node, graph) and input_rank(graph, node.inputs[0]) == 4 \
        and len(outputs) == 1 and not node.attributes.get("storage_order", 0)


def _ceil_pads(size, kernel, strides, dilations, pads, ceil_mode):
    """Extra end padding so that ceil_mode's last (partial) window exists."""
    if not ceil_mode:
        return pads
    out = list(pads)
    n = len(size)
    for i in range(n):
        span = size[i] + pads[i] + pads[i + n] - ((kernel[i] - 1) * dilations[i] + 1)
        o = -(-span // strides[i]) + 1
        if (o - 1) * strides[i] >= size[i] + pads[i]:   # last window must start inside
            o -= 1
        need = (o - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - (size[i] + pads[i] + pads[i + n])
        out[i + n] += max(0, need)
    return out


def _pool(build, kind: str):
    backend = backend_of(build)
    xp = backend.xp
    attrs = build.attributes
    kernel = list(attrs["kernel_shape"])
    strides = list(attrs.get("strides") or [1, 1])
    dilations = list(attrs.get("dilations") or [1, 1])
    auto_pad = attrs.get("auto_pad", "NOTSET")
    ceil_mode = attrs.get("ceil_mode", 0)
    include_pad = attrs.get("count_include_pad", 0)

    def run(x):
        size = list(x.shape[2:])
        base = pads_for(auto_pad, size, kernel, strides, dilations, attrs.get("pads"))
        pads = _ceil_pads(size, kernel, strides, dilations, base, ceil_mode)
        if kind == "max":
            win = windows(xp, x, kernel, strides, dilations, pads, -np.inf)
            return win.max(axis=(2, 3))
        win = windows(xp, x, kernel, strides, dilations, pads, 0)
        total = win.sum(axis=(2, 3), dtype=xp.float32)
        if include_pad:
            ones = xp.zeros((1, 1) + tuple(size), dtype=xp.float32)
            ones = xp.pad(ones + 1, ((0, 0), (0, 0), (base[0], base[2]), (base[1], base[3])),
                          constant_values=1)     # explicit pads count, ceil_mode's extra don't
            count = windows(xp, ones, kernel, strides, dilations,
                            [0, 0, pads[2] - base[2], pads[3] - base[3]], 0).sum(axis=(2, 3))
        else:
            ones = xp.ones((1, 1) + tuple(size), dtype=xp.float32)
            count = windows(xp, ones, kernel, strides, dilations, pads, 0).sum(axis=(2, 3))
        return (total / count).astype(x.dtype)
    return run


@gpu_kernel("MaxPool", since=1, supports=_pool_supported)
@gpu_kernel("MaxPool", since=8, supports=_pool_supported)
@gpu_kernel("MaxPool", since=10, supports=_pool_supported)
@gpu_kernel("MaxPool", since=11, supports=_pool_supported)
@gpu_kernel("MaxPool", since=12, supports=_pool_supported)
@gpu_kernel("MaxPool", since=22, supports=_pool_supported)
def max_pool(build):
    return _pool(build, "max")


@gpu_kernel("AveragePool", since=1, supports=_pool_supported)
@gpu_kernel("AveragePool", since=7, supports=_pool_supported)
@gpu_kernel("AveragePool", since=10, supports=_pool_supported)
@gpu_kernel("AveragePool", since=11, supports=_pool_supported)
@gpu_kernel("AveragePool", since=19, supports=_pool_supported)
@gpu_kernel("AveragePool", since=22, supports=_pool_supported)
def average_pool(build):
    return _pool(build, "avg")


@gpu_kernel("GlobalAveragePool", since=1, supports=float_inputs)
@gpu_kernel("GlobalAveragePool", since=22, supports=float_inputs)
def global_average_pool(build):
    xp = backend_of(build).xp

    def run(x):
        axes = tuple(range(2, x.ndim))
        return x.mean(axis=axes, keepdims=True, dtype=xp.float32).astype(x.dtype)
    return run


@gpu_kernel("GlobalMaxPool", since=1, supports=float_inputs)
@gpu_kernel("GlobalMaxPool", since=22, supports=float_inputs)
def global_max_pool(build):
    return lambda x: x.max(axis=tuple(range(2, x.ndim)), keepdims=True)


def _bn_supported(node, graph) -> bool:
    consts = all(n in graph.values and graph.values[n].is_constant and n not in graph.inputs
                 for n in node.inputs[1:5])
    training = node.attributes.get("training_mode", 0) or node.version < 6 and \
        node.attributes.get("is_test", 1) == 0
    return float_inputs(node, graph) and consts and not training \
        and len([o for o in node.outputs if o]) == 1


@gpu_kernel("BatchNormalization", since=1, supports=_bn_supported)
@gpu_kernel("BatchNormalization", since=6, supports=_bn_supported)
@gpu_kernel("BatchNormalization", since=7, supports=_bn_supported)
@gpu_kernel("BatchNormalization", since=9, supports=_bn_supported)
@gpu_kernel("BatchNormalization", since=14, supports=_bn_supported)
@gpu_kernel("BatchNormalization", since=15, supports=_bn_supported)
def batch_normalization(build):
    """Inference batch norm folded once into ``x * a + b`` (one Triton pass)."""
    from ronn_gpu.triton_kernels.elementwise import run_fused
    backend = backend_of(build)
    eps = float(build.attributes.get("epsilon", 1e-5))
    scale, bias, mean, var = (np.asarray(host_constant(build, i), dtype=np.float64)
                              for i in range(1, 5))
    a = scale / np.sqrt(var + eps)
    b = bias - mean * a
    program = [("Mul", [("in", 0), ("in", 1)], {}), ("Add", [("t", 0), ("in", 2)], {})]
    cache: dict[int, tuple] = {}

    def run(x, *_):
        key = x.ndim
        if key not in cache:
            shape = (-1,) + (1,) * (x.ndim - 2)
            cache[key] = tuple(build.provider.to_device(v.astype(np.float32).reshape(shape))
                               for v in (a, b))
        da, db = cache[key]
        return run_fused(backend, program, [x, da, db], out_dtype=x.dtype)
    return run


@gpu_kernel("LRN", since=1, supports=float_inputs)
@gpu_kernel("LRN", since=13, supports=float_inputs)
def lrn(build):
    xp = backend_of(build).xp
    attrs = build.attributes
    size = int(attrs["size"])
    alpha, beta, bias = (float(attrs.get("alpha", 1e-4)), float(attrs.get("beta", 0.75)),
                         float(attrs.get("bias", 1.0)))
    before, after = (size - 1) // 2, int(math.ceil((size - 1) / 2))

    def run(x):
        sq = (x.astype(xp.float32)) ** 2
        pad = [(0, 0)] * x.ndim
        pad[1] = (before + 1, after)
        csum = xp.cumsum(xp.pad(sq, pad), axis=1)
        c = x.shape[1]
        window = csum[:, size:size + c] - csum[:, :c]
        return (x / (bias + alpha / size * window) ** beta).astype(x.dtype)
    return run
