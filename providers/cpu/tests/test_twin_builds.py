"""The serial and parallel numba builds of one loop keep separate on-disk cache entries."""

import os
import subprocess
import sys

PROBE = """
import numpy as np
from ronn_cpu.kernels import transformer_attention as att, transformer_elementwise as te, \\
    transformer_norm as norm
rows = np.ones((4, 8), np.float32)
bias = np.ones(8, np.float32)
te._rows_serial(rows, bias, True, te.GELU, 0.0, 0.0, False)      # cached first
te._rows_parallel(rows, bias, True, te.GELU, 0.0, 0.0, False)
print(sum(te._rows_parallel.stats.cache_hits.values()))
for serial, parallel in [(te._rows_serial, te._rows_parallel),
                         (norm._norm_serial, norm._norm_parallel),
                         (att._scale_serial, att._scale_parallel),
                         (att._exp_serial, att._exp_parallel)]:
    assert parallel.py_func.__qualname__ != serial.py_func.__qualname__
    assert parallel.targetoptions.get("parallel") and not serial.targetoptions.get("parallel")
"""


def test_parallel_twin_does_not_load_the_serial_builds_cache(tmp_path):
    """numba keys its cache on the function's name and source line, not on ``parallel=``:
    built from one function, the parallel twin used to load the serial machine code."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "0"     # compiled its own parallel build, no cache hit
