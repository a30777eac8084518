"""A fast SwiGLU for the cpu provider: one fused, parallel numba loop instead of four numpy passes.

Registered with ``provider="cpu"``: on the cpu provider it wins over the reference kernel of the
same version (``ronn ops --domain com.example`` lists both; ``session.placement`` shows which ran).
Every other CPU-memory provider keeps using the reference kernel in ``kernels.py``.

numba is a dependency of ronn-example, but this module still imports without it: ``KERNELS`` is
then empty and the reference kernel runs everywhere.
"""

from __future__ import annotations

import numpy as np

from ronn_core import kernel

from ronn_example import DOMAIN
from ronn_example.kernels import swiglu as reference_swiglu

try:
    import numba
except ImportError:  # pragma: no cover - numba is a declared dependency
    numba = None

#: element types the compiled loop handles; anything else goes to the reference kernel
FAST_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

if numba is not None:

    @numba.njit(parallel=True, cache=True, fastmath=False)
    def _swiglu_loop(x, gate, beta, out):  # pragma: no cover - compiled
        for i in numba.prange(x.size):
            v = x[i]
            t = beta * v
            # x * sigmoid(t), written so exp never overflows
            if t >= 0:
                s = 1.0 / (1.0 + np.exp(-t))
            else:
                e = np.exp(t)
                s = e / (1.0 + e)
            out[i] = v * s * gate[i]

    @kernel("SwiGLU", domain=DOMAIN, since=1, provider="cpu")
    def swiglu_cpu(x, gate, *, beta=1.0):
        """SwiGLU on the cpu provider; same result as the reference kernel (tested)."""
        if x.dtype not in FAST_DTYPES or gate.dtype != x.dtype:
            return reference_swiglu(x, gate, beta=beta)
        if x.shape != gate.shape:
            shape = np.broadcast_shapes(x.shape, gate.shape)
            x, gate = np.broadcast_to(x, shape), np.broadcast_to(gate, shape)
        out = np.empty(x.shape, x.dtype)
        _swiglu_loop(np.ascontiguousarray(x).reshape(-1), np.ascontiguousarray(gate).reshape(-1),
                     x.dtype.type(beta), out.reshape(-1))
        return out

    KERNELS = (swiglu_cpu,)
else:  # pragma: no cover
    KERNELS = ()
