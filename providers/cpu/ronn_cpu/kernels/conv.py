"""Conv on the CPU: weights packed once, im2col into a per-thread buffer, one BLAS GEMM per group,
bias and activation applied in place. Depthwise convolutions use shifted multiply-adds."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np

from ronn_core import kernel
from ronn_cpu.kernels.activations import epilogue
from ronn_opset_onnx.ops.conv import window_geometry   # ONNX's rule, defined once

_scratch = threading.local()


def _buffer(shape, dtype) -> np.ndarray:
    """A reusable scratch array for this thread (im2col columns)."""
    key = (shape, np.dtype(dtype).str)
    cache = getattr(_scratch, "cache", None)
    if cache is None:
        cache = _scratch.cache = {}
    buf = cache.get(key)
    if buf is None:
        if len(cache) > 16:
            cache.clear()
        buf = cache[key] = np.empty(shape, dtype)
    return buf


@kernel("Conv", since=1, provider="cpu", factory=True)
@kernel("Conv", since=11, provider="cpu", factory=True)
@kernel("Conv", since=22, provider="cpu", factory=True)
def conv(build):
    """2-D float Conv with constant weights; anything else runs the reference kernel."""
    return build_conv(build, activation=None, alpha=0.0, beta=0.0) or build.fallback()


def build_conv(build, *, activation, alpha, beta):
    a = build.attributes
    w = build.constants[1] if len(build.constants) > 1 else None
    bias = build.constants[2] if len(build.constants) > 2 else None
    if w is None or w.ndim != 4 or w.dtype not in (np.float32, np.float64) or \
            (len(build.node.inputs) > 2 and build.node.inputs[2] and bias is None):
        return None
    group = int(a.get("group", 1))
    kernel_shape = a.get("kernel_shape") or list(w.shape[2:])
    strides = a.get("strides") or [1, 1]
    dilations = a.get("dilations") or [1, 1]
    pads, auto_pad = a.get("pads"), a.get("auto_pad", "NOTSET")
    m, cg, kh, kw = w.shape
    finish = epilogue(activation, alpha, beta)
    b = None if bias is None else bias.astype(w.dtype).reshape(-1, 1)
    depthwise = group > 1 and cg == 1 and m == group
    packed = w.reshape(group, m // group, cg * kh * kw).copy() if not depthwise else \
        w.reshape(m, kh * kw).copy()

    def run(x, _w=None, _b=None):
        if x.ndim != 4 or x.dtype != w.dtype:
            raise ValueError(f"fast Conv expects a 4-D {w.dtype} input, got {x.dtype}{x.shape}")
        n, c, h, wd = x.shape
        (pt, pl), (pb, pr), (oh, ow) = window_geometry((h, wd), kernel_shape, strides,
                                                       dilations, pads, auto_pad)
        sh, sw = strides
        dh, dw = dilations
        if pt or pl or pb or pr:
            xp = np.zeros((n, c, h + pt + pb, wd + pl + pr), x.dtype)
            xp[:, :, pt:pt + h, pl:pl + wd] = x
        else:
            xp = x
        out = np.empty((n, m, oh, ow), x.dtype)
        for i in range(n):
            if depthwise:
                _depthwise(xp[i], packed, out[i], kh, kw, sh, sw, dh, dw, m // c)
            else:
                _grouped_gemm(xp[i], packed, out[i], group, kh, kw, sh, sw, dh, dw)
        if b is not None:
            out.reshape(n, m, -1).__iadd__(b)
        return finish(out)

    return run


def _grouped_gemm(x, packed, out, group, kh, kw, sh, sw, dh, dw):
    c, oh, ow = x.shape[0], out.shape[1], out.shape[2]
    cg = c // group
    mg = packed.shape[1]
    one_by_one = kh == kw == 1 and sh == sw == 1
    for g in range(group):
        xg = x[g * cg:(g + 1) * cg]
        og = out[g * mg:(g + 1) * mg].reshape(mg, oh * ow)
        if one_by_one:
            cols = xg.reshape(cg, -1)
        else:
            cols = _buffer((cg, kh, kw, oh, ow), x.dtype)
            for i in range(kh):
                for j in range(kw):
                    cols[:, i, j] = xg[:, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                                       j * dw:j * dw + sw * (ow - 1) + 1:sw]
            cols = cols.reshape(cg * kh * kw, oh * ow)
        np.matmul(packed[g], cols, out=og)


def _depthwise(x, packed, out, kh, kw, sh, sw, dh, dw, multiplier):
    oh, ow = out.shape[1], out.shape[2]
    src = np.repeat(x, multiplier, axis=0) if multiplier > 1 else x
    out[...] = 0
    for i in range(kh):
        for j in range(kw):
            view = src[:, i * dh:i * dh + sh * (oh - 1) + 1:sh, j * dw:j * dw + sw * (ow - 1) + 1:sw]
            out += packed[:, i * kw + j, None, None] * view


_EPILOGUE_DEFAULTS = {"Relu": (), "Tanh": (), "Sigmoid": (), "LeakyRelu": (0.01,),
                      "HardSigmoid": (0.2, 0.5), "Clip": None}


@kernel("FusedConv", domain="com.ronn", since=1, provider="cpu", factory=True)
def fused_conv(build):
    """``com.ronn::FusedConv`` (Conv + activation, made by the passes plugin) with the epilogue
    applied in place; activations without an in-place epilogue run the reference kernel."""
    attrs = dict(build.attributes)
    activation = attrs.pop("activation", "Relu")
    params = list(attrs.pop("activation_params", None) or [])
    defaults = _EPILOGUE_DEFAULTS.get(activation, ())
    if activation not in _EPILOGUE_DEFAULTS or (defaults is None and len(params) != 2):
        return build.fallback()
    params = params + list(defaults or ())[len(params):]
    alpha, beta = (params + [0.0, 0.0])[:2]
    conv_build = dataclasses.replace(build, attributes=attrs)
    return build_conv(conv_build, activation=activation, alpha=alpha, beta=beta) \
        or build.fallback()
