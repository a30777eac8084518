"""RONN's WebAssembly execution provider (``wasm``), sandboxed operators and web export."""

from ronn_wasm.sandbox import sandboxed_operator

__all__ = ["sandboxed_operator"]
