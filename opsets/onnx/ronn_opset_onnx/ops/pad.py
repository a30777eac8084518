"""Pad: grow (or, with negative pads, crop) each axis at its start and end."""

from __future__ import annotations

import numpy as np

from ronn_core.kernel_spec import kernel

_NUMPY_MODES = {"constant": "constant", "reflect": "reflect", "edge": "edge", "wrap": "wrap"}


def _pad(data, pads, mode: str, value, axes=None):
    """Pad ``data``: pads = [begin_0, begin_1, ..., end_0, end_1, ...] for ``axes`` (default all).

    Negative pads remove elements; the crop happens first, then the padding (so reflect, edge and
    wrap read the cropped tensor).
    """
    if mode not in _NUMPY_MODES:
        raise ValueError(f"Pad: unknown mode {mode!r}")
    pads = [int(p) for p in np.asarray(pads).reshape(-1)]
    rank = data.ndim
    axes = list(range(rank)) if axes is None else [int(a) for a in np.asarray(axes).reshape(-1)]
    if len(pads) != 2 * len(axes):
        raise ValueError(f"Pad: {len(pads)} pads for {len(axes)} axes")
    widths = [(0, 0)] * rank
    for axis, begin, end in zip(axes, pads[:len(axes)], pads[len(axes):]):
        widths[axis + rank if axis < 0 else axis] = (begin, end)
    crop = tuple(slice(max(-b, 0), dim - max(-e, 0)) for (b, e), dim in zip(widths, data.shape))
    cropped = data[crop]
    grow = [(max(b, 0), max(e, 0)) for b, e in widths]
    if mode == "constant":
        fill = np.asarray(0 if value is None else value).reshape(-1)
        fill = fill[0] if fill.size else 0
        return np.pad(cropped, grow, mode="constant", constant_values=fill)
    return np.pad(cropped, grow, mode=_NUMPY_MODES[mode])


@kernel("Pad", since=1)
def pad_v1(data, *, paddings, mode="constant", value=0.0):
    """Pad (opset 1): ``paddings`` attribute [begins..., ends...], ``value`` in constant mode."""
    return _pad(data, paddings, mode, value)


@kernel("Pad", since=2)
def pad_v2(data, *, pads, mode="constant", value=0.0):
    """Pad (opset 2): ``pads`` attribute [begins..., ends...], fill ``value`` in constant mode."""
    return _pad(data, pads, mode, value)


@kernel("Pad", since=11)
@kernel("Pad", since=13)
@kernel("Pad", since=18)
@kernel("Pad", since=19)
def pad(data, pads, constant_value=None, axes=None, *, mode="constant"):
    """Pad by the ``pads`` input [begins..., ends...] over ``axes`` (default all).

    Modes: constant (fill ``constant_value``, default 0), reflect (mirror without repeating the
    edge), edge (repeat the edge), wrap (continue periodically). Negative pads crop.
    """
    return _pad(data, pads, mode, constant_value, axes)
