"""Prioritized replay: a reservoir of past examples, sampled in proportion to their loss."""

from __future__ import annotations

import numpy as np


class ReplayBuffer:
    """Up to ``capacity`` (features, label) pairs. Membership is a reservoir sample of
    everything seen (so old tasks stay represented); sampling probability is
    ``(loss + eps) ** alpha`` (so what the model still gets wrong comes back more often)."""

    def __init__(self, capacity: int, dim: int, *, alpha: float = 0.6, seed: int = 0):
        self.capacity = capacity
        self.alpha = alpha
        self.features = np.zeros((capacity, dim), dtype=np.float32)
        self.labels = np.zeros(capacity, dtype=np.int64)
        self.priority = np.zeros(capacity, dtype=np.float64)
        self.size = 0
        self.seen = 0
        self._rng = np.random.default_rng(seed)

    def add(self, features: np.ndarray, labels: np.ndarray, losses: np.ndarray) -> None:
        for x, y, loss in zip(features, labels, losses):
            self.seen += 1
            if self.size < self.capacity:
                slot = self.size
                self.size += 1
            else:
                slot = int(self._rng.integers(0, self.seen))
                if slot >= self.capacity:
                    continue
            self.features[slot], self.labels[slot] = x, y
            self.priority[slot] = float(loss) + 1e-3

    def sample(self, k: int) -> np.ndarray:
        """Slot indices, drawn without replacement in proportion to priority ** alpha."""
        if self.size == 0 or k <= 0:
            return np.zeros(0, dtype=np.int64)
        p = self.priority[: self.size] ** self.alpha
        return self._rng.choice(self.size, size=min(k, self.size), replace=False, p=p / p.sum())

    def update(self, slots: np.ndarray, losses: np.ndarray) -> None:
        self.priority[slots] = losses + 1e-3

    def state(self) -> dict[str, np.ndarray]:
        n = self.size
        return {"replay/features": self.features[:n], "replay/labels": self.labels[:n],
                "replay/priority": self.priority[:n], "replay/seen": np.array(self.seen)}

    def restore(self, arrays: dict[str, np.ndarray]) -> None:
        n = min(len(arrays["replay/labels"]), self.capacity)
        self.features[:n] = arrays["replay/features"][:n]
        self.labels[:n] = arrays["replay/labels"][:n]
        self.priority[:n] = arrays["replay/priority"][:n]
        self.size, self.seen = n, int(arrays["replay/seen"])
