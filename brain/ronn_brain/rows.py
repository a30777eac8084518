"""Requests as rows: split a batched request, run part of it, put the answers back together."""

from __future__ import annotations

import hashlib
from typing import Any, Callable

import numpy as np


def batch_rows(session, feeds: dict[str, Any]) -> int | None:
    """Rows in a batched request (all feeds share a leading dim the model leaves free), or None."""
    sizes = set()
    for info in session.inputs:
        value = feeds.get(info.name)
        shape = info.shape
        if not isinstance(value, np.ndarray) or value.ndim == 0 or not shape \
                or isinstance(shape[0], int):
            return None
        sizes.add(value.shape[0])
    return sizes.pop() if len(sizes) == 1 else None


def take(feeds: dict[str, Any], rows) -> dict[str, Any]:
    return {k: v[rows] for k, v in feeds.items()}


def row_digests(feeds: dict[str, Any], n: int | None) -> list[str]:
    """A content digest per row (exact repeats); one for the whole request if ``n`` is None."""
    names = sorted(feeds)
    if n is None:
        h = hashlib.blake2b(digest_size=16)
        for k in names:
            _update(h, k, np.asarray(feeds[k]))
        return [h.hexdigest()]
    out = []
    for i in range(n):
        h = hashlib.blake2b(digest_size=16)
        for k in names:
            _update(h, k, np.asarray(feeds[k][i]))
        out.append(h.hexdigest())
    return out


def _update(h, name: str, value: np.ndarray) -> None:
    value = np.ascontiguousarray(value)
    h.update(f"{name}|{value.dtype.str}|{value.shape}|".encode())
    h.update(value.tobytes())


def merge_rows(n: int, parts: list[tuple[np.ndarray, dict[str, np.ndarray]]]) -> dict[str, Any]:
    """Outputs for ``n`` rows from parts ``(row indices, outputs for those rows)``."""
    merged: dict[str, np.ndarray] = {}
    for rows, outputs in parts:
        for name, value in outputs.items():
            value = np.asarray(value)
            if name not in merged:
                merged[name] = np.empty((n,) + value.shape[1:], dtype=value.dtype)
            merged[name][rows] = value
    return merged


def run_rows(call_next: Callable[[dict], dict], feeds: dict[str, Any], rows,
             n: int) -> dict[str, np.ndarray]:
    """``call_next`` on a subset of rows; checks that every output keeps one row per input row."""
    outputs = call_next(take(feeds, rows))
    for name, value in outputs.items():
        if not isinstance(value, np.ndarray) or value.ndim == 0 or value.shape[0] != len(rows):
            from ronn_core.errors import ConfigValueError
            raise ConfigValueError(
                f"output {name!r} of a {len(rows)}-row request has shape "
                f"{getattr(value, 'shape', None)}; row-wise brain modules need one output row "
                f"per input row (set per_row = false for this model)")
    return outputs


def as_rows(value) -> np.ndarray:
    """A value as float64 rows ``(rows, classes)``."""
    x = np.asarray(value, dtype=np.float64)
    return x.reshape(1, -1) if x.ndim <= 1 else x.reshape(x.shape[0], -1)


def is_probability(rows: np.ndarray) -> bool:
    return rows.min() >= 0.0 and float(np.abs(rows.sum(axis=1) - 1.0).max()) <= 1e-3


def softmax(rows: np.ndarray) -> np.ndarray:
    z = np.exp(rows - rows.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def probabilities(value: np.ndarray) -> np.ndarray:
    """Rows of class probabilities: the value itself if it already is one, else its softmax."""
    x = as_rows(value)
    return x if is_probability(x) else softmax(x)


def confidence(probs: np.ndarray, *, margin: bool = True,
               entropy: bool = True) -> dict[str, np.ndarray]:
    """Per row: top probability, margin to the runner-up, entropy normalised to [0, 1]."""
    classes = probs.shape[1]
    out = {"top": probs.max(axis=1)}
    if margin:
        p = np.partition(probs, classes - 2, axis=1) if classes > 1 else probs
        out["margin"] = out["top"] - (p[:, classes - 2] if classes > 1 else 0.0)
    if entropy:
        ent = -(probs * np.log(np.clip(probs, 1e-12, 1.0))).sum(axis=1)
        out["entropy"] = ent / np.log(classes) if classes > 1 else np.zeros_like(out["top"])
    return out
