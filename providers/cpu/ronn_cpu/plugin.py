"""Registers the CPU provider and its fast kernels (entry point ``cpu`` in group ``ronn``).

Every module of ``ronn_cpu.kernels`` that defines ``@kernel`` functions is registered.
"""

import importlib
import pkgutil

from ronn_core import hookimpl
from ronn_core.kernel_spec import kernels_in

from ronn_cpu import kernels
from ronn_cpu.provider import CPUExecutionProvider


def kernel_modules() -> list:
    """The modules of ``ronn_cpu.kernels`` with at least one ``@kernel`` function."""
    found = [importlib.import_module(f"{kernels.__name__}.{info.name}")
             for info in pkgutil.iter_modules(kernels.__path__)]
    return [m for m in found if kernels_in(m)]


@hookimpl
def ronn_providers(register):
    register(CPUExecutionProvider)


@hookimpl
def ronn_operators(register):
    register(*kernel_modules())
