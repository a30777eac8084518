"""Assorted ops: Einsum, CumProd, Unique, Compress, ReverseSequence, Shrink, LpNormalization,
Det, the random generators, the window functions, DFT, STFT and MelWeightMatrix."""

from __future__ import annotations

import numpy as np
from onnx.helper import tensor_dtype_to_np_dtype

from ronn_core.kernel_spec import kernel

_NARROW_FLOATS = ("float16", "bfloat16")


def _wide(x):
    """X as float32 if it is a narrow float (float16/bfloat16), else unchanged."""
    return x.astype(np.float32) if x.dtype.name in _NARROW_FLOATS else x


def _np_dtype(tensor_type, default):
    """The numpy dtype for a TensorProto element type (``default`` when not given)."""
    return np.dtype(default) if tensor_type is None else tensor_dtype_to_np_dtype(tensor_type)


# --------------------------------------------------------------------------------------------
# Einsum, CumProd
# --------------------------------------------------------------------------------------------

@kernel("Einsum", since=12)
@kernel("Einsum", since=28)
def einsum(*inputs, equation=""):
    """Einstein summation over the inputs as written in ``equation``."""
    dtype = inputs[0].dtype
    result = np.einsum(equation.replace(" ", ""), *(_wide(x) for x in inputs))
    return np.asarray(result, dtype=dtype)


@kernel("CumProd", since=26)
def cum_prod(x, axis, *, exclusive=0, reverse=0):
    """Cumulative product along ``axis`` (optionally exclusive and/or from the end)."""
    axis = int(np.asarray(axis).reshape(-1)[0]) % x.ndim
    data = _wide(x)
    if reverse:
        data = np.flip(data, axis)
    if exclusive:
        ones = np.ones_like(np.take(data, [0], axis=axis))
        data = np.concatenate([ones, np.delete(data, -1, axis=axis)], axis=axis)
    y = np.cumprod(data, axis=axis, dtype=data.dtype)
    if reverse:
        y = np.flip(y, axis)
    return np.asarray(y, dtype=x.dtype)


# --------------------------------------------------------------------------------------------
# Unique, Compress, ReverseSequence
# --------------------------------------------------------------------------------------------

@kernel("Unique", since=11)
@kernel("Unique", since=28)
def unique(x, *, axis=None, sorted=1):
    """Unique values (or slices along ``axis``) with first indices, inverse indices and counts."""
    data = _wide(x) if axis is not None else _wide(x).reshape(-1)
    _, first, inverse, counts = np.unique(data, return_index=True, return_inverse=True,
                                          return_counts=True, axis=axis)
    inverse = inverse.reshape(-1)
    if not sorted:                                   # order by first occurrence instead
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        first, counts, inverse = first[order], counts[order], rank[inverse]
    y = x.reshape(-1)[first] if axis is None else np.take(x, first, axis=axis)
    return y, first.astype(np.int64), inverse.astype(np.int64), counts.astype(np.int64)


@kernel("Compress", since=9)
@kernel("Compress", since=11)
@kernel("Compress", since=28)
def compress(x, condition, *, axis=None):
    """The slices along ``axis`` (or elements of flattened X) where ``condition`` is true."""
    condition = np.asarray(condition, dtype=bool).reshape(-1)
    if axis is None:
        return np.compress(condition, x.reshape(-1))
    return np.compress(condition, x, axis=axis)


@kernel("ReverseSequence", since=10)
@kernel("ReverseSequence", since=28)
def reverse_sequence(x, sequence_lens, *, batch_axis=1, time_axis=0):
    """Reverse the first sequence_lens[b] time steps of every batch entry b."""
    data = np.moveaxis(x, (time_axis, batch_axis), (0, 1))            # (time, batch, ...)
    steps, batch = data.shape[:2]
    t = np.arange(steps)[:, None]
    lens = np.asarray(sequence_lens, dtype=np.int64)[None, :]
    source = np.where(t < lens, lens - 1 - t, t)                         # (time, batch)
    reversed_ = data[source, np.arange(batch)]
    return np.moveaxis(reversed_, (0, 1), (time_axis, batch_axis))


# --------------------------------------------------------------------------------------------
# Shrink, LpNormalization, Det
# --------------------------------------------------------------------------------------------

@kernel("Shrink", since=9)
def shrink(x, *, bias=0.0, lambd=0.5):
    """x + bias below -lambd, x - bias above lambd, 0 in between."""
    data = _wide(x)
    y = np.where(data < -lambd, data + bias, np.where(data > lambd, data - bias, 0))
    return y.astype(x.dtype)


@kernel("LpNormalization", since=1)
@kernel("LpNormalization", since=22)
def lp_normalization(x, *, axis=-1, p=2):
    """X divided by its L1 or L2 norm along ``axis`` (0 where the norm is 0)."""
    data = _wide(x)
    if p == 1:
        norm = np.abs(data).sum(axis=axis, keepdims=True)
    else:
        norm = np.sqrt((data * data).sum(axis=axis, keepdims=True))
    y = np.where(norm == 0, 0, data / np.where(norm == 0, 1, norm))
    return y.astype(x.dtype)


@kernel("Det", since=11)
@kernel("Det", since=22)
def det(x):
    """Determinant of each square matrix in the last two dims."""
    return np.asarray(np.linalg.det(_wide(x)), dtype=x.dtype)


# --------------------------------------------------------------------------------------------
# Random generators (a given seed makes them repeatable)
# --------------------------------------------------------------------------------------------

def _rng(seed):
    return np.random.default_rng(None if seed is None else int(seed))


@kernel("Bernoulli", since=15)
@kernel("Bernoulli", since=22)
def bernoulli(x, *, dtype=None, seed=None):
    """1 with probability X, else 0 (output dtype ``dtype`` or X's)."""
    draws = _rng(seed).random(x.shape) < _wide(x)
    return draws.astype(_np_dtype(dtype, x.dtype))


@kernel("RandomUniform", since=1)
@kernel("RandomUniform", since=22)
def random_uniform(*, dtype=1, high=1.0, low=0.0, seed=None, shape=None):
    """Uniform samples in [low, high) of the given shape."""
    values = _rng(seed).uniform(low, high, size=tuple(shape))
    return values.astype(_np_dtype(dtype, np.float32))


@kernel("RandomNormal", since=1)
@kernel("RandomNormal", since=22)
def random_normal(*, dtype=1, mean=0.0, scale=1.0, seed=None, shape=None):
    """Normal samples N(mean, scale**2) of the given shape."""
    values = _rng(seed).normal(mean, scale, size=tuple(shape))
    return values.astype(_np_dtype(dtype, np.float32))


@kernel("RandomUniformLike", since=1)
@kernel("RandomUniformLike", since=22)
def random_uniform_like(x, *, dtype=None, high=1.0, low=0.0, seed=None):
    """Uniform samples in [low, high) shaped like X (dtype ``dtype`` or X's)."""
    values = _rng(seed).uniform(low, high, size=x.shape)
    return values.astype(_np_dtype(dtype, x.dtype))


@kernel("RandomNormalLike", since=1)
@kernel("RandomNormalLike", since=22)
def random_normal_like(x, *, dtype=None, mean=0.0, scale=1.0, seed=None):
    """Normal samples N(mean, scale**2) shaped like X (dtype ``dtype`` or X's)."""
    values = _rng(seed).normal(mean, scale, size=x.shape)
    return values.astype(_np_dtype(dtype, x.dtype))


@kernel("Multinomial", since=7)
@kernel("Multinomial", since=22)
def multinomial(x, *, dtype=6, sample_size=1, seed=None):
    """``sample_size`` class draws per batch row of unnormalized log-probabilities X."""
    logits = x.astype(np.float64)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    cdf = np.cumsum(probs, axis=1)
    cdf /= cdf[:, -1:]
    u = _rng(seed).random((x.shape[0], sample_size))
    picks = (cdf[:, None, :] <= u[:, :, None]).sum(axis=-1)           # inverse CDF
    return np.minimum(picks, x.shape[1] - 1).astype(_np_dtype(dtype, np.int32))


# --------------------------------------------------------------------------------------------
# Window functions
# --------------------------------------------------------------------------------------------

def _cosine_window(size, periodic, output_datatype, coefficients):
    """sum_k (-1)**k a_k cos(2 pi k n / N) with N = size (periodic) or size - 1 (symmetric)."""
    size = int(np.asarray(size).reshape(-1)[0])
    n = np.arange(size, dtype=np.float64)
    period = size if periodic else size - 1
    phase = 2 * np.pi * n / max(period, 1)
    window = sum((-1) ** k * a * np.cos(k * phase) for k, a in enumerate(coefficients))
    return window.astype(_np_dtype(output_datatype, np.float32))


@kernel("HannWindow", since=17)
def hann_window(size, *, output_datatype=1, periodic=1):
    """Hann window: 0.5 - 0.5 cos(2 pi n / N)."""
    return _cosine_window(size, periodic, output_datatype, (0.5, 0.5))


@kernel("HammingWindow", since=17)
def hamming_window(size, *, output_datatype=1, periodic=1):
    """Hamming window: 25/46 - 21/46 cos(2 pi n / N)."""
    return _cosine_window(size, periodic, output_datatype, (25 / 46, 21 / 46))


@kernel("BlackmanWindow", since=17)
def blackman_window(size, *, output_datatype=1, periodic=1):
    """Blackman window: 0.42 - 0.5 cos(2 pi n / N) + 0.08 cos(4 pi n / N)."""
    return _cosine_window(size, periodic, output_datatype, (0.42, 0.5, 0.08))


# --------------------------------------------------------------------------------------------
# DFT, STFT, MelWeightMatrix
# --------------------------------------------------------------------------------------------

def _as_complex(x):
    """[..., 1] real or [..., 2] (real, imag) -> complex array without the last dim.

    Float64 stays complex128; other floats become complex64 (numpy transforms in that precision).
    """
    ctype = np.complex128 if x.dtype == np.float64 else np.complex64
    real = x[..., 0].astype(ctype)
    return real + 1j * x[..., 1].astype(ctype) if x.shape[-1] == 2 else real


def _as_pairs(c, dtype):
    """Complex array -> [..., 2] (real, imag) of ``dtype``."""
    return np.stack([c.real, c.imag], axis=-1).astype(dtype)


def _dft(x, dft_length, axis, inverse, onesided):
    rank = x.ndim
    axis = axis + rank if axis < 0 else axis
    n = None if dft_length is None else int(np.asarray(dft_length).reshape(-1)[0])
    signal = _as_complex(x)
    if onesided and inverse:                                      # IRFFT: real output
        return np.fft.irfft(signal, n=n, axis=axis)[..., None].astype(x.dtype)
    if onesided:                                                  # RFFT of the real part
        return _as_pairs(np.fft.rfft(signal.real, n=n, axis=axis), x.dtype)
    transform = np.fft.ifft if inverse else np.fft.fft
    return _as_pairs(transform(signal, n=n, axis=axis), x.dtype)


@kernel("DFT", since=17)
def dft_17(x, dft_length=None, *, axis=1, inverse=0, onesided=0):
    """Discrete Fourier transform along the ``axis`` attribute (last dim = real/imag)."""
    return _dft(x, dft_length, axis, inverse, onesided)


@kernel("DFT", since=20)
def dft(x, dft_length=None, axis=None, *, inverse=0, onesided=0):
    """Discrete Fourier transform along the ``axis`` input (default -2; last dim = real/imag)."""
    axis = -2 if axis is None else int(np.asarray(axis).reshape(-1)[0])
    return _dft(x, dft_length, axis, inverse, onesided)


@kernel("STFT", since=17)
def stft(signal, frame_step, window=None, frame_length=None, *, onesided=1):
    """Short-time Fourier transform: a DFT of each windowed frame of the signal."""
    step = int(np.asarray(frame_step).reshape(-1)[0])
    if frame_length is not None:
        length = int(np.asarray(frame_length).reshape(-1)[0])
    elif window is not None:
        length = window.shape[0]
    else:
        length = signal.shape[1]
    data = _as_complex(signal)                                    # (batch, signal_length)
    frames = (data.shape[1] - length) // step + 1
    starts = np.arange(frames)[:, None] * step + np.arange(length)
    framed = data[:, starts]                                      # (batch, frames, length)
    if window is not None:
        framed = framed * window.astype(framed.real.dtype)
    if onesided and signal.shape[-1] == 1:
        spectrum = np.fft.rfft(framed.real, axis=-1)
    else:
        spectrum = np.fft.fft(framed, axis=-1)
    return _as_pairs(spectrum, signal.dtype)


def _hz_to_mel(hz):
    return 2595 * np.log10(1 + hz / 700)


def _mel_to_hz(mel):
    return 700 * (10 ** (mel / 2595) - 1)


@kernel("MelWeightMatrix", since=17)
def mel_weight_matrix(num_mel_bins, dft_length, sample_rate, lower_edge_hertz,
                      upper_edge_hertz, *, output_datatype=1):
    """[dft_length // 2 + 1, num_mel_bins] triangular filters evenly spaced on the mel scale."""
    bins = int(np.asarray(num_mel_bins).reshape(-1)[0])
    length = int(np.asarray(dft_length).reshape(-1)[0])
    rate = float(np.asarray(sample_rate).reshape(-1)[0])
    low = _hz_to_mel(float(np.asarray(lower_edge_hertz).reshape(-1)[0]))
    high = _hz_to_mel(float(np.asarray(upper_edge_hertz).reshape(-1)[0]))
    # bins + 2 edges spaced (high - low) / (bins + 2) apart in mel, each mapped to its DFT bin.
    mel_edges = low + (high - low) / (bins + 2) * np.arange(bins + 2)
    edges = np.floor((length + 1) * _mel_to_hz(mel_edges) / rate).astype(np.int64)
    j = np.arange(length // 2 + 1)[:, None]                       # (spectrogram bins, 1)
    lower, center, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (j - lower) / np.maximum(center - lower, 1)
    falling = (upper - j) / np.maximum(upper - center, 1)
    weights = np.where((j >= lower) & (j <= center), rising, 0)
    weights = np.where((j > center) & (j <= upper), falling, weights)
    weights = np.where((j == center) & (center == lower), 1, weights)
    return weights.astype(_np_dtype(output_datatype, np.float32))
