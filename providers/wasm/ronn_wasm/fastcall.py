"""Calling a kernel export without wasmtime-py's per-call type checks.

``wasmtime.Func.__call__`` looks the function type up and converts every argument through
``Val`` on each call (about 150 us for a GEMM's 19 arguments); a kernel call needs none of
that: the parameter kinds (i32/f32) are read once and the arguments written straight into the
``wasmtime_val_t`` array. Traps raise ``wasmtime.Trap`` as before; the GIL is released during
the call (ctypes)."""

from __future__ import annotations

import ctypes

import wasmtime

try:        # wasmtime-py internals (checked against 50.x); without them: the public call
    from wasmtime import _ffi as ffi
    from wasmtime._func import enter_wasm
    _I32, _F32 = ffi.WASMTIME_I32.value, ffi.WASMTIME_F32.value
except (ImportError, AttributeError):
    ffi = None


def bind(store: wasmtime.Store, func: wasmtime.Func):
    """``f(*args)`` calling ``func`` in ``store``: a ``FastFunc`` where this wasmtime-py has
    the internals it uses, else the public (slower) ``func(store, *args)``."""
    if ffi is not None:
        try:
            return FastFunc(store, func)
        except (AttributeError, TypeError):
            pass
    return lambda *args: func(store, *args)


class FastFunc:
    """A kernel export bound to its store, callable as ``f(*args)`` (i32 and f32 parameters,
    no results)."""

    def __init__(self, store: wasmtime.Store, func: wasmtime.Func):
        ty = func.type(store)
        kinds = []
        for p in ty.params:
            if p == wasmtime.ValType.i32():
                kinds.append(_I32)
            elif p == wasmtime.ValType.f32():
                kinds.append(_F32)
            else:
                raise TypeError(f"kernel parameters are i32 or f32, not {p}")
        if ty.results:
            raise TypeError("kernel exports return nothing")
        self.store, self.func, self.kinds = store, func, kinds
        self.array = ffi.wasmtime_val_t * len(kinds)

    def __call__(self, *args) -> None:
        if len(args) != len(self.kinds):
            raise wasmtime.WasmtimeError(f"expected {len(self.kinds)} arguments, got {len(args)}")
        params = self.array()
        for slot, kind, value in zip(params, self.kinds, args):
            slot.kind = kind
            if kind == _I32:
                slot.of.i32 = value
            else:
                slot.of.f32 = value
        with enter_wasm(self.store) as trap:
            error = ffi.wasmtime_func_call(self.store._context(), ctypes.byref(self.func._func),
                                           params, len(args), None, 0, trap)
            if error:
                raise wasmtime.WasmtimeError._from_ptr(error)
