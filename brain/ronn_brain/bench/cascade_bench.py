"""Cascade: throughput and accuracy against always running the full model."""

from __future__ import annotations

import time

import numpy as np

from ronn_brain.rows import confidence
from ronn_core.onnx_io import load
from ronn_core.session import Session

CANDIDATES = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)


def pick_threshold(full: Session, fast: Session, x_val, min_agreement: float = 0.995) -> float:
    """The lowest ``min_top_prob`` whose cascade agrees with the full model on at least
    ``min_agreement`` of the validation rows (chosen on validation, measured on test)."""
    pf = full.run({"input": x_val})["probs"].argmax(1)
    ps = fast.run({"input": x_val})["probs"]
    top = confidence(ps.astype(np.float64), margin=False, entropy=False)["top"]
    for t in CANDIDATES:
        pred = np.where(top >= t, ps.argmax(1), pf)
        if (pred == pf).mean() >= min_agreement:
            return t
    return CANDIDATES[-1]


def _time_requests(session: Session, x: np.ndarray, batch: int) -> tuple[float, np.ndarray]:
    out = []
    start = time.perf_counter()
    for i in range(0, len(x), batch):
        out.append(session.run({"input": x[i:i + batch]})["probs"])
    return time.perf_counter() - start, np.concatenate(out)


def bench_cascade(data, models, *, runs: int = 5, threads=None, batches=(1, 32)) -> dict:
    full = Session(load(models.full), threads=threads)
    fast = Session(load(models.fast), threads=threads)
    threshold = pick_threshold(full, fast, data.x_val)
    results = {"threshold": threshold, "batches": {}}
    for batch in batches:
        cascade = Session(load(models.full), threads=threads, modules={
            "cascade": {"fast_model": str(models.fast), "min_top_prob": threshold}})
        _time_requests(full, data.x_test[:batch * 2], batch)          # warm up
        _time_requests(cascade, data.x_test[:batch * 2], batch)
        t_full, t_cascade = [], []
        for _ in range(runs):                                           # alternate
            s, full_probs = _time_requests(full, data.x_test, batch)
            t_full.append(s)
            s, cascade_probs = _time_requests(cascade, data.x_test, batch)
            t_cascade.append(s)
        stats = cascade.module("cascade").stats()
        fast_probs = fast.run({"input": data.x_test})["probs"]
        y = data.y_test
        acc_full = float((full_probs.argmax(1) == y).mean())
        acc_cascade = float((cascade_probs.argmax(1) == y).mean())
        results["batches"][batch] = {
            "rows": len(y), "full_s": min(t_full), "cascade_s": min(t_cascade),
            "speedup": min(t_full) / min(t_cascade),
            "full_rows_per_s": len(y) / min(t_full),
            "cascade_rows_per_s": len(y) / min(t_cascade),
            "accuracy_full": acc_full, "accuracy_cascade": acc_cascade,
            "accuracy_fast": float((fast_probs.argmax(1) == y).mean()),
            "accuracy_loss_pp": 100 * (acc_full - acc_cascade),
            "fraction_full": stats["fraction_full"],
            "agreement_with_full": float((cascade_probs.argmax(1) == full_probs.argmax(1))
                                         .mean())}
        cascade.close()
    return results
