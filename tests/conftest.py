"""Shared fixtures for RONN's core behaviour tests: tiny models, isolated runtimes, plugin objects.

Models are built with ``onnx.helper``; plugins are plain module objects carrying ``@hookimpl``
functions, so nothing needs installing to give a runtime a new kernel, provider, pass or module.

pytest runs with ``--import-mode=importlib``, where ``conftest`` is not importable by name (and
``opsets/onnx/tests`` has its own); test modules import these helpers as ``ronn_tests``.
"""

from __future__ import annotations

import sys
import types
from typing import Any, Callable

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import ronn_cpu.plugin
import ronn_opset_onnx.plugin
from ronn_core import Runtime, hookimpl

FLOAT = TensorProto.FLOAT

sys.modules["ronn_tests"] = sys.modules[__name__]


# -- models -----------------------------------------------------------------------------------


def make_model(nodes, inputs, outputs, *, initializers=(), opsets=None, name="test",
               value_info=()) -> onnx.ModelProto:
    """A model from helper-made nodes; ``opsets`` maps domain -> version (ai.onnx 17 default)."""
    opsets = {"": 17, **(opsets or {})}
    graph = helper.make_graph(list(nodes), name, list(inputs), list(outputs),
                              initializer=list(initializers), value_info=list(value_info))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v)
                                                    for d, v in opsets.items()])
    model.ir_version = 10   # what onnxruntime 1.2x reads; onnx's helper writes newer ones
    return model


def tensor(name: str, shape, elem_type: int = FLOAT) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem_type, shape)


def add_relu_model() -> onnx.ModelProto:
    """``y = Relu(x + b)`` with ``x: float32['batch', 3]`` and an initializer ``b: float32[3]``."""
    b = onnx.numpy_helper.from_array(np.array([1.0, -2.0, 0.5], np.float32), "b")
    return make_model(
        [helper.make_node("Add", ["x", "b"], ["s"], name="add"),
         helper.make_node("Relu", ["s"], ["y"], name="relu")],
        [tensor("x", ["batch", 3])], [tensor("y", ["batch", 3])], initializers=[b],
        name="add_relu")


def add_relu_expected(x: np.ndarray) -> np.ndarray:
    return np.maximum(x + np.array([1.0, -2.0, 0.5], np.float32), 0)


def custom_op_model(op_type: str, domain: str, *, n_inputs: int = 1, shape=(2, 3),
                    version: int = 1) -> onnx.ModelProto:
    """One node ``domain::op_type`` over float inputs ``x0..xN`` with output ``y``."""
    names = [f"x{i}" for i in range(n_inputs)]
    return make_model([helper.make_node(op_type, names, ["y"], domain=domain, name="custom")],
                      [tensor(n, list(shape)) for n in names], [tensor("y", None)],
                      opsets={domain: version})


@pytest.fixture
def add_relu_bytes() -> bytes:
    """A tiny valid model, serialized: ``y = Relu(x + b)``."""
    return add_relu_model().SerializeToString()


@pytest.fixture
def add_relu_path(tmp_path, add_relu_bytes):
    path = tmp_path / "add_relu.onnx"
    path.write_bytes(add_relu_bytes)
    return path


@pytest.fixture
def x_batch2() -> np.ndarray:
    return np.array([[1.0, 1.0, -1.0], [-3.0, 4.0, 0.25]], np.float32)


# -- plugins and runtimes ---------------------------------------------------------------------


def make_plugin(name: str, **hooks: Callable[..., Any]) -> types.ModuleType:
    """A module-like plugin object named ``name`` whose hooks are the given functions.

    ``make_plugin("mine", ronn_operators=lambda register: register(my_kernel))``
    """
    plugin = types.ModuleType(name)
    for hook_name, fn in hooks.items():
        setattr(plugin, hook_name, hookimpl(_with_args(fn, hook_name)))
    return plugin


def _with_args(fn: Callable, hook_name: str) -> Callable:
    """A plain ``def`` with exactly the hook's parameter names (pluggy reads them), calling
    ``fn``; so a lambda of any parameter names can implement a hook."""
    params = {
        "ronn_operators": "register", "ronn_providers": "register", "ronn_passes": "register",
        "ronn_modules": "register", "ronn_commands": "subparsers",
        "ronn_session_created": "session", "ronn_run_started": "session, feeds",
        "ronn_run_finished": "session, outputs, seconds",
    }[hook_name]
    namespace: dict[str, Any] = {"_fn": fn}
    exec(f"def {hook_name}({params}):\n    return _fn({params})\n", namespace)
    return namespace[hook_name]


BUILTIN_PLUGINS = (ronn_opset_onnx.plugin, ronn_cpu.plugin)


@pytest.fixture
def make_runtime() -> Callable[..., Runtime]:
    """Build an isolated runtime (no entry points) from plugin objects.

    ``make_runtime(p)`` gives the ai.onnx kernels, the cpu provider and ``p``;
    ``make_runtime(p, builtins=False)`` gives ``p`` alone.
    """

    def build(*plugins: Any, builtins: bool = True) -> Runtime:
        objs = [*(BUILTIN_PLUGINS if builtins else ()), *plugins]
        return Runtime(plugins=objs, discover=False)

    return build
