"""The ``bitnet`` execution provider: BitLinear nodes on the numba kernels, nothing else.

It claims only ``com.ronn.bitnet`` nodes it has a fast kernel for (``uses_reference_kernels`` is
False), so in ``providers=["bitnet", "cpu"]`` every other node falls back to the cpu provider by
partition. Option ``kernel``: ``"auto"`` (measured per shape), ``"i2s"`` or ``"tl"``.
"""

from __future__ import annotations

import numpy as np

from ronn_core import ExecutionProvider, kernel
from ronn_core.errors import ConfigValueError, ModelError

from ronn_bitnet import DOMAIN
from ronn_bitnet.packing import F32, INVALID_CODE, codes_of
from ronn_bitnet.prepared import KERNELS, PreparedBitLinear


class BitNetExecutionProvider(ExecutionProvider):
    """Runs BitLinear with the I2_S or TL numba kernel, whichever is measured faster."""

    name = "bitnet"
    device = "cpu"
    uses_reference_kernels = False
    default_options = {"kernel": "auto"}

    @classmethod
    def unavailable_reason(cls) -> str | None:
        try:
            import numba  # noqa: F401
        except ImportError:  # pragma: no cover - numba is a declared dependency
            return "numba is not installed (pip install numba)"
        return None

    @classmethod
    def validate_options(cls, options):
        merged = super().validate_options(options)
        if merged["kernel"] not in KERNELS + ("auto",):
            raise ConfigValueError(f"provider 'bitnet' option 'kernel' = {merged['kernel']!r}: "
                                   f"expected one of {['auto', *KERNELS]}")
        return merged

    def claims(self, graph):
        return [n for n in graph.nodes if n.domain == DOMAIN and self.kernel_for(n) is not None]


def _constant_operands(build):
    """(W, scale, B) when W and scale (and B, if given) are initializers, else None."""
    constants = list(build.constants) + [None] * 4
    w, scale, bias = constants[1:4]
    has_bias = len(build.node.inputs) > 3 and bool(build.node.inputs[3])
    if w is None or scale is None or (has_bias and bias is None):
        return None
    return w, scale, bias if has_bias else None


def _check_constants(node, k: int, w, scale, bias) -> None:
    where = f"node {node.describe()}"
    if w.dtype != np.uint8 or w.ndim != 2 or w.shape[1] != (k + 3) // 4:
        raise ModelError(f"{where}: W must be uint8 [N, {(k + 3) // 4}] for in_features {k}, "
                         f"got {w.dtype} {list(w.shape)}")
    n = w.shape[0]
    if np.size(scale) not in (1, n):
        raise ModelError(f"{where}: scale must be a scalar or [{n}], got shape "
                         f"{list(np.shape(scale))}")
    if bias is not None and np.shape(bias) != (n,):
        raise ModelError(f"{where}: B must be [{n}], got shape {list(np.shape(bias))}")
    if (codes_of(w, k) == INVALID_CODE).any():
        raise ModelError(f"{where}: W holds the invalid 2-bit code 3 (codes are 0, 1, 2 for "
                         f"weights -1, 0, +1)")


@kernel("BitLinear", domain=DOMAIN, since=1, provider="bitnet", factory=True)
def bit_linear_bitnet(build):
    """Prepare the constant weights once; non-constant weights run the reference kernel."""
    operands = _constant_operands(build)
    if operands is None:
        return build.fallback()
    k = int(build.attributes["in_features"])
    _check_constants(build.node, k, *operands)
    w, scale, bias = operands
    prepared = PreparedBitLinear(w, k, scale, bias, kernel=build.provider.options["kernel"],
                                 threads=build.threads)

    def run(x, *_constants):
        if x.dtype != F32 or x.ndim < 1 or x.shape[-1] != k:
            raise ValueError(f"X must be float32 [..., {k}], got {x.dtype} {list(x.shape)}")
        return prepared(x)

    run.prepared = prepared
    return run
