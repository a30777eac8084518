"""Chains of small Gemms as one step: a streaming MLP's layers in one numba call.

On one frame a Gemm is a few thousand multiply-adds; the Python call, numba's dispatch and the
output array of each layer cost more than the product. ``fuse`` (called by the provider's
``compile``) finds runs of steps whose kernel offers a ``ChainLink`` (``gemm.build_gemm`` does
for products small enough for ``small_gemm``), each link reading only the one before, which
nothing else reads; it replaces each run with one step that calls ``chain`` once: per row,
every layer's ``cblas_?gemv`` onto its bias, then its activation, in two ping-pong rows. The
arithmetic is ``small_gemm``'s, call for call, so results are bit-identical. Inputs the chain
cannot take (wider batches, other dtypes or shapes) run the original steps one by one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from ronn_core.graph import Graph
from ronn_core.provider import Step
from ronn_cpu.kernels.activations import NONE, _bias_activation_serial
from ronn_cpu.kernels.blas import ROW_MAJOR, TRANS, address, c_call, i64

MIN_LINKS = 2


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


def _readers(graph: Graph) -> dict[str, int]:
    counts: dict[str, int] = {}
    for node in graph.nodes:
        for name in node.inputs + node.implicit_inputs:
            if name:
                counts[name] = counts.get(name, 0) + 1
    for name in graph.outputs:
        counts[name] = counts.get(name, 0) + 1
    return counts


def fuse(steps: list[Step], graph: Graph) -> list[Step]:
    """``steps`` with each run of ``MIN_LINKS`` or more chainable small Gemms as one step."""
    readers = _readers(graph)
    constant = {name for name, v in graph.values.items() if v.is_constant} - set(graph.inputs)
    out: list[Step] = []
    run: list[Step] = []

    def flush():
        if len(run) >= MIN_LINKS:
            links = [s.fn.chain_link for s in run]
            out.append(Step(ChainStep(links, [s.fn for s in run]), [run[0].inputs[0]],
                            list(run[-1].outputs), [n for s in run for n in s.nodes],
                            run[0].provider, label="GemmChain"))
        else:
            out.extend(run)
        run.clear()

    for step in steps:
        link = getattr(step.fn, "chain_link", None)
        joins = link is not None and run and len(step.outputs) == 1 and \
            step.inputs[0] == run[-1].outputs[0] and readers.get(step.inputs[0]) == 1 and \
            all(not name or name in constant for name in step.inputs[1:]) and \
            link.weights.dtype == run[0].fn.chain_link.weights.dtype and \
            link.weights.shape[0] == run[-1].fn.chain_link.weights.shape[1]
        if not joins:
            flush()
        if link is not None and len(step.outputs) == 1:
            run.append(step)
        else:
            out.append(step)
    flush()
    return out
