"""Where the GPU provider's arrays live and how Triton kernels are launched on them.

``CupyBackend`` is the real one: CuPy arrays on one CUDA device, the CuPy memory pool, a
non-blocking stream that cuBLAS, CuPy and Triton launches all use. ``HostBackend`` runs the same
kernels on the CPU: numpy arrays stand in for CuPy ones and Triton kernels run in Triton's
interpreter (``TRITON_INTERPRET=1``) on torch CPU tensors sharing the numpy memory. It exists to
test the provider's kernels and plumbing without a GPU; it is slow and proves nothing about speed.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable

import numpy as np

_TL_DTYPES = {"float32": "float32", "float16": "float16", "float64": "float64",
              "int64": "int64", "int32": "int32", "int8": "int8", "uint8": "uint8",
              "bool": "int1"}


class DevicePointer:
    """What Triton's launcher needs of a tensor argument: ``data_ptr()`` and a Triton dtype."""

    __slots__ = ("ptr", "dtype")

    def __init__(self, ptr: int, dtype: Any):
        self.ptr, self.dtype = ptr, dtype

    def data_ptr(self) -> int:
        return self.ptr


class Backend:
    """The array module (``xp``) and kernel launching for one device."""

    name = "abstract"
    xp: Any = np
    interpreted = False     # Triton kernels run in the interpreter (small blocks)

    def to_device(self, host: np.ndarray) -> Any:
        raise NotImplementedError

    def to_host(self, value: Any) -> np.ndarray:
        raise NotImplementedError

    def is_device_array(self, value: Any) -> bool:
        raise NotImplementedError

    def kernel_arg(self, array: Any) -> Any:
        raise NotImplementedError

    def launch(self, kernel: Any, grid: tuple, *args: Any, **meta: Any) -> None:
        """``kernel[grid](*args, **meta)`` with device arrays turned into kernel arguments."""
        converted = [self.kernel_arg(a) if self.is_device_array(a) else a for a in args]
        kernel[grid](*converted, **meta)

    def stream(self) -> contextlib.AbstractContextManager:
        return contextlib.nullcontext()

    def synchronize(self) -> None:
        pass

    def capture(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        """A replayable recording of ``fn`` (a CUDA graph); the host backend replays by calling."""
        return fn

    def memory_info(self) -> dict[str, int]:
        return {}


class HostBackend(Backend):
    """numpy arrays; Triton kernels in the interpreter over torch CPU tensors (no GPU needed)."""

    name = "host-interpreter"
    xp = np
    interpreted = True

    def __init__(self):
        import torch    # the interpreter reads and writes torch CPU tensors
        self._torch = torch

    def to_device(self, host: Any) -> np.ndarray:
        return np.array(host, copy=True) if isinstance(host, np.ndarray) else np.asarray(host)

    def to_host(self, value: Any) -> np.ndarray:
        return value

    def is_device_array(self, value: Any) -> bool:
        return isinstance(value, np.ndarray)

    def kernel_arg(self, array: np.ndarray) -> Any:
        if not array.flags.c_contiguous:
            raise ValueError("Triton kernel arguments must be C-contiguous")
        if not array.flags.writeable:      # torch warns on read-only numpy memory
            array = array.copy()
        if array.dtype == np.bool_:
            return self._torch.from_numpy(array.view(np.uint8))
        return self._torch.from_numpy(array)


class CupyBackend(Backend):
    """CuPy arrays on CUDA device ``device_id``; one stream for cuBLAS, CuPy and Triton."""

    name = "cupy"

    def __init__(self, device_id: int = 0, memory_limit: int = 0):
        import cupy
        import triton
        import triton.language as tl
        self.xp = cupy
        self.device_id = device_id
        self.device = cupy.cuda.Device(device_id)
        with self.device:
            self._stream = cupy.cuda.Stream(non_blocking=True)
            self.pool = cupy.get_default_memory_pool()
            if memory_limit:
                self.pool.set_limit(size=memory_limit)
        self._tl = tl
        driver = triton.runtime.driver.active
        # Triton launches on torch's current stream when torch is loaded, else the default
        # stream: point it at CuPy's current stream so kernels order with cuBLAS and copies.
        driver.get_current_stream = lambda device=None: cupy.cuda.get_current_stream().ptr
        driver.get_current_device = lambda: cupy.cuda.runtime.getDevice()

    def to_device(self, host: Any) -> Any:
        cupy = self.xp
        if isinstance(host, cupy.ndarray):
            if host.device.id == self.device_id:
                return host
            with self.device:
                return cupy.asarray(host)       # peer copy
        if not isinstance(host, np.ndarray) and hasattr(host, "__dlpack__"):
            with self.device:
                return cupy.from_dlpack(host)   # torch/jax device tensors, zero copy
        with self.device, self._stream:
            return cupy.asarray(host)

    def to_host(self, value: Any) -> np.ndarray:
        if isinstance(value, self.xp.ndarray):
            return value.get(stream=self._stream)
        return value

    def is_device_array(self, value: Any) -> bool:
        return isinstance(value, self.xp.ndarray)

    def kernel_arg(self, array: Any) -> DevicePointer:
        if not array.flags.c_contiguous:
            raise ValueError("Triton kernel arguments must be C-contiguous")
        name = _TL_DTYPES.get(array.dtype.name)
        if name is None:
            raise TypeError(f"no Triton dtype for {array.dtype}")
        return DevicePointer(array.data.ptr, getattr(self._tl, name))

    def stream(self) -> contextlib.AbstractContextManager:
        stack = contextlib.ExitStack()
        stack.enter_context(self.device)
        stack.enter_context(self._stream)
        return stack

    def synchronize(self) -> None:
        self._stream.synchronize()

    def capture(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        """Record ``fn``'s launches into a CUDA graph once; the returned callable replays it.

        Everything ``fn`` allocates comes from a private memory pool kept alive with the graph,
        so no later allocation can reuse memory the replays write.
        """
        cupy = self.xp
        pool = cupy.cuda.MemoryPool()
        with self.device, self._stream, cupy.cuda.using_allocator(pool.malloc):
            fn()                                  # warm up: compile kernels, fill the pool
            self._stream.begin_capture()
            try:
                fn()
            finally:
                graph = self._stream.end_capture()

        def replay():
            graph.launch(stream=self._stream)
        replay.pool = pool
        return replay

    def memory_info(self) -> dict[str, int]:
        return {"used_bytes": int(self.pool.used_bytes()),
                "total_bytes": int(self.pool.total_bytes()),
                "limit_bytes": int(self.pool.get_limit())}
