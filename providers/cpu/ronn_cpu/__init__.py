"""RONN's CPU execution provider."""

from ronn_cpu.provider import CPUExecutionProvider

__version__ = "0.1.0"
__all__ = ["CPUExecutionProvider"]
