"""Fixtures: digits, small classifiers trained here and exported to ONNX, an isolated runtime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ronn_brain.plugin
import ronn_cpu.plugin
import ronn_opset_onnx.plugin
from ronn_brain.bench.data import load_digits_split
from ronn_brain.bench.onnx_export import dense_model, save
from ronn_brain.bench.train import train_mlp
from ronn_core import Runtime
from ronn_core.onnx_io import load
from ronn_core.session import Session


@pytest.fixture(scope="session")
def runtime() -> Runtime:
    return Runtime(plugins=[ronn_opset_onnx.plugin, ronn_cpu.plugin, ronn_brain.plugin],
                   discover=False)


@pytest.fixture(scope="session")
def digits():
    return load_digits_split()


@pytest.fixture(scope="session")
def models(tmp_path_factory, digits) -> dict[str, Path]:
    """full: 64-64-10 MLP; fast: 64-8-10 (weaker, less sure); embed: PCA-16; features: random
    ReLU projection (256). All trained/fitted on the training split, exported to ONNX."""
    from sklearn.decomposition import PCA
    out = tmp_path_factory.mktemp("models")
    full = train_mlp(digits.x_train, digits.y_train, (64,), epochs=15, seed=0)
    fast = train_mlp(digits.x_train, digits.y_train, (8,), epochs=20, lr=3e-3, seed=1)
    pca = PCA(16, random_state=0).fit(digits.x_train)
    comp = pca.components_.T
    rng = np.random.default_rng(0)
    proj = rng.standard_normal((64, 256)) / np.sqrt(64)
    mean, std = digits.x_train.mean(0), digits.x_train.std(0) + 0.1
    return {
        "full": save(dense_model(full), out / "full.onnx"),
        "fast": save(dense_model(fast), out / "fast.onnx"),
        "embed": save(dense_model([(comp, -pca.mean_ @ comp)], softmax=False,
                                  output_name="embedding"), out / "embed.onnx"),
        "features": save(dense_model([(proj / std[:, None], -(mean / std) @ proj)],
                                     relu_last=True, softmax=False, output_name="features"),
                         out / "features.onnx"),
    }


@pytest.fixture
def make_session(runtime, models):
    """``make_session(model="full", threads=1, **modules)`` with the brain modules enabled."""
    made = []

    def make(model: str = "full", **modules):
        s = Session(load(models[model]), threads=1, runtime=runtime, modules=modules)
        made.append(s)
        return s

    yield make
    for s in made:
        s.close()


@pytest.fixture
def plain(runtime, models):
    """Plain sessions (no modules) of each model, for reference outputs."""
    return {k: Session(load(p), threads=1, runtime=runtime) for k, p in models.items()}
