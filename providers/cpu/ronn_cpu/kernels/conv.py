"""Conv on the CPU (1-D and 2-D), the path chosen per input shape: float32 convs with weights
that fit in L2 run the direct kernel (conv_direct.py: register tiles over the input planes);
large 3x3 ones run Winograd; the rest build the column matrix from whole-row copies
(conv_windows.py) in a per-thread scratch buffer, one BLAS GEMM over all groups, and bias +
activation in one numba pass. 1x1 stride-1 convolutions skip the column matrix; depthwise ones
run a direct numba loop; tiny ones gather through an index."""

from __future__ import annotations

import dataclasses
import threading

import numpy as np

from ronn_core import kernel
from ronn_cpu.kernels.activations import (NONE, RELU, _bias_activation_serial,
                                          bias_activation, epilogue_args, fused_params, no_bias)
from ronn_cpu.kernels.blas import OPENBLAS_SERIAL_MACS, address, matmul
from ronn_cpu.kernels.conv_loops import gather_columns, gather_product
from ronn_cpu.kernels.conv_windows import (depthwise, epilogue, filled_planes, tap_products,
                                           window_columns)
from ronn_cpu.kernels.conv_windows import window_geometry as columns_geometry
from ronn_cpu.kernels import conv_chain, conv_direct, prepacked, winograd
from ronn_opset_onnx.ops.conv import window_geometry   # ONNX's rule, defined once

_scratch = threading.local()
# the direct kernel tiles each output row, writing the output in place, where that computes no
# more than the widened grid (conv_direct.row_tiles_pay); False: always the widened grid
ROW_TILES = True
WINOGRAD = True     # 3x3 stride-1 convolutions through Winograd F(2x2, 3x3) (see winograd.py)
# im2col matrices up to this many elements, in products OpenBLAS runs on one thread anyway, are
# gathered through a precomputed index instead (see gather_index): for the tiny inputs of
# streaming models, im2col's loop and the separate bias pass cost more than the work.
GATHER_MAX_COLS = 1 << 14
# Winograd pays from WINOGRAD_MIN_CHANNELS input channels on (at one thread, always): below,
# its transforms (per channel and tile) cost more than the 9/4 fewer multiply-adds save.
# Measured at 2 threads, Winograd vs column matrix or per-tap GEMMs: 40 channels at 28x28
# 0.19 vs 0.23 ms, 48 -> 64 at 28x28 0.29 vs 0.34, 128 -> 32 at 56x56 1.24 vs 1.49, 96 at
# 28x28 0.56 vs 0.80, 512 at 7x7 1.07 vs 1.28; but 16 -> 64 at 55x55 0.67 vs 0.39 and
# 24 -> 64 at 56x56 0.80 vs 0.58. An odd output computes a whole extra row and column of 2x2
# tiles (15% more at 13x13): there it pays from twice the channels. Measured: 48 -> 192 at
# 13x13 0.22 vs 0.17 ms, 64 -> 256 0.31 vs 0.27, 64 -> 96 at 27x27 0.53 vs 0.48; but 96 at
# 27x27 0.66 vs 0.70 and 256 at 13x13 0.88 vs 1.00. (Isolated, 64 channels lose on even maps
# too, but in ResNet-50 and Inception v1/v2 Winograd from 64 channels is 2-5% faster.)
WINOGRAD_MIN_CHANNELS = 40


def winograd_pays(channels: int, out_h: int = 2, out_w: int = 2) -> bool:
    """Whether Winograd beats the column matrix at more than one thread (see above)."""
    odd = out_h % 2 or out_w % 2
    return channels >= WINOGRAD_MIN_CHANNELS * (2 if odd else 1)


# Other multi-tap convs sum one accumulating GEMM per kernel tap over the phase planes instead
# of building the column matrix (conv_windows.tap_products) when they have at most
# TAPS_MAX_RATIO output channels per input channel, or a column matrix over
# TAPS_MIN_COLUMN_BYTES. Measured at 2 threads, taps vs column matrix: 128 -> 32 at 56x56 1.32
# vs 2.03 ms; 64 -> 64 at 224x224 16.1 vs 42.2 ms; 64 -> 128 at 112x112 6.9 vs 8.7 ms; but
# 48 -> 64 at 28x28 (1.2 MB of columns) 0.33 vs 0.29 ms and the 3-channel stems lose.
TAPS_MAX_RATIO = 0.5
TAPS_MIN_COLUMN_BYTES = 8 << 20


def scratch(size: int, dtype, slot: int = 0) -> np.ndarray:
    """A flat scratch array of at least ``size`` elements, private to this thread (one per
    dtype and ``slot``, grown as needed): concurrent runs never share it."""
    key = (np.dtype(dtype), slot)
    cache = getattr(_scratch, "cache", None)
    if cache is None:
        cache = _scratch.cache = {}
    buf = cache.get(key)
    if buf is None or buf.size < size:
        buf = cache[key] = np.empty(size, dtype)
    return buf[:size]


def _product_scratch(size: int, dtype) -> np.ndarray:
    return scratch(size, dtype, slot=1)


@kernel("Conv", since=1, provider="cpu", factory=True)
@kernel("Conv", since=11, provider="cpu", factory=True)
@kernel("Conv", since=22, provider="cpu", factory=True)
def conv(build):
    """1-D/2-D float Conv with constant weights; anything else runs the reference kernel."""
    return build_conv(build, activation=None, alpha=0.0, beta=0.0) or build.fallback()


def _as_2d(a: dict, w: np.ndarray):
    """A 1-D conv's attributes and weights as a 2-D conv over a height-1 image."""
    def two(name, default):
        v = a.get(name)
        return [default, *v] if v else None
    pads = a.get("pads")
    attrs = {"kernel_shape": two("kernel_shape", 1), "strides": two("strides", 1),
             "dilations": two("dilations", 1),
             "pads": [0, pads[0], 0, pads[1]] if pads else None}
    return {**a, **attrs}, w[:, :, None, :]


PAD, ONE = -1, -2      # gather indices that read 0 (padding) and 1 (the bias row)


def gather_index(c: int, h: int, w: int, kh: int, kw: int, sh: int, sw: int, dh: int, dw: int,
                 pt: int, pl: int, oh: int, ow: int) -> np.ndarray:
    """im2col as indices into ``x.ravel()``, shape (c*kh*kw + 1, oh*ow): padding is ``PAD``
    and the last row, all ``ONE``, multiplies the bias column of the gather weights."""
    ci, i, j = np.meshgrid(np.arange(c), np.arange(kh), np.arange(kw), indexing="ij")
    y, x = np.meshgrid(np.arange(oh), np.arange(ow), indexing="ij")
    iy = y.reshape(1, -1) * sh - pt + i.reshape(-1, 1) * dh
    ix = x.reshape(1, -1) * sw - pl + j.reshape(-1, 1) * dw
    inside = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
    index = np.where(inside, ci.reshape(-1, 1) * h * w + iy * w + ix, PAD)
    return np.vstack([index, np.full((1, oh * ow), ONE)]).astype(np.int64)


def build_conv(build, *, activation, alpha, beta, concat=(0, 0)):
    """The fast callable for a Conv node, or None when the reference must run it. ``concat``:
    (channels, offset) of the buffer it writes into (FusedConv's ``concat_*``), or (0, 0)."""
    a = dict(build.attributes)
    w = build.constants[1] if len(build.constants) > 1 else None
    bias = build.constants[2] if len(build.constants) > 2 else None
    if w is None or w.ndim not in (3, 4) or w.dtype not in (np.float32, np.float64) or \
            (len(build.node.inputs) > 2 and build.node.inputs[2] and bias is None):
        return None
    one_d = w.ndim == 3
    concat_channels, concat_offset = concat
    if concat_channels and (one_d or not 0 <= concat_offset <= concat_channels - w.shape[0]):
        return None
    if one_d:
        a, w = _as_2d(a, w)
    group = int(a.get("group", 1))
    m, cg, kh, kw = w.shape
    kernel_shape = a.get("kernel_shape") or [kh, kw]
    if list(kernel_shape) != [kh, kw] or m % group:
        return None
    strides = a.get("strides") or [1, 1]
    dilations = a.get("dilations") or [1, 1]
    pads, auto_pad = a.get("pads"), a.get("auto_pad", "NOTSET")
    code, alpha, beta = epilogue_args(activation, alpha, beta)
    b = no_bias(w.dtype) if bias is None else np.ascontiguousarray(bias, dtype=w.dtype)
    fused_epilogue = code != NONE or bias is not None
    depth = group > 1 and cg == 1
    multiplier = m // group
    sh, sw = strides
    dh, dw = dilations
    kk = cg * kh * kw
    rank, dtype, channels = (3 if one_d else 4), w.dtype, cg * group
    tiles_usable = conv_direct.usable(dtype, group, m, m * kk) and not depth
    wino = winograd.weights(w) if WINOGRAD and \
        winograd.usable(kernel_shape, strides, dilations, group, m, cg) and \
        not (tiles_usable and conv_direct.beats_winograd(m * kk)) else None
    single_thread = build.threads == 1
    # Winograd for every input size (it pays on odd outputs too): the plain weights go
    winograd_only = wino is not None and (single_thread or winograd_pays(cg, 1, 1))
    # the direct kernel's weights, packed now where it may run: then the GEMM paths' plain
    # (M, C*KH*KW) weights are made from them only if a shape takes one of those paths
    tile_pack = conv_direct.pack(w.reshape(m, kk)) if tiles_usable and group == 1 and \
        not winograd_only else None
    plain = np.ascontiguousarray(w.reshape(m, kk)) if tile_pack is None else \
        (lambda: conv_direct.unpack(tile_pack, m))
    # the GEMM paths' weights: (M, C*KH*KW) packed where that pays, or per group
    gemm_weights = prepacked.Lazy(plain, (m, kk), dtype) \
        if group == 1 and not winograd_only else None
    grouped = None if group == 1 else np.ascontiguousarray(w.reshape(m, kh * kw)) if depth \
        else np.ascontiguousarray(w.reshape(group, m // group, kk))
    tap_weights = []          # (kh * kw, M, C), made on first use
    tiled: list = []          # the direct kernel's (packed weights, bias), made on first use

    def tile_operands() -> tuple:
        if not tiled:
            packed = tile_pack if group == 1 else conv_direct.pack_groups(grouped)
            tiled.append((packed, np.ascontiguousarray(b if bias is not None
                                                       else np.zeros(m, dtype))))
        return tiled[0]

    def taps_pay(columns: int) -> bool:
        if group != 1 or kh * kw == 1 or depth:
            return False
        return m <= TAPS_MAX_RATIO * cg or kk * columns * dtype.itemsize > TAPS_MIN_COLUMN_BYTES
    # the gather path: weights with the bias as one more column (cols' last row is all ones)
    empty = no_bias(w.dtype)
    gemm_address = address("gemm", w.dtype)
    no_residual = np.zeros((0, 0, 0), w.dtype)
    gathers = group == 1      # (a depthwise conv has groups)
    gather_w: list = []       # made on the first tiny input: most convs never see one

    def gather_weights() -> np.ndarray:
        if not gather_w:
            column = b if bias is not None else np.zeros(m, dtype)
            gather_w.append(np.ascontiguousarray(np.hstack([gemm_weights.array(),
                                                             column.reshape(m, 1)])))
        return gather_w[0]

    # input spatial shape -> (pads, output size, 1x1 direct, gather index or None, window
    # geometry, per-tap GEMMs?, Winograd?, direct kernel (row offsets, group stride) or None):
    # the path is chosen once per shape
    geometry: dict[tuple, tuple] = {}

    build.take(1)                       # the callable holds the weights (and bias) from here
    if bias is not None:
        build.take(2)

    def run(x, _w=None, _b=None, z=None, into=None):
        if x.ndim != rank or x.dtype != dtype or x.shape[1] != channels:
            raise ValueError(f"fast Conv expects a {rank}-D {dtype} input with {channels} "
                             f"channels, got {x.dtype}{list(x.shape)}")
        geo = geometry.get(x.shape[2:])
        if geo is not None and geo[5] is not None and z is None:      # tiny: the gather path
            index = geo[5]
            out = _gather_conv(x, index, index.shape, gather_weights(), (m, geo[2] * geo[3]),
                               code, alpha, beta, empty, gemm_address)
            out = out if one_d else out.reshape(x.shape[0], m, geo[2], geo[3])
            if concat_channels:
                whole = channel_buffer(into, out.shape, concat_channels, out.dtype)
                whole[:, concat_offset:concat_offset + m] = out
                return whole
            return out
        x4 = x[:, :, None, :] if one_d else x
        n, c, h, wd = x4.shape
        if geo is None:
            (pt, pl), (pb, pr), (oh, ow) = window_geometry((h, wd), kernel_shape, strides,
                                                           dilations, pads, auto_pad)
            direct = kh == kw == 1 and sh == sw == 1 and not (pt or pl or pb or pr)
            index = gather_index(c, h, wd, kh, kw, sh, sw, dh, dw, pt, pl, oh, ow) if (
                gathers and wino is None and (kk + 1) * oh * ow <= GATHER_MAX_COLS
                and m * (kk + 1) * oh * ow < OPENBLAS_SERIAL_MACS) else None
            windows = None if direct and not depth else \
                columns_geometry(kh, kw, sh, sw, dh, dw, oh, ow)
            use_winograd = winograd_only or (wino is not None and winograd_pays(c, oh, ow))
            tiles = None
            if tiles_usable and not use_winograd and conv_direct.pays(m * kk, oh * ow) and \
                    oh * (ow if direct else windows.wq) >= conv_direct.NARROW:
                plane = oh * ow if direct else windows.rows * windows.wq
                tiles = (conv_direct.image_offsets(cg, plane) if direct else
                         conv_direct.plane_offsets(windows.taps, c, plane, cg), cg * plane)
            taps = windows is not None and tiles is None and not use_winograd and \
                taps_pay(oh * windows.wq)
            if taps and not tap_weights:
                tap_weights.append(np.ascontiguousarray(gemm_weights.array().reshape(
                    m, cg, kh, kw).transpose(2, 3, 0, 1).reshape(kh * kw, m, cg)))
            geo = geometry[x.shape[2:]] = (pt, pl, oh, ow, direct, index, windows, taps,
                                           use_winograd, tiles)
            if index is not None and z is None:
                return run(x, into=into)
        pt, pl, oh, ow, direct, _, windows, taps, use_winograd, tiles = geo
        if concat_channels:
            whole = channel_buffer(into, (n, m, oh, ow), concat_channels, x.dtype)
            out = whole[:, concat_offset:concat_offset + m]
        else:
            whole = out = np.empty((n, m, oh, ow), x.dtype)
        if not x4.flags.c_contiguous:
            x4 = np.ascontiguousarray(x4)
        z4 = None if z is None else _residual(z, out, one_d)
        p = oh * ow
        for i in range(n):
            xi, oi = x4[i], out[i]
            zi = no_residual if z4 is None else z4[i]
            if tiles is not None:
                _tiled_conv(xi, oi, zi, tile_operands(), tiles, group, direct, windows, sh, sw,
                            pt, pl, code, alpha, beta, empty)
                continue
            if taps:
                product = oi.reshape(m, p) if windows.wq == ow else \
                    _product_scratch(m * oh * windows.wq, x.dtype).reshape(m, -1)
                tap_products(xi, tap_weights[0], windows, sh, sw, pt, pl, scratch, product)
                epilogue(product, oi, b, zi, windows.wq, code, alpha, beta)
                continue
            if depth or use_winograd:
                # these write bias + activation themselves; a residual comes after, then the
                # activation
                act = (code, alpha, beta) if z4 is None else (NONE, 0.0, 0.0)
                if depth:
                    depthwise(xi, grouped, b, oi, windows, sh, sw, pt, pl, multiplier, *act,
                              scratch)
                else:
                    winograd.winograd_conv(xi, wino, b, oi, pt, pl, *act, scratch)
                if z4 is not None:
                    epilogue(oi.reshape(m, p), oi, empty, zi, ow, code, alpha, beta)
                continue
            if direct:
                product = oi.reshape(group, m // group, p)
                if group == 1:
                    gemm_weights.matmul(xi.reshape(kk, p), product[0])
                else:
                    matmul(grouped, xi.reshape(group, kk, p), product)
                if z4 is not None:
                    epilogue(oi.reshape(m, p), oi, b, zi, ow, code, alpha, beta)
                elif fused_epilogue:
                    bias_activation(oi.reshape(m, p), b, code, alpha, beta)
                continue
            cols = window_columns(xi, windows, sh, sw, pt, pl, scratch)
            product = oi.reshape(m, p)          # the column matrix has one column per pixel
            if group == 1:
                gemm_weights.matmul(cols, product)
            else:
                matmul(grouped, cols.reshape(group, kk, p), product.reshape(group, m // group, p))
            if fused_epilogue or z4 is not None:
                epilogue(product, oi, b, zi, ow, code, alpha, beta)
        return out.reshape(n, m, ow) if one_d else whole

    def link_of(shape) -> tuple | None:
        """conv_chain's link for inputs of ``shape``: where the gather path ran on it."""
        geo = geometry.get(tuple(shape[2:]))
        if geo is None or geo[5] is None or not gemm_address or concat_channels:
            return None
        oh, ow = geo[2], geo[3]
        return geo[5], gather_weights(), code, alpha, beta, (m, ow) if one_d else (m, oh, ow)

    def may_gather(out_shape) -> bool:
        """Whether the gather path can run at output ``out_shape`` (True where not known)."""
        if not gathers_at_all:
            return False
        if out_shape is None or len(out_shape) != rank:
            return True
        pixels = int(np.prod(out_shape[2:]))
        return (kk + 1) * pixels <= GATHER_MAX_COLS and \
            m * (kk + 1) * pixels < OPENBLAS_SERIAL_MACS

    gathers_at_all = gathers and wino is None and bool(gemm_address) and not concat_channels
    run.chain_link = conv_chain.ConvLinks(dtype, link_of, may_gather)
    return run


def _tiled_conv(xi, oi, zi, operands, tiles, group, direct, windows, sh, sw, pt, pl, code,
                alpha, beta, empty):
    """One image through the direct kernel (``conv_direct``): ``oi`` (M, OH, OW) =
    act(conv(``xi``) + bias [+ ``zi``]). The kernel adds the bias, the residual and ReLU where
    it writes ``oi`` itself; other activations, and the widened grid of padded or multi-tap
    convs, finish in the epilogue."""
    weights, bias = operands
    offsets, group_stride = tiles
    m, oh, ow = oi.shape
    relu = code == RELU
    out, nothing = oi.reshape(-1), zi[:0]
    residual = zi.reshape(-1) if zi.size else None
    if direct:                              # the image is the one plane
        src, grid = xi.reshape(-1), (1, oh * ow, oh * ow, oh * ow)
    else:
        _, src = filled_planes(xi, windows, sh, sw, pt, pl, scratch)
        wq = windows.wq
        grid = (oh, ow, wq, ow) if ROW_TILES and conv_direct.row_tiles_pay(oh, ow, wq) else None
        if grid is None:                    # the widened grid, compacted by the epilogue
            p = oh * wq
            product = _product_scratch(m * p, xi.dtype)
            in_kernel = relu and residual is None
            conv_direct.product(weights, src, offsets, product, (1, p, p, p), p, m, bias,
                                in_kernel, None, group, group_stride)
            epilogue(product.reshape(m, p), oi, empty, zi, wq, NONE if in_kernel else code,
                     alpha, beta)
            return
    conv_direct.product(weights, src, offsets, out, grid, oh * ow, m, bias, relu, residual,
                        group, group_stride)
    if not relu and code != NONE:
        epilogue(oi.reshape(m, oh * ow), oi, empty, nothing, ow, code, alpha, beta)


def channel_buffer(into, part_shape: tuple, channels: int, dtype) -> np.ndarray:
    """The C-contiguous (N, channels, H, W) buffer a conv writes its part (``part_shape``)
    into: ``into``, checked, or a new one."""
    want = (part_shape[0], channels) + tuple(part_shape[2:])
    if into is None:
        return np.empty(want, dtype)
    if not isinstance(into, np.ndarray) or into.shape != want or into.dtype != dtype or \
            not into.flags.c_contiguous:
        got = f"{into.dtype}{list(into.shape)}" if isinstance(into, np.ndarray) else \
            type(into).__name__
        raise ValueError(f"FusedConv into: expected a C-contiguous {np.dtype(dtype)}{list(want)}"
                         f" channel buffer, got {got}")
    return into


def _residual(z, out, one_d: bool) -> np.ndarray:
    """FusedConv's residual input as (N, M, OH, OW), checked against the output."""
    want = out.shape[:2] + out.shape[3:] if one_d else out.shape
    if not isinstance(z, np.ndarray) or z.shape != want or z.dtype != out.dtype:
        got = f"{z.dtype}{list(z.shape)}" if isinstance(z, np.ndarray) else type(z).__name__
        raise ValueError(f"FusedConv residual: expected {out.dtype}{list(want)} (the conv "
                         f"output), got {got}")
    z4 = z[:, :, None, :] if one_d else z
    return z4 if z4.flags.c_contiguous else np.ascontiguousarray(z4)


def _gather_conv(x, index, cols_shape, weights, out_shape, code, alpha, beta, empty, gemm):
    """Conv of a small ``x`` (N, C, ...) as ``weights @ gather(x, index)``, the bias inside the
    product, then the activation: one numba call (``gather_product``) where BLAS's ``gemm``
    address is known, else the gather, np.matmul and the epilogue. Returns (N, M, P): the
    caller shapes it."""
    n = x.shape[0]
    out = np.empty((n,) + out_shape, x.dtype)
    if not n:
        return out
    flat = x.reshape(n, -1)
    if gemm:
        gather_product(gemm, flat, index, weights, out, code, alpha, beta)
        return out
    cols = np.empty((n,) + cols_shape, x.dtype)
    gather_columns(flat, index, cols)
    np.matmul(weights, cols, out=out)
    if code != NONE:               # small: the serial loop, over one flat row
        _bias_activation_serial(out.reshape(1, -1), empty, False, code, alpha, beta)
    return out


@kernel("FusedConv", domain="com.ronn", since=1, provider="cpu", factory=True)
def fused_conv(build):
    """``com.ronn::FusedConv`` (Conv [+ residual] + activation, made by the passes plugin) with
    the epilogue fused; activations without a fused epilogue run the reference kernel."""
    fused = fused_params(build)
    if fused is None:
        return build.fallback()
    attrs, activation, alpha, beta = fused
    concat = int(attrs.pop("concat_channels", 0)), int(attrs.pop("concat_offset", 0))
    conv_build = dataclasses.replace(build, attributes=attrs)
    return build_conv(conv_build, activation=activation, alpha=alpha, beta=beta,
                      concat=concat) or build.fallback()
