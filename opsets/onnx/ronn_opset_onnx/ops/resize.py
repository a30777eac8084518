"""Resize and Upsample: N-D nearest, (multi)linear and (multi)cubic interpolation.

Interpolation is separable: each resized axis gets, per output position, a few input taps and
their weights; the axes are resized one after another. Nearest picks a single tap (exact for
every dtype); linear and cubic weigh ``floor(x) + i`` by a triangle or a cubic kernel of the
fractional offset, with taps outside the input clamped to the edge (or, with ``exclude_outside``,
dropped and the remaining weights renormalized). ``antialias`` stretches the kernel by
``1 / scale`` when downscaling. Integer inputs round the interpolated value and saturate.
"""

from __future__ import annotations

import numpy as np

from ronn_core.kernel_spec import kernel


# --------------------------------------------------------------------------------------------
# One axis: source coordinates, taps and weights
# --------------------------------------------------------------------------------------------

def _source_coords(out_size, in_size, scale, mode, roi_start=0.0, roi_end=1.0, length=None):
    """The input coordinate each output position maps to (``coordinate_transformation_mode``).

    ``length`` is the resized length before rounding down to ``out_size`` (``in_size * scale``
    when scales are given); align_corners and pytorch_half_pixel use it.
    """
    # float32 arithmetic, as onnxruntime: it decides which pixel a near-tie rounds to.
    x = np.arange(out_size, dtype=np.float32)
    scale = np.float32(scale)
    length = np.float32(out_size if length is None else length)
    if mode == "half_pixel":
        return (x + 0.5) / scale - 0.5
    if mode == "half_pixel_symmetric":
        adjustment = out_size / (scale * in_size)
        offset = in_size / 2 * (1 - adjustment)
        return offset + (x + 0.5) / scale - 0.5
    if mode == "pytorch_half_pixel":
        return (x + 0.5) / scale - 0.5 if length > 1 else np.zeros_like(x)
    if mode == "align_corners":
        return x * (in_size - 1) / (length - 1) if length != 1 else np.zeros_like(x)
    if mode == "asymmetric":
        return x / scale
    if mode == "tf_half_pixel_for_nn":
        return (x + 0.5) / scale
    if mode == "tf_crop_and_resize":
        if out_size > 1:
            start, end = np.float32(roi_start), np.float32(roi_end)
            return start * (in_size - 1) + x * (end - start) * (in_size - 1) / (out_size - 1)
        return np.full_like(x, np.float32(0.5 * (roi_start + roi_end) * (in_size - 1)))
    raise ValueError(f"Resize: unknown coordinate_transformation_mode {mode!r}")


def _round_nearest(x, nearest_mode, scale):
    """Integer index of the nearest input pixel (``nearest_mode``)."""
    if nearest_mode == "round_prefer_floor":
        return np.ceil(x - 0.5)
    if nearest_mode == "round_prefer_ceil":
        return np.floor(x + 0.5)
    if nearest_mode == "floor":
        return np.floor(x)
    if nearest_mode == "ceil":
        return np.ceil(x)
    if nearest_mode == "simple":  # Resize-10 / Upsample: floor, or ceil when downscaling
        return np.ceil(x) if scale < 1 else np.floor(x)
    raise ValueError(f"Resize: unknown nearest_mode {nearest_mode!r}")


def _cubic_kernel(d, a):
    """The cubic convolution kernel with coefficient ``a`` at distance ``d``."""
    d = np.abs(d)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


def _axis_taps(in_size, coords, scale, mode, nearest_mode, cubic_coeff_a, exclude_outside,
               antialias):
    """Input indices (out, taps) and weights (out, taps) that make each output position."""
    if mode == "nearest":
        idx = _round_nearest(coords, nearest_mode, scale).astype(np.int64)
        return np.clip(idx, 0, in_size - 1)[:, None], np.ones((len(coords), 1))
    stretch = min(scale, 1.0) if antialias else 1.0   # kernel is 1/stretch times wider
    if mode == "linear":
        radius = 1
        kernel_fn = lambda d: np.clip(1 - np.abs(d), 0, None)  # noqa: E731
    elif mode == "cubic":
        radius = 2
        kernel_fn = lambda d: _cubic_kernel(d, cubic_coeff_a)  # noqa: E731
    else:
        raise ValueError(f"Resize: unknown mode {mode!r}")
    first = int(np.floor(-radius / stretch)) + 1
    offsets = np.arange(first, 2 - first)[None, :]   # every tap the kernel can reach
    base = np.floor(coords)[:, None]
    weights = kernel_fn((offsets - (coords[:, None] - base)) * stretch)
    idx = base.astype(np.int64) + offsets
    inside = (idx >= 0) & (idx < in_size)
    if exclude_outside:
        weights = np.where(inside, weights, 0.0)
    if exclude_outside or antialias:
        weights = weights / weights.sum(axis=1, keepdims=True)
    return np.clip(idx, 0, in_size - 1), weights


def _resize_axis(x, axis, idx, weights, acc_dtype):
    """``x`` resized along ``axis``: sum over taps of x[idx[:, t]] * weights[:, t]."""
    if idx.shape[1] == 1:
        return np.take(x, idx[:, 0], axis=axis)
    shape = [1] * x.ndim
    shape[axis] = -1
    y = None
    for t in range(idx.shape[1]):
        w = weights[:, t]
        if not w.any():
            continue
        term = np.take(x, idx[:, t], axis=axis).astype(acc_dtype, copy=False)
        term *= w.astype(acc_dtype).reshape(shape)
        if y is None:
            y = term
        else:
            y += term
    if y is None:
        y = np.zeros(np.take(x, idx[:, 0], axis=axis).shape, dtype=acc_dtype)
    return y


# --------------------------------------------------------------------------------------------
# N-D driver
# --------------------------------------------------------------------------------------------

def _full_per_axis(values, axes, rank, fill):
    """Values given for ``axes`` spread over all ``rank`` axes (``fill`` elsewhere)."""
    full = [fill] * rank
    for a, v in zip(axes, values):
        full[a] = v
    return full


def interpolate(x, scales=None, sizes=None, roi=None, *, axes=None, mode="nearest",
                coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_floor",
                cubic_coeff_a=-0.75, exclude_outside=0, extrapolation_value=0.0, antialias=0,
                keep_aspect_ratio_policy="stretch"):
    """Resize ``x`` to ``sizes`` or by ``scales`` (both per listed axis; see the module doc)."""
    rank = x.ndim
    axes = list(range(rank)) if axes is None else [a % rank for a in axes]
    in_shape = [x.shape[a] for a in axes]
    lengths = None   # the unrounded resized lengths, where scales decide the output size
    if sizes is not None and np.size(sizes) > 0:
        sizes = [int(s) for s in np.asarray(sizes).reshape(-1)]
        if keep_aspect_ratio_policy == "stretch":
            scale_list = [s / i for s, i in zip(sizes, in_shape)]
        else:
            ratios = [s / i for s, i in zip(sizes, in_shape)]
            common = min(ratios) if keep_aspect_ratio_policy == "not_larger" else max(ratios)
            scale_list = [common] * len(axes)
            sizes = [int(np.floor(common * i + 0.5)) for i in in_shape]
            lengths = [common * i for i in in_shape]
    elif scales is not None and np.size(scales) > 0:
        scale_list = [float(s) for s in np.asarray(scales, dtype=np.float64).reshape(-1)]
        lengths = [i * s for i, s in zip(in_shape, scale_list)]
        sizes = [int(np.floor(n)) for n in lengths]
    else:
        raise ValueError("Resize: one of 'scales' and 'sizes' must be given")
    out_sizes = _full_per_axis(sizes, axes, rank, None)
    out_scales = _full_per_axis(scale_list, axes, rank, 1.0)
    lengths = _full_per_axis(lengths or sizes, axes, rank, None)
    roi = None if roi is None or np.size(roi) == 0 else np.asarray(roi, np.float64).reshape(-1)
    if roi is not None:
        n = len(roi) // 2
        starts = _full_per_axis(roi[:n], axes if n == len(axes) else range(n), rank, 0.0)
        ends = _full_per_axis(roi[n:], axes if n == len(axes) else range(n), rank, 1.0)
    else:
        starts, ends = [0.0] * rank, [1.0] * rank

    is_float = x.dtype.kind == "f" or x.dtype.kind == "V"  # V: bfloat16 / float8 (ml_dtypes)
    acc_dtype = np.float64 if x.dtype == np.float64 else np.float32
    crop = coordinate_transformation_mode == "tf_crop_and_resize"
    outside_masks = []
    y = x
    for axis in range(rank):
        out, scale, in_size = out_sizes[axis], out_scales[axis], x.shape[axis]
        if out is None or (out == in_size and scale == 1.0 and not crop):
            continue
        coords = _source_coords(out, in_size, scale, coordinate_transformation_mode,
                                starts[axis], ends[axis], lengths[axis])
        idx, weights = _axis_taps(in_size, coords, scale, mode, nearest_mode, cubic_coeff_a,
                                  exclude_outside, antialias)
        y = _resize_axis(y, axis, idx, weights, acc_dtype)
        if crop:
            shape = [1] * rank
            shape[axis] = out
            outside_masks.append(((coords < 0) | (coords > in_size - 1)).reshape(shape))
    if outside_masks:
        outside = np.logical_or.reduce(np.broadcast_arrays(*outside_masks))
        y = np.where(outside, np.asarray(extrapolation_value, dtype=y.dtype), y)
    if y.dtype != x.dtype:
        if not is_float:
            info = np.iinfo(x.dtype)
            y = np.clip(np.rint(y), info.min, info.max)
        y = y.astype(x.dtype)
    return np.ascontiguousarray(y)


# --------------------------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------------------------

@kernel("Upsample", since=7)
def upsample_7(x, *, mode="nearest", scales):
    """Upsample-7: X scaled by the ``scales`` attribute (asymmetric coordinates)."""
    return upsample_9(x, np.asarray(scales, np.float32), mode=mode)


@kernel("Upsample", since=9)
def upsample_9(x, scales, *, mode="nearest"):
    """Upsample-9: X scaled by the ``scales`` input (asymmetric coordinates)."""
    return interpolate(x, scales=scales, mode=mode,
                       coordinate_transformation_mode="asymmetric", nearest_mode="simple")


@kernel("Resize", since=10)
def resize_10(x, scales, *, mode="nearest"):
    """Resize-10: X scaled by ``scales`` (asymmetric coordinates, as Upsample)."""
    return upsample_9(x, scales, mode=mode)


@kernel("Resize", since=11)
@kernel("Resize", since=13)
def resize_11(x, roi=None, scales=None, sizes=None, *, coordinate_transformation_mode="half_pixel",
              cubic_coeff_a=-0.75, exclude_outside=0, extrapolation_value=0.0, mode="nearest",
              nearest_mode="round_prefer_floor"):
    """Resize-11/13: X resized to ``sizes`` or by ``scales`` over all axes."""
    return interpolate(x, scales, sizes, roi, mode=mode,
                       coordinate_transformation_mode=coordinate_transformation_mode,
                       nearest_mode=nearest_mode, cubic_coeff_a=cubic_coeff_a,
                       exclude_outside=exclude_outside, extrapolation_value=extrapolation_value)


@kernel("Resize", since=18)
@kernel("Resize", since=19)
def resize_18(x, roi=None, scales=None, sizes=None, *, antialias=0, axes=None,
              coordinate_transformation_mode="half_pixel", cubic_coeff_a=-0.75,
              exclude_outside=0, extrapolation_value=0.0, keep_aspect_ratio_policy="stretch",
              mode="nearest", nearest_mode="round_prefer_floor"):
    """Resize-18/19: adds ``antialias``, ``axes`` and ``keep_aspect_ratio_policy``."""
    return interpolate(x, scales, sizes, roi, axes=axes, mode=mode,
                       coordinate_transformation_mode=coordinate_transformation_mode,
                       nearest_mode=nearest_mode, cubic_coeff_a=cubic_coeff_a,
                       exclude_outside=exclude_outside, extrapolation_value=extrapolation_value,
                       antialias=antialias, keep_aspect_ratio_policy=keep_aspect_ratio_policy)
