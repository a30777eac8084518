"""A trainable classifier head in numpy: softmax regression or a one-hidden-layer MLP,
with fast and slow weights and elastic weight consolidation (EWC)."""

from __future__ import annotations

import numpy as np


class Head:
    """Effective weights = slow + fast. ``step`` trains the slow weights (with the EWC penalty
    ``lambda/2 * sum F (theta - anchor)^2``); ``fast_step`` trains the fast weights, which decay
    by ``fast_decay`` each step, so they hold only the recent past."""

    def __init__(self, dim: int, classes: int, hidden: int = 0, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.hidden = hidden
        if hidden:
            self.slow = {"W1": rng.standard_normal((dim, hidden)) * np.sqrt(2.0 / dim),
                         "b1": np.zeros(hidden),
                         "W2": rng.standard_normal((hidden, classes)) * np.sqrt(1.0 / hidden),
                         "b2": np.zeros(classes)}
        else:
            self.slow = {"W": np.zeros((dim, classes)), "b": np.zeros(classes)}
        self.fast = {k: np.zeros_like(v) for k, v in self.slow.items()}
        self.fisher = {k: np.zeros_like(v) for k, v in self.slow.items()}
        self.anchor = {k: v.copy() for k, v in self.slow.items()}

    def weights(self) -> dict[str, np.ndarray]:
        return {k: self.slow[k] + self.fast[k] for k in self.slow}

    # -- forward and gradients ----------------------------------------------------------------

    def predict(self, x: np.ndarray) -> np.ndarray:
        return self._forward(self.weights(), np.asarray(x, dtype=np.float64))[0]

    def _forward(self, w, x):
        if self.hidden:
            pre = x @ w["W1"] + w["b1"]
            h = np.maximum(pre, 0.0)
            logits = h @ w["W2"] + w["b2"]
        else:
            h = None
            logits = x @ w["W"] + w["b"]
        z = np.exp(logits - logits.max(axis=1, keepdims=True))
        return z / z.sum(axis=1, keepdims=True), h

    def losses(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        p = self.predict(x)
        return -np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0))

    def gradients(self, x: np.ndarray, y: np.ndarray, *, squared: bool = False):
        """Mean cross-entropy gradients at the effective weights; with ``squared``, the mean of
        per-example squared gradients instead (the empirical Fisher diagonal)."""
        w = self.weights()
        x = np.asarray(x, dtype=np.float64)
        p, h = self._forward(w, x)
        g = p.copy()
        g[np.arange(len(y)), y] -= 1.0
        n = len(y)
        sq = (lambda a: a * a) if squared else (lambda a: a)
        if not self.hidden:
            return {"W": sq(x).T @ sq(g) / n, "b": sq(g).sum(0) / n}
        dh = (g @ w["W2"].T) * (h > 0)
        return {"W2": sq(h).T @ sq(g) / n, "b2": sq(g).sum(0) / n,
                "W1": sq(x).T @ sq(dh) / n, "b1": sq(dh).sum(0) / n}

    # -- learning -----------------------------------------------------------------------------

    def step(self, x, y, lr: float, ewc_lambda: float = 0.0) -> None:
        grads = self.gradients(x, y)
        w = self.weights() if ewc_lambda else None
        for k, g in grads.items():
            if ewc_lambda:
                g = g + ewc_lambda * self.fisher[k] * (w[k] - self.anchor[k])
            self.slow[k] -= lr * g

    def fast_step(self, x, y, lr: float, decay: float) -> None:
        grads = self.gradients(x, y)
        for k, g in grads.items():
            self.fast[k] = decay * self.fast[k] - lr * g

    def consolidate(self, x, y, gamma: float = 1.0) -> None:
        """EWC anchor at the current weights; Fisher = gamma * old + Fisher on (x, y)."""
        fisher = self.gradients(x, y, squared=True)
        for k in self.fisher:
            self.fisher[k] = gamma * self.fisher[k] + fisher[k]
        self.anchor = self.weights()

    # -- persistence --------------------------------------------------------------------------

    def state(self) -> dict[str, np.ndarray]:
        out = {}
        for group in ("slow", "fast", "fisher", "anchor"):
            out.update({f"{group}/{k}": v for k, v in getattr(self, group).items()})
        return out

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        for group in ("slow", "fast", "fisher", "anchor"):
            target = getattr(self, group)
            for k in target:
                target[k] = np.array(arrays[f"{group}/{k}"], dtype=np.float64)
