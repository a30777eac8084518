"""GPU-provider tests. Triton's interpreter must be chosen before triton is imported, so this
conftest sets ``TRITON_INTERPRET=1`` first. Kernel and session tests run the provider's real
kernels on numpy arrays through ``ronn_gpu.interpret`` (no GPU needed)."""

from __future__ import annotations

import os
import tempfile

os.environ["TRITON_INTERPRET"] = "1"
os.environ.setdefault("RONN_GPU_CACHE", os.path.join(tempfile.gettempdir(), "ronn_gpu_tests"))

import pytest  # noqa: E402

import ronn  # noqa: E402


@pytest.fixture(scope="session")
def backend():
    import torch  # noqa: F401  (the interpreter needs torch CPU tensors; CI installs it)
    from ronn_gpu.backend import HostBackend
    return HostBackend()


@pytest.fixture(scope="session")
def interp_runtime():
    import ronn_cpu.plugin
    import ronn_opset_onnx.plugin
    import ronn_passes.plugin

    import ronn_gpu.interpret
    from ronn_core import Runtime
    assert ronn_gpu.interpret.interpreter_reason() is None
    return Runtime(plugins=[ronn_opset_onnx.plugin, ronn_cpu.plugin, ronn_passes.plugin,
                            ronn_gpu.interpret], discover=False)


@pytest.fixture
def session_of(interp_runtime):
    def build(model, **options):
        options.setdefault("providers", ["gpu", "cpu"])
        return ronn.Model.load(model.SerializeToString()).create_session(
            runtime=interp_runtime, **options)
    return build
