"""Set-up: train the classifiers and the feature/embedding models, export them to ONNX."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ronn_brain.bench.data import Digits
from ronn_brain.bench.onnx_export import dense_model, save
from ronn_brain.bench.train import train_mlp


@dataclass
class Models:
    full: Path
    fast: Path
    embed: Path
    features: Path
    info: dict = field(default_factory=dict)


def train_models(data: Digits, out_dir, *, quick: bool = False, seed: int = 0) -> Models:
    """Full model: a wide MLP (3 x 1024 hidden; quick: 2 x 128). Fast model: 64-16-10.
    Embedding: PCA to 16 dims (unsupervised). Features: a random ReLU projection to 256 units
    of the standardised pixels (label-free, frozen)."""
    from sklearn.decomposition import PCA
    out = Path(out_dir)
    wide = (128, 128) if quick else (1024, 1024, 1024)
    t = time.perf_counter()
    full = train_mlp(data.x_train, data.y_train, wide, epochs=12 if quick else 10,
                     lr=1e-3 if quick else 5e-4, seed=seed)
    info = {"full_train_s": round(time.perf_counter() - t, 1), "full_hidden": list(wide),
            "fast_hidden": [16]}
    fast = train_mlp(data.x_train, data.y_train, (16,), epochs=60, lr=1e-3, seed=seed)
    info["full_params"] = int(sum(w.size + b.size for w, b in full))
    info["fast_params"] = int(sum(w.size + b.size for w, b in fast))
    pca = PCA(16, random_state=seed).fit(data.x_train)
    comp = pca.components_.T
    embed = dense_model([(comp, -pca.mean_ @ comp)], softmax=False, output_name="embedding",
                        name="pca_embedding")
    rng = np.random.default_rng(seed)
    mean, std = data.x_train.mean(0), data.x_train.std(0) + 0.1
    proj = rng.standard_normal((64, 256)) / np.sqrt(64)
    w = proj / std[:, None]
    features = dense_model([(w, -(mean / std) @ proj)], relu_last=True, softmax=False,
                           output_name="features", name="random_relu_features")
    return Models(save(dense_model(full), out / "full.onnx"),
                  save(dense_model(fast), out / "fast.onnx"),
                  save(embed, out / "embed.onnx"), save(features, out / "features.onnx"), info)
