"""Output sizes and padding of sliding-window ops (Conv, pooling), as ONNX defines them."""

from __future__ import annotations

import math


def window_pads(in_sizes, kernel, strides, dilations, pads, auto_pad, ceil_mode=0,
                clamp=True):
    """(begin pads, end pads, output sizes) for each spatial axis.

    SAME padding is clamped at 0 for Conv; pooling (``clamp=False``) lets it go negative.
    """
    n = len(in_sizes)
    strides = strides or [1] * n
    dilations = dilations or [1] * n
    begin, end, out = [], [], []
    for i in range(n):
        k = (kernel[i] - 1) * dilations[i] + 1
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            o = -(-in_sizes[i] // strides[i])
            total = (o - 1) * strides[i] + k - in_sizes[i]
            total = max(0, total) if clamp else total
            lo = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
            begin.append(lo)
            end.append(total - lo)
            out.append(o)
            continue
        if auto_pad == "VALID":
            b = e = 0
        else:
            b, e = (pads[i], pads[i + n]) if pads else (0, 0)
        span = in_sizes[i] + b + e - k
        o = (math.ceil(span / strides[i]) if ceil_mode else span // strides[i]) + 1
        if ceil_mode and (o - 1) * strides[i] >= in_sizes[i] + b:
            o -= 1
        begin.append(b)
        end.append(e)
        out.append(o)
    return begin, end, out
