"""Registers the ``gpu`` provider, its kernels and the ``gpu`` bench suite (entry point ``gpu``).

Importing this module needs neither CuPy nor Triton: the provider reports why it is unavailable,
and kernels import Triton only when a session on a GPU builds them.
"""

from ronn_core import BenchSuite, hookimpl

from ronn_gpu.ops import conv, elementwise, linalg, pool, shape, transformer
from ronn_gpu.provider import GpuProvider

KERNEL_MODULES = (elementwise, linalg, conv, pool, shape, transformer)


@hookimpl
def ronn_providers(register):
    register(GpuProvider)


@hookimpl
def ronn_operators(register):
    register(*KERNEL_MODULES)


@hookimpl
def ronn_bench_suites(register):
    from ronn_gpu.bench import run_suite
    register(BenchSuite("gpu", "the zoo on the GPU vs onnxruntime CPU; ResNet-50 batch 32 vs "
                               "torch eager float32 on the same GPU", run_suite))
