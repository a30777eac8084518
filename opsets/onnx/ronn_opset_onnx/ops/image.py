"""Image and detection ops: GridSample, AffineGrid, RoiAlign, MaxRoiPool, NonMaxSuppression,
Col2Im, MaxUnpool, DeformConv and CenterCropPad.

GridSample and DeformConv share one N-D sampler (``_sample``): nearest, multilinear or
multicubic interpolation of ``X`` (N, C, *spatial) at real pixel coordinates, with zeros,
border or reflection padding.
"""

from __future__ import annotations

import itertools

import numpy as np

from ronn_core.kernel_spec import kernel


# --------------------------------------------------------------------------------------------
# N-D sampling
# --------------------------------------------------------------------------------------------

def _reflect(c, size, align_corners):
    """Coordinates reflected into the image (about its edges, or pixel centers if aligned)."""
    low, high = (0.0, size - 1.0) if align_corners else (-0.5, size - 0.5)
    span = high - low
    if span <= 0:
        return np.zeros_like(c)
    d = np.abs(c - low)
    flips = np.floor(d / span)
    extra = d - flips * span
    return np.where(flips % 2 == 0, low + extra, high - extra)


def _pad_coords(coords, shape, padding, align_corners):
    """Coordinates moved inside the image by ``border`` or ``reflection`` padding."""
    if padding == "zeros":
        return coords
    out = []
    for c, size in zip(coords, shape):
        if padding == "reflection":
            c = _reflect(c, size, align_corners)
        out.append(np.clip(c, 0, size - 1))
    return out


def _fetch(x, idx, padding="zeros", align_corners=0):
    """X[n, :, *idx] as (N, C, *P) for integer index arrays of shape (N, *P); taps outside the
    image read zero, the nearest edge pixel (border) or their mirror image (reflection)."""
    shape = x.shape[2:]
    valid = None
    if padding == "zeros":
        valid = np.logical_and.reduce([(i >= 0) & (i < s) for i, s in zip(idx, shape)])
    elif padding == "reflection":
        idx = [_reflect(i.astype(np.float64), s, align_corners).round().astype(np.int64)
               for i, s in zip(idx, shape)]
    idx = [np.clip(i, 0, s - 1) for i, s in zip(idx, shape)]
    n = np.arange(x.shape[0]).reshape((-1,) + (1,) * (idx[0].ndim - 1))
    values = np.moveaxis(x[(n, slice(None)) + tuple(idx)], -1, 1)   # (N, C, *P)
    if valid is not None:
        values = values * valid[:, None]
    return values


def _cubic_weights(t, a=-0.75):
    """Weights of the taps at floor - 1 ... floor + 2 for a fractional offset ``t``."""
    def k(d):
        d = np.abs(d)
        return np.where(d <= 1, ((a + 2) * d - (a + 3)) * d * d + 1,
                        np.where(d < 2, ((a * d - 5 * a) * d + 8 * a) * d - 4 * a, 0.0))
    return [k(t + 1), k(t), k(1 - t), k(2 - t)]


def _sample(x, coords, mode, padding="zeros", align_corners=0):
    """X (N, C, *S) interpolated at pixel coordinates ``coords`` (one (N, *P) array per spatial
    axis) with ``mode`` nearest, linear or cubic; returns (N, C, *P)."""
    acc = np.float64 if x.dtype == np.float64 else np.float32
    if mode == "nearest":
        coords = _pad_coords(coords, x.shape[2:], padding, align_corners)
        idx = [np.rint(c).astype(np.int64) for c in coords]
        return _fetch(x, idx, padding, align_corners)
    if mode == "linear":
        coords = _pad_coords(coords, x.shape[2:], padding, align_corners)
        offsets = (0, 1)
    elif mode == "cubic":
        offsets = (-1, 0, 1, 2)
    else:
        raise ValueError(f"unknown interpolation mode {mode!r}")
    base = [np.floor(c) for c in coords]
    frac = [c - b for c, b in zip(coords, base)]
    if mode == "linear":
        weights = [[1 - f, f] for f in frac]
    else:
        weights = [_cubic_weights(f) for f in frac]
    out = np.zeros(x.shape[:2] + coords[0].shape[1:], dtype=acc)
    for taps in itertools.product(range(len(offsets)), repeat=len(coords)):
        w = np.prod([weights[d][t] for d, t in enumerate(taps)], axis=0)
        idx = [b.astype(np.int64) + offsets[t] for b, t in zip(base, taps)]
        out += w[:, None].astype(acc) * _fetch(x, idx, padding, align_corners)
    return out


# --------------------------------------------------------------------------------------------
# GridSample / AffineGrid
# --------------------------------------------------------------------------------------------

_OLD_MODES = {"bilinear": "linear", "bicubic": "cubic"}


@kernel("GridSample", since=16)
@kernel("GridSample", since=20)
@kernel("GridSample", since=22)
def grid_sample(x, grid, *, align_corners=0, mode="linear", padding_mode="zeros"):
    """GridSample: X sampled at the normalized [-1, 1] positions of ``grid`` (N, *out, r)."""
    mode = _OLD_MODES.get(mode, mode)
    shape = x.shape[2:]
    r = len(shape)
    coords = []
    for d in range(r):   # grid's last axis lists coordinates innermost-dimension first
        g = grid[..., r - 1 - d].astype(np.float64)
        size = shape[d]
        coords.append((g + 1) / 2 * (size - 1) if align_corners else ((g + 1) * size - 1) / 2)
    return _sample(x, coords, mode, padding_mode, align_corners).astype(x.dtype)


def _base_coords(n, align_corners):
    """Normalized pixel positions along one axis."""
    if n <= 1:
        return np.zeros(n)
    if align_corners:
        return np.linspace(-1.0, 1.0, n)
    return (np.arange(n) * 2 + 1) / n - 1


@kernel("AffineGrid", since=20)
def affine_grid(theta, size, *, align_corners=0):
    """AffineGrid: theta (N, r, r+1) applied to the normalized pixel grid of ``size``."""
    spatial = [int(s) for s in np.asarray(size).reshape(-1)[2:]]
    axes = [_base_coords(s, align_corners) for s in spatial]
    mesh = np.meshgrid(*axes, indexing="ij")
    # Homogeneous coordinates, innermost dimension first: (x, y[, z], 1).
    points = np.stack([m for m in reversed(mesh)] + [np.ones(spatial)], axis=-1)
    grid = np.einsum("...k,nrk->n...r", points, theta.astype(np.float64))
    return grid.astype(theta.dtype)


# --------------------------------------------------------------------------------------------
# RoiAlign / MaxRoiPool
# --------------------------------------------------------------------------------------------

def _bilinear_taps(pos, size):
    """Low/high indices and weights of 1-D bilinear taps at ``pos``; invalid far outside."""
    invalid = (pos < -1.0) | (pos > size)
    pos = np.maximum(pos, 0.0)
    low = np.floor(pos).astype(np.int64)
    at_end = low >= size - 1
    low = np.where(at_end, size - 1, low)
    high = np.where(at_end, size - 1, low + 1)
    frac = np.where(at_end, 0.0, pos - low)
    w_low, w_high = np.where(invalid, 0.0, 1 - frac), np.where(invalid, 0.0, frac)
    return np.stack([low, high], -1), np.stack([w_low, w_high], -1)


def _roi_align(x, rois, batch_indices, half_pixel, mode, output_height, output_width,
               sampling_ratio, spatial_scale):
    n_rois = rois.shape[0]
    c, height, width = x.shape[1:]
    out = np.zeros((n_rois, c, output_height, output_width), dtype=x.dtype)
    offset = 0.5 if half_pixel else 0.0
    for r in range(n_rois):
        x1, y1, x2, y2 = rois[r].astype(np.float64) * spatial_scale - offset
        roi_w, roi_h = x2 - x1, y2 - y1
        if not half_pixel:
            roi_w, roi_h = max(roi_w, 1.0), max(roi_h, 1.0)
        bin_h, bin_w = roi_h / output_height, roi_w / output_width
        gh = sampling_ratio if sampling_ratio > 0 else int(np.ceil(roi_h / output_height))
        gw = sampling_ratio if sampling_ratio > 0 else int(np.ceil(roi_w / output_width))
        gh, gw = max(gh, 1), max(gw, 1)
        ys = y1 + np.arange(output_height)[:, None] * bin_h + \
            (np.arange(gh)[None, :] + 0.5) * bin_h / gh                      # (oh, gh)
        xs = x1 + np.arange(output_width)[:, None] * bin_w + \
            (np.arange(gw)[None, :] + 0.5) * bin_w / gw                      # (ow, gw)
        yi, yw = _bilinear_taps(ys, height)                                  # (oh, gh, 2)
        xi, xw = _bilinear_taps(xs, width)                                   # (ow, gw, 2)
        image = x[int(batch_indices[r])].astype(np.float64)
        if mode == "avg":
            # Separable: out = Wy @ image @ Wx^T, Wy/Wx summing all samples' tap weights.
            wy = np.zeros((output_height, height))
            np.add.at(wy, (np.arange(output_height)[:, None, None], yi), yw)
            wx = np.zeros((output_width, width))
            np.add.at(wx, (np.arange(output_width)[:, None, None], xi), xw)
            out[r] = wy @ image @ wx.T / (gh * gw)
        elif mode == "max":
            # Max over samples of the largest weighted corner (onnxruntime's definition).
            vals = image[:, yi[:, :, :, None, None, None], xi[None, None, None]]
            weighted = vals * (yw[:, :, :, None, None, None] * xw[None, None, None])
            out[r] = weighted.max(axis=(2, 3, 5, 6))
        else:
            raise ValueError(f"RoiAlign: unknown mode {mode!r}")
    return out


@kernel("RoiAlign", since=10)
def roi_align_10(x, rois, batch_indices, *, mode="avg", output_height=1, output_width=1,
                 sampling_ratio=0, spatial_scale=1.0):
    """RoiAlign-10: average/max of bilinear samples in each bin (no half-pixel offset)."""
    return _roi_align(x, rois, batch_indices, False, mode, output_height, output_width,
                      sampling_ratio, spatial_scale)


@kernel("RoiAlign", since=16)
@kernel("RoiAlign", since=22)
def roi_align(x, rois, batch_indices, *, coordinate_transformation_mode="half_pixel",
              mode="avg", output_height=1, output_width=1, sampling_ratio=0,
              spatial_scale=1.0):
    """RoiAlign: average/max of bilinear samples in each output bin of each region."""
    return _roi_align(x, rois, batch_indices, coordinate_transformation_mode == "half_pixel",
                      mode, output_height, output_width, sampling_ratio, spatial_scale)


def _round_half_away(v):
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


@kernel("MaxRoiPool", since=1)
@kernel("MaxRoiPool", since=22)
def max_roi_pool(x, rois, *, pooled_shape, spatial_scale=1.0):
    """MaxRoiPool: max over each of pooled_shape bins of each region [batch, x1, y1, x2, y2]."""
    ph_n, pw_n = pooled_shape
    height, width = x.shape[2:]
    out = np.zeros((rois.shape[0], x.shape[1], ph_n, pw_n), dtype=x.dtype)
    for r, roi in enumerate(rois.astype(np.float64)):
        b = int(roi[0])
        x1, y1, x2, y2 = (int(v) for v in _round_half_away(roi[1:] * spatial_scale))
        bin_h = max(y2 - y1 + 1, 1) / ph_n
        bin_w = max(x2 - x1 + 1, 1) / pw_n
        for ph in range(ph_n):
            h0 = min(max(int(np.floor(ph * bin_h)) + y1, 0), height)
            h1 = min(max(int(np.ceil((ph + 1) * bin_h)) + y1, 0), height)
            for pw in range(pw_n):
                w0 = min(max(int(np.floor(pw * bin_w)) + x1, 0), width)
                w1 = min(max(int(np.ceil((pw + 1) * bin_w)) + x1, 0), width)
                if h1 > h0 and w1 > w0:
                    out[r, :, ph, pw] = x[b, :, h0:h1, w0:w1].max(axis=(1, 2))
    return out


# --------------------------------------------------------------------------------------------
# NonMaxSuppression
# --------------------------------------------------------------------------------------------

def _iou_matrix(boxes):
    """Pairwise intersection over union of corner boxes (y1, x1, y2, x2), 0 when union <= 0."""
    y1, x1, y2, x2 = boxes.T
    area = (y2 - y1) * (x2 - x1)
    ih = np.clip(np.minimum(y2[:, None], y2) - np.maximum(y1[:, None], y1), 0, None)
    iw = np.clip(np.minimum(x2[:, None], x2) - np.maximum(x1[:, None], x1), 0, None)
    inter = ih * iw
    union = area[:, None] + area - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


@kernel("NonMaxSuppression", since=10)
@kernel("NonMaxSuppression", since=11)
def non_max_suppression(boxes, scores, max_output_boxes_per_class=None, iou_threshold=None,
                        score_threshold=None, *, center_point_box=0):
    """NonMaxSuppression: greedy per batch and class, best score first; rows [batch, class, box]."""
    limit = int(np.asarray(max_output_boxes_per_class).reshape(-1)[0]) \
        if max_output_boxes_per_class is not None and np.size(max_output_boxes_per_class) else 0
    iou_max = float(np.asarray(iou_threshold).reshape(-1)[0]) \
        if iou_threshold is not None and np.size(iou_threshold) else 0.0
    min_score = float(np.asarray(score_threshold).reshape(-1)[0]) \
        if score_threshold is not None and np.size(score_threshold) else None
    b = boxes.astype(np.float64)
    if center_point_box:
        xc, yc, w, h = np.moveaxis(b, -1, 0)
        corners = np.stack([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2], axis=-1)
    else:   # corners may come in either order
        corners = np.concatenate([np.minimum(b[..., :2], b[..., 2:]),
                                  np.maximum(b[..., :2], b[..., 2:])], axis=-1)
    selected = []
    if limit > 0:
        for batch, cls in itertools.product(range(scores.shape[0]), range(scores.shape[1])):
            s = scores[batch, cls].astype(np.float64)
            candidates = np.arange(len(s)) if min_score is None else np.nonzero(s > min_score)[0]
            order = candidates[np.argsort(-s[candidates], kind="stable")]
            iou = _iou_matrix(corners[batch, order])
            keep = []
            for i in range(len(order)):
                if len(keep) >= limit:
                    break
                if not keep or np.all(iou[i, keep] <= iou_max):
                    keep.append(i)
            selected.extend((batch, cls, int(order[i])) for i in keep)
    return np.array(selected, dtype=np.int64).reshape(-1, 3)


# --------------------------------------------------------------------------------------------
# Col2Im / MaxUnpool
# --------------------------------------------------------------------------------------------

@kernel("Col2Im", since=18)
def col2im(x, image_shape, block_shape, *, dilations=None, pads=None, strides=None):
    """Col2Im: sum the (N, C * prod(block), L) column blocks back into a (N, C, *image) image."""
    image = [int(v) for v in image_shape]
    block = [int(v) for v in block_shape]
    nd = len(image)
    dilations = list(dilations or [1] * nd)
    strides = list(strides or [1] * nd)
    pads = list(pads or [0] * (2 * nd))
    begin, end = pads[:nd], pads[nd:]
    spans = [(k - 1) * d + 1 for k, d in zip(block, dilations)]
    counts = [(i + b + e - sp) // s + 1
              for i, b, e, sp, s in zip(image, begin, end, spans, strides)]
    n = x.shape[0]
    c = x.shape[1] // int(np.prod(block))
    cols = x.reshape((n, c) + tuple(block) + tuple(counts))
    padded = np.zeros((n, c) + tuple(i + b + e for i, b, e in zip(image, begin, end)),
                      dtype=x.dtype)
    for taps in itertools.product(*(range(k) for k in block)):
        target = tuple(slice(t * d, t * d + (cnt - 1) * s + 1, s)
                       for t, d, cnt, s in zip(taps, dilations, counts, strides))
        padded[(slice(None), slice(None)) + target] += cols[(slice(None), slice(None)) + taps]
    crop = tuple(slice(b, b + i) for b, i in zip(begin, image))
    return np.ascontiguousarray(padded[(slice(None), slice(None)) + crop])


@kernel("MaxUnpool", since=9)
@kernel("MaxUnpool", since=11)
@kernel("MaxUnpool", since=22)
def max_unpool(x, indices, output_shape=None, *, kernel_shape, pads=None, strides=None):
    """MaxUnpool: X's values scattered to the flat positions ``indices`` of a zero tensor.

    Indices address the default output shape; a given ``output_shape`` keeps those positions
    and adds zeros at the end of each spatial axis (the ONNX test suite's reading; onnxruntime
    instead takes them as flat positions in ``output_shape``).
    """
    nd = len(kernel_shape)
    strides = list(strides or [1] * nd)
    pads = list(pads or [0] * (2 * nd))
    shape = x.shape[:2] + tuple((i - 1) * s + k - pads[d] - pads[d + nd] for d, (i, s, k)
                                in enumerate(zip(x.shape[2:], strides, kernel_shape)))
    out = np.zeros(int(np.prod(shape)), dtype=x.dtype)
    out[indices.reshape(-1)] = x.reshape(-1)
    out = out.reshape(shape)
    if output_shape is not None and np.size(output_shape):
        wanted = tuple(int(v) for v in output_shape)
        if wanted != shape:
            out = out[tuple(slice(0, t) for t in wanted)]
            out = np.pad(out, [(0, t - o) for t, o in zip(wanted, out.shape)])
    return out


# --------------------------------------------------------------------------------------------
# DeformConv
# --------------------------------------------------------------------------------------------

@kernel("DeformConv", since=19)
@kernel("DeformConv", since=22)
def deform_conv(x, w, offset, b=None, mask=None, *, dilations=None, group=1, kernel_shape=None,
                offset_group=1, pads=None, strides=None):
    """DeformConv: Conv whose kernel taps sample X bilinearly at learned offsets (times mask)."""
    nd = x.ndim - 2
    kernel_shape = list(kernel_shape or w.shape[2:])
    strides = list(strides or [1] * nd)
    dilations = list(dilations or [1] * nd)
    pads = list(pads or [0] * (2 * nd))
    n, c = x.shape[:2]
    out = list(offset.shape[2:])
    taps = int(np.prod(kernel_shape))
    og, cg = offset_group, c // offset_group
    offset = offset.reshape((n, og, taps, nd) + tuple(out)).astype(np.float64)
    mask = (np.ones((n, og, taps) + tuple(out)) if mask is None
            else mask.reshape((n, og, taps) + tuple(out)).astype(np.float64))
    # Regular sampling positions of every tap at every output position: (nd, taps, *out).
    grid = np.meshgrid(*(np.arange(o) * s - p for o, s, p in zip(out, strides, pads)),
                       indexing="ij")
    tap_pos = np.stack(np.meshgrid(*(np.arange(k) * d for k, d in zip(kernel_shape, dilations)),
                                   indexing="ij")).reshape(nd, taps)
    cols = np.empty((n, c, taps) + tuple(out))
    for g in range(og):
        coords = [(grid[d][None] + tap_pos[d].reshape((taps,) + (1,) * nd))[None]
                  + offset[:, g, :, d] for d in range(nd)]               # (N, taps, *out)
        sampled = _sample(x[:, g * cg:(g + 1) * cg].astype(np.float64), coords, "linear")
        cols[:, g * cg:(g + 1) * cg] = sampled * mask[:, g][:, None]
    # Grouped matmul of the weights with the sampled columns.
    m = w.shape[0]
    gc, gm = c // group, m // group
    cols = cols.reshape((n, group, gc * taps, -1))
    wg = w.reshape(group, gm, gc * taps).astype(np.float64)
    y = np.einsum("gmk,ngkp->ngmp", wg, cols).reshape((n, m) + tuple(out))
    if b is not None:
        y = y + b.reshape((m,) + (1,) * nd)
    return y.astype(x.dtype)


# --------------------------------------------------------------------------------------------
# CenterCropPad
# --------------------------------------------------------------------------------------------

@kernel("CenterCropPad", since=18)
def center_crop_pad(input_data, shape, *, axes=None):
    """CenterCropPad: each listed axis center-cropped or zero-padded to the target length."""
    rank = input_data.ndim
    axes = list(range(rank)) if not axes else [a % rank for a in axes]
    y = input_data
    for a, target in zip(axes, np.asarray(shape).reshape(-1).tolist()):
        size = y.shape[a]
        if target < size:
            start = (size - target) // 2
            y = y.take(np.arange(start, start + target), axis=a)
        elif target > size:
            before = (target - size) // 2
            width = [(0, 0)] * rank
            width[a] = (before, target - size - before)
            y = np.pad(y, width)
    return np.ascontiguousarray(y)
