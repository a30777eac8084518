"""Triton kernels of the GPU provider. Importing these modules imports Triton.

Each module has the ``@triton.jit`` kernel and a launcher ``f(backend, arrays...)`` that checks
shapes, allocates the output with ``backend.xp`` and launches. The same launchers run on CuPy
arrays (a GPU) and, with ``TRITON_INTERPRET=1``, on numpy arrays in Triton's interpreter.
"""


def next_power_of_2(n: int) -> int:
    return 1 << max(0, int(n) - 1).bit_length()
