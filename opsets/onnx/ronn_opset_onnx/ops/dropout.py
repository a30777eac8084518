"""Dropout: the identity at inference, with an all-True mask when the node asks for one."""

from __future__ import annotations

import numpy as np

from ronn_core.kernel_spec import kernel


class DropoutTrainingNotSupported(NotImplementedError):
    """Training-mode Dropout without a ``seed`` has no reproducible result to give."""


@kernel("Dropout", since=1)
@kernel("Dropout", since=6)
@kernel("Dropout", since=7)
def dropout_legacy(data, *, consumed_inputs=None, is_test=0, ratio=0.5):
    """Identity; the mask has the data's dtype (all ones) in these versions."""
    return data, np.ones_like(data)


@kernel("Dropout", since=10)
def dropout_10(data, *, ratio=0.5):
    """Identity; the mask is a bool tensor of all True."""
    return data, np.ones(data.shape, dtype=bool)


@kernel("Dropout", since=12)
@kernel("Dropout", since=13)
@kernel("Dropout", since=22)
def dropout(data, ratio=None, training_mode=None, *, seed=None):
    """Identity unless training_mode; then zero a ``ratio`` of X and scale the rest by 1/(1-ratio)."""
    ratio = 0.5 if ratio is None else float(np.asarray(ratio))
    training = training_mode is not None and bool(np.asarray(training_mode))
    if not training or ratio == 0.0:
        return data, np.ones(data.shape, dtype=bool)
    if seed is None:
        raise DropoutTrainingNotSupported(
            "Dropout with training_mode=True and ratio > 0 is random; give the node a `seed` "
            "attribute for a reproducible result, or run it with training_mode=False")
    mask = np.random.default_rng(seed).random(data.shape) >= ratio
    scale = np.asarray(1.0 / (1.0 - ratio), dtype=data.dtype) if ratio < 1.0 else 0
    return np.asarray(data * mask * scale, dtype=data.dtype), mask
