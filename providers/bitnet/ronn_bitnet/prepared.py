"""One BitLinear layer ready for the numba kernels, and the per-shape choice between them.

``PreparedBitLinear(packed, in_features, scale, bias)`` keeps the packed weights as they are
(I2_S reads the ONNX layout; the AVX2 TL kernel builds a copy tiled 32 rows at a time when it
is first used, dropped again when measurement picks I2_S) and runs ``X[..., K] -> Y[..., N]``
with kernel ``"i2s"`` or ``"tl"``. With ``kernel="auto"`` the first call for a batch size class
(1, 2, 4, ... 256 rows) times both kernels on that very input (alternating, best of 5) and
keeps the faster one; the choice is shared by every layer of the same shape
(``CHOICES``: ``(N, K, rows class, threads) -> kernel``).
"""

from __future__ import annotations

import contextlib
import threading
import time

import numba
import numpy as np

from ronn_bitnet import fast
from ronn_bitnet.packing import F32

KERNELS = ("i2s", "tl")
#: largest lookup table (bytes) the TL kernel may build; above it only I2_S is a candidate
TL_TABLE_LIMIT = 32 << 20

CHOICES: dict[tuple[int, int, int, int], str] = {}
_lock = threading.Lock()


def rows_class(m: int) -> int:
    """The batch size class of ``m`` rows: the next power of two, at most 256."""
    return 1 if m <= 1 else min(256, 1 << (m - 1).bit_length())


@contextlib.contextmanager
def numba_threads(threads: int | None):
    """Run numba's parallel loops on at most ``threads`` threads (None: numba's default)."""
    if threads is None:
        yield
        return
    old = numba.get_num_threads()
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(old)


class PreparedBitLinear:
    """Packed weights ``[N, ceil(K/4)]``, scale ``[N]``, bias ``[N]`` or none; callable on X."""

    def __init__(self, packed: np.ndarray, in_features: int, scale: np.ndarray,
                 bias: np.ndarray | None = None, *, kernel: str = "auto",
                 threads: int | None = None):
        if kernel not in KERNELS + ("auto",):
            raise ValueError(f"kernel {kernel!r}: expected one of {list(KERNELS) + ['auto']}")
        self.packed = np.ascontiguousarray(packed, np.uint8)
        self.in_features = int(in_features)
        self.out_features = self.packed.shape[0]
        self.k4 = self.packed.shape[1]
        self.scale = np.ascontiguousarray(np.broadcast_to(
            np.asarray(scale, F32).reshape(-1), (self.out_features,)))
        self.bias = (np.zeros(0, F32) if bias is None
                     else np.ascontiguousarray(np.asarray(bias, F32).reshape(-1)))
        self.kernel = kernel
        self.threads = threads
        self.used: dict[int, str] = {}    # rows class -> kernel this layer ran
        self._tiled: np.ndarray | None = None

    # -- running ------------------------------------------------------------------------------

    def __call__(self, x: np.ndarray, *_ignored) -> np.ndarray:
        lead = x.shape[:-1]
        x2 = np.ascontiguousarray(x.reshape(-1, self.in_features), F32)
        name = self.kernel if self.kernel != "auto" else self.choose(x2)
        self.used[rows_class(x2.shape[0])] = name
        return self.run(x2, name).reshape(*lead, self.out_features)

    def run(self, x2: np.ndarray, name: str) -> np.ndarray:
        """``x2[M, K]`` (float32, contiguous) -> ``[M, N]`` with kernel ``name``."""
        m = x2.shape[0]
        out = np.empty((m, self.out_features), F32)
        if m == 0:
            return out
        planes = np.empty((m, 4, self.k4), np.int8)
        amax = np.empty(m, F32)
        xsum = np.empty(m, np.int32)
        with numba_threads(self.threads):
            fast.quantize_planes(x2, planes, amax, xsum)
            if name == "i2s":
                fast.i2s_matmul(planes, xsum, amax, self.packed, self.scale, self.bias, out)
            elif fast.HAS_AVX2:
                tables = np.empty((m, 2 * self.k4, 64), np.uint8)
                fast.build_pair_tables(planes, tables)
                fast.tl_matmul_avx2(tables, amax, self.tiled(), self.scale, self.bias, out)
            else:
                lut = np.empty((m, self.k4, 256), np.int16)
                fast.build_tables(planes, lut)
                fast.tl_matmul(lut, amax, self.packed, self.scale, self.bias, out)
        return out

    def tiled(self) -> np.ndarray:
        """The weights tiled 32 rows at a time for the AVX2 TL kernel (built on first use)."""
        if self._tiled is None:
            self._tiled = fast.tile_rows(self.packed)
        return self._tiled

    def table_bytes(self, m: int) -> int:
        """Size of the TL lookup tables for ``m`` rows."""
        return m * self.k4 * (128 if fast.HAS_AVX2 else 512)

    # -- choosing -----------------------------------------------------------------------------

    def candidates(self, m: int) -> tuple[str, ...]:
        return KERNELS if self.table_bytes(m) <= TL_TABLE_LIMIT else ("i2s",)

    def choose(self, x2: np.ndarray) -> str:
        """The measured-faster kernel for this shape (timed once per shape and rows class)."""
        key = (self.out_features, self.in_features, rows_class(x2.shape[0]), self.threads or 0)
        with _lock:
            name = CHOICES.get(key)
            if name is None:
                name = CHOICES[key] = self.measure(x2)
                if name != "tl":
                    self._tiled = None        # the TL copy of the weights is not needed
        return name

    def measure(self, x2: np.ndarray, repeats: int = 5) -> str:
        """Time the candidate kernels on ``x2`` (one untimed call each, then ``repeats`` rounds
        alternating between them, so a burst of load hits both) and return the fastest."""
        names = self.candidates(x2.shape[0])
        for name in names:
            self.run(x2, name)
        best = dict.fromkeys(names, float("inf"))
        for _ in range(repeats):
            for name in names:
                start = time.perf_counter()
                self.run(x2, name)
                best[name] = min(best[name], time.perf_counter() - start)
        return min(best, key=best.get)
