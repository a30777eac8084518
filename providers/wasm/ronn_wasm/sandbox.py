"""Sandboxed operators: a plugin ships an operator as WebAssembly bytes; RONN runs it under a
memory cap and a fuel budget, in a fresh instance per call, with no imports at all.

ABI of an operator module (float32 tensors):

* it exports its linear memory as ``memory`` and a function (``run`` by default) taking
  ``(in0_ptr, in0_len, in1_ptr, in1_len, ..., out_ptr)`` as i32 (lengths in elements) and
  returning nothing;
* the host writes the inputs above the module's initial memory (growing it) and reads the
  output (``output_shape(*input_shapes)``, default: input 0's shape) from ``out_ptr`` after the
  call; the module may not import anything.
"""

from __future__ import annotations

import functools
from typing import Callable

import numpy as np
import wasmtime

from ronn_core.errors import (PluginError, SandboxMemoryError, SandboxTimeoutError,
                              SandboxTrapError)
from ronn_core.kernel_spec import kernel

DEFAULT_FUEL = 2_000_000_000
DEFAULT_MEMORY_MB = 64
PAGE = 65536


@functools.lru_cache(maxsize=1)
def sandbox_engine() -> wasmtime.Engine:
    """A separate engine with fuel metering (the kernel engine runs unmetered)."""
    config = wasmtime.Config()
    config.wasm_simd = True
    config.consume_fuel = True
    return wasmtime.Engine(config)


class SandboxedKernel:
    """One compiled operator module and the host side of its ABI."""

    def __init__(self, op_type: str, wasm_bytes: bytes, export: str = "run",
                 output_shape: Callable[..., tuple] | None = None):
        self.op_type, self.export = op_type, export
        self.output_shape = output_shape or (lambda *shapes: shapes[0])
        try:
            self.module = wasmtime.Module(sandbox_engine(), bytes(wasm_bytes))
        except wasmtime.WasmtimeError as exc:
            raise PluginError(f"sandboxed operator {op_type!r}: the bytes are not a valid "
                              f"WebAssembly module: {exc}") from exc
        imports = [f"{i.module}.{i.name}" for i in self.module.imports]
        if imports:
            raise PluginError(f"sandboxed operator {op_type!r} may import nothing; its module "
                              f"imports {imports}")
        exports = {e.name: e.type for e in self.module.exports}
        if not isinstance(exports.get("memory"), wasmtime.MemoryType):
            raise PluginError(f"sandboxed operator {op_type!r} must export its memory as "
                              f"'memory'; it exports {sorted(exports)}")
        func = exports.get(export)
        if not isinstance(func, wasmtime.FuncType):
            raise PluginError(f"sandboxed operator {op_type!r} must export a function "
                              f"{export!r}; it exports {sorted(exports)}")
        if func.results or any(str(p) != "i32" for p in func.params) or len(func.params) % 2 != 1:
            raise PluginError(f"sandboxed operator {op_type!r}: {export!r} must take "
                              f"(ptr, len) i32 pairs then an output pointer and return nothing; "
                              f"it is {[str(p) for p in func.params]} -> "
                              f"{[str(r) for r in func.results]}")
        self.arity = len(func.params) // 2

    def __call__(self, *inputs, fuel: int = DEFAULT_FUEL,
                 memory_mb: int = DEFAULT_MEMORY_MB) -> np.ndarray:
        xs = [np.ascontiguousarray(x, dtype=np.float32) for x in inputs if x is not None]
        if len(xs) != self.arity:
            raise SandboxTrapError(f"sandboxed operator {self.op_type!r} takes {self.arity} "
                                   f"input(s); the node gave {len(xs)}")
        out_shape = tuple(int(d) for d in self.output_shape(*[x.shape for x in xs]))
        cap = int(memory_mb) * 1024 * 1024
        store = wasmtime.Store(sandbox_engine())
        store.set_limits(memory_size=cap)
        store.set_fuel(int(fuel))
        try:
            instance = wasmtime.Instance(store, self.module, [])
        except wasmtime.WasmtimeError as exc:
            raise SandboxMemoryError(f"sandboxed operator {self.op_type!r} could not be "
                                     f"instantiated within its {memory_mb} MiB memory cap: "
                                     f"{exc}") from exc
        exports = instance.exports(store)
        memory: wasmtime.Memory = exports["memory"]
        start = memory.data_len(store)
        sizes = [x.nbytes for x in xs] + [int(np.prod(out_shape, dtype=np.int64)) * 4]
        offsets, total = [], start
        for size in sizes:
            offsets.append(total)
            total += (size + 15) // 16 * 16
        if total > cap:
            raise SandboxMemoryError(f"sandboxed operator {self.op_type!r} needs {total} bytes "
                                     f"of linear memory for its inputs and output; its cap is "
                                     f"{cap} bytes ({memory_mb} MiB)")
        grow = (total - start + PAGE - 1) // PAGE
        if grow:
            try:
                memory.grow(store, grow)
            except wasmtime.WasmtimeError as exc:
                raise SandboxMemoryError(f"sandboxed operator {self.op_type!r}: growing its "
                                         f"memory to {total} bytes failed under its {cap}-byte "
                                         f"cap: {exc}") from exc
        for x, off in zip(xs, offsets):
            memory.write(store, x.tobytes(), off)
        args = [v for x, off in zip(xs, offsets) for v in (off, x.size)] + [offsets[-1]]
        try:
            exports[self.export](store, *args)
        except wasmtime.Trap as trap:
            raise self._classify(trap, memory, store, cap, fuel) from trap
        except wasmtime.WasmtimeError as exc:       # e.g. fuel exhausted reported as an error
            raise self._classify(exc, memory, store, cap, fuel) from exc
        data = memory.read(store, offsets[-1], offsets[-1] + sizes[-1])
        return np.frombuffer(bytes(data), dtype=np.float32).reshape(out_shape).copy()

    def _classify(self, exc, memory, store, cap, fuel):
        code = getattr(exc, "trap_code", None)
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        text = lines[-1] if lines else type(exc).__name__     # e.g. "wasm trap: out of bounds"
        if code == wasmtime.TrapCode.OUT_OF_FUEL or "fuel" in str(exc):
            return SandboxTimeoutError(f"sandboxed operator {self.op_type!r} ran out of its "
                                       f"time budget ({fuel} units of fuel) and was stopped")
        if memory.data_len(store) + PAGE > cap:
            return SandboxMemoryError(f"sandboxed operator {self.op_type!r} trapped at its "
                                      f"memory cap ({cap} bytes): {text}")
        return SandboxTrapError(f"sandboxed operator {self.op_type!r} trapped: {text}")


def sandboxed_operator(op_type: str, domain: str, wasm_bytes: bytes, *, since: int = 1,
                       export: str = "run",
                       output_shape: Callable[..., tuple] | None = None) -> Callable:
    """A kernel function for ``domain::op_type`` that runs ``wasm_bytes`` in the sandbox.

    Register the result from a plugin's ``ronn_operators`` hook (``register(fn)``). It runs on
    the ``wasm`` provider (limits from its ``sandbox_fuel`` / ``sandbox_memory_mb`` options) and
    on CPU-memory providers (default limits).
    """
    sandboxed = SandboxedKernel(op_type, wasm_bytes, export, output_shape)

    def limits(options: dict) -> dict:
        return {"fuel": options.get("sandbox_fuel", DEFAULT_FUEL),
                "memory_mb": options.get("sandbox_memory_mb", DEFAULT_MEMORY_MB)}

    @kernel(op_type, domain=domain, since=since, context=True)
    def run_on_host(*inputs, ctx=None):
        return sandboxed(*inputs, **limits(ctx.options if ctx is not None else {}))

    @kernel(op_type, domain=domain, since=since, provider="wasm", factory=True)
    def build_on_wasm(build):
        arena, options = build.provider.arena, build.provider.options
        return lambda *inputs: arena.adopt(sandboxed(*inputs, **limits(options)),
                                           f"sandboxed {op_type}")

    run_on_host.__ronn_kernels__ += build_on_wasm.__ronn_kernels__
    run_on_host.sandboxed = sandboxed
    return run_on_host
