"""Row and layout kernels: Softmax, LayerNormalization (plain and skip), pooling, Concat,
Transpose."""

from __future__ import annotations

import numpy as np

from ronn_core.kernel_spec import kernel
from ronn_wasm.ops_dense import conv_geometry
from ronn_wasm.ops_elementwise import arena_of, binary, guarded, host

F32 = np.dtype(np.float32)


# -- Transpose / Concat (any 4- or 8-byte dtype) ---------------------------------------------

def transpose(arena, x, perm):
    x = arena.adopt(x)
    perm = [int(p) % max(x.ndim, 1) for p in perm]
    shape = [x.shape[p] for p in perm]
    y = arena.empty(shape, x.dtype)
    if y.size == 0:
        return y
    in_strides = [int(np.prod(x.shape[i + 1:], dtype=np.int64)) for i in range(x.ndim)]
    dims = []                                   # (size, source stride in elements), merged
    for n, s in ((shape[i], in_strides[p]) for i, p in enumerate(perm)):
        if n == 1:
            continue
        if dims and dims[-1][1] == s * n:
            dims[-1] = (dims[-1][0] * n, s)
        else:
            dims.append((n, s))
    if x.itemsize not in (4, 8) or len(dims) > 4:
        y[...] = np.transpose(x, perm)
        arena.host_writes.append("Transpose") if arena.trace is not None else None
        return y
    dims = [(1, 0)] * (4 - len(dims)) + dims
    arena.call(f"strided{x.itemsize}", arena.ptr(x), arena.ptr(y), *[d[0] for d in dims],
               *[d[1] for d in dims])
    return y


@kernel("Transpose", provider="wasm", factory=True)
def transpose_factory(build):
    arena, perm = arena_of(build), build.attributes.get("perm")

    def run(x):
        return transpose(arena, x, perm if perm is not None else range(x.ndim - 1, -1, -1))
    return run


@kernel("Concat", provider="wasm", factory=True)
def concat_factory(build):
    arena, axis = arena_of(build), int(build.attributes.get("axis", 0))
    slow = host(build)

    def run(*xs):
        xs = [arena.adopt(x) for x in xs]
        first = xs[0]
        if first.ndim == 0 or any(x.dtype != first.dtype or x.ndim != first.ndim for x in xs):
            return slow(*xs)
        ax = axis % first.ndim
        shape = list(first.shape)
        shape[ax] = sum(x.shape[ax] for x in xs)
        y = arena.empty(shape, first.dtype)
        outer = int(np.prod(shape[:ax], dtype=np.int64))
        inner = int(np.prod(shape[ax + 1:], dtype=np.int64)) * first.itemsize
        offset = arena.ptr(y)
        for x in xs:
            row = x.shape[ax] * inner
            if row and outer:
                arena.call("copy2d", arena.ptr(x), offset, outer, row, row, shape[ax] * inner)
            offset += row
        return y
    return run


# -- Softmax / LayerNormalization -------------------------------------------------------------

def softmax_rows(arena, x, rows, n):
    x = arena.adopt(x)
    y = arena.empty(x.shape)
    if y.size:
        arena.call("softmax", arena.ptr(x), arena.ptr(y), rows, n)
    return y


@kernel("Softmax", provider="wasm", factory=True)
def softmax_factory(build):
    """Softmax over the last axis (opset 13+), or over the flattened tail (opset < 13)."""
    arena, version = arena_of(build), build.node.version
    axis = int(build.attributes.get("axis", -1 if version >= 13 else 1))
    slow = host(build)

    def run(x):
        x = arena.adopt(x)
        ax = axis % max(x.ndim, 1)
        if version >= 13 and ax != x.ndim - 1:
            return slow(x)
        n = int(np.prod(x.shape[ax:], dtype=np.int64))
        return softmax_rows(arena, x, x.size // max(n, 1), n)
    return guarded(build, run)


def layernorm(arena, x, gamma, beta, axis, eps):
    x = arena.adopt(x)
    ax = axis % x.ndim
    n = int(np.prod(x.shape[ax:], dtype=np.int64))
    if gamma.size != n or (beta is not None and beta.size != n):
        return None
    gamma = arena.adopt(gamma)                       # keep the copies alive for the call
    beta = arena.adopt(beta) if beta is not None else None
    y = arena.empty(x.shape)
    if y.size:
        arena.call("layernorm", arena.ptr(x), arena.ptr(y), x.size // n, n, arena.ptr(gamma),
                   arena.ptr(beta), float(eps))
    return y


@kernel("LayerNormalization", provider="wasm", factory=True)
@kernel("LayerNormalization", domain="com.ronn", provider="wasm", factory=True)
def layernorm_factory(build):
    arena, slow = arena_of(build), host(build)
    outputs = [o for o in build.node.outputs[1:] if o]
    axis = int(build.attributes.get("axis", -1))
    eps = float(build.attributes.get("epsilon", 1e-5))
    if outputs:
        return slow

    def run(x, gamma, beta=None):
        y = layernorm(arena, x, gamma, beta, axis, eps)
        return slow(x, gamma, beta) if y is None else y
    return guarded(build, run)


@kernel("SkipLayerNormalization", domain="com.ronn", provider="wasm", factory=True)
def skip_layernorm_factory(build):
    """Y = LayerNorm(x + skip (+ bias)); also returns the sum (output 3)."""
    arena, slow = arena_of(build), host(build)
    eps = float(build.attributes.get("epsilon", 1e-5))

    def run(x, skip, gamma, beta=None, bias=None):
        s = binary(arena, "add", x, skip)
        if bias is not None:
            binary(arena, "add", s, bias, out=s)
        y = layernorm(arena, s, gamma, beta, -1, eps)
        if y is None:
            return slow(x, skip, gamma, beta, bias)
        return y, None, None, s
    return guarded(build, run)


# -- pooling ----------------------------------------------------------------------------------

@kernel("MaxPool", provider="wasm", factory=True)
@kernel("AveragePool", provider="wasm", factory=True)
def pool_factory(build):
    attrs, arena, slow = dict(build.attributes), arena_of(build), host(build)
    is_max = build.node.op_type == "MaxPool"
    if (len([o for o in build.node.outputs if o]) > 1 or len(attrs.get("kernel_shape", ())) != 2
            or any(d != 1 for d in attrs.get("dilations", (1, 1)))):
        return slow
    ceil_mode = int(attrs.get("ceil_mode", 0))
    include_pad = int(attrs.get("count_include_pad", 0))

    def run(x):
        x = arena.adopt(x)
        if x.ndim != 4:
            return slow(x)
        kh, kw, sh, sw, _, _, pt, pl, oh, ow = conv_geometry(x.shape, (0, 0) + tuple(
            attrs["kernel_shape"]), attrs)
        if ceil_mode:
            h, w = x.shape[2:]
            pads = attrs.get("pads") or (0, 0, 0, 0)
            oh = -(-(h + pads[0] + pads[2] - kh) // sh) + 1
            ow = -(-(w + pads[1] + pads[3] - kw) // sw) + 1
            oh -= (oh - 1) * sh >= h + pads[0]
            ow -= (ow - 1) * sw >= w + pads[1]
        n, c, h, w = x.shape
        y = arena.empty((n, c, oh, ow))
        if y.size and is_max and kh == kw == 3 and sh == sw == 2 and pt < 3 and pl < 3:
            wb = (max(2 * ow + 8, pl + w + 4) + 3) // 4 * 4      # the -inf padded row (floats)
            tmp = arena.empty((wb,))
            arena.call("maxpool3s2", arena.ptr(x), arena.ptr(y), arena.ptr(tmp), n * c, h, w,
                       pt, pl, oh, ow, wb)
        elif y.size:
            arena.call("maxpool" if is_max else "avgpool", arena.ptr(x), arena.ptr(y), n * c,
                       h, w, kh, kw, sh, sw, pt, pl, oh, ow, include_pad)
        return y
    return guarded(build, run)


@kernel("GlobalAveragePool", provider="wasm", factory=True)
def global_average_pool_factory(build):
    arena = arena_of(build)

    def run(x):
        x = arena.adopt(x)
        rows = int(np.prod(x.shape[:2]))
        y = arena.empty(x.shape[:2] + (1,) * (x.ndim - 2))
        if y.size:
            arena.call("row_mean", arena.ptr(x), arena.ptr(y), rows, x.size // max(rows, 1))
        return y
    return guarded(build, run)
