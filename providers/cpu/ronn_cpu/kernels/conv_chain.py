"""Chains of tiny convs as one step (see ``chains``): a streaming conv stack in one numba call.

A conv on a tiny input runs the gather path (``conv_loops.gather_product``): the column matrix
through a precomputed index, one ``cblas_?gemm`` by address with the bias as one more column,
then the activation. The index depends on the input's shape, so a conv offers ``ConvLinks``:
the link for an input shape once it has run on it (None where another path ran). The fused step
runs its convs one by one on an input shape's first call, then builds that shape's chain from
their links; from the next call on, ``chain`` does every layer per sample in one call, with
``gather_product``'s arithmetic, so results are bit-identical.
"""

from __future__ import annotations

import numba
import numpy as np

from ronn_cpu.kernels.activations import NONE, _bias_activation_row
from ronn_cpu.kernels.blas import NO_TRANS, ROW_MAJOR, c_call, i64


class ConvLinks:
    """A conv's chain links, per input shape: ``of(shape)`` gives (index (R, Q), weights
    (M, R) with the bias as last column, activation code, alpha, beta, output shape without
    the batch) where the gather path ran on ``shape``, else None; ``fits(output shape or
    None)`` whether the gather path can run at a known output shape."""

    def __init__(self, dtype, of, fits):
        self.dtype = np.dtype(dtype)
        self.of, self.fits = of, fits

    def follows(self, before) -> bool:
        return isinstance(before, ConvLinks) and before.dtype == self.dtype

    @staticmethod
    def chain(links: list, fns: list):
        return ConvChainStep(links, fns)


@numba.njit(cache=True)
def chain(gemm, x, indexes, weights, layers, params, out):
    """``out[i]`` = the convs applied in turn to sample ``x[i]`` (flat). ``layers[l]`` =
    (offset of the (R, Q) index in ``indexes``, R, Q, M, offset of the (M, R) weights,
    activation code, output size); ``params[l]`` = (alpha, beta)."""
    widest_cols, widest_out = 0, 0
    for layer in range(layers.shape[0]):
        widest_cols = max(widest_cols, layers[layer, 1] * layers[layer, 2])
        widest_out = max(widest_out, layers[layer, 6])
    cols = np.empty(widest_cols, out.dtype)
    rows = np.empty((2, widest_out), out.dtype)
    zero, one = out.dtype.type(0), out.dtype.type(1)
    item = out.itemsize
    no_bias = np.empty(0, out.dtype)
    last = layers.shape[0] - 1
    for i in range(x.shape[0]):
        src = x[i]
        for layer in range(last + 1):
            at, r, q, m, w_at, code, size = (layers[layer, 0], layers[layer, 1],
                                             layers[layer, 2], layers[layer, 3],
                                             layers[layer, 4], layers[layer, 5],
                                             layers[layer, 6])
            dst = out[i] if layer == last else rows[layer % 2, :size]
            for k in range(r * q):
                j = indexes[at + k]
                cols[k] = src[j] if j >= 0 else (zero if j == -1 else one)
            c_call(gemm, (np.int32(ROW_MAJOR), np.int32(NO_TRANS), np.int32(NO_TRANS),
                          i64(m), i64(q), i64(r), one, i64(weights.ctypes.data + w_at * item),
                          i64(r), i64(cols.ctypes.data), i64(q), zero, i64(dst.ctypes.data),
                          i64(q)))
            if code != NONE:            # gather_product's own activation pass
                _bias_activation_row(dst.reshape(1, size), no_bias, 0, False, code,
                                     params[layer, 0], params[layer, 1])
            src = dst


class ConvChainStep:
    """The callable of a fused conv step: per input shape, the steps one by one on its first
    call, ``chain`` from then on (where every conv ran its gather path)."""

    def __init__(self, links: list[ConvLinks], fns: list):
        from ronn_cpu.kernels.blas import address
        self.links, self.fns = links, fns
        self.dtype = links[0].dtype
        self.gemm = address("gemm", self.dtype)
        self.plans: dict[tuple, tuple | None] = {}

    def __call__(self, x, *_constants):
        if type(x) is not np.ndarray or x.dtype != self.dtype or not x.flags.c_contiguous:
            return self._one_by_one(x)[0]
        key = x.shape[1:]
        plan = self.plans.get(key, False)
        if plan is False:                    # first call on this shape: learn the links
            out, shapes = self._one_by_one(x)
            self.plans[key] = self._plan(shapes) if self.gemm else None
            return out
        if plan is None or not x.shape[0]:
            return self._one_by_one(x)[0]
        indexes, weights, layers, params, out_shape = plan
        out = np.empty((x.shape[0],) + out_shape, self.dtype)
        chain(self.gemm, x.reshape(x.shape[0], -1), indexes, weights, layers, params,
              out.reshape(x.shape[0], -1))
        return out

    def _one_by_one(self, x):
        shapes = []
        for fn in self.fns:
            shapes.append(getattr(x, "shape", None))
            x = fn(x)
        return x, shapes

    def _plan(self, shapes: list) -> tuple | None:
        found = [link.of(shape) if shape is not None else None
                 for link, shape in zip(self.links, shapes)]
        if any(f is None for f in found):
            return None
        layers, indexes, weights, at, w_at = [], [], [], 0, 0
        for index, w, code, alpha, beta, out_shape in found:
            r, q = index.shape
            layers.append((at, r, q, w.shape[0], w_at, code, int(np.prod(out_shape))))
            indexes.append(index.reshape(-1))
            weights.append(w.reshape(-1))
            at, w_at = at + index.size, w_at + w.size
        params = np.array([(f[3], f[4]) for f in found], np.float64)
        return (np.concatenate(indexes).astype(np.int64), np.concatenate(weights),
                np.array(layers, np.int64), params, tuple(found[-1][5]))
