"""Registers the CPU provider with RONN (entry point ``cpu`` in group ``ronn``)."""

from ronn_core import hookimpl

from ronn_cpu.provider import CPUExecutionProvider


@hookimpl
def ronn_providers(register):
    register(CPUExecutionProvider)
