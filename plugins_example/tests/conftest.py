"""Fixtures for ronn-example's tests: isolated runtimes, so nothing needs installing.

``runtime`` holds the ai.onnx opset, the cpu provider and this plugin, loaded from their modules
(``Runtime(plugins=[...], discover=False)``); entry points are not consulted.
"""

from __future__ import annotations

import numpy as np
import pytest

import ronn
import ronn_cpu.plugin
import ronn_example.plugin
import ronn_opset_onnx.plugin
from ronn_core import Runtime


@pytest.fixture
def runtime() -> Runtime:
    return Runtime(plugins=[ronn_opset_onnx.plugin, ronn_cpu.plugin, ronn_example.plugin],
                   discover=False)


@pytest.fixture
def bare_runtime() -> Runtime:
    """The same runtime without this plugin."""
    return Runtime(plugins=[ronn_opset_onnx.plugin, ronn_cpu.plugin], discover=False)


@pytest.fixture
def session_of(runtime):
    """``session_of(model_proto, **options)``: a session on the isolated runtime."""

    def build(model, rt=None, **options):
        return ronn.Model.load(model.SerializeToString()).create_session(
            runtime=rt or runtime, **options)

    return build


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
