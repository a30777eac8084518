"""The ``gpu`` execution provider: CuPy arrays on one CUDA device, cuBLAS and Triton kernels."""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import numpy as np

from ronn_core import ExecutionProvider
from ronn_core.errors import ConfigValueError, ProviderError
from ronn_core.provider import CompileContext, Step

from ronn_gpu import probe
from ronn_gpu.backend import Backend

PRECISIONS = ("float32", "float16", "bfloat16")


class GpuProvider(ExecutionProvider):
    """Runs the nodes it has GPU kernels for; the rest fall back, by partition, to later providers.

    Values cross to and from the host only at partition boundaries (the compiler inserts the
    copies); graph inputs that already are CuPy arrays (or DLPack device tensors) are not copied.
    """

    name = "gpu"
    ort_name = "CUDAExecutionProvider"
    device = "cuda"
    uses_reference_kernels = False
    kernel_provider: ClassVar[str] = "gpu"        # the @kernel(provider=...) this provider runs
    preferred_layouts: ClassVar[dict[str, str]] = {"Conv": "NCHW"}
    default_options: ClassVar[dict[str, Any]] = {
        "device_id": 0,               # CUDA device ordinal
        "precision": "float32",       # float32 | float16 | bfloat16 (see README: accuracy)
        "cuda_graph": False,          # capture the whole graph once; needs static input shapes
        "fuse_elementwise": True,     # Triton kernels for chains of elementwise nodes
        "memory_limit_bytes": 0,      # cap on the CuPy memory pool (0: no cap)
    }

    def __init__(self, runtime, *, options=None, threads=None):
        super().__init__(runtime, options=options, threads=threads)
        device_id = self.options["device_id"]
        reason = self.device_reason(device_id)
        if reason:
            raise ProviderError(f"provider 'gpu' cannot use device {device_id}: {reason}")
        self.backend: Backend = self.make_backend()
        self.xp = self.backend.xp
        self.precision = self.options["precision"]
        self.compute_dtype = np.dtype("float16" if self.precision == "float16" else "float32")

    # -- availability and options -------------------------------------------------------------

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return probe.unavailable_reason(0)

    @classmethod
    def device_reason(cls, device_id: int) -> str | None:
        return probe.unavailable_reason(device_id)

    @classmethod
    def validate_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        merged = super().validate_options(options)
        if merged["precision"] not in PRECISIONS:
            raise ConfigValueError(f"provider 'gpu' option 'precision' = {merged['precision']!r}:"
                                   f" expected one of {list(PRECISIONS)}")
        if merged["device_id"] < 0:
            raise ConfigValueError(f"provider 'gpu' option 'device_id' = {merged['device_id']}: "
                                   f"expected a device ordinal >= 0")
        if merged["memory_limit_bytes"] < 0:
            raise ConfigValueError(f"provider 'gpu' option 'memory_limit_bytes' = "
                                   f"{merged['memory_limit_bytes']}: expected >= 0 (0: no cap)")
        return merged

    def make_backend(self) -> Backend:
        from ronn_gpu.backend import CupyBackend
        return CupyBackend(self.options["device_id"], self.options["memory_limit_bytes"])

    # -- partitioning and compiling -----------------------------------------------------------

    def kernel_for(self, node):
        return self.runtime.kernels.resolve(node.domain, node.op_type, node.version,
                                            self.kernel_provider, False)

    def claims(self, graph) -> list:
        from ronn_gpu.ops.common import supported
        return [n for n in graph.nodes if self.kernel_for(n) is not None and supported(n, graph)]

    def compile(self, nodes: list, ctx: CompileContext) -> list[Step]:
        from ronn_gpu import fusion
        if self.options["fuse_elementwise"]:
            steps = fusion.compile_with_fusion(self, nodes, ctx)
        else:
            steps = [self.compile_node(n, ctx) for n in nodes]
        if self.precision == "bfloat16":
            from ronn_gpu.precision import round_outputs_to_bfloat16
            for step in steps:
                step.fn = round_outputs_to_bfloat16(step.fn, self.xp)
        if self.options["cuda_graph"]:
            steps = self._captured(steps, nodes, ctx)
        return steps

    def _captured(self, steps: list[Step], nodes: list, ctx: CompileContext) -> list[Step]:
        from ronn_gpu.cuda_graph import captured_step
        if len(nodes) != len(ctx.graph.nodes):
            warnings.warn(f"provider 'gpu' option cuda_graph is ignored: {len(ctx.graph.nodes) - len(nodes)}"
                          f" node(s) of graph {ctx.graph.name!r} run on other providers, and a "
                          f"CUDA graph needs the whole graph on the GPU", stacklevel=2)
            return steps
        return [captured_step(self, steps, ctx.graph)]

    def run_context(self):
        return self.backend.stream

    # -- devices ------------------------------------------------------------------------------

    def to_device(self, value: Any) -> Any:
        """Host (numpy) or device (CuPy, DLPack) value -> this provider's device, compute dtype."""
        if isinstance(value, (list, dict)) or value is None:
            return value
        if isinstance(value, np.ndarray) or np.isscalar(value):
            value = np.asarray(value)
            if value.dtype == np.float32 and self.compute_dtype != np.float32:
                value = value.astype(self.compute_dtype)
            return self.backend.to_device(value)
        moved = self.backend.to_device(value)
        if moved.dtype == np.float32 and self.compute_dtype != np.float32:
            moved = moved.astype(self.compute_dtype)
        return moved

    def to_host(self, value: Any) -> Any:
        """Device value -> numpy; float16 computed from a float32 model goes back to float32."""
        host = self.backend.to_host(value)
        if isinstance(host, np.ndarray) and host.dtype == np.float16 \
                and self.compute_dtype == np.float16:
            host = host.astype(np.float32)
        return host

    def memory_info(self) -> dict[str, int]:
        """The CuPy memory pool: bytes in use, bytes held, cap."""
        return self.backend.memory_info()
