"""The data: scikit-learn's bundled digits (8x8 images, 10 classes, 1797 samples)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Digits:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_digits_split(seed: int = 0) -> Digits:
    """Pixels scaled to [0, 1]; stratified 60 % train / 15 % validation / 25 % test."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        from ronn_core.errors import ConfigValueError
        raise ConfigValueError("the brain benchmarks need scikit-learn: pip install "
                               "'ronn-brain[bench]'") from None
    data = load_digits()
    x = (data.data / 16.0).astype(np.float32)
    y = data.target.astype(np.int64)
    x_rest, x_test, y_rest, y_test = train_test_split(x, y, test_size=0.25, stratify=y,
                                                      random_state=seed)
    x_train, x_val, y_train, y_val = train_test_split(x_rest, y_rest, test_size=0.2,
                                                      stratify=y_rest, random_state=seed)
    return Digits(x_train, y_train, x_val, y_val, x_test, y_test)
