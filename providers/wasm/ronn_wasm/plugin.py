"""Registers the wasm provider, its kernels, ``ronn export-web`` and the ``wasm`` bench suite
(entry point ``wasm`` in group ``ronn``)."""

from __future__ import annotations

from ronn_core import hookimpl


@hookimpl
def ronn_providers(register):
    from ronn_wasm.provider import WasmExecutionProvider
    register(WasmExecutionProvider)


@hookimpl
def ronn_operators(register):
    from ronn_wasm import ops_dense, ops_elementwise, ops_layout
    register(ops_elementwise, ops_dense, ops_layout)


@hookimpl
def ronn_commands(subparsers):
    from ronn_wasm.export import register
    register(subparsers)


@hookimpl
def ronn_bench_suites(register):
    from ronn_wasm.bench import SUITE
    register(SUITE)
