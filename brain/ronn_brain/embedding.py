"""Embeddings for memory: an ONNX embedding model that RONN itself runs (or the raw input)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from ronn_core.errors import ConfigValueError


class Embedder:
    """``embed(feeds, rows)`` -> float32 ``(rows or 1, dim)`` vectors.

    With ``model`` set, a RONN session of that model computes them (its ``output``, else its
    first output); its single input takes the request's feed of the same name, else the
    request's only feed. Without a model the request's inputs are flattened and concatenated.
    """

    def __init__(self, session, model: Path | None, output: str | None, module: str):
        self.session = session
        self.module = module
        self._local = threading.local()
        self.embed_session = None
        if model is None:
            return
        from ronn_core.onnx_io import load
        from ronn_core.session import Session
        self.embed_session = Session(load(model), threads=session.threads,
                                     providers=[(p.name, p.options) for p in session.providers],
                                     runtime=session.runtime)
        inputs = self.embed_session.inputs
        if len(inputs) != 1:
            raise ConfigValueError(f"modules.{module}: the embedding model {str(model)!r} has "
                                   f"{len(inputs)} inputs {[i.name for i in inputs]}; expected "
                                   f"exactly one")
        self.input_name = inputs[0].name
        names = [o.name for o in self.embed_session.outputs]
        if output is not None and output not in names:
            raise ConfigValueError(f"modules.{module}: embedding_output = {output!r} is not an "
                                   f"output of {str(model)!r}; its outputs are {names}")
        self.output = output or names[0]

    def embed(self, feeds: dict[str, Any], rows: int | None) -> np.ndarray:
        """Memoised per thread for the same feeds object (the modules of one request share it)."""
        ids = tuple(id(v) for v in feeds.values())
        memo = getattr(self._local, "memo", None)
        if memo is not None and memo[0] is feeds and memo[1] == ids:
            return memo[2]
        vectors = self._compute(feeds, rows)
        self._local.memo = (feeds, ids, vectors)
        return vectors

    def _compute(self, feeds: dict[str, Any], rows: int | None) -> np.ndarray:
        if self.embed_session is None:
            parts = [np.asarray(feeds[k], dtype=np.float32) for k in sorted(feeds)]
            if rows is None:
                return np.concatenate([p.reshape(-1) for p in parts])[None, :]
            return np.concatenate([p.reshape(rows, -1) for p in parts], axis=1)
        value = feeds.get(self.input_name)
        if value is None:
            if len(feeds) != 1:
                raise ConfigValueError(f"modules.{self.module}: the embedding model's input "
                                       f"{self.input_name!r} is not among the request's feeds "
                                       f"{sorted(feeds)}")
            value = next(iter(feeds.values()))
        out = np.asarray(self.embed_session.run({self.input_name: value},
                                                [self.output])[self.output], dtype=np.float32)
        return out.reshape(1, -1) if rows is None else out.reshape(rows, -1)
