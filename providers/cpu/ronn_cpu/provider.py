"""The CPU execution provider: host memory, numpy/BLAS kernels, thread limits per session."""

from __future__ import annotations

from threadpoolctl import ThreadpoolController

from ronn_core import ExecutionProvider

_controller: ThreadpoolController | None = None


def _thread_controller() -> ThreadpoolController:
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller


class CPUExecutionProvider(ExecutionProvider):
    """Runs every node it has a kernel for (its own fast kernels, else the reference ones)."""

    name = "cpu"
    ort_name = "CPUExecutionProvider"
    device = "cpu"
    uses_reference_kernels = True

    def run_context(self):
        """Limit BLAS (and other native pools) to the session's ``threads`` during a run."""
        if self.threads is None:
            return None
        controller, threads = _thread_controller(), self.threads
        return lambda: controller.limit(limits=threads)
