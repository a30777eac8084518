"""``ronn.Model``: a loaded ONNX model, its inputs and outputs, and sessions made from it."""

from __future__ import annotations

import os
from typing import Any

from ronn_core.feeds import ValueInfo
from ronn_core.graph import Graph
from ronn_core.onnx_io import LoadedModel, load
from ronn_core.session import Session, graph_inputs


class Model:
    """An ONNX model loaded into RONN's IR."""

    def __init__(self, loaded: LoadedModel):
        self._loaded = loaded

    @classmethod
    def load(cls, source: str | os.PathLike | bytes, *,
             base_dir: str | os.PathLike | None = None) -> "Model":
        """Load from a path or bytes (external data only from the model's folder/``base_dir``)."""
        return cls(load(source, base_dir=base_dir))

    @property
    def graph(self) -> Graph:
        return self._loaded.graph

    @property
    def inputs(self) -> list[ValueInfo]:
        """Inputs to feed (initializers that are also graph inputs are left out)."""
        return graph_inputs(self.graph)[0]

    @property
    def outputs(self) -> list[ValueInfo]:
        return [ValueInfo(n, self.graph.value(n).type) for n in self.graph.outputs]

    @property
    def opsets(self) -> dict[str, int]:
        return dict(self.graph.opsets)

    @property
    def ir_version(self) -> int:
        return self._loaded.ir_version

    @property
    def producer(self) -> str:
        return self._loaded.producer

    @property
    def metadata(self) -> dict[str, str]:
        return dict(self._loaded.metadata)

    def create_session(self, **options: Any) -> Session:
        """A session for this model.

        Options: ``optimization_level`` ("O0".."O3", default "O3"), ``provider="cpu"`` or
        ``providers=[...]`` (names, or ``(name, options)`` pairs, in preference order),
        ``provider_options={name: {...}}``, ``threads``, ``enable_passes``, ``disable_passes``,
        ``profiling``, ``modules``, ``runtime``.
        """
        return Session(self._loaded, **options)

    def __repr__(self) -> str:
        return (f"<Model {self.graph.name!r}: inputs {[i.name for i in self.inputs]}, "
                f"outputs {[o.name for o in self.outputs]}, opsets {self.opsets}>")
