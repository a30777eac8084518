"""Registers the CPU provider and its fast kernels (entry point ``cpu`` in group ``ronn``)."""

from ronn_core import hookimpl

from ronn_cpu.kernels import conv, pool
from ronn_cpu.provider import CPUExecutionProvider


@hookimpl
def ronn_providers(register):
    register(CPUExecutionProvider)


@hookimpl
def ronn_operators(register):
    register(conv, pool)
