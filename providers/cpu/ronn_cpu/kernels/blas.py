"""numpy's OpenBLAS, called on RONN's own thread pool: one pool for GEMMs and the loops
around them.

OpenBLAS's worker threads spin after every threaded product, and numba's parallel loops next to
them ran 10-20x slower on two cores. So a run's first product big enough for OpenBLAS to thread
holds it to one thread until the run ends (``openblas.RUN_SCOPE``, entered by the cpu provider
around every run; small models never pay for the switch), and ``matmul`` splits a product into
row or column blocks, one single-threaded ``cblas_?gemm`` per block, over numba's threads: the
epilogues, column copies and pools after it can then go parallel too. ``cblas_?gemm`` is called
by address from numba (``c_call``, an intrinsic: the compiled code stays cacheable), so it also
takes what ``np.matmul`` cannot: ``C += A @ B`` in place, strided and transposed views.

Below ``OPENBLAS_SERIAL_MACS`` multiply-adds a product runs on one thread (OpenBLAS's own
``SMP_THRESHOLD_MIN * GEMM_MULTITHREAD_THRESHOLD``). The symbol comes from the OpenBLAS numpy
itself links (found by threadpoolctl); without it, or for operands BLAS cannot take, numpy
runs the product.
"""

from __future__ import annotations

import ctypes

import numba
import numpy as np
from llvmlite import ir
from numba.core import types
from numba.extending import intrinsic

from ronn_cpu.kernels.activations import threads
from ronn_cpu.openblas import hold_one_thread, numpy_openblas

OPENBLAS_SERIAL_MACS = 1 << 18

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
_addresses: dict[tuple[str, np.dtype], int] = {}


def address(routine: str, dtype) -> int:
    """The address of numpy's ``cblas_?<routine>`` (``gemm``, ``gemv``) for float32 / float64,
    or 0 where there is none usable: another BLAS, or 32-bit integers (the calls pass int64)."""
    key = (routine, np.dtype(dtype))
    if key not in _addresses:
        found = 0
        if key[1] in (np.float32, np.float64):
            try:
                lib = numpy_openblas()
                if lib is not None and "64" in lib._symbol_suffix:
                    fn = lib._get_symbol(("cblas_s" if key[1] == np.float32 else "cblas_d")
                                         + routine)
                    found = (ctypes.cast(fn, ctypes.c_void_p).value or 0) if fn else 0
            except Exception:                # pragma: no cover - another BLAS, another API
                found = 0
        _addresses[key] = found
    return _addresses[key]


@intrinsic
def c_call(typingctx, function, arguments):
    """Call the C function at address ``function`` with the tuple ``arguments`` (int32 for
    CBLAS enums, int64 for sizes and pointers, float32 / float64): cblas by address, so the
    numba code that calls it stays cacheable."""
    sig = types.void(function, arguments)

    def codegen(context, builder, signature, args):
        function, values = args
        values = [builder.extract_value(values, i) for i in range(len(signature.args[1]))]
        fnty = ir.FunctionType(ir.VoidType(), [v.type for v in values])
        builder.call(builder.inttoptr(function, fnty.as_pointer()), values)
        return context.get_dummy_value()
    return sig, codegen


@numba.njit(cache=True, inline="always")
def i64(v):
    return np.int64(v)


@numba.njit(cache=True, inline="always")
def _gemm_block(gemm, gemv, a, b, c, beta, ta, lda, tb, ldb, i, r0, r1, c0, c1):
    """``c[i, r0:r1, c0:c1] (= or +=) a[i, r0:r1] @ b[i, :, c0:c1]`` on this thread: one
    ``cblas_?gemm``, or ``?gemv`` for a single row or column (OpenBLAS's gemm is several
    times slower there). ``ta``/``tb``: the operand is stored transposed, rows ``ld`` apart."""
    item = c.itemsize
    one = c.dtype.type(1)
    k = a.shape[2]
    pa = a.ctypes.data + i * a.strides[0] + r0 * a.strides[1]
    pb = b.ctypes.data + i * b.strides[0] + c0 * b.strides[2]
    pc = c.ctypes.data + i * c.strides[0] + r0 * c.strides[1] + c0 * item
    ldc = c.strides[1] // item
    order = np.int32(ROW_MAJOR)
    if r1 - r0 == 1 and gemv:              # a row of c: op(b)^T @ that row of a
        rows, cols = (c1 - c0, k) if tb else (k, c1 - c0)
        c_call(gemv, (order, np.int32(NO_TRANS if tb else TRANS), i64(rows), i64(cols),
                       one, i64(pb), i64(ldb), i64(pa), i64(a.strides[2] // item), beta,
                       i64(pc), i64(1)))
    elif c1 - c0 == 1 and gemv:            # a column of c: op(a) @ that column of b
        rows, cols = (k, r1 - r0) if ta else (r1 - r0, k)
        c_call(gemv, (order, np.int32(TRANS if ta else NO_TRANS), i64(rows), i64(cols),
                       one, i64(pa), i64(lda), i64(pb), i64(b.strides[1] // item), beta,
                       i64(pc), i64(ldc)))
    else:
        c_call(gemm, (order, np.int32(TRANS if ta else NO_TRANS),
                       np.int32(TRANS if tb else NO_TRANS), i64(r1 - r0), i64(c1 - c0),
                       i64(k), one, i64(pa), i64(lda), i64(pb), i64(ldb), beta, i64(pc),
                       i64(ldc)))


@numba.njit(cache=True, inline="always")
def block_bounds(part, parts, rows, columns, by_rows):
    """(r0, r1, c0, c1) of block ``part`` of ``parts`` (columns in multiples of 16)."""
    if by_rows:
        per = -(-rows // parts)
        return part * per, min(rows, (part + 1) * per), 0, columns
    per = -(-(-(-columns // parts)) // 16) * 16
    return 0, rows, min(columns, part * per), min(columns, (part + 1) * per)


@numba.njit(cache=True, parallel=True)
def _gemm_parallel(gemm, gemv, a, b, c, beta, ta, lda, tb, ldb, parts, by_rows):
    for task in numba.prange(a.shape[0] * parts):
        i, part = task // parts, task % parts
        r0, r1, c0, c1 = block_bounds(part, parts, a.shape[1], b.shape[2], by_rows)
        if r1 > r0 and c1 > c0:
            _gemm_block(gemm, gemv, a, b, c, beta, ta, lda, tb, ldb, i, r0, r1, c0, c1)


@numba.njit(cache=True)
def _gemm_serial(gemm, gemv, a, b, c, beta, ta, lda, tb, ldb):
    for i in range(a.shape[0]):
        _gemm_block(gemm, gemv, a, b, c, beta, ta, lda, tb, ldb, i, 0, a.shape[1], 0,
                    b.shape[2])


def split(m: int, n: int, batch: int, macs: int, count: int) -> tuple[int, bool]:
    """(blocks per product, by rows?) for ``batch`` products of ``m x n`` over numba's threads:
    one block below OpenBLAS's serial threshold, whole products when the batch fills the
    threads, else row blocks (columns when the rows are few: measured at 2 threads, 64 x 3136
    outputs 0.14 ms by columns vs 0.17 by rows; 256 x 3136 0.64 vs 0.68). ``count``: numba's
    thread count."""
    if count == 1 or macs < OPENBLAS_SERIAL_MACS or batch >= count:
        return 1, True
    return count, m >= 128 or m >= n


def _as_3d(x: np.ndarray) -> np.ndarray | None:
    """``x`` as a (batch, rows, cols) view, or None where its batch axes do not merge."""
    view = x.view()
    try:
        view.shape = (-1,) + x.shape[-2:] if x.ndim > 2 else (1,) + x.shape
    except AttributeError:
        return None
    return view


def _layout(x: np.ndarray, output: bool = False) -> tuple[int, int] | None:
    """(transposed?, leading dimension) of a 3-D view as BLAS takes it: rows or (not for the
    output) columns contiguous, the other axis at least that long apart; else None."""
    item = x.itemsize
    rows, cols = x.shape[1], x.shape[2]
    if x.strides[1] % item or x.strides[2] % item:
        return None
    s1, s2 = x.strides[1] // item, x.strides[2] // item
    if (s2 == 1 or cols == 1) and s1 >= max(1, cols):
        return 0, max(1, s1)
    if not output and (s1 == 1 or rows == 1) and s2 >= max(1, rows):
        return 1, max(1, s2)
    return None


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray, accumulate: bool = False) -> None:
    """``out = a @ b`` (or ``out += a @ b``) for float arrays of one dtype and matching batch
    shape, over numba's threads (see the module docstring); anything else goes to numpy."""
    if a.size * (b.shape[-1] if b.ndim else 1) >= OPENBLAS_SERIAL_MACS:
        hold_one_thread()
    gemm, gemv = address("gemm", out.dtype), address("gemv", out.dtype)
    plan = None
    if gemm and a.ndim >= 2 and b.ndim >= 2 and out.ndim == max(a.ndim, b.ndim) and \
            a.dtype == b.dtype == out.dtype and out.flags.writeable and a.size and b.size:
        a3, b3, c3 = _as_3d(a), _as_3d(b), _as_3d(out)
        if a3 is not None and b3 is not None and c3 is not None and \
                a3.shape[0] == b3.shape[0] == c3.shape[0] and a3.shape[2] == b3.shape[1] and \
                c3.shape[1:] == (a3.shape[1], b3.shape[2]):
            plan = _layout(a3), _layout(b3), _layout(c3, output=True)
    if plan is None and a.ndim == b.ndim == out.ndim > 3 and \
            a.shape[0] == b.shape[0] == out.shape[0]:
        for i in range(a.shape[0]):      # batch axes that do not merge (attention's head views)
            matmul(a[i], b[i], out[i], accumulate)
        return
    if plan is None or None in plan:
        if accumulate:
            out += a @ b
        else:
            np.matmul(a, b, out=out)
        return
    (ta, lda), (tb, ldb) = plan[0], plan[1]
    beta = out.dtype.type(1 if accumulate else 0)
    nb, m, k = a3.shape
    n = b3.shape[2]
    count = threads()
    parts, by_rows = split(m, n, nb, m * n * k, count)
    if parts == 1 and (nb < 2 or count == 1):
        _gemm_serial(gemm, gemv, a3, b3, c3, beta, ta, lda, tb, ldb)
    else:
        _gemm_parallel(gemm, gemv, a3, b3, c3, beta, ta, lda, tb, ldb, parts, by_rows)
