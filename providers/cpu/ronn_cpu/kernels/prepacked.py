"""GEMMs whose weights are packed once, on their first product, for OpenBLAS's own kernel.

``cblas_sgemm`` packs both operands on every call. For the weight-heavy products of a CNN's
late layers (2048x512 weights against 49 columns; Winograd's 16 512x512 matrices against 16)
that packing reads and writes the weights twice more than the product does, and the weights
come from L3. Here the weights are packed once with OpenBLAS's ``sgemm_oncopy`` in K blocks;
each run packs only the small operand (``sgemm_itcopy``) and calls ``sgemm_kernel`` directly,
from numba's threads: whole products per thread for a batch that fills them (Winograd), else
blocks of weight rows (``Lazy.matmul``: BLAS for the products that do not pay). Measured at 2 threads against the split cblas calls (weights from L3):
Winograd 16 x 512x512x16 1.59 -> 0.66 ms, 2048x512x49 0.52 -> 0.38, 736x1024x49 0.38 -> 0.26,
1024x256x196 0.38 -> 0.32; with fewer than 64 weight rows per thread it loses (64x256x3136
0.48 -> 0.54), and on wide products too (``pays``): those keep ``blas.matmul``. In ResNet-50
its GEMMs take 30.1 ms instead of 36.7.

The kernel and copy routines are internal OpenBLAS symbols of one CPU family; they are used
only where numpy's OpenBLAS runs its SkylakeX kernels (``CORES``), float32 only. Anywhere else
``Lazy.matmul`` is ``blas.matmul``.
"""

from __future__ import annotations

import ctypes
import threading

import numba
import numpy as np

from ronn_cpu.kernels.activations import threads
from ronn_cpu.kernels.blas import c_call, i64, matmul
from ronn_cpu.openblas import numpy_openblas

CORES = {"SkylakeX": "SKYLAKEX"}   # openblas_get_corename() -> symbol suffix, validated here
DEPTH_BLOCK = 384                  # K rows per packed block (the kernel's panel depth)
WIDTH_BLOCK = 448                  # columns of the small operand packed per kernel call
ROW_ALIGN = 16                     # weight-row blocks start at multiples of the kernel's N unroll
MIN_ROWS_PER_THREAD = 64
MAX_COLUMNS = 1024                 # wider products: cblas's own packing is amortized, and wins
MIN_BATCH_MATRIX = 1 << 15         # smaller matrices of a batch: cblas wins
_routines: list = []
_scratch = threading.local()
_packing = threading.RLock()       # one thread makes or packs a Lazy's weights; others wait


def routines() -> tuple[int, int, int] | None:
    """Addresses of (``sgemm_kernel``, ``sgemm_itcopy``, ``sgemm_oncopy``) of the core numpy's
    OpenBLAS runs, or None where that core is not one of ``CORES`` (or there is no OpenBLAS)."""
    if not _routines:
        found = None
        try:
            lib = numpy_openblas()
            if lib is not None:
                dll = ctypes.CDLL(lib.filepath)
                corename = lib._get_symbol("openblas_get_corename")   # the exported API name
                corename.restype = ctypes.c_char_p
                suffix = CORES.get((corename() or b"").decode())
                if suffix:
                    found = tuple(ctypes.cast(getattr(dll, f"sgemm_{name}_{suffix}"),
                                              ctypes.c_void_p).value
                                  for name in ("kernel", "itcopy", "oncopy"))
        except (OSError, AttributeError):   # another BLAS, another build: not available
            found = None
        _routines.append(found if found and all(found) else None)
    return _routines[0]


def pays(rows: int, depth: int, columns: int, batch: int = 1) -> bool:
    """Whether the packed kernel beats ``blas.matmul`` on this product (measured per shape in
    ResNet-50, DenseNet-121, Inception v2 and SqueezeNet: ResNet's four 256x64x3136 take 2.46
    ms against 2.18; limits from 256 to 4,096 columns are within 1-2% on the models): up to
    ``MAX_COLUMNS`` columns, and ``MIN_ROWS_PER_THREAD`` weight rows per thread, or for a batch
    that fills the threads ``MIN_BATCH_MATRIX`` weights per matrix (16x128x96 at 49 columns:
    0.51 vs 0.43 ms; 16x256x192: 0.50 vs 0.60)."""
    if columns > MAX_COLUMNS:
        return False
    count = threads()
    if batch >= count and batch > 1:
        return rows * depth >= MIN_BATCH_MATRIX
    return batch == 1 and rows >= MIN_ROWS_PER_THREAD * count


class Lazy:
    """Weights (rows, depth) or (batch, rows, depth) for ``matmul``: packed on the first
    product that pays (``pays``), so layers whose products never do keep no second copy, and
    run by BLAS otherwise (or where the packed kernel is not available). Once packed, the plain
    weights are let go (as onnxruntime frees the initializers it prepacks); ``array()`` unpacks
    them again if a product that does not pay needs them. ``weights`` may be a callable that
    makes them (``shape`` and ``dtype`` given): made on first use, so derived weights (Winograd's
    U) never sit beside their source for a whole session."""

    __slots__ = ("shape", "_weights", "_packed")

    def __init__(self, weights, shape: tuple | None = None, dtype=None):
        made = callable(weights)
        self.shape = tuple(shape) if made else weights.shape
        self._weights = weights
        dtype = np.dtype(dtype) if made else weights.dtype
        # None: not packed yet; False: never (not float32, or no packed kernel here)
        self._packed = None if dtype == np.float32 and routines() is not None else False

    @property
    def packable(self) -> bool:
        """Whether the packed kernel can take these weights on this machine."""
        return self._packed is not False

    @property
    def held(self) -> bool:
        """Whether the plain weights are held (made, and not let go after packing)."""
        return isinstance(self._weights, np.ndarray)

    def array(self) -> np.ndarray:
        """The plain weights: made on first use, or unpacked again (and kept) if they were let
        go."""
        w = self._weights
        if isinstance(w, np.ndarray):
            return w
        with _packing:
            w = self._weights
            if not isinstance(w, np.ndarray):
                w = w() if w is not None else unpack(self._packed).reshape(self.shape)
                self._weights = w
        return w

    def matmul(self, x: np.ndarray, out: np.ndarray) -> None:
        """``out = weights @ x``: by the packed kernel where it pays, else BLAS."""
        if not self.product(x, out):
            matmul(self.array(), x, out)

    def product(self, x: np.ndarray, out: np.ndarray) -> bool:
        """``out = weights @ x`` by the packed kernel where it pays; False (nothing written)
        otherwise."""
        shape = self.shape
        if self._packed is False or \
                not pays(shape[-2], shape[-1], x.shape[-1], shape[0] if len(shape) == 3 else 1):
            return False
        if self._packed is None:
            with _packing:
                if self._packed is None:
                    packed = pack(self.array()) or False
                    self._packed = packed
                    if packed and unpackable(packed):
                        self._weights = None
        return bool(self._packed) and matmul_packed(self._packed, x, out)


class PackedWeights:
    """``batch`` float32 (rows, depth) weight matrices in OpenBLAS's packed layout: per
    matrix, one block per ``DEPTH_BLOCK`` rows of depth, ``per_matrix`` floats apart."""

    __slots__ = ("data", "offsets", "rows", "depth", "batch", "per_matrix")

    def __init__(self, data, offsets, rows, depth, batch, per_matrix):
        self.data, self.offsets, self.rows, self.depth = data, offsets, rows, depth
        self.batch, self.per_matrix = batch, per_matrix


def _aligned(size: int) -> np.ndarray:
    """A float32 array of ``size`` elements starting on a 4 KB boundary."""
    raw = np.empty(size + 1024, np.float32)
    start = (-raw.ctypes.data % 4096) // 4
    return raw[start:start + size]


@numba.njit(cache=True)
def _pack_blocks(oncopy, w, data, offsets, per_matrix, block):
    """Every matrix ``w[b]`` (rows, depth) packed by ``oncopy`` into ``data``."""
    rows, depth = w.shape[1], w.shape[2]
    for b in range(w.shape[0]):
        for q in range(offsets.shape[0]):
            start = q * block
            size = min(block, depth - start)
            c_call(oncopy, (i64(size), i64(rows), i64(w[b].ctypes.data + start * 4),
                            i64(depth), i64(data.ctypes.data + (b * per_matrix + offsets[q]) * 4)))


def pack(w: np.ndarray) -> PackedWeights | None:
    """``w`` (rows, depth) or (batch, rows, depth), float32, packed once; None where the
    packed kernel is not available (then run ``blas.matmul``)."""
    found = routines()
    if found is None or w.dtype != np.float32 or w.ndim not in (2, 3) or 0 in w.shape:
        return None
    w3 = np.ascontiguousarray(w.reshape((-1,) + w.shape[-2:]))
    batch, rows, depth = w3.shape
    padded = -(-rows // ROW_ALIGN) * ROW_ALIGN
    sizes = [min(DEPTH_BLOCK, depth - s) * padded for s in range(0, depth, DEPTH_BLOCK)]
    offsets = np.cumsum([0] + sizes[:-1]).astype(np.int64)
    per_matrix = int(sum(sizes))
    data = _aligned(batch * per_matrix)
    _pack_blocks(found[2], w3, data, offsets, per_matrix, DEPTH_BLOCK)
    return PackedWeights(data, offsets, rows, depth, batch, per_matrix)


def unpackable(pw: PackedWeights) -> bool:
    """Whether ``unpack`` can restore ``pw``: its per-block positions, numbered in float32,
    stay exact (up to 2**24)."""
    return pw.rows * min(DEPTH_BLOCK, pw.depth) <= 1 << 24


def unpack(pw: PackedWeights) -> np.ndarray:
    """The plain (batch, rows, depth) weights of ``pw``. Each depth block's layout is found by
    packing the block's positions (1, 2, 3... as float32, exact; 0 is padding) with the same
    ``oncopy``: where position ``i`` lands, weight ``i - 1`` was put."""
    if not unpackable(pw):
        raise ValueError(f"packed weights of {pw.rows} rows cannot be unpacked exactly")
    out = np.empty((pw.batch, pw.rows, pw.depth), np.float32)
    oncopy = routines()[2]
    for q, start in enumerate(range(0, pw.depth, DEPTH_BLOCK)):
        size = min(DEPTH_BLOCK, pw.depth - start)
        positions = np.arange(1, pw.rows * size + 1, dtype=np.float32).reshape(1, pw.rows, size)
        layout = np.zeros(size * -(-pw.rows // ROW_ALIGN) * ROW_ALIGN, np.float32)
        _pack_blocks(oncopy, positions, layout, np.zeros(1, np.int64), layout.size, size)
        where = np.flatnonzero(layout > 0)
        source = layout[where].astype(np.int64) - 1
        if where.size != pw.rows * size or np.unique(source).size != source.size:
            raise ValueError(f"oncopy's layout of a {pw.rows}x{size} block is not a "
                             f"permutation; cannot unpack")
        rows, cols = source // size, start + source % size
        for b in range(pw.batch):
            block = pw.data[b * pw.per_matrix + pw.offsets[q]:][:layout.size]
            out[b, rows, cols] = block[where]
    return out


@numba.njit(cache=True, inline="always")
def _product(kernel, itcopy, data, offsets, base, depth, x, ldx, columns, out, ldo, r0, r1, sa):
    """``out[r0:r1] = W[r0:r1] @ x`` for one packed matrix (``base``: its first float)."""
    for r in range(r0, r1):
        for j in range(columns):
            out[r * ldo + j] = 0.0
    one = np.float32(1.0)
    for q in range(offsets.shape[0]):
        start = q * DEPTH_BLOCK
        size = min(DEPTH_BLOCK, depth - start)
        for j0 in range(0, columns, WIDTH_BLOCK):
            width = min(WIDTH_BLOCK, columns - j0)
            c_call(itcopy, (i64(size), i64(width), i64(x.ctypes.data + (j0 + start * ldx) * 4),
                            i64(ldx), i64(sa.ctypes.data)))
            c_call(kernel, (i64(width), i64(r1 - r0), i64(size), one, i64(sa.ctypes.data),
                            i64(data.ctypes.data + (base + offsets[q] + size * r0) * 4),
                            i64(out.ctypes.data + (j0 + r0 * ldo) * 4), i64(ldo)))


@numba.njit(cache=True, parallel=True)
def _rows_parallel(kernel, itcopy, data, offsets, rows, depth, x, ldx, columns, out, ldo, sa,
                   parts):
    """One product, its weight rows split in ``parts`` blocks (multiples of ROW_ALIGN)."""
    per = -(-(-(-rows // parts)) // ROW_ALIGN) * ROW_ALIGN
    for part in numba.prange(parts):
        r0, r1 = part * per, min(rows, (part + 1) * per)
        if r1 > r0:
            _product(kernel, itcopy, data, offsets, 0, depth, x, ldx, columns, out, ldo, r0, r1,
                     sa[part])


@numba.njit(cache=True, parallel=True)
def _batch_parallel(kernel, itcopy, data, offsets, per_matrix, rows, depth, x, ldx, columns,
                    out, ldo, sa, parts):
    """A batch of products, whole ones per part: product ``b`` reads ``x[b]``, writes
    ``out[b]`` (flat, ``x.shape[1]`` and ``out.shape[1]`` floats apart)."""
    for part in numba.prange(parts):
        for b in range(part, x.shape[0], parts):
            _product(kernel, itcopy, data, offsets, b * per_matrix, depth, x[b], ldx, columns,
                     out[b], ldo, 0, rows, sa[part])


def _panels(parts: int) -> np.ndarray:
    """This thread's packing space: one (DEPTH_BLOCK x WIDTH_BLOCK) panel per part."""
    found = getattr(_scratch, "panels", None)
    if found is None or found.shape[0] < parts:
        size = DEPTH_BLOCK * WIDTH_BLOCK
        flat = _aligned(parts * size)
        found = _scratch.panels = flat.reshape(parts, size)
    return found


def matmul_packed(pw: PackedWeights, x: np.ndarray, out: np.ndarray) -> bool:
    """``out = W @ x`` for the packed ``W``: ``x`` (depth, columns) and ``out`` (rows, columns),
    or a batch of each (``pw.batch`` products), float32 with unit-stride rows. False (nothing
    written) where it cannot take the operands; whether it pays is ``pays``'s call."""
    count = threads()
    if x.dtype != np.float32 or out.dtype != np.float32 or x.shape[-2] != pw.depth or \
            out.shape[-2] != pw.rows or x.shape[-1] != out.shape[-1] or \
            x.strides[-1] != 4 or out.strides[-1] != 4:
        return False
    columns = x.shape[-1]
    if x.strides[-2] < 4 * columns or out.strides[-2] < 4 * columns:
        return False                        # rows overlap, or run backwards
    if pw.batch > 1:
        if x.ndim != 3 or out.ndim != 3 or x.shape[0] != pw.batch or out.shape[0] != pw.batch \
                or not (x.flags.c_contiguous and out.flags.c_contiguous):
            return False
        parts = min(count, pw.batch)
        _batch_parallel(*routines()[:2], pw.data, pw.offsets, pw.per_matrix, pw.rows,
                        pw.depth, x.reshape(pw.batch, -1), columns,
                        columns, out.reshape(pw.batch, -1), columns, _panels(parts), parts)
        return True
    if x.ndim != 2 or out.ndim != 2:
        return False
    parts = min(count, -(-pw.rows // ROW_ALIGN))
    _rows_parallel(*routines()[:2], pw.data, pw.offsets, pw.rows, pw.depth,
                   x.reshape(-1) if x.flags.c_contiguous else _flat_rows(x), x.strides[0] // 4,
                   columns, out.reshape(-1) if out.flags.c_contiguous else _flat_rows(out),
                   out.strides[0] // 4, _panels(parts), parts)
    return True


def _flat_rows(a: np.ndarray) -> np.ndarray:
    """A 1-D view from ``a``'s first element over all its rows (rows further apart than their
    length: a slice of wider rows)."""
    span = (a.shape[0] - 1) * (a.strides[0] // 4) + a.shape[1]
    return np.lib.stride_tricks.as_strided(a, shape=(span,), strides=(4,))
