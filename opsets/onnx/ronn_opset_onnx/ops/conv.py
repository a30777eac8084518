"""Convolutions: Conv and ConvTranspose (1-D, 2-D and 3-D, grouped, strided, dilated, padded).

The window geometry helpers here (``window_geometry``, ``sliding_windows``) are shared with the
pooling kernels in ``pool.py``.
"""

from __future__ import annotations

import itertools

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ronn_core.kernel_spec import kernel


# --------------------------------------------------------------------------------------------
# Window geometry (shared with pooling)
# --------------------------------------------------------------------------------------------

def _auto_pad_name(auto_pad) -> str:
    return auto_pad.decode() if isinstance(auto_pad, bytes) else str(auto_pad or "NOTSET")


def window_geometry(in_shape, kernel_shape, strides, dilations, pads, auto_pad, ceil_mode=0,
                    clamp_same=True):
    """Begin pads, end pads and output sizes of a sliding window over the spatial dims.

    ``pads`` is ONNX's ``[x1_begin, x2_begin, ..., x1_end, x2_end, ...]`` (None = zeros).
    With ``ceil_mode`` the output size rounds up, but a window that would start inside the end
    padding (past ``in + pad_begin``) is dropped. VALID means zero pads (ceil_mode still applies).
    SAME pads never go below zero for Conv (``clamp_same``); pooling lets them go negative, which
    crops the input (the rule of onnxruntime and onnx.reference).
    """
    nd = len(in_shape)
    strides = list(strides or [1] * nd)
    dilations = list(dilations or [1] * nd)
    spans = [(k - 1) * d + 1 for k, d in zip(kernel_shape, dilations)]
    mode = _auto_pad_name(auto_pad)
    begin, end, out = [], [], []
    for i in range(nd):
        size, span, s = in_shape[i], spans[i], strides[i]
        if mode in ("SAME_UPPER", "SAME_LOWER"):
            o = -(-size // s)
            total = (o - 1) * s + span - size
            total = max(0, total) if clamp_same else total
            # The odd pad goes to the end (UPPER) or the beginning (LOWER); rounding is C's.
            b = int(total / 2) if mode == "SAME_UPPER" else int((total + 1) / 2)
            e = total - b
        else:
            b, e = (pads[i], pads[i + nd]) if pads and mode != "VALID" else (0, 0)
            room = size + b + e - span
            if ceil_mode:
                o = -(-room // s) + 1
                if (o - 1) * s >= size + b:
                    o -= 1
            else:
                o = room // s + 1
        begin.append(b)
        end.append(e)
        out.append(max(o, 0))
    return begin, end, out


def pad_or_crop(x, begin, end, fill=0):
    """X padded with ``fill`` on its spatial dims (axes 2...); negative pads crop instead."""
    pad_width = [(0, 0), (0, 0)] + [(max(0, b), max(0, e)) for b, e in zip(begin, end)]
    if any(p != (0, 0) for p in pad_width):
        x = np.pad(x, pad_width, mode="constant", constant_values=fill)
    crop = tuple(slice(max(0, -b), x.shape[2 + i] - max(0, -e))
                 for i, (b, e) in enumerate(zip(begin, end)))
    return x[(slice(None), slice(None)) + crop]


def sliding_windows(x, kernel_shape, strides, dilations, begin, end, out, fill=0):
    """View of the padded ``x`` (N, C, *spatial) as windows of shape (N, C, *out, *kernel).

    The end padding grows when ceil_mode needs room for the last window; ``fill`` pads.
    """
    nd = len(kernel_shape)
    strides = list(strides or [1] * nd)
    dilations = list(dilations or [1] * nd)
    spans = [(k - 1) * d + 1 for k, d in zip(kernel_shape, dilations)]
    extra = [max(0, (o - 1) * s + span - (size + b + e))
             for o, s, span, size, b, e in zip(out, strides, spans, x.shape[2:], begin, end)]
    x = pad_or_crop(x, begin, [e + x_ for e, x_ in zip(end, extra)], fill)
    windows = sliding_window_view(x, spans, axis=tuple(range(2, 2 + nd)))
    positions = tuple(slice(0, (o - 1) * s + 1 if o > 0 else 0, s) for o, s in zip(out, strides))
    taps = tuple(slice(None, None, d) for d in dilations)
    return windows[(slice(None), slice(None)) + positions + taps]


# --------------------------------------------------------------------------------------------
# Conv
# --------------------------------------------------------------------------------------------

@kernel("Conv", since=1)
@kernel("Conv", since=11)
@kernel("Conv", since=22)
def conv(x, w, b=None, *, auto_pad="NOTSET", dilations=None, group=1, kernel_shape=None,
         pads=None, strides=None):
    """Y[n, m] = sum over the group's channels and the window of X * W[m], plus B[m]."""
    nd = x.ndim - 2
    kernel_shape = list(kernel_shape or w.shape[2:])
    strides = list(strides or [1] * nd)
    dilations = list(dilations or [1] * nd)
    begin, end, out = window_geometry(x.shape[2:], kernel_shape, strides, dilations, pads,
                                      auto_pad)
    n, c_in = x.shape[:2]
    m = w.shape[0]
    cg, mg = c_in // group, m // group
    # Channels first, split by group: (group, Cg, N, *padded spatial).
    extra = [max(0, (o - 1) * s + (k - 1) * d + 1 - (i + bg + e)) for o, s, k, d, i, bg, e
             in zip(out, strides, kernel_shape, dilations, x.shape[2:], begin, end)]
    xp = np.pad(x, [(0, 0), (0, 0)] + [(bg, e + xe) for bg, e, xe in zip(begin, end, extra)])
    xp = xp.swapaxes(0, 1).reshape((group, cg, n) + xp.shape[2:])
    wg = w.reshape((group, mg, cg) + tuple(kernel_shape))
    acc = _accumulator(np.result_type(x, w))
    xp, wg = xp.astype(acc, copy=False), wg.astype(acc, copy=False)
    y = np.zeros((group, mg, n * int(np.prod(out))), dtype=acc)
    # One batched (over groups) matmul per kernel tap: W[:, :, tap] @ X shifted by the tap.
    for taps in itertools.product(*(range(k) for k in kernel_shape)):
        window = tuple(slice(t * d, t * d + (o - 1) * s + 1, s)
                       for t, d, o, s in zip(taps, dilations, out, strides))
        shifted = xp[(slice(None), slice(None), slice(None)) + window].reshape(group, cg, -1)
        y += np.matmul(wg[(Ellipsis,) + taps], shifted)
    y = y.reshape((m, n) + tuple(out)).swapaxes(0, 1)
    if b is not None:
        y = y + b.reshape((m,) + (1,) * nd)
    return np.ascontiguousarray(y, dtype=x.dtype)


# --------------------------------------------------------------------------------------------
# ConvTranspose
# --------------------------------------------------------------------------------------------

def _transpose_geometry(in_shape, spans, strides, pads, output_padding, output_shape, auto_pad):
    """Begin pads and output sizes of a transposed convolution (pads crop the full output)."""
    nd = len(in_shape)
    mode = _auto_pad_name(auto_pad)
    if output_shape:
        output_shape = list(output_shape)[-nd:]
    begin, out = [], []
    for i in range(nd):
        full = strides[i] * (in_shape[i] - 1) + output_padding[i] + spans[i]
        if output_shape or mode in ("SAME_UPPER", "SAME_LOWER"):
            o = output_shape[i] if output_shape else in_shape[i] * strides[i]
            total = max(0, full - o)              # a larger output_shape adds zeros at the end
            small = total // 2
            # SAME_UPPER puts the odd pad at the end, the other modes at the beginning.
            b = small if mode == "SAME_UPPER" else total - small
        else:
            b, e = (pads[i], pads[i + nd]) if pads else (0, 0)
            o = full - b - e
        begin.append(b)
        out.append(o)
    return begin, out


def _accumulator(dtype: np.dtype) -> np.dtype:
    """Half-precision inputs accumulate in float32 (then round once), as real runtimes do."""
    dtype = np.dtype(dtype)
    return np.dtype(np.float32) if dtype.kind == "f" and dtype.itemsize < 4 or \
        dtype.name == "bfloat16" else dtype


@kernel("ConvTranspose", since=1)
@kernel("ConvTranspose", since=11)
@kernel("ConvTranspose", since=22)
def conv_transpose(x, w, b=None, *, auto_pad="NOTSET", dilations=None, group=1,
                   kernel_shape=None, output_padding=None, output_shape=None, pads=None,
                   strides=None):
    """Scatter-add X[n, c, i] * W[c, m] at output position i * stride + tap * dilation - pad."""
    nd = x.ndim - 2
    kernel_shape = list(kernel_shape or w.shape[2:])
    strides = list(strides or [1] * nd)
    dilations = list(dilations or [1] * nd)
    output_padding = list(output_padding or [0] * nd)
    spans = [(k - 1) * d + 1 for k, d in zip(kernel_shape, dilations)]
    in_shape = x.shape[2:]
    begin, out = _transpose_geometry(in_shape, spans, strides, pads, output_padding,
                                     output_shape, auto_pad)
    n, c_in = x.shape[:2]
    cg, mg = c_in // group, w.shape[1]
    # cols[n, *in, m, *taps] = sum_c X[n, c, *in] * W[c, m, *taps], per group.
    cols = np.concatenate(
        [np.tensordot(x[:, g * cg:(g + 1) * cg], w[g * cg:(g + 1) * cg], axes=([1], [0]))
         for g in range(group)], axis=1 + nd)
    cols = np.moveaxis(cols, 1 + nd, 1)                       # (N, M, *in, *taps)
    # Accumulate into a buffer that holds both the full result and the cropped output.
    full = [s * (i - 1) + span for s, i, span in zip(strides, in_shape, spans)]
    shift = [max(0, -bg) for bg in begin]
    size = [max(f, bg + o) + sh for f, bg, o, sh in zip(full, begin, out, shift)]
    buf = np.zeros((n, group * mg, *size), dtype=np.result_type(x, w))
    for taps in itertools.product(*(range(k) for k in kernel_shape)):
        target = tuple(slice(sh + t * d, sh + t * d + (i - 1) * s + 1, s)
                       for sh, t, d, i, s in zip(shift, taps, dilations, in_shape, strides))
        buf[(slice(None), slice(None)) + target] += cols[(Ellipsis,) + taps]
    crop = tuple(slice(bg + sh, bg + sh + o) for bg, sh, o in zip(begin, shift, out))
    y = buf[(slice(None), slice(None)) + crop]
    if b is not None:
        y = y + b.reshape((-1,) + (1,) * nd)
    return np.ascontiguousarray(y, dtype=x.dtype)
