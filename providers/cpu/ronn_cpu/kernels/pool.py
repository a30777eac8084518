"""MaxPool and AveragePool on the CPU: one strided maximum/sum per window offset."""

from __future__ import annotations

import numpy as np

from ronn_core import kernel
from ronn_opset_onnx.ops.conv import window_geometry   # ONNX's rule, defined once


@kernel("MaxPool", since=1, provider="cpu", factory=True)
@kernel("MaxPool", since=8, provider="cpu", factory=True)
@kernel("MaxPool", since=10, provider="cpu", factory=True)
@kernel("MaxPool", since=11, provider="cpu", factory=True)
@kernel("MaxPool", since=12, provider="cpu", factory=True)
@kernel("MaxPool", since=22, provider="cpu", factory=True)
def max_pool(build):
    """2-D float MaxPool without the Indices output; anything else runs the reference."""
    node, a = build.node, build.attributes
    if len([o for o in node.outputs if o]) > 1 or len(a.get("kernel_shape", [])) != 2 \
            or a.get("storage_order", 0):
        return build.fallback()
    kernel_shape, strides = a["kernel_shape"], a.get("strides") or [1, 1]
    dilations = a.get("dilations") or [1, 1]
    pads, auto_pad, ceil_mode = a.get("pads"), a.get("auto_pad", "NOTSET"), a.get("ceil_mode", 0)
    reference = build.fallback()

    def run(x):
        if x.ndim != 4 or x.dtype.kind != "f":
            return reference(x)
        n, c, h, w = x.shape
        (pt, pl), (pb, pr), (oh, ow) = window_geometry((h, w), kernel_shape, strides, dilations,
                                                       pads, auto_pad, ceil_mode, clamp_same=False)
        if oh <= 0 or ow <= 0:
            raise ValueError(f"MaxPool window {kernel_shape} (dilations {dilations}) is larger "
                             f"than the padded input {[h + pt + pb, w + pl + pr]}")
        if min(pt, pl, pb, pr) < 0:      # SAME with stride > kernel crops: the reference does it
            return reference(x)
        sh, sw = strides
        dh, dw = dilations
        need_h = (oh - 1) * sh + (kernel_shape[0] - 1) * dh + 1
        need_w = (ow - 1) * sw + (kernel_shape[1] - 1) * dw + 1
        eb, er = max(pb, need_h - h - pt), max(pr, need_w - w - pl)
        if pt or pl or eb or er:
            xp = np.full((n, c, h + pt + eb, w + pl + er), -np.inf, x.dtype)
            xp[:, :, pt:pt + h, pl:pl + w] = x
        else:
            xp = x
        out = None
        for i in range(kernel_shape[0]):
            for j in range(kernel_shape[1]):
                view = xp[:, :, i * dh:i * dh + sh * (oh - 1) + 1:sh,
                          j * dw:j * dw + sw * (ow - 1) + 1:sw]
                if out is None:
                    out = view.copy()
                else:
                    np.maximum(out, view, out=out)
        return out

    return run
