"""Fixtures: an isolated runtime (ai.onnx opset, cpu provider, this plugin) and session builders."""

from __future__ import annotations

import numpy as np
import pytest

import ronn
import ronn_bitnet.plugin
import ronn_cpu.plugin
import ronn_opset_onnx.plugin
from ronn_core import Runtime


@pytest.fixture(scope="session")
def runtime() -> Runtime:
    return Runtime(plugins=[ronn_opset_onnx.plugin, ronn_cpu.plugin, ronn_bitnet.plugin],
                   discover=False)


@pytest.fixture
def session_of(runtime):
    """``session_of(model_proto, **options)``: a session on the isolated runtime."""

    def build(model, **options):
        return ronn.Model.load(model.SerializeToString()).create_session(runtime=runtime,
                                                                         **options)

    return build


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
