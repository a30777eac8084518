"""What the fast kernels know about numpy's OpenBLAS, and a GEMM that accumulates.

Below ``OPENBLAS_SERIAL_MACS`` multiply-adds OpenBLAS runs a product on one thread (its
``SMP_THRESHOLD_MIN * GEMM_MULTITHREAD_THRESHOLD``); above it, on the run's thread limit. On an
otherwise idle machine two threads win from there on (measured: 64x64 @ 64x784 39 us vs 48 us
on one, 64x64 @ 64x3136 116 us vs 231 us), so products are not capped below the run's limit.

``gemm_into`` calls numpy's own OpenBLAS (the copy numpy links, found by threadpoolctl; ILP64
or not) through ``cblas_?gemm``, for what ``np.matmul`` cannot do: ``C += A @ B`` in place, with B a strided view. Every
argument is checked in Python first; without the symbol it falls back to numpy.
"""

from __future__ import annotations

import ctypes
import os

import numpy as np

OPENBLAS_SERIAL_MACS = 1 << 18

_ROW_MAJOR, _NO_TRANS = 101, 111
_cblas: dict[np.dtype, object] = {}


def _numpy_openblas():
    """threadpoolctl's controller of the OpenBLAS that numpy itself links, or None.

    Other OpenBLAS copies may be loaded too (numba loads scipy's on its first compile), each
    with its own pool of worker threads; calling one of those would run a second pool on the
    same cores (measured: VGG-19 360-450 ms per run instead of 200 in the processes where it
    happened). numpy's is the one whose file name its core extension names as a dependency.
    """
    from threadpoolctl import ThreadpoolController
    from numpy._core import _multiarray_umath
    with open(_multiarray_umath.__file__, "rb") as f:
        linked = f.read()
    for lib in ThreadpoolController().lib_controllers:
        if lib.internal_api == "openblas" and \
                os.path.basename(lib.filepath).encode() in linked:
            return lib
    return None


def _gemm_symbol(dtype: np.dtype):
    """``cblas_sgemm`` / ``cblas_dgemm`` of numpy's OpenBLAS with its argtypes, or None."""
    if dtype not in _cblas:
        fn = None
        try:
            lib = _numpy_openblas()
            if lib is not None:
                fn = lib._get_symbol("cblas_sgemm" if dtype == np.float32 else "cblas_dgemm")
            if fn is not None:
                integer = ctypes.c_int64 if "64" in lib._symbol_suffix else ctypes.c_int
                real = ctypes.c_float if dtype == np.float32 else ctypes.c_double
                ptr = ctypes.c_void_p
                fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, integer, integer,
                               integer, real, ptr, integer, ptr, integer, real, ptr, integer]
                fn.restype = None
        except Exception:                    # pragma: no cover - another BLAS, another API
            fn = None
        _cblas[dtype] = fn
    return _cblas[dtype]


def _rows(a: np.ndarray) -> int | None:
    """The row stride in elements of a 2-D array with unit column stride, else None."""
    item = a.itemsize
    if a.ndim != 2 or a.strides[1] != item or a.strides[0] % item or \
            a.strides[0] // item < max(1, a.shape[1]):
        return None
    return a.strides[0] // item


def gemm_into(a: np.ndarray, b: np.ndarray, c: np.ndarray, accumulate: bool) -> None:
    """``c = a @ b``, or ``c += a @ b`` with ``accumulate``: 2-D float arrays of one dtype, each
    with unit column stride (rows may be strided: views into a larger buffer)."""
    m, k = a.shape
    n = b.shape[1]
    if b.shape[0] != k or c.shape != (m, n) or not a.dtype == b.dtype == c.dtype:
        raise ValueError(f"gemm_into: {a.dtype}{list(a.shape)} @ {b.dtype}{list(b.shape)} "
                         f"into {c.dtype}{list(c.shape)}")
    fn = _gemm_symbol(c.dtype) if c.dtype in (np.float32, np.float64) else None
    lda, ldb, ldc = _rows(a), _rows(b), _rows(c)
    if fn is None or None in (lda, ldb, ldc) or not c.flags.writeable or m * n * k == 0:
        if accumulate:
            c += a @ b
        else:
            np.matmul(a, b, out=c)
        return
    fn(_ROW_MAJOR, _NO_TRANS, _NO_TRANS, m, n, k, 1.0, a.ctypes.data, lda, b.ctypes.data, ldb,
       1.0 if accumulate else 0.0, c.ctypes.data, ldc)
