"""Matrix products through numpy's BLAS, small ones on one BLAS thread.

OpenBLAS splits every product statically over its threads and waits for the slowest: for a
product of a millisecond or less on a busy machine, waking a second thread costs more than it
saves (measured: 16x128 @ 128x3025 takes 0.17 ms on one thread and up to 12 ms on two when the
cores are shared). Products under ``SMALL_GEMM_MACS`` multiply-adds therefore run on one thread;
larger ones use the run's thread limit. Below ``OPENBLAS_SERIAL_MACS`` OpenBLAS already runs
on one thread (its ``SMP_THRESHOLD_MIN * GEMM_MULTITHREAD_THRESHOLD``), so nothing is changed.
"""

from __future__ import annotations

import numpy as np

SMALL_GEMM_MACS = 1 << 25
OPENBLAS_SERIAL_MACS = 1 << 18

_calls: tuple | None = None


def _openblas_calls():
    """(get, set) of numpy's OpenBLAS thread count as raw C calls (~0.2 us), or (None, None)."""
    global _calls
    if _calls is None:
        get = set_ = None
        try:
            from threadpoolctl import ThreadpoolController
            for lib in ThreadpoolController().select(internal_api="openblas").lib_controllers:
                get = lib._get_symbol("openblas_get_num_threads")
                set_ = lib._get_symbol("openblas_set_num_threads")
                if get is not None and set_ is not None:
                    break
        except Exception:                  # pragma: no cover - another BLAS, another API
            get = set_ = None
        _calls = (get, set_) if get is not None and set_ is not None else (None, None)
    return _calls


def matmul_into(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``np.matmul(a, b, out=out)``, on one BLAS thread when the product is small (for a
    stack of products, numpy calls BLAS once per item: the size of one item counts)."""
    macs = out.shape[-2] * out.shape[-1] * a.shape[-1]
    if macs >= SMALL_GEMM_MACS or macs < OPENBLAS_SERIAL_MACS:
        return np.matmul(a, b, out=out)
    get, set_ = _openblas_calls()
    if get is None:
        return np.matmul(a, b, out=out)
    threads = get()
    if threads <= 1:
        return np.matmul(a, b, out=out)
    set_(1)
    try:
        return np.matmul(a, b, out=out)
    finally:
        set_(threads)
