"""The GPU provider on the CPU: numpy arrays, Triton kernels in Triton's interpreter.

``InterpretedGpuProvider`` is the ``gpu`` provider with ``HostBackend``: the same partitioning,
fusion, kernels and Triton sources, run without a GPU. It is not registered by the ``gpu``
entry point; tests (and anyone debugging a kernel) add this module as a plugin to a runtime::

    Runtime(plugins=[ronn_opset_onnx.plugin, ronn_cpu.plugin, ronn_passes.plugin,
                     ronn_gpu.interpret], discover=False)

``TRITON_INTERPRET=1`` must be set before Triton is first imported. It proves the kernels'
arithmetic and the provider's plumbing, never GPU speed or CUDA-specific behaviour.
"""

from __future__ import annotations

import importlib.util
import os
import sys

from ronn_core import hookimpl

from ronn_gpu.backend import Backend, HostBackend
from ronn_gpu.plugin import KERNEL_MODULES
from ronn_gpu.provider import GpuProvider


def interpreter_reason() -> str | None:
    """Why the interpreter backend cannot run here, or None."""
    for module in ("triton", "torch"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install triton and torch's CPU wheel)"
    if os.environ.get("TRITON_INTERPRET") != "1":
        return "TRITON_INTERPRET=1 is not set"
    if "triton" in sys.modules and not _interpreting():
        return "triton was imported before TRITON_INTERPRET=1 was set"
    return None


def _interpreting() -> bool:
    from triton.runtime.interpreter import InterpretedFunction
    import triton

    @triton.jit
    def probe(x):
        pass
    return isinstance(probe, InterpretedFunction) or hasattr(probe, "interpreter_fn") \
        or type(probe).__name__.startswith("Interpreted")


class InterpretedGpuProvider(GpuProvider):
    """``gpu`` on numpy + the Triton interpreter (name ``gpu``, so sessions ask for it alike)."""

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return interpreter_reason()

    @classmethod
    def device_reason(cls, device_id: int) -> str | None:
        return interpreter_reason()

    def make_backend(self) -> Backend:
        return HostBackend()


@hookimpl
def ronn_providers(register):
    register(InterpretedGpuProvider)


@hookimpl
def ronn_operators(register):
    register(*KERNEL_MODULES)
