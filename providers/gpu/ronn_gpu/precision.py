"""Reduced precision: bfloat16 rounding, and the accuracy report of float16/bfloat16 runs.

``precision="float16"`` stores activations and weights in float16 on the device (cuBLAS fp16
GEMMs, float32 accumulation inside the Triton kernels). CuPy has no bfloat16 arrays, so
``precision="bfloat16"`` is an accuracy mode: values stay float32 in memory and every GPU
kernel's float outputs are rounded to the nearest bfloat16 (ties to even). It shows what
bfloat16 does to a model's outputs; it does not save memory or time.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np


def round_to_bfloat16(xp, x):
    """float32 -> nearest bfloat16 value (round to nearest even), still stored as float32."""
    if x is None or getattr(x, "dtype", None) != np.float32:
        return x
    bits = xp.ascontiguousarray(x).view(xp.uint32)
    lsb = (bits >> 16) & 1
    rounded = (bits + xp.uint32(0x7FFF) + lsb) & xp.uint32(0xFFFF0000)
    nan = xp.isnan(x)
    out = rounded.view(xp.float32)
    return xp.where(nan, x, out) if bool(nan.any()) else out


def round_outputs_to_bfloat16(fn: Callable, xp) -> Callable:
    def run(*args):
        result = fn(*args)
        if type(result) is tuple:
            return tuple(round_to_bfloat16(xp, r) for r in result)
        return round_to_bfloat16(xp, result)
    run.__wrapped__ = fn
    return run


def accuracy_report(model: Any, feeds: dict[str, np.ndarray], *,
                    precisions=("float16", "bfloat16"), runtime=None,
                    providers=("gpu", "cpu")) -> list[dict[str, Any]]:
    """Run ``model`` in float32 and in each precision on the gpu provider; compare outputs.

    One row per (precision, output): max absolute error, max error relative to the float32
    output's largest magnitude, and (for rank >= 2 outputs) the share of rows whose argmax agrees.
    """
    import ronn
    loaded = model if hasattr(model, "create_session") else ronn.Model.load(model)

    def run(precision):
        opts = {"gpu": {"precision": precision}}
        session = loaded.create_session(providers=list(providers), provider_options=opts,
                                        runtime=runtime)
        return session.run(feeds)

    base = run("float32")
    rows = []
    for precision in precisions:
        out = run(precision)
        for name, ref in base.items():
            got = np.asarray(out[name], dtype=np.float64)
            ref64 = np.asarray(ref, dtype=np.float64)
            err = float(np.abs(got - ref64).max()) if ref64.size else 0.0
            scale = float(np.abs(ref64).max()) if ref64.size else 0.0
            row = {"precision": precision, "output": name, "max_abs_error": err,
                   "max_rel_error": err / scale if scale else err}
            if ref64.ndim >= 2 and ref64.shape[-1] > 1:
                flat_r = ref64.reshape(-1, ref64.shape[-1])
                flat_g = got.reshape(-1, got.shape[-1])
                row["argmax_agreement"] = float((flat_r.argmax(1) == flat_g.argmax(1)).mean())
            rows.append(row)
    return rows
