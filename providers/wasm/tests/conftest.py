"""Fixtures: a runtime with exactly the plugins these tests need (no entry-point discovery)."""

from __future__ import annotations

import numpy as np
import pytest

import ronn_cpu.plugin
import ronn_opset_onnx.plugin
import ronn_passes.plugin
import ronn_wasm.plugin
from ronn_core.runtime import Runtime


def make_runtime(*extra):
    return Runtime(plugins=[ronn_opset_onnx.plugin, ronn_cpu.plugin, ronn_passes.plugin,
                            ronn_wasm.plugin, *extra], discover=False)


@pytest.fixture(scope="session")
def runtime_with():
    """``runtime_with(*plugins)``: a runtime with the standard plugins plus ``plugins``."""
    return make_runtime


@pytest.fixture(scope="session")
def runtime():
    return make_runtime()


@pytest.fixture(scope="session")
def provider(runtime):
    """A bare wasm provider (and its arena) for kernel-level tests."""
    return runtime.providers["wasm"](runtime)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
