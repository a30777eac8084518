"""``ronn.InferenceSession``: onnxruntime's Python API over a RONN session."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from ronn_core.onnx_io import load
from ronn_core.session import DEFAULT_LEVEL, Session

# onnxruntime's GraphOptimizationLevel values -> RONN levels
_ORT_LEVELS = {0: "O0", 1: "O1", 2: "O2", 3: "O3", 99: "O3"}


@dataclass(frozen=True)
class NodeArg:
    """onnxruntime's NodeArg: ``.name``, ``.shape`` (ints, symbolic names or None), ``.type``."""

    name: str
    shape: list | None
    type: str


class InferenceSession:
    """Drop-in for ``onnxruntime.InferenceSession``: ``run(output_names, feeds) -> list``."""

    def __init__(self, path_or_bytes: str | os.PathLike | bytes, sess_options: Any = None,
                 providers: Iterable[Any] | None = None,
                 provider_options: list[dict] | None = None, **kwargs: Any):
        names, options = _split_providers(providers, provider_options)
        level, threads = DEFAULT_LEVEL, None
        if sess_options is not None:
            raw = getattr(sess_options, "graph_optimization_level", None)
            if raw is not None:
                level = _ORT_LEVELS.get(int(raw), DEFAULT_LEVEL)
            threads = getattr(sess_options, "intra_op_num_threads", 0) or None
        self._model_path = None if isinstance(path_or_bytes, (bytes, bytearray)) \
            else os.fspath(path_or_bytes)
        self._session = Session(load(path_or_bytes), optimization_level=level,
                                providers=names, provider_options=options, threads=threads,
                                **kwargs)

    def run(self, output_names: Iterable[str] | None, input_feed: Mapping[str, Any],
            run_options: Any = None) -> list[Any]:
        names = list(output_names) if output_names else None
        result = self._session.run(input_feed, names)
        return list(result.values())

    def get_inputs(self) -> list[NodeArg]:
        return [NodeArg(i.name, i.shape, i.type_str) for i in self._session.inputs]

    def get_outputs(self) -> list[NodeArg]:
        return [NodeArg(o.name, o.shape, o.type_str) for o in self._session.outputs]

    def get_overridable_initializers(self) -> list[NodeArg]:
        g = self._session.graph
        return [NodeArg(n, None, "") for n in g.inputs if g.value(n).is_constant]

    def get_providers(self) -> list[str]:
        return [p.ort_name or p.name for p in self._session.providers]

    def get_provider_options(self) -> dict[str, dict]:
        return {p.ort_name or p.name: dict(p.options) for p in self._session.providers}

    def get_modelmeta(self) -> Any:
        return self._session.model.metadata if self._session.model else {}

    @property
    def session(self) -> Session:
        """The underlying RONN session (placement, profile, plan)."""
        return self._session


def _split_providers(providers, provider_options) -> tuple[list[str] | None, dict]:
    if providers is None:
        return None, {}
    names, options = [], {}
    for i, entry in enumerate(providers):
        name, opts = entry if isinstance(entry, tuple) else (entry, None)
        if provider_options and i < len(provider_options):
            opts = {**(opts or {}), **provider_options[i]}
        names.append(name)
        if opts:
            options[name] = dict(opts)
    return names, options
