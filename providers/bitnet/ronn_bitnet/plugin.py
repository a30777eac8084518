"""The hooks RONN calls: entry point ``bitnet = "ronn_bitnet.plugin"`` in group ``ronn``."""

from __future__ import annotations

from ronn_core import hookimpl

from ronn_bitnet import provider, reference, schema


@hookimpl
def ronn_operators(register):
    """BitLinear's schema, its reference kernel (every provider) and the bitnet kernel."""
    register(*schema.ALL)
    register(reference.bit_linear)
    register(provider.bit_linear_bitnet)


@hookimpl
def ronn_providers(register):
    register(provider.BitNetExecutionProvider)


@hookimpl
def ronn_commands(subparsers):
    from ronn_bitnet import quantize_cli
    quantize_cli.register(subparsers)


@hookimpl
def ronn_bench_suites(register):
    from ronn_bitnet import bench
    register(bench.SUITE)
