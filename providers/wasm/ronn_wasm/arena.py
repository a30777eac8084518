"""The arena: the linear memory that holds a session's tensors, and the kernel instances on it.

Device values are numpy arrays viewing the memory (zero-copy). Each allocation is a ``Block``;
views keep their block alive and a block returns to a free list (by size) when the last view
goes. Kernels are called with byte offsets into the memory. The memory is a wasm *shared*
memory so that a second instance, on a worker thread, can compute half of a large GEMM.
"""

from __future__ import annotations

import ctypes
import functools
import os
import queue
import threading
from collections import defaultdict
from pathlib import Path

import numpy as np
import wasmtime

from ronn_core.errors import ProviderError
from ronn_wasm.fastcall import bind
from ronn_wasm.kernels import module_bytes, module_digest

PAGE = 65536
ALIGN = 64
PAD = 16            # every block has room for one whole f32x4 past its end
# The relaxed-SIMD kernel variant (FMA GEMM) runs in Python unless RONN_WASM_RELAXED=0.
RELAXED = os.environ.get("RONN_WASM_RELAXED", "1") != "0"
FIRST_BLOCK = 65536


@functools.lru_cache(maxsize=1)
def engine() -> wasmtime.Engine:
    """The engine kernel modules are compiled for (SIMD128 and bulk memory on)."""
    config = wasmtime.Config()
    config.wasm_simd = True
    config.wasm_bulk_memory = True
    config.wasm_relaxed_simd = RELAXED
    config.wasm_threads = True        # shared memory: a second instance runs GEMM halves
    config.shared_memory = True
    config.cranelift_opt_level = "speed"
    return wasmtime.Engine(config)


def _cache_dir() -> Path:
    root = os.environ.get("RONN_WASM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ronn-wasm")
    return Path(root)


@functools.lru_cache(maxsize=1)
def kernel_module() -> wasmtime.Module:
    """The compiled kernel module: compiled once per process, cached on disk across processes."""
    eng = engine()
    version = getattr(wasmtime, "__version__", "")
    path = _cache_dir() / f"kernels-{module_digest(RELAXED, True)}-{version}.cwasm"
    try:
        if path.exists():
            return wasmtime.Module.deserialize_file(eng, str(path))
    except wasmtime.WasmtimeError:
        pass      # stale or foreign cache entry: recompile below
    module = wasmtime.Module(eng, module_bytes(RELAXED, True))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(bytes(module.serialize()))
        tmp.replace(path)
    except OSError:
        pass      # a read-only home: the in-process cache still holds
    return module


class Block:
    """``size`` bytes at ``offset`` in an arena; freed when garbage-collected."""

    __slots__ = ("arena", "offset", "size", "__weakref__")

    def __init__(self, arena: "Arena", offset: int, size: int):
        self.arena, self.offset, self.size = arena, offset, size

    @property
    def __array_interface__(self):
        return {"shape": (self.size,), "typestr": "|u1", "version": 3,
                "data": (self.arena.base + self.offset, False)}

    def __del__(self):
        try:
            self.arena._free[self.size].append(self.offset)
        except Exception:   # interpreter shutdown
            pass


class _SharedMemory(wasmtime.SharedMemory):
    """wasmtime-py 50 wraps a shared memory's pointer once too often when importing it."""

    def _as_extern(self):
        from wasmtime import _ffi as ffi
        union = ffi.wasmtime_extern_union(sharedmemory=self.ptr())
        return ffi.wasmtime_extern_t(ffi.WASMTIME_EXTERN_SHAREDMEMORY, union)


class _Worker:
    """A second instance of the kernels on the same shared memory, driven from its own thread
    (wasmtime calls release the GIL, so both halves of a GEMM run at once)."""

    def __init__(self, memory: wasmtime.SharedMemory):
        self.store = wasmtime.Store(engine())
        instance = wasmtime.Instance(self.store, kernel_module(), [memory])
        self.gemm = bind(self.store, instance.exports(self.store)["gemm"])
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.done: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._loop, daemon=True, name="ronn-wasm-gemm").start()

    def _loop(self) -> None:
        while True:
            args = self.jobs.get()
            if args is None:
                return
            try:
                self.gemm(*args)
                self.done.put(None)
            except BaseException as exc:    # handed back to the caller
                self.done.put(exc)

    def close(self) -> None:
        self.jobs.put(None)


class Arena:
    """A store, an instance of the kernel module and an allocator over its (shared) memory."""

    def __init__(self, threads: int = 1):
        self.store = wasmtime.Store(engine())
        self.shared = _SharedMemory(engine(), wasmtime.MemoryType(
            wasmtime.Limits(16, 65536), shared=True))
        self.instance = wasmtime.Instance(self.store, kernel_module(), [self.shared])
        exports = self.instance.exports(self.store)
        self.funcs = {e.name: bind(self.store, exports[e.name])
                      for e in kernel_module().exports if isinstance(e.type, wasmtime.FuncType)}
        self.base = ctypes.addressof(self.shared.data_ptr().contents)
        self.size = self.shared.data_len()
        self.top = FIRST_BLOCK          # below: null (0), unused
        self._scratch: list[Block | None] = [None, None]
        self._free: dict[int, list[int]] = defaultdict(list)
        self.lock = threading.RLock()
        self.trace: list | None = None  # kernel calls, while an export records a run
        self.host_writes: list[str] = []
        self.outputs: dict[int, int] = {}   # id(output view) -> offset, while tracing
        self.inputs: list = []               # (offset, copy) of inputs, while tracing
        self._worker = _Worker(self.shared) if threads > 1 else None

    def __del__(self):
        if getattr(self, "_worker", None) is not None:
            self._worker.close()

    # -- memory -----------------------------------------------------------------------------

    def alloc(self, nbytes: int) -> Block:
        size = (int(nbytes) + PAD + ALIGN - 1) // ALIGN * ALIGN
        free = self._free.get(size)
        if free:
            return Block(self, free.pop(), size)
        offset = self.top
        self.top += size
        if self.top > self.size:
            self._grow(self.top)
        return Block(self, offset, size)

    def _grow(self, needed: int) -> None:
        pages = (needed - self.size + PAGE - 1) // PAGE
        pages = max(pages, self.size // PAGE // 4)      # grow by at least 25%
        if self.size // PAGE + pages > 65536:
            raise ProviderError(f"wasm arena needs {needed} bytes; linear memory stops at 4 GiB")
        self.shared.grow(pages)
        self.size = self.shared.data_len()
        base = ctypes.addressof(self.shared.data_ptr().contents)
        if base != self.base:
            raise ProviderError("wasm linear memory moved when it grew; views would dangle "
                                "(wasmtime is configured without a static memory reservation)")

    def empty(self, shape, dtype=np.float32) -> np.ndarray:
        """A new array in the arena (uninitialised)."""
        dtype = np.dtype(dtype)
        shape = tuple(int(d) for d in shape)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        raw = np.asarray(self.alloc(nbytes))
        return raw[:nbytes].view(dtype).reshape(shape)

    def owns(self, arr: np.ndarray) -> bool:
        if not isinstance(arr, np.ndarray):
            return False
        off = arr.__array_interface__["data"][0] - self.base
        return 0 <= off < self.size and arr.flags.c_contiguous

    def adopt(self, arr, what: str = "host") -> np.ndarray:
        """``arr`` as a contiguous arena array (copied in unless it already is one)."""
        if self.owns(arr):
            return arr
        host = np.ascontiguousarray(arr)
        out = self.empty(host.shape, host.dtype)
        out[...] = host
        if self.trace is not None and what != "input":
            self.host_writes.append(what)
        return out

    def gemm_scratch(self, m: int, slot: int = 0) -> int:
        """Offset of a GEMM's packing space (a B panel, then A packed), big enough for m rows;
        one per thread (``slot``)."""
        from ronn_wasm.wat_gemm import KC, MC, PANEL_BYTES
        need = PANEL_BYTES + (min(m, MC) + 3) // 4 * 16 * KC
        block = self._scratch[slot]
        if block is None or block.size < need + PAD:
            block = self._scratch[slot] = self.alloc(max(need, 2 * (block.size if block else 0)))
        return block.offset

    def gemm(self, a: int, b: int, c: int, bias: int, m: int, n: int, k: int, lda: int,
             ldb: int, ldc: int, bmode: int, act: int, alpha: float, batch: int = 1,
             sa: int = 0, sb: int = 0, sc: int = 0, apre: int = 0, res: int = 0) -> None:
        """C = act(alpha A @ B + bias) on offsets; the columns split over two threads when a
        worker exists and the product is big enough. ``apre``: offset of A prepacked by
        ``wat_gemm.pack_a`` (0: A is packed while it runs); ``res``: offset of a residual
        laid out like C, added before the activation (0: none)."""
        args = (m, n, k, lda, ldb, ldc, bmode, act, float(alpha), batch, sa, sb, sc)
        if (self._worker is None or self.trace is not None or n < 32
                or m * n * k * batch < 1 << 20):
            self.call("gemm", a, b, c, bias, *args, self.gemm_scratch(m), apre, res)
            return
        n1 = (n // 2 + 7) // 8 * 8
        self._worker.jobs.put((a, b + 4 * n1, c + 4 * n1, bias + 4 * n1 if bmode == 2 else bias,
                               m, n - n1, k, lda, ldb, ldc, bmode, act, float(alpha), batch, sa,
                               sb, sc, self.gemm_scratch(m, 1), apre,
                               res + 4 * n1 if res else 0))
        try:
            self.call("gemm", a, b, c, bias, m, n1, *args[2:], self.gemm_scratch(m), apre, res)
        finally:
            failure = self._worker.done.get()
        if failure is not None:
            raise ProviderError(f"wasm kernel gemm trapped on the worker thread: {failure}")

    def ptr(self, arr: np.ndarray | None) -> int:
        """Byte offset of an arena array (0 for None)."""
        if arr is None:
            return 0
        off = arr.__array_interface__["data"][0] - self.base
        if not 0 <= off < self.size:
            raise ProviderError(f"internal: a {arr.dtype}{list(arr.shape)} array outside the "
                                f"wasm arena was handed to a kernel")
        return off

    def snapshot(self) -> bytes:
        """The used part of linear memory (weights and everything below the top)."""
        return ctypes.string_at(self.base, self.top)

    # -- kernels ----------------------------------------------------------------------------

    def call(self, name: str, *args) -> None:
        """Run kernel ``name``; records the call while a trace is on."""
        if self.trace is not None:
            self.trace.append([name, *[float(a) if isinstance(a, float) else int(a) for a in args]])
        try:
            self.funcs[name](*args)
        except wasmtime.Trap as exc:     # a bug in a kernel or its driver, never user data
            raise ProviderError(f"wasm kernel {name} trapped: {exc}") from exc
