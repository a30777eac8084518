"""Chains of small Gemms as one step (see ``chains``): a streaming MLP's layers in one numba
call. ``gemm.build_gemm`` offers a ``ChainLink`` for products small enough for ``small_gemm``;
``chain`` runs, per row, every layer's ``cblas_?gemv`` onto its bias, then its activation, in
two ping-pong rows: ``small_gemm``'s arithmetic, call for call, so results are bit-identical.
Inputs the chain cannot take (wider batches, other dtypes or shapes) run the steps one by one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from ronn_cpu.kernels.activations import NONE, _bias_activation_serial
from ronn_cpu.kernels.blas import ROW_MAJOR, TRANS, address, c_call, i64

@dataclass(frozen=True)
class ChainLink:
    """What a small Gemm step computes: ``act(x @ weights + bias)``, for ``x`` of up to
    ``macs`` multiply-adds in all."""
    weights: np.ndarray          # (K, N), row-major
    bias: np.ndarray             # (N,) or empty
    code: int
    alpha: float
    beta: float
    macs: int

    def follows(self, before) -> bool:
        """Whether this layer can take the output of ``before`` in one chain."""
        return isinstance(before, ChainLink) and before.weights.dtype == self.weights.dtype and \
            before.weights.shape[1] == self.weights.shape[0]

    def fits(self, out_shape) -> bool:
        """Whether a chain can take this layer at output ``out_shape`` (None: not known)."""
        return out_shape is None or len(out_shape) != 2 or \
            out_shape[0] * self.weights.size <= self.macs

    @staticmethod
    def chain(links: list, fns: list):
        return ChainStep(links, fns)


@numba.njit(cache=True)
def chain(gemv, x, weights, biases, layers, params, out):
    """``out[i]`` = the layers applied in turn to ``x[i]``. ``layers[l]`` = (K, N, offset of
    the (K, N) weights in ``weights``, offset of the bias in ``biases`` or -1, activation
    code); ``params[l]`` = (alpha, beta)."""
    widest = 0
    for layer in range(layers.shape[0]):
        widest = max(widest, layers[layer, 1])
    rows = np.empty((2, widest), out.dtype)
    zero, one = out.dtype.type(0), out.dtype.type(1)
    item = out.itemsize
    last = layers.shape[0] - 1
    for i in range(x.shape[0]):
        src = x.ctypes.data + i * x.strides[0]
        for layer in range(last + 1):
            k, n, at, bias_at, code = (layers[layer, 0], layers[layer, 1], layers[layer, 2],
                                       layers[layer, 3], layers[layer, 4])
            dst = out[i] if layer == last else rows[layer % 2, :n]
            for j in range(n):
                dst[j] = biases[bias_at + j] if bias_at >= 0 else zero
            c_call(gemv, (np.int32(ROW_MAJOR), np.int32(TRANS), i64(k), i64(n), one,
                          i64(weights.ctypes.data + at * item), i64(n), i64(src), i64(1), one,
                          i64(dst.ctypes.data), i64(1)))
            if code != NONE:            # small_gemm's own activation pass
                _bias_activation_serial(dst.reshape(1, n), biases[:0], False, code,
                                        params[layer, 0], params[layer, 1])
            src = dst.ctypes.data


class ChainStep:
    """The callable of a fused step: ``chain`` where the input fits, else the steps in turn."""

    def __init__(self, links: list[ChainLink], fns: list):
        dtype = links[0].weights.dtype
        self.fns = fns
        self.dtype = dtype
        self.depth = links[0].weights.shape[0]
        self.width = links[-1].weights.shape[1]
        self.rows_max = min(link.macs // link.weights.size for link in links)
        self.gemv = address("gemv", dtype)
        self.weights = np.concatenate([link.weights.reshape(-1) for link in links])
        self.biases = np.concatenate([link.bias.reshape(-1) for link in links] +
                                     [np.zeros(0, dtype)])
        layers, at, bias_at = [], 0, 0
        for link in links:
            k, n = link.weights.shape
            layers.append((k, n, at, bias_at if link.bias.size else -1, link.code))
            at += k * n
            bias_at += link.bias.size
        self.layers = np.array(layers, np.int64)
        self.params = np.array([(link.alpha, link.beta) for link in links], np.float64)

    def __call__(self, x, *_constants):
        if type(x) is np.ndarray and x.ndim == 2 and x.dtype == self.dtype and self.gemv and \
                x.shape[1] == self.depth and 0 < x.shape[0] <= self.rows_max and \
                x.strides[1] == x.itemsize:
            out = np.empty((x.shape[0], self.width), self.dtype)
            chain(self.gemv, x, self.weights, self.biases, self.layers, self.params, out)
            return out
        for fn in self.fns:
            x = fn(x)
        return x
