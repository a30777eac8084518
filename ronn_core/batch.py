"""Batching several requests into one run: stack feeds along dim 0, split the outputs back.

A model can be batched when every required input and every output is a tensor whose first dim
is symbolic or unknown (``["N", 16]``, ``[None, 16]``): then rows are independent requests as far
as the signature says. ``batch_blocker`` says why a model can't be; ``stack_feeds`` checks the
requests agree (same inputs, dtypes and trailing dims) and concatenates them; ``split_outputs``
cuts each output back into per-request slices.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ronn_core.errors import FeedError, InputShapeError, InputTypeError, MissingInputError
from ronn_core.feeds import ValueInfo
from ronn_core.types import TensorType


def batch_blocker(inputs: Sequence[ValueInfo], outputs: Sequence[ValueInfo]) -> str | None:
    """Why a model with these inputs/outputs can't be run stacked, or None when it can."""
    if not inputs:
        return "the model has no required inputs"
    for kind, infos in (("input", inputs), ("output", outputs)):
        for info in infos:
            if not isinstance(info.type, TensorType):
                return f"{kind} {info.name!r} is {info.type_str}, not a tensor"
            shape = info.shape
            if shape is None:
                return f"{kind} {info.name!r} has an unknown rank"
            if not shape:
                return f"{kind} {info.name!r} is a scalar (no batch dim)"
            if isinstance(shape[0], int):
                return f"{kind} {info.name!r} has a static first dim {shape[0]}"
    return None


def request_rows(feeds: Mapping[str, Any], index: int) -> int:
    """The batch size (dim 0) of one request: the same on every input, else FeedError."""
    rows: dict[str, int] = {}
    for name, value in feeds.items():
        shape = np.shape(value)
        if not shape:
            raise InputShapeError(f"request {index}: input {name!r} is a scalar; batching needs "
                                  f"a leading batch dim on every input")
        rows[name] = shape[0]
    if len(set(rows.values())) > 1:
        raise InputShapeError(f"request {index}: inputs disagree on the batch dim (dim 0): "
                              f"{rows}")
    return next(iter(rows.values()))


def stack_feeds(feeds_list: Sequence[Mapping[str, Any]]) -> tuple[dict[str, np.ndarray], list[int]]:
    """Concatenate requests along dim 0; return (stacked feeds, rows per request).

    Every request must name the same inputs, with the same dtype and the same dims after the
    first; errors name the request and what differs from request 0.
    """
    if not feeds_list:
        raise FeedError("run_batch needs at least one feeds dict, got an empty list")
    first = feeds_list[0]
    names = list(first)
    arrays: dict[str, list[np.ndarray]] = {n: [] for n in names}
    sizes: list[int] = []
    for index, feeds in enumerate(feeds_list):
        if not isinstance(feeds, Mapping):
            raise InputTypeError(f"request {index}: feeds must be a dict of input name -> array, "
                                 f"got {type(feeds).__name__}")
        if set(feeds) != set(names):
            missing = sorted(set(names) - set(feeds))
            extra = sorted(set(feeds) - set(names))
            raise MissingInputError(f"request {index} feeds {sorted(feeds)} but request 0 feeds "
                                    f"{sorted(names)} (missing {missing}, extra {extra}); every "
                                    f"request of a batch must feed the same inputs")
        for name in names:
            value = np.asarray(feeds[name])
            ref = arrays[name][0] if arrays[name] else value
            if value.dtype != ref.dtype:
                raise InputTypeError(f"request {index}: input {name!r} has dtype {value.dtype}, "
                                     f"request 0 has {ref.dtype}")
            if value.ndim == 0 or value.shape[1:] != ref.shape[1:]:
                raise InputShapeError(f"request {index}: input {name!r} has shape "
                                      f"{list(value.shape)}, request 0 has {list(ref.shape)}; "
                                      f"only dim 0 (the batch dim) may differ")
            arrays[name].append(value)
        sizes.append(request_rows(feeds, index))
    stacked = {n: (a[0] if len(a) == 1 else np.concatenate(a, axis=0)) for n, a in arrays.items()}
    return stacked, sizes


def split_outputs(outputs: Mapping[str, Any], sizes: Sequence[int]) -> list[dict[str, Any]]:
    """Cut every output along dim 0 into ``sizes`` rows each, one dict per request."""
    total = sum(sizes)
    for name, value in outputs.items():
        shape = np.shape(value)
        if not isinstance(value, np.ndarray) or not shape or shape[0] != total:
            raise InputShapeError(f"output {name!r} has shape {list(shape)} after a stacked run "
                                  f"of {total} rows; expected dim 0 = {total}. The model mixes "
                                  f"rows, so it can't be batched")
    bounds = np.cumsum([0, *sizes])
    return [{name: value[bounds[i]:bounds[i + 1]] for name, value in outputs.items()}
            for i in range(len(sizes))]
