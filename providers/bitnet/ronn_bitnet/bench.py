"""The ``bitnet`` bench suite: ternary BitLinear vs float32 BLAS vs int8, GEMV and GEMM.

``ronn bench --suite bitnet [--quick] [--threads N] [--runs N]``. Square layers N = K in
1024..8192 at batch 1, 8 and 64 (``--quick``: 256 and 512 at batch 1 and 8). Per row, best-of-runs
milliseconds of:

- ``f32_ms``: ``x @ W`` with numpy (its BLAS), W float32 [K, N];
- ``int8_ms``: per-row int8 activations x dense int8 weights (numba, int32 accumulate);
- ``i2s_ms`` / ``tl_ms``: the two ternary kernels, activation quantization included
  (``tl_ms`` is None where its lookup table would exceed ``TL_TABLE_LIMIT``);
- ``ternary_ms``: the faster of the two (``kernel`` names it), as the bitnet provider chooses;

and the speed ratios ``vs_f32 = f32_ms / ternary_ms`` and ``vs_int8 = int8_ms / ternary_ms``,
all measured in the same run.
"""

from __future__ import annotations

import time
from contextlib import nullcontext

import numpy as np

from ronn_core import BenchSuite

from ronn_bitnet import fast, packing
from ronn_bitnet.prepared import PreparedBitLinear, numba_threads

SIZES = (1024, 2048, 4096, 8192)
BATCHES = (1, 8, 64)
QUICK_SIZES = (256, 512)
QUICK_BATCHES = (1, 8)


def best_ms(fn, runs: int) -> float:
    fn()
    best = float("inf")
    for _ in range(max(1, runs)):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


def _blas_limit(threads: int | None):
    if threads is None:
        return nullcontext()
    from threadpoolctl import threadpool_limits
    return threadpool_limits(limits=threads)


def layer_rows(size: int, batches, runs: int, threads: int | None, seed: int = 0) -> list[dict]:
    """Rows for one square layer at each batch size."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((size, size), dtype=np.float32)          # [K, N]
    t, scale = packing.ternarize(w.T)
    layers = {k: PreparedBitLinear(packing.pack(t), size, scale, kernel=k, threads=threads)
              for k in ("i2s", "tl")}
    wscale = np.maximum(np.abs(w).max(axis=0), np.float32(1e-5)) / np.float32(127)
    w8 = np.ascontiguousarray(np.rint(w.T / wscale[:, None]).astype(np.int8))
    rows = []
    for batch in batches:
        x = rng.standard_normal((batch, size), dtype=np.float32)
        xq, amax = np.empty((batch, size), np.int8), np.empty(batch, np.float32)
        out = np.empty((batch, size), np.float32)

        def int8():
            fast.quantize_rows(x, xq, amax)
            fast.int8_matmul(xq, amax / np.float32(127), w8, wscale, out)

        with _blas_limit(threads):
            f32 = best_ms(lambda: x @ w, runs)
        with numba_threads(threads):
            i8 = best_ms(int8, runs)
        times = {k: best_ms(lambda: layer(x), runs) if k in layer.candidates(batch) else None
                 for k, layer in layers.items()}
        kernel = min((k for k in times if times[k] is not None), key=times.get)
        ternary = times[kernel]
        rows.append({"size": size, "batch": batch, "f32_ms": f32, "int8_ms": i8,
                     "i2s_ms": times["i2s"], "tl_ms": times["tl"], "kernel": kernel,
                     "ternary_ms": ternary, "vs_f32": f32 / ternary, "vs_int8": i8 / ternary})
    return rows


def run(threads: int | None = None, runs: int = 15, quick: bool = False) -> list[dict]:
    sizes, batches = (QUICK_SIZES, QUICK_BATCHES) if quick else (SIZES, BATCHES)
    rows = []
    for size in sizes:
        rows += layer_rows(size, batches, runs, threads)
    return rows


SUITE = BenchSuite("bitnet", "ternary BitLinear (I2_S/TL) vs float32 BLAS vs int8, GEMV/GEMM",
                   run)
