"""Registers the ai.onnx reference kernels with RONN (entry point ``onnx`` in group ``ronn``)."""

from __future__ import annotations

from ronn_core import hookimpl

from .ops import op_modules


@hookimpl
def ronn_operators(register):
    """Register every ``@kernel`` function of every op-family module."""
    for module in op_modules():
        register(module)
