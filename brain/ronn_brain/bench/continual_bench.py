"""Continual learning on split digits (0-4, then 5-9): forgetting with and without EWC/replay."""

from __future__ import annotations

import numpy as np

from ronn_core.onnx_io import load
from ronn_core.session import Session

SETTINGS = {
    "plain": {},
    "ewc": {"ewc_lambda": 200.0},
    "replay": {"replay_size": 200, "replay_batch": 10},
    "ewc+replay": {"ewc_lambda": 200.0, "replay_size": 200, "replay_batch": 10},
}
BASE = {"classes": 10, "lr": 0.05, "fast_lr": 0.02, "fast_decay": 0.9}


def _accuracy(session, x, y) -> float:
    return float((session.run({"input": x})["continual"].argmax(1) == y).mean())


def run_sequence(data, models, config: dict, *, epochs: int = 3, batch: int = 10,
                 seed: int = 0) -> dict:
    session = Session(load(models.features), modules={
        "continual": {**BASE, **config, "features_model": str(models.features)}})
    rng = np.random.default_rng(seed)
    module = session.module("continual")
    first = data.y_test < 5
    result = {}
    for task, mask in (("A", data.y_train < 5), ("B", data.y_train >= 5)):
        x, y = data.x_train[mask], data.y_train[mask]
        for _ in range(epochs):
            order = rng.permutation(len(x))
            for i in range(0, len(x), batch):
                idx = order[i:i + batch]
                session.learn({"input": x[idx]}, y[idx])
        module.consolidate()
        result[f"acc_first_after_{task}"] = _accuracy(session, data.x_test[first],
                                                      data.y_test[first])
    result["acc_second_after_B"] = _accuracy(session, data.x_test[~first], data.y_test[~first])
    result["acc_all_after_B"] = _accuracy(session, data.x_test, data.y_test)
    result["forgetting_pp"] = 100 * (result["acc_first_after_A"] - result["acc_first_after_B"])
    session.close()
    return result


def bench_continual(data, models, *, epochs: int = 3) -> dict:
    out = {name: run_sequence(data, models, cfg, epochs=epochs) for name, cfg in SETTINGS.items()}
    plain, both = out["plain"]["forgetting_pp"], out["ewc+replay"]["forgetting_pp"]
    out["forgetting_reduction"] = plain / both if both > 0 else float("inf")
    return out
