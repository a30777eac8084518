"""Reference kernels of the ``com.ronn`` ops the O3 passes introduce.

Any CPU-memory provider can run them. FusedConv/FusedGemm/FusedMatMul run the ai.onnx
reference kernel of the base op (resolved through the runtime's registry) and apply the activation
in numpy; a provider may register faster kernels for the same ops (``provider="cpu"``).
"""

from __future__ import annotations

import math

import numpy as np

from ronn_core.kernel_spec import kernel

DOMAIN = "com.ronn"


def _erf(x: np.ndarray) -> np.ndarray:
    from ronn_opset_onnx.ops.unary import erf_values   # the opset's erf: one definition
    return erf_values(x)


def _c(x: np.ndarray, v: float):
    return x.dtype.type(v)


def gelu_values(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    if approximate == "tanh":
        inner = _c(x, math.sqrt(2.0 / math.pi)) * (x + _c(x, 0.044715) * x * x * x)
        return _c(x, 0.5) * x * (_c(x, 1.0) + np.tanh(inner))
    return _c(x, 0.5) * x * (_c(x, 1.0) + _erf(x / _c(x, math.sqrt(2.0))).astype(x.dtype))


def apply_activation(y: np.ndarray, activation: str, params) -> np.ndarray:
    p = list(params or [])
    if activation == "Identity":
        return y
    if activation == "Relu":
        return np.maximum(y, _c(y, 0))
    if activation == "LeakyRelu":
        return np.where(y >= 0, y, y * _c(y, p[0] if p else 0.01))
    if activation == "Sigmoid":
        return (1 / (1 + np.exp(-y))).astype(y.dtype)
    if activation == "Tanh":
        return np.tanh(y)
    if activation == "HardSigmoid":
        alpha, beta = (p + [0.2, 0.5][len(p):])[:2]
        return np.clip(y * _c(y, alpha) + _c(y, beta), 0, 1).astype(y.dtype)
    if activation == "Clip":
        lo, hi = p
        return np.clip(y, _c(y, lo), _c(y, hi))
    if activation == "Gelu":
        return gelu_values(y).astype(y.dtype)
    if activation == "GeluTanh":
        return gelu_values(y, "tanh").astype(y.dtype)
    raise ValueError(f"unknown fused activation {activation!r}")


_resolved: dict[tuple, object] = {}


def _base_kernel(ctx, op_type: str, version: int):
    provider = getattr(ctx, "provider", None)
    runtime = getattr(provider, "runtime", None)
    if runtime is None:
        from ronn_core.runtime import default_runtime
        runtime = default_runtime()
    key = (id(runtime), op_type, version)
    spec = _resolved.get(key)
    if spec is None:   # the reference kernel: a plain function (fast ones may be factories)
        spec = runtime.kernels.resolve("", op_type, version, "", use_reference=True)
        if spec is None:
            raise RuntimeError(f"com.ronn fused op needs an ai.onnx {op_type} kernel; none is "
                               f"installed (pip install ronn-opset-onnx)")
        _resolved[key] = spec
    return spec.fn


@kernel("FusedConv", domain=DOMAIN, since=1, context=True)
def fused_conv(x, w, b=None, z=None, into=None, *, activation="Relu", activation_params=None,
               auto_pad="NOTSET", dilations=None, group=1, kernel_shape=None, pads=None,
               strides=None, concat_channels=0, concat_offset=0, ctx=None):
    """Conv (opset 11 semantics), plus the residual ``z`` when given (same shape as the
    output), followed by ``activation``. With ``concat_channels`` the result is written into
    channels ``concat_offset...`` of ``into`` (a new buffer of that many channels when absent),
    and that buffer is the output (see the ``concat-into`` pass)."""
    attrs = {"auto_pad": auto_pad, "group": group}
    for k, v in (("dilations", dilations), ("kernel_shape", kernel_shape), ("pads", pads),
                 ("strides", strides)):
        if v is not None:
            attrs[k] = v
    y = _base_kernel(ctx, "Conv", 11)(x, w, b, **attrs)
    if z is not None:
        if z.shape != y.shape or z.dtype != y.dtype:
            raise ValueError(f"FusedConv: the residual is {z.dtype}{list(z.shape)}, the conv "
                             f"output {y.dtype}{list(y.shape)}; they must match")
        y = y + z
    y = apply_activation(y, activation, activation_params)
    return write_channels(into, y, concat_offset, concat_channels) if concat_channels else y


def write_channels(buffer, part, offset: int, channels: int):
    """``part`` written into channels ``offset...`` of ``buffer`` (N, channels, ...), a new one
    when None; returns the buffer."""
    want = (part.shape[0], channels) + part.shape[2:]
    if buffer is None:
        buffer = np.empty(want, part.dtype)
    elif not isinstance(buffer, np.ndarray) or buffer.shape != want or \
            buffer.dtype != part.dtype:
        got = f"{buffer.dtype}{list(buffer.shape)}" if isinstance(buffer, np.ndarray) else \
            type(buffer).__name__
        raise ValueError(f"channel buffer: expected {part.dtype}{list(want)}, got {got}")
    if part.ndim < 2 or not 0 <= offset <= channels - part.shape[1]:
        raise ValueError(f"channels {offset}..{offset + part.shape[1] - 1} do not fit a "
                         f"{channels}-channel buffer")
    buffer[:, offset:offset + part.shape[1]] = part
    return buffer


@kernel("ConcatInto", domain=DOMAIN, since=1)
def concat_into(buffer, *parts, offsets):
    """Each of ``parts`` written into ``buffer``'s channels from its offset on (the inputs of a
    channel Concat that no conv wrote there, see the ``concat-into`` pass); returns ``buffer``."""
    if len(offsets) != len(parts):
        raise ValueError(f"ConcatInto: {len(parts)} inputs but {len(offsets)} offsets")
    if not isinstance(buffer, np.ndarray) or buffer.ndim < 2:
        raise ValueError(f"ConcatInto: expected a channel buffer of rank 2 or more, got "
                         f"{getattr(buffer, 'shape', type(buffer).__name__)}")
    for part, offset in zip(parts, offsets):
        write_channels(buffer, part, int(offset), buffer.shape[1])
    return buffer


@kernel("FusedBatchNormalization", domain=DOMAIN, since=1, context=True)
def fused_batch_normalization(x, scale, b, mean, var, *, activation="Relu",
                              activation_params=None, epsilon=1e-5, momentum=0.9,
                              spatial=1, ctx=None):
    """Inference BatchNormalization (opset 15 semantics) followed by ``activation``."""
    y = _base_kernel(ctx, "BatchNormalization", 15)(x, scale, b, mean, var, epsilon=epsilon)
    return apply_activation(y, activation, activation_params)


@kernel("FusedGemm", domain=DOMAIN, since=1, context=True)
def fused_gemm(a, b, c=None, *, activation="Relu", activation_params=None, alpha=1.0, beta=1.0,
               transA=0, transB=0, ctx=None):
    """Gemm (opset 13 semantics) followed by ``activation``."""
    y = _base_kernel(ctx, "Gemm", 13)(a, b, c, alpha=alpha, beta=beta, transA=transA,
                                      transB=transB)
    return apply_activation(y, activation, activation_params)


@kernel("FusedMatMul", domain=DOMAIN, since=1, context=True)
def fused_matmul(a, b, bias=None, *, activation="Relu", activation_params=None, ctx=None):
    """MatMul, plus the optional ``bias`` (broadcast as by Add), followed by ``activation``
    (``Identity``: none)."""
    y = _base_kernel(ctx, "MatMul", 13)(a, b)
    if bias is not None:
        y = y + bias
    return apply_activation(y, activation, activation_params)


@kernel("Gelu", domain=DOMAIN, since=1)
def gelu(x, *, approximate="none"):
    """Gelu for models whose ai.onnx opset predates Gelu-20 (same semantics)."""
    return gelu_values(x, approximate).astype(x.dtype)


def _layer_norm(x, scale, bias, axis, epsilon):
    axis = axis % x.ndim
    axes = tuple(range(axis, x.ndim))
    xs = x.astype(np.float32) if x.dtype in (np.float16,) else x
    mean = xs.mean(axis=axes, keepdims=True)
    centered = xs - mean
    var = (centered * centered).mean(axis=axes, keepdims=True)
    y = (centered / np.sqrt(var + xs.dtype.type(epsilon))).astype(x.dtype) * scale
    if bias is not None:
        y = y + bias
    return y.astype(x.dtype)


@kernel("LayerNormalization", domain=DOMAIN, since=1)
def layer_normalization(x, scale, bias=None, *, axis=-1, epsilon=1e-5):
    """LayerNormalization for models whose ai.onnx opset predates it (one output, Y)."""
    return _layer_norm(x, scale, bias, axis, epsilon)


@kernel("SkipLayerNormalization", domain=DOMAIN, since=1)
def skip_layer_normalization(x, skip, gamma, beta=None, bias=None, *, epsilon=1e-5):
    """LayerNorm over the last axis of ``x + skip (+ bias)``; outputs (Y, mean, inv_std, sum).

    Only Y and the sum (output 3) are computed; mean and inv_std are returned as None.
    """
    s = x + skip
    if bias is not None:
        s = s + bias
    return _layer_norm(s, gamma, beta, -1, epsilon), None, None, s


@kernel("Attention", domain=DOMAIN, since=1)
def attention(q, k_t, v, mask=None, *, scale=1.0, scale_op="Mul"):
    """``Softmax(Q @ K_t (*|/) scale (+ mask), axis=-1) @ V`` over the last two axes.

    ``k_t`` is K already transposed ([..., D, T]); ``scale_op`` is ``Mul`` or ``Div`` (``Div`` by
    ``scale``), kept exact rather than turned into a reciprocal.
    """
    scores = np.matmul(q, k_t)
    s = scores.dtype.type(scale)
    scores = scores / s if scale_op == "Div" else scores * s
    if mask is not None:
        scores = scores + mask
    scores = scores - scores.max(axis=-1, keepdims=True)
    e = np.exp(scores)
    probs = (e / e.sum(axis=-1, keepdims=True)).astype(scores.dtype)
    return np.matmul(probs, v)


@kernel("NhwcConv", domain=DOMAIN, since=1, context=True)
def nhwc_conv(x, w, b=None, *, auto_pad="NOTSET", dilations=None, group=1, kernel_shape=None,
              pads=None, strides=None, ctx=None):
    """Conv over an NHWC input, writing NHWC (weights stay OIHW); the layout a provider asked
    for. The reference runs the NCHW Conv between transposes."""
    attrs = {"auto_pad": auto_pad, "group": group}
    for k, v in (("dilations", dilations), ("kernel_shape", kernel_shape), ("pads", pads),
                 ("strides", strides)):
        if v is not None:
            attrs[k] = v
    y = _base_kernel(ctx, "Conv", 11)(np.ascontiguousarray(x.transpose(0, 3, 1, 2)), w, b, **attrs)
    return np.ascontiguousarray(y.transpose(0, 2, 3, 1))
