"""GEMM-based kernels: MatMul, Gemm, Conv (im2col + GEMM) and their fused com.ronn forms,
and Attention (two batched GEMMs around a row softmax)."""

from __future__ import annotations

import numpy as np

from ronn_core.kernel_spec import kernel
from ronn_wasm import ops_winograd as winograd
from ronn_wasm.wat_gemm import pack_a
from ronn_wasm.ops_elementwise import arena_of, binary, guarded, host, unary

ACT_RELU = 1
# fused activation -> (unary kernel, parameter defaults)
_ACTS = {"LeakyRelu": ("leaky_relu", [0.01, 0.0]), "Sigmoid": ("sigmoid", [0.0, 0.0]),
         "Tanh": ("tanh", [0.0, 0.0]), "HardSigmoid": ("hard_sigmoid", [0.2, 0.5]),
         "Clip": ("clip", [-3.4e38, 3.4e38]), "Gelu": ("gelu", [0.0, 0.0]),
         "GeluTanh": ("gelu_tanh", [0.0, 0.0])}


def activation(build):
    """(gemm act code, post-op or None) for a fused node's ``activation`` attribute."""
    name = build.attributes.get("activation", "Relu")
    if build.node.domain != "com.ronn" or name == "Identity":
        return 0, None
    if name == "Relu":
        return ACT_RELU, None
    if name not in _ACTS:
        raise LookupError(name)
    kernel_name, params = _ACTS[name]
    given = [float(p) for p in (build.attributes.get("activation_params") or [])]
    p = given + params[len(given):]
    return 0, (kernel_name, p[0], p[1])


def gemm(arena, a, b, c, bias, m, n, k, lda, ldb, ldc, bmode=0, act=0, alpha=1.0,
         batch=1, sa=0, sb=0, sc=0):
    """One call of the blocked SIMD GEMM on arena arrays (strides and leads in elements)."""
    arena.gemm(arena.ptr(a), arena.ptr(b), arena.ptr(c), arena.ptr(bias), m, n, k,
               lda, ldb, ldc, bmode, act, alpha, batch, sa, sb, sc)


def _post(arena, y, post):
    if post is not None:
        unary(arena, post[0], y, post[1], post[2], out=y)
    return y


# -- MatMul -----------------------------------------------------------------------------------

def matmul(arena, a, b, act=0, post=None, bias=None):
    """a @ b (+ bias) then the activation; None when the shapes need the host kernel."""
    a, b = arena.adopt(a), arena.adopt(b)
    if a.ndim < 2 or b.ndim < 2:
        return None
    m, k = a.shape[-2:]
    n = b.shape[-1]
    if b.shape[-2] != k:
        return None
    col_bias = bias is not None and bias.size == n and bias.shape[-1:] == (n,)
    if b.ndim == 2 and (bias is None or col_bias):   # weights: one GEMM over all rows of a
        y = arena.empty(a.shape[:-1] + (n,))
        rows = int(np.prod(a.shape[:-1]))
        if y.size:
            gemm(arena, a, b, y, arena.adopt(bias) if col_bias else None, rows, n, k, k, n, n,
                 bmode=2 if col_bias else 0, act=act)
        return _post(arena, y, post)
    if bias is not None:                 # general bias: add it before the activation
        y = matmul(arena, a, b)
        if y is None or np.broadcast_shapes(y.shape, bias.shape) != y.shape:
            return None
        binary(arena, "add", y, bias, out=y)
        if act:
            unary(arena, "relu", y, out=y)
        return _post(arena, y, post)
    batch_a, batch_b = a.shape[:-2], b.shape[:-2]
    shape = np.broadcast_shapes(batch_a, batch_b)
    count = int(np.prod(shape))
    full_a, full_b = batch_a == shape, batch_b == shape
    if not ((full_a or int(np.prod(batch_a)) == 1) and (full_b or int(np.prod(batch_b)) == 1)):
        return None
    y = arena.empty(shape + (m, n))
    if y.size:
        gemm(arena, a, b, y, None, m, n, k, k, n, n, act=act, batch=count,
             sa=m * k if full_a else 0, sb=k * n if full_b else 0, sc=m * n)
    return _post(arena, y, post)


@kernel("MatMul", provider="wasm", factory=True)
@kernel("FusedMatMul", domain="com.ronn", provider="wasm", factory=True)
def matmul_factory(build):
    try:
        act, post = activation(build)
    except LookupError:
        return host(build)
    arena, slow = arena_of(build), host(build)

    def run(a, b, bias=None):
        y = matmul(arena, a, b, act, post, bias)
        if y is None:
            return slow(a, b) if bias is None else slow(a, b, bias)
        return y
    return guarded(build, run)


# -- Gemm -------------------------------------------------------------------------------------

@kernel("Gemm", provider="wasm", factory=True)
@kernel("FusedGemm", domain="com.ronn", provider="wasm", factory=True)
def gemm_factory(build):
    """Gemm with constant B prepacked as [K, N] and C folded into a per-column bias."""
    attrs, consts = build.attributes, build.constants + [None, None, None]
    try:
        act, post = activation(build)
    except LookupError:
        return host(build)
    w, c = consts[1], consts[2]
    has_c = len(build.node.inputs) > 2 and build.node.inputs[2]
    if w is None or w.ndim != 2 or (has_c and c is None) or w.dtype != np.float32:
        return host(build)
    arena = arena_of(build)
    b_kn = np.ascontiguousarray(w.T if attrs.get("transB", 0) else w, dtype=np.float32)
    k, n = b_kn.shape
    bias = None
    if has_c:
        try:
            vec = np.broadcast_to(c, (1, n)) if c.ndim <= 1 or c.shape[0] == 1 else None
        except ValueError:
            vec = None
        if vec is None:
            return host(build)
        bias = arena.adopt((vec[0] * np.float32(attrs.get("beta", 1.0))).astype(np.float32),
                           "input")
    b_dev = arena.adopt(b_kn, "input")
    alpha, trans_a = float(attrs.get("alpha", 1.0)), attrs.get("transA", 0)

    def run(a, *_):
        a = arena.adopt(a)
        if trans_a:
            a = transpose(arena, a, (1, 0))
        m = a.shape[0]
        y = arena.empty((m, n))
        if y.size:
            gemm(arena, a, b_dev, y, bias, m, n, k, k, n, n, 2 if bias is not None else 0,
                 act, alpha)
        return _post(arena, y, post)
    return guarded(build, run, 1)


def transpose(arena, x, perm):
    from ronn_wasm.ops_layout import transpose as t
    return t(arena, x, perm)


# -- Conv -------------------------------------------------------------------------------------

def conv_geometry(x_shape, w_shape, attrs):
    """(kh, kw, sh, sw, dh, dw, pt, pl, OH, OW) of a 2-D convolution."""
    h, w = x_shape[2:]
    kh, kw = attrs.get("kernel_shape") or w_shape[2:]
    sh, sw = attrs.get("strides") or (1, 1)
    dh, dw = attrs.get("dilations") or (1, 1)
    auto = attrs.get("auto_pad", "NOTSET")
    if isinstance(auto, bytes):
        auto = auto.decode()
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pads = []
        for size, k, s, d in ((h, kh, sh, dh), (w, kw, sw, dw)):
            total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
            pads.append((total // 2, total - total // 2) if auto == "SAME_UPPER"
                        else (total - total // 2, total // 2))
        pt, pb, pl, pr = pads[0][0], pads[0][1], pads[1][0], pads[1][1]
    elif auto == "VALID":
        pt = pb = pl = pr = 0
    else:
        pt, pl, pb, pr = attrs.get("pads") or (0, 0, 0, 0)
    oh = (h + pt + pb - ((kh - 1) * dh + 1)) // sh + 1
    ow = (w + pl + pr - ((kw - 1) * dw + 1)) // sw + 1
    return kh, kw, sh, sw, dh, dw, pt, pl, oh, ow


def conv2d(arena, x, w, b, attrs, act=0, post=None, apre=None, res=None):
    """2-D conv as im2col + GEMM per image and group; ``apre``: the weights prepacked per group
    by ``wat_gemm.pack_a`` (an arena array), or None; ``res``: an arena array shaped like the
    output, added before the activation (a residual join), or None."""
    x, w = arena.adopt(x), arena.adopt(w)
    b = arena.adopt(b) if b is not None else None
    n_, c, h, wd = x.shape
    m = w.shape[0]
    group = int(attrs.get("group", 1))
    kh, kw, sh, sw, dh, dw, pt, pl, oh, ow = conv_geometry(x.shape, w.shape, attrs)
    cg, mg = c // group, m // group
    k, cols_n = cg * kh * kw, oh * ow
    y = arena.empty((n_, m, oh, ow))
    if y.size == 0:
        return y
    direct = (kh == kw == 1 and sh == sw == 1 and pt == pl == 0 and oh == h and ow == wd)
    cols = None if direct else arena.empty((k, cols_n))
    xp, yp, wp = arena.ptr(x), arena.ptr(y), arena.ptr(w)
    bp = arena.ptr(b)
    for i in range(n_):
        for g in range(group):
            src = xp + 4 * (i * c + g * cg) * h * wd
            if direct:
                bptr = src
            else:
                arena.call("im2col", src, arena.ptr(cols), cg, h, wd, kh, kw, sh, sw, pt, pl,
                           dh, dw, oh, ow)
                bptr = arena.ptr(cols)
            arena.gemm(wp + 4 * g * mg * k, bptr, yp + 4 * (i * m + g * mg) * cols_n,
                       bp + 4 * g * mg if b is not None else 0, mg, cols_n, k, k, cols_n,
                       cols_n, 1 if b is not None else 0, act, 1.0,
                       apre=arena.ptr(apre) + 4 * g * k * (mg // 4 * 4) if apre is not None
                       else 0,
                       res=arena.ptr(res) + 4 * (i * m + g * mg) * cols_n if res is not None
                       else 0)
    return _post(arena, y, post)


@kernel("Conv", provider="wasm", factory=True)
@kernel("FusedConv", domain="com.ronn", provider="wasm", factory=True)
def conv_factory(build):
    if len(build.node.inputs) > 3 or "concat_channels" in build.attributes:
        return host(build)                  # a residual input or a concat-into buffer: the host
    try:
        act, post = activation(build)
    except LookupError:
        return host(build)
    attrs, slow = dict(build.attributes), host(build)
    arena = arena_of(build)
    attrs.pop("ctx", None)
    w_const = (build.constants + [None, None])[1]
    u = None            # Winograd-transformed weights, when the conv qualifies
    if (isinstance(w_const, np.ndarray) and w_const.ndim == 4 and w_const.dtype == np.float32
            and winograd.usable(w_const.shape, attrs, conv_geometry((1, 1, 8, 8), w_const.shape,
                                                                    attrs))):
        out_type = (build.output_types or [None])[0]
        width = out_type.shape[-1] if getattr(out_type, "shape", None) else None
        u = winograd.prepare(arena, w_const, winograd.variant_for(width))
    packed = None       # the weights prepacked for the GEMM (im2col path)
    if isinstance(w_const, np.ndarray) and w_const.ndim == 4 and w_const.dtype == np.float32:
        group = int(attrs.get("group", 1))
        packed = arena.adopt(pack_a(w_const.reshape(group, w_const.shape[0] // group, -1)),
                             "input")

    def run(x, w, b=None):
        if x.ndim != 4 or w.ndim != 4:
            return slow(x, w, b)
        if u is not None and x.dtype == np.float32 and x.shape[1] == w.shape[1]:
            geo = conv_geometry(x.shape, w.shape, attrs)
            pads = (geo[6], geo[7], geo[8] - x.shape[2] - geo[6] + 2,
                    geo[9] - x.shape[3] - geo[7] + 2)
            if min(pads) >= 0:
                y = winograd.conv(arena, arena.adopt(x), u,
                                  arena.adopt(b) if b is not None else None, pads, act)
                return _post(arena, y, post)
        return conv2d(arena, x, w, b, attrs, act, post, packed)

    def with_residual(x, w, b, res):
        """relu(conv(x) + res), the residual add in the GEMM's epilogue where it can be."""
        if (post is None and act == 0 and u is None and x.ndim == 4 and w.ndim == 4
                and x.dtype == w.dtype == res.dtype == np.float32 and arena.owns(res)
                and res.shape == (x.shape[0], w.shape[0]) + conv_geometry(x.shape, w.shape,
                                                                         attrs)[8:]):
            return conv2d(arena, x, w, b, attrs, ACT_RELU, None, packed, res)
        return None

    fused = guarded(build, run)
    fused.with_residual = with_residual
    return fused


# -- Attention (com.ronn) ---------------------------------------------------------------------

@kernel("Attention", domain="com.ronn", provider="wasm", factory=True)
def attention_factory(build):
    """softmax(Q @ K_t * scale (+ mask)) @ V over the last two axes."""
    arena, a = arena_of(build), build.attributes
    scale = float(a.get("scale", 1.0))
    alpha = 1.0 / scale if a.get("scale_op", "Mul") == "Div" else scale
    slow = host(build)

    def run(q, k_t, v, mask=None):
        q, k_t, v = arena.adopt(q), arena.adopt(k_t), arena.adopt(v)
        if not (q.ndim == k_t.ndim == v.ndim >= 2 and q.shape[:-2] == k_t.shape[:-2]
                == v.shape[:-2]):
            return slow(q, k_t, v, mask)
        t, d = q.shape[-2:]
        s, dv = k_t.shape[-1], v.shape[-1]
        batch = int(np.prod(q.shape[:-2]))
        scores = arena.empty(q.shape[:-2] + (t, s))
        gemm(arena, q, k_t, scores, None, t, s, d, d, s, s, alpha=alpha, batch=batch,
             sa=t * d, sb=d * s, sc=t * s)
        if mask is not None:
            binary(arena, "add", scores, mask, out=scores)
        arena.call("softmax", arena.ptr(scores), arena.ptr(scores), batch * t, s)
        y = arena.empty(q.shape[:-2] + (t, dv))
        gemm(arena, scores, v, y, None, t, dv, s, s, dv, dv, batch=batch,
             sa=t * s, sb=s * dv, sc=t * dv)
        return y
    return guarded(build, run)
