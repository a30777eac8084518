"""The reference kernel of ``com.ronn.bitnet::BitLinear``: unpack, quantize, matmul (numpy).

It runs on every provider that runs reference kernels (the cpu provider among them), so a
quantized model runs anywhere RONN runs; the ``bitnet`` provider's kernels equal it bit for bit.
"""

from __future__ import annotations

import numpy as np

from ronn_core import kernel

from ronn_bitnet import DOMAIN
from ronn_bitnet.packing import F32, output_scales, quantize_activations, unpack

#: float32 sums of int8 x ternary products are exact while K * 128 stays below 2 ** 24
EXACT_F32_K = 2 ** 24 // 128


def check_operands(x, w, scale, bias, k: int) -> tuple[int, np.ndarray]:
    """Validate BitLinear's operands; return (N, the float32 scale broadcast to [N])."""
    if k < 1:
        raise ValueError(f"in_features must be at least 1, got {k}")
    if x.dtype != np.float32:
        raise TypeError(f"X must be float32, got {x.dtype}")
    if x.ndim < 1 or x.shape[-1] != k:
        raise ValueError(f"X must be [..., {k}] (in_features), got shape {list(x.shape)}")
    if w.dtype != np.uint8 or w.ndim != 2 or w.shape[1] != (k + 3) // 4:
        raise ValueError(f"W must be uint8 [N, {(k + 3) // 4}] (in_features {k} packed four "
                         f"per byte), got {w.dtype} {list(w.shape)}")
    n = w.shape[0]
    s = np.asarray(scale, F32).reshape(-1)
    if s.size not in (1, n):
        raise ValueError(f"scale must be a scalar or [{n}], got shape {list(np.shape(scale))}")
    if bias is not None and np.shape(bias) != (n,):
        raise ValueError(f"B must be [{n}], got shape {list(np.shape(bias))}")
    return n, np.ascontiguousarray(np.broadcast_to(s, (n,)))


def exact_products(xq: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``xq @ t.T`` for integer-valued float32 xq and ternary int8 t, exact, as float32."""
    if t.shape[1] <= EXACT_F32_K:
        return xq @ t.T.astype(F32)
    return (xq.astype(np.float64) @ t.T.astype(np.float64)).astype(F32)


@kernel("BitLinear", domain=DOMAIN, since=1)
def bit_linear(x, w, scale, bias=None, *, in_features):
    """Y = dequant(int8(X) @ ternary(W).T) * scale + B, over the last axis of X."""
    n, s = check_operands(x, w, scale, bias, in_features)
    lead = x.shape[:-1]
    x2 = x.reshape(-1, in_features)
    xq, amax = quantize_activations(x2)
    y = exact_products(xq, unpack(w, in_features)) * output_scales(amax, s)
    if bias is not None:
        y = y + np.asarray(bias, F32)
    return y.reshape(*lead, n)
