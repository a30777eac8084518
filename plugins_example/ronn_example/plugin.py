"""The hooks RONN calls: entry point ``example = "ronn_example.plugin"`` in group ``ronn``.

A plugin module is nothing more than ``@hookimpl`` functions named after hooks in
``ronn_core.hookspecs``. RONN calls each once, when the runtime loads, and records everything
handed to ``register`` against this plugin (``ronn plugins`` lists it).
"""

from __future__ import annotations

from ronn_core import hookimpl

from ronn_example import fast, kernels, schemas
from ronn_example.passes import SwiGLUFusion


@hookimpl
def ronn_operators(register):
    """The com.example schemas, their reference kernels, and the numba SwiGLU for cpu."""
    register(*schemas.ALL)          # OpSchema objects: checked against every com.example node
    register(kernels)               # a module: all its @kernel functions
    register(*fast.KERNELS)         # @kernel functions one by one (empty without numba)


@hookimpl
def ronn_passes(register):
    register(SwiGLUFusion())
