"""Registers the standard passes, the ``com.ronn`` reference kernels and ``ronn optimize``
(entry point ``passes`` in group ``ronn``)."""

from __future__ import annotations

from ronn_core import hookimpl


@hookimpl
def ronn_passes(register):
    """Every standard pass (see ``ronn_passes.registry``)."""
    from ronn_passes.registry import ALL_PASSES
    register(*ALL_PASSES)


@hookimpl
def ronn_operators(register):
    """Reference kernels of the fused ``com.ronn`` ops the O3 passes introduce."""
    from ronn_passes import kernels
    register(kernels)


@hookimpl
def ronn_commands(subparsers):
    """``ronn optimize IN OUT --level O2``."""
    from ronn_passes.cli import register
    register(subparsers)
