"""The kernel module: WAT text assembled from the generators, compiled to .wasm bytes once."""

from __future__ import annotations

import functools
import hashlib

from ronn_wasm.wat_gemm import gemm_module_text
from ronn_wasm.wat_math import BINARY, EXP4, UNARY, binary_func, unary_func
from ronn_wasm.wat_nn import NN_FUNCS
from ronn_wasm.wat_winograd import WINOGRAD_FUNCS
from ronn_wasm.wat_winograd4 import WINOGRAD4_FUNCS


def module_text(relaxed: bool = False, shared: bool = False) -> str:
    """The whole kernel module as WebAssembly text (SIMD128 + bulk memory).

    ``relaxed``: the variant whose GEMM uses relaxed-SIMD fused multiply-adds; same exports,
    same arguments, results equal up to rounding. ``shared``: the memory is imported as a
    shared memory (``env.memory``), so several instances, one per thread, can work on it."""
    memory = ('  (import "env" "memory" (memory 16 65536 shared))' if shared
              else '  (memory (export "memory") 16)')
    parts = ["(module", memory, EXP4]
    parts += [unary_func(name, expr) for name, expr in UNARY.items()]
    parts += [binary_func(name, instr, mode) for name, instr in BINARY.items()
              for mode in ("vv", "vs", "sv")]
    parts += NN_FUNCS + WINOGRAD_FUNCS + WINOGRAD4_FUNCS
    parts.append(gemm_module_text(fma=relaxed))
    parts.append(")")
    return "\n".join(parts)


@functools.lru_cache(maxsize=4)
def module_bytes(relaxed: bool = False, shared: bool = False) -> bytes:
    """A kernel module compiled from text to binary; the defaults give the portable variant
    the web bundle ships (plain SIMD128, its own memory)."""
    import wasmtime
    return bytes(wasmtime.wat2wasm(module_text(relaxed, shared)))


def module_digest(relaxed: bool = False, shared: bool = False) -> str:
    return hashlib.sha256(module_bytes(relaxed, shared)).hexdigest()[:16]
