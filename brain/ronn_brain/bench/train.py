"""A numpy MLP trainer (float32, Adam, ReLU, softmax cross-entropy) for the benchmark models."""

from __future__ import annotations

import numpy as np


def train_mlp(x: np.ndarray, y: np.ndarray, hidden: tuple[int, ...], *, classes: int = 10,
              epochs: int = 20, batch: int = 64, lr: float = 1e-3, l2: float = 1e-4,
              seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Dense layers ``[(W, b), ...]`` of an MLP trained on ``(x, y)``."""
    rng = np.random.default_rng(seed)
    sizes = [x.shape[1], *hidden, classes]
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params += [(rng.standard_normal((a, b)) * np.sqrt(2.0 / a)).astype(np.float32),
                   np.zeros(b, np.float32)]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    t = 0
    x = x.astype(np.float32)
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch):
            idx = order[start:start + batch]
            grads = _gradients(params, x[idx], y[idx], l2)
            t += 1
            for i, g in enumerate(grads):
                m[i] = 0.9 * m[i] + 0.1 * g
                v[i] = 0.999 * v[i] + 0.001 * g * g
                mh, vh = m[i] / (1 - 0.9 ** t), v[i] / (1 - 0.999 ** t)
                params[i] -= (lr * mh / (np.sqrt(vh) + 1e-8)).astype(np.float32)
    return [(params[i], params[i + 1]) for i in range(0, len(params), 2)]


def _gradients(params, x, y, l2):
    acts = [x]
    h = x
    n_layers = len(params) // 2
    for i in range(n_layers):
        z = h @ params[2 * i] + params[2 * i + 1]
        h = np.maximum(z, 0) if i < n_layers - 1 else z
        acts.append(h)
    z = acts[-1]
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    g = p
    g[np.arange(len(y)), y] -= 1
    g /= len(y)
    grads = [None] * len(params)
    for i in reversed(range(n_layers)):
        grads[2 * i] = acts[i].T @ g + l2 * params[2 * i]
        grads[2 * i + 1] = g.sum(0)
        if i:
            g = (g @ params[2 * i].T) * (acts[i] > 0)
    return grads


def predict(layers, x: np.ndarray) -> np.ndarray:
    h = x.astype(np.float32)
    for i, (w, b) in enumerate(layers):
        h = h @ w + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0)
    return h.argmax(1)
