"""Softmax, layer norms, attention: the Triton row kernels and flash attention."""

from __future__ import annotations

import numpy as np

from ronn_gpu.ops.common import backend_of, float_inputs, gpu_kernel


def _softmax(build, log: bool):
    from ronn_gpu.triton_kernels.softmax import softmax_rows
    backend = backend_of(build)
    xp = backend.xp
    legacy = build.node.version < 13
    axis = build.attributes.get("axis", 1 if legacy else -1)

    def run(x):
        if x.ndim == 0:
            return softmax_rows(backend, x.reshape(1, 1), log=log).reshape(())
        a = axis % x.ndim
        if legacy:      # softmax over the flattened [prod(:axis), prod(axis:)] matrix
            rows = int(np.prod(x.shape[:a])) if a else 1
            return softmax_rows(backend, x.reshape(rows, -1), log=log).reshape(x.shape)
        if a == x.ndim - 1:
            return softmax_rows(backend, x, log=log)
        moved = xp.moveaxis(x, a, -1)
        return xp.ascontiguousarray(xp.moveaxis(softmax_rows(backend, moved, log=log), -1, a))
    return run


@gpu_kernel("Softmax", since=1, supports=float_inputs)
@gpu_kernel("Softmax", since=11, supports=float_inputs)
@gpu_kernel("Softmax", since=13, supports=float_inputs)
def softmax(build):
    return _softmax(build, False)


@gpu_kernel("LogSoftmax", since=1, supports=float_inputs)
@gpu_kernel("LogSoftmax", since=11, supports=float_inputs)
@gpu_kernel("LogSoftmax", since=13, supports=float_inputs)
def log_softmax(build):
    return _softmax(build, True)


def _ln_supported(node, graph) -> bool:
    return float_inputs(node, graph) and len([o for o in node.outputs if o]) == 1


@gpu_kernel("LayerNormalization", since=17, supports=_ln_supported)
@gpu_kernel("LayerNormalization", domain="com.ronn", since=1, supports=_ln_supported)
def layer_normalization(build):
    from ronn_gpu.triton_kernels.layernorm import layer_norm
    backend = backend_of(build)
    axis = build.attributes.get("axis", -1)
    eps = float(build.attributes.get("epsilon", 1e-5))
    return lambda x, scale, bias=None: layer_norm(backend, x, scale, bias, epsilon=eps,
                                                  axis=axis)[0]


def _skip_ln_supported(node, graph) -> bool:
    return float_inputs(node, graph) and not any(node.outputs[1:3])


@gpu_kernel("SkipLayerNormalization", domain="com.ronn", since=1, supports=_skip_ln_supported)
def skip_layer_normalization(build):
    """Outputs (Y, mean, inv_std, sum): Y and, when a reader wants it, the sum."""
    from ronn_gpu.triton_kernels.layernorm import layer_norm
    backend = backend_of(build)
    eps = float(build.attributes.get("epsilon", 1e-5))
    want_sum = len(build.node.outputs) > 3 and bool(build.node.outputs[3])

    def run(x, skip, gamma, beta=None, bias=None):
        y, total = layer_norm(backend, x, gamma, beta, epsilon=eps, skip=skip, bias=bias,
                              want_sum=want_sum)
        return y, None, None, total
    return run


@gpu_kernel("Attention", domain="com.ronn", since=1, supports=float_inputs)
def attention(build):
    from ronn_gpu.triton_kernels.attention import flash_attention
    backend = backend_of(build)
    scale = float(build.attributes.get("scale", 1.0))
    divide = build.attributes.get("scale_op", "Mul") == "Div"
    return lambda q, k_t, v, mask=None: flash_attention(backend, q, k_t, v, mask, scale=scale,
                                                        divide=divide)
