"""Convolution as im2col + one batched cuBLAS GEMM per group, NCHW in and out.

``col[n] = windows of x[n]`` as a [C*KH*KW, OH*OW] matrix; ``y[n] = W[M, C*KH*KW] @ col[n]``
lands directly in NCHW. 1x1 convolutions with stride 1 and no padding skip im2col. 1-D
convolutions run as 2-D ones with height 1. Bias and the com.ronn activation follow in one
Triton pass.
"""

from __future__ import annotations

from ronn_gpu.ops.common import (backend_of, device_constant, epilogue, float_inputs,
                                 gpu_kernel, input_rank)


def conv_supported(node, graph) -> bool:
    rank = input_rank(graph, node.inputs[0])
    return float_inputs(node, graph) and rank in (3, 4) and node.inputs[1] in graph.values \
        and graph.values[node.inputs[1]].is_constant and node.inputs[1] not in graph.inputs \
        and len(node.inputs) <= 3 \
        and "concat_channels" not in node.attributes   # no residual, no concat-into buffer


def pads_for(auto_pad: str, size: list[int], kernel: list[int], strides: list[int],
             dilations: list[int], pads) -> list[int]:
    """[begin..., end...] paddings, resolving SAME_UPPER / SAME_LOWER / VALID."""
    n = len(size)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        out = []
        for i in range(n):
            o = -(-size[i] // strides[i])
            total = max(0, (o - 1) * strides[i] + (kernel[i] - 1) * dilations[i] + 1 - size[i])
            small, big = total // 2, total - total // 2
            out.append((small, big) if auto_pad == "SAME_UPPER" else (big, small))
        return [b for b, _ in out] + [e for _, e in out]
    if auto_pad == "VALID" or pads is None:
        return [0] * (2 * n)
    return list(pads)


def windows(xp, x, kernel, strides, dilations, pads, fill):
    """[N, C, KH, KW, OH, OW] strided view over the padded ``x`` [N, C, H, W]."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, strides, dilations
    if any(pads):
        x = xp.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])),
                   constant_values=fill)
    x = xp.ascontiguousarray(x)
    n, c, h, w = x.shape
    oh = (h - (kh - 1) * dh - 1) // sh + 1
    ow = (w - (kw - 1) * dw - 1) // sw + 1
    s = x.strides
    return xp.lib.stride_tricks.as_strided(
        x, (n, c, kh, kw, oh, ow), (s[0], s[1], s[2] * dh, s[3] * dw, s[2] * sh, s[3] * sw))


def conv2d(xp, x, w, group, strides, dilations, pads):
    n, c = x.shape[:2]
    m, cg, kh, kw = w.shape
    one_by_one = (kh, kw) == (1, 1) and tuple(strides) == (1, 1) and not any(pads)
    if one_by_one:
        h, wd = x.shape[2:]
        cols = x.reshape(n, group, cg, h * wd)
        oh, ow = h, wd
    else:
        win = windows(xp, x, (kh, kw), strides, dilations, pads, 0)
        oh, ow = win.shape[4:]
        cols = win.reshape(n, group, cg * kh * kw, oh * ow)   # the im2col copy
    wm = w.reshape(group, m // group, cg * kh * kw)
    y = xp.matmul(wm[None], cols)              # [N, G, M/G, OH*OW]: batched cuBLAS
    return y.reshape(n, m, oh, ow)


def _conv(build, activation=None, params=None):
    backend = backend_of(build)
    xp = backend.xp
    attrs = build.attributes
    w = device_constant(build, 1)
    b = device_constant(build, 2)
    one_d = w.ndim == 3
    if one_d:
        w = w[:, :, None, :]
    kernel = list(w.shape[2:])
    group = attrs.get("group", 1)
    strides = list(attrs.get("strides") or [1] * len(w.shape[2:]))
    dilations = list(attrs.get("dilations") or [1] * len(w.shape[2:]))
    pads = attrs.get("pads")
    if one_d:
        strides, dilations = [1] + strides[-1:], [1] + dilations[-1:]
        pads = None if pads is None else [0, pads[0], 0, pads[1]]
    auto_pad = attrs.get("auto_pad", "NOTSET")
    bias = None if b is None else b.reshape(-1, 1, 1)

    def run(x, _w=None, _b=None):
        if one_d:
            x = x[:, :, None, :]
        p = pads_for(auto_pad, list(x.shape[2:]), kernel, strides, dilations, pads)
        y = conv2d(xp, x, w, group, strides, dilations, p)
        b_run = bias if bias is not None or _b is None else _b.reshape(-1, 1, 1)
        y = epilogue(backend, y, b_run, activation, params)
        return y[:, :, 0, :] if one_d else y
    return run


@gpu_kernel("Conv", since=1, supports=conv_supported)
@gpu_kernel("Conv", since=11, supports=conv_supported)
@gpu_kernel("Conv", since=22, supports=conv_supported)
def conv(build):
    return _conv(build)


@gpu_kernel("FusedConv", domain="com.ronn", since=1, supports=conv_supported)
def fused_conv(build):
    return _conv(build, build.attributes.get("activation", "Relu"),
                 build.attributes.get("activation_params"))
