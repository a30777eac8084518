"""``onnx.backend.base.Backend`` over RONN, so the ONNX backend test suite can run against it."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep

from ronn_core.onnx_io import load
from ronn_core.session import Session


class RonnBackendRep(BackendRep):
    """A prepared model: ``run(inputs)`` takes a list (in input order) or a dict."""

    def __init__(self, session: Session):
        self.session = session

    def run(self, inputs: Any, **kwargs: Any) -> tuple:
        names = [i.name for i in self.session.inputs]
        if isinstance(inputs, dict):
            feeds = dict(inputs)
        else:
            if isinstance(inputs, np.ndarray):
                inputs = [inputs]
            feeds = dict(zip(names, inputs))
        return tuple(self.session.run(feeds).values())


class RonnBackend(Backend):
    """RONN as an ONNX backend (CPU)."""

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> RonnBackendRep:
        if not cls.supports_device(device):
            raise ValueError(f"RONN's backend runs on CPU, not {device!r}")
        data = model if isinstance(model, (bytes, bytearray)) else model.SerializeToString()
        return RonnBackendRep(Session(load(data), **kwargs))

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: Any, device: str = "CPU",
                  **kwargs: Any) -> tuple:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return str(device).upper().startswith("CPU")


prepare = RonnBackend.prepare
run_model = RonnBackend.run_model
supports_device = RonnBackend.supports_device
