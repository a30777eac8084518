"""numpy's OpenBLAS, called on RONN's own thread pool: one pool for GEMMs and the loops
around them.

OpenBLAS's worker threads spin after every threaded product, and numba's parallel loops next to
them ran 10-20x slower on two cores. So during a run OpenBLAS is held to one thread (see
provider.ThreadLimit) and ``matmul`` splits a product into row or column blocks, one
single-threaded ``cblas_?gemm`` per block, over numba's threads: the epilogues, column copies
and pools after it can then go parallel too. ``cblas_?gemm`` is called by address from numba
(``_cblas_gemm``, an intrinsic: the compiled code stays cacheable), so it also takes what
``np.matmul`` cannot: ``C += A @ B`` in place, and strided views.

Below ``OPENBLAS_SERIAL_MACS`` multiply-adds a product runs on one thread (OpenBLAS's own
``SMP_THRESHOLD_MIN * GEMM_MULTITHREAD_THRESHOLD``). The symbol comes from the OpenBLAS numpy
itself links (found by threadpoolctl); without it, or for operands BLAS cannot take, numpy
runs the product.
"""

from __future__ import annotations

import ctypes
import os

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

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


def _address(dtype) -> int:
    """The address of numpy's ILP64 ``cblas_?gemm`` for ``dtype``, or 0 (numpy runs it)."""
    fn = _gemm_symbol(np.dtype(dtype)) if np.dtype(dtype) in (np.float32, np.float64) else None
    if fn is None or fn.argtypes[3] is not ctypes.c_int64:
        return 0
    return ctypes.cast(fn, ctypes.c_void_p).value or 0


_ADDRESS = {}


@intrinsic
def _cblas_gemm(typingctx, address, m, n, k, a, lda, b, ldb, beta, c, ldc):
    """``cblas_?gemm(RowMajor, NoTrans, NoTrans, m, n, k, 1, a, lda, b, ldb, beta, c, ldc)``
    through the function at ``address``; pointers and sizes are int64, ``beta`` the element
    type (float32: sgemm, float64: dgemm)."""
    sig = types.void(address, m, n, k, a, lda, b, ldb, beta, c, ldc)

    def codegen(context, builder, signature, args):
        address, m, n, k, a, lda, b, ldb, beta, c, ldc = args
        i32, i64 = ir.IntType(32), ir.IntType(64)
        real = beta.type
        ptr = ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [i32, i32, i32, i64, i64, i64, real, ptr, i64,
                                               ptr, i64, real, ptr, i64])
        fn = builder.inttoptr(address, fnty.as_pointer())
        builder.call(fn, [ir.Constant(i32, _ROW_MAJOR), ir.Constant(i32, _NO_TRANS),
                          ir.Constant(i32, _NO_TRANS), m, n, k, ir.Constant(real, 1.0),
                          builder.inttoptr(a, ptr), lda, builder.inttoptr(b, ptr), ldb, beta,
                          builder.inttoptr(c, ptr), ldc])
        return context.get_dummy_value()
    return sig, codegen


@numba.njit(cache=True, inline="always")
def _gemm_block(address, a, b, c, beta, i, r0, r1, c0, c1):
    """``c[i, r0:r1, c0:c1] (= or +=) a[i, r0:r1] @ b[i, :, c0:c1]`` on this thread."""
    item = c.itemsize
    _cblas_gemm(address, np.int64(r1 - r0), np.int64(c1 - c0), np.int64(a.shape[2]),
                np.int64(a.ctypes.data + i * a.strides[0] + r0 * a.strides[1]),
                np.int64(a.strides[1] // item),
                np.int64(b.ctypes.data + i * b.strides[0] + c0 * item),
                np.int64(b.strides[1] // item), beta,
                np.int64(c.ctypes.data + i * c.strides[0] + r0 * c.strides[1] + c0 * item),
                np.int64(c.strides[1] // item))


@numba.njit(cache=True, inline="always")
def block_bounds(part, parts, rows, columns, by_rows):
    """(r0, r1, c0, c1) of block ``part`` of ``parts`` (columns in multiples of 16)."""
    if by_rows:
        per = -(-rows // parts)
        return part * per, min(rows, (part + 1) * per), 0, columns
    per = -(-(-(-columns // parts)) // 16) * 16
    return 0, rows, min(columns, part * per), min(columns, (part + 1) * per)


@numba.njit(cache=True, parallel=True)
def _gemm_parallel(address, a, b, c, beta, parts, by_rows):
    for task in numba.prange(a.shape[0] * parts):
        i, part = task // parts, task % parts
        r0, r1, c0, c1 = block_bounds(part, parts, a.shape[1], b.shape[2], by_rows)
        if r1 > r0 and c1 > c0:
            _gemm_block(address, a, b, c, beta, i, r0, r1, c0, c1)


@numba.njit(cache=True)
def _gemm_serial(address, a, b, c, beta):
    for i in range(a.shape[0]):
        _gemm_block(address, a, b, c, beta, i, 0, a.shape[1], 0, b.shape[2])


def split(m: int, n: int, batch: int, macs: int) -> tuple[int, bool]:
    """(blocks per product, by rows?) for ``batch`` products of ``m x n`` over numba's threads:
    one block below OpenBLAS's serial threshold, whole products when the batch fills the
    threads, else row blocks (columns when the rows are few: measured at 2 threads, 64 x 3136
    outputs 0.14 ms by columns vs 0.17 by rows; 256 x 3136 0.64 vs 0.68)."""
    threads = numba.get_num_threads()
    if threads == 1 or macs < OPENBLAS_SERIAL_MACS:
        return 1, True
    if batch >= threads:
        return 1, True
    return threads, m >= 128 or m >= n


def _as_3d(x: np.ndarray) -> np.ndarray | None:
    """``x`` as a (batch, rows, cols) view with unit column stride, or None."""
    view = x.view()
    try:
        view.shape = (-1,) + x.shape[-2:] if x.ndim > 2 else (1,) + x.shape
    except AttributeError:
        return None
    item = x.itemsize
    if view.strides[2] != item and view.shape[2] > 1:
        return None
    return view


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray, accumulate: bool = False) -> None:
    """``out = a @ b`` (or ``out += a @ b``) for float arrays of one dtype and matching batch
    shape, over numba's threads (see the module docstring); anything else goes to numpy."""
    a3, b3, c3 = (_as_3d(x) for x in (a, b, out)) if a.ndim >= 2 and b.ndim >= 2 and         out.ndim == max(a.ndim, b.ndim) else (None, None, None)
    usable = a3 is not None and b3 is not None and c3 is not None and         a.dtype == b.dtype == out.dtype and a3.shape[0] == b3.shape[0] == c3.shape[0] and         a3.shape[2] == b3.shape[1] and c3.shape[1:] == (a3.shape[1], b3.shape[2]) and         out.flags.writeable and a3.size and b3.size and         all(x.strides[1] % x.itemsize == 0 and x.strides[1] // x.itemsize >= max(1, x.shape[2])
            for x in (a3, b3, c3))
    address = _ADDRESS.get(out.dtype)
    if address is None:
        address = _ADDRESS[out.dtype] = _address(out.dtype)
    if not usable or not address:
        if accumulate:
            out += a @ b
        else:
            np.matmul(a, b, out=out)
        return
    beta = out.dtype.type(1 if accumulate else 0)
    nb, m, k = a3.shape
    n = b3.shape[2]
    parts, by_rows = split(m, n, nb, m * n * k)
    if parts == 1 and nb < 2 or numba.get_num_threads() == 1:
        _gemm_serial(address, a3, b3, c3, beta)
    else:
        _gemm_parallel(address, a3, b3, c3, beta, parts, by_rows)
