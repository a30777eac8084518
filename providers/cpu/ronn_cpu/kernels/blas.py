"""What the fast kernels know about numpy's OpenBLAS.

Below ``OPENBLAS_SERIAL_MACS`` multiply-adds OpenBLAS runs a product on one thread (its
``SMP_THRESHOLD_MIN * GEMM_MULTITHREAD_THRESHOLD``); above it, on the run's thread limit. On an
otherwise idle machine two threads win from there on (measured: 64x64 @ 64x784 39 us vs 48 us
on one, 64x64 @ 64x3136 116 us vs 231 us), so products are not capped below the run's limit.
"""

OPENBLAS_SERIAL_MACS = 1 << 18
