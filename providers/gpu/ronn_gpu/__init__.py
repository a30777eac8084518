"""RONN's CUDA execution provider: CuPy arrays on one device, cuBLAS GEMMs, Triton kernels."""

from ronn_gpu.probe import unavailable_reason
from ronn_gpu.provider import GpuProvider

__all__ = ["GpuProvider", "unavailable_reason"]
