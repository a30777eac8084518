"""Sandboxed operators: correct results, and memory cap / fuel / traps enforced with the
session still usable afterwards."""

from __future__ import annotations

import numpy as np
import pytest
import wasmtime
from onnx import TensorProto, helper

from ronn_core import hookimpl
from ronn_core.errors import (PluginError, SandboxMemoryError, SandboxTimeoutError,
                              SandboxTrapError)
from ronn_core.session import Session
from ronn_core.onnx_io import load
from ronn_wasm import sandboxed_operator

DOUBLE = """(module (memory (export "memory") 1)
  (func (export "run") (param $x i32) (param $n i32) (param $y i32)
    (block $done (loop $next (br_if $done (i32.eqz (local.get $n)))
      (f32.store (local.get $y) (f32.mul (f32.load (local.get $x)) (f32.const 2)))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (local.set $y (i32.add (local.get $y) (i32.const 4)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br $next)))))"""

# Doubles like DOUBLE, but misbehaves when x[0] says so: 1 spins forever, 2 writes out of
# bounds, 3 grows its memory a page at a time until the cap refuses, then uses what it could
# not get.
MISBEHAVE = """(module (memory (export "memory") 1)
  (func (export "run") (param $x i32) (param $n i32) (param $y i32) (local $mode f32)
    (local.set $mode (f32.load (local.get $x)))
    (if (f32.eq (local.get $mode) (f32.const 1)) (then (loop $spin (br $spin))))
    (if (f32.eq (local.get $mode) (f32.const 2))
      (then (f32.store (i32.const 0x7ffffff0) (f32.const 1))))
    (if (f32.eq (local.get $mode) (f32.const 3))
      (then (block $full (loop $more
               (br_if $full (i32.eq (memory.grow (i32.const 1)) (i32.const -1))) (br $more)))
             (f32.store (i32.shl (memory.size) (i32.const 16)) (f32.const 1))))
    (block $done (loop $next (br_if $done (i32.eqz (local.get $n)))
      (f32.store (local.get $y) (f32.mul (f32.load (local.get $x)) (f32.const 2)))
      (local.set $x (i32.add (local.get $x) (i32.const 4)))
      (local.set $y (i32.add (local.get $y) (i32.const 4)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br $next)))))"""


def _plugin(op_type, wat):
    fn = sandboxed_operator(op_type, "com.test", wasmtime.wat2wasm(wat))

    class Plugin:
        @staticmethod
        @hookimpl
        def ronn_operators(register):
            register(fn)
    return Plugin


def _model(op_type, n=8):
    node = helper.make_node(op_type, ["x"], ["t"], domain="com.test")
    relu = helper.make_node("Relu", ["t"], ["y"])
    graph = helper.make_graph([node, relu], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.test", 1)])
    return load(model.SerializeToString())


@pytest.fixture
def session_for(runtime_with):
    return lambda *args, **kwargs: _session(runtime_with, *args, **kwargs)


def _session(runtime_with, op_type, wat, providers=("wasm",), n=8, **options):
    runtime = runtime_with(_plugin(op_type, wat))
    return Session(_model(op_type, n), providers=list(providers), runtime=runtime,
                   provider_options={"wasm": options} if options else None)


@pytest.mark.parametrize("providers", [["wasm"], ["cpu"]])
def test_sandboxed_operator_runs(session_for, providers):
    session = session_for("Double", DOUBLE, providers)
    x = np.linspace(-2, 2, 8, dtype=np.float32)
    np.testing.assert_allclose(session.run({"x": x})["y"], np.maximum(2 * x, 0))
    assert session.placement[0].provider == providers[0]


def test_runaway_loop_is_stopped_and_session_survives(session_for):
    session = session_for("Misbehave", MISBEHAVE, sandbox_fuel=1_000_000)
    good = np.arange(8, dtype=np.float32) + 4
    with pytest.raises(SandboxTimeoutError, match="fuel"):
        session.run({"x": np.full(8, 1, np.float32)})
    np.testing.assert_allclose(session.run({"x": good})["y"], 2 * good)


def test_out_of_bounds_write_traps_and_session_survives(session_for):
    session = session_for("Misbehave", MISBEHAVE)
    with pytest.raises(SandboxTrapError, match="out of bounds"):
        session.run({"x": np.full(8, 2, np.float32)})
    good = np.arange(8, dtype=np.float32) + 4
    np.testing.assert_allclose(session.run({"x": good})["y"], 2 * good)


def test_memory_cap_stops_a_growing_kernel(session_for):
    session = session_for("Misbehave", MISBEHAVE, sandbox_memory_mb=2)
    with pytest.raises(SandboxMemoryError, match="cap"):
        session.run({"x": np.full(8, 3, np.float32)})
    good = np.arange(8, dtype=np.float32) + 4
    np.testing.assert_allclose(session.run({"x": good})["y"], 2 * good)


def test_memory_cap_refuses_inputs_that_do_not_fit(session_for):
    session = session_for("Double", DOUBLE, n=1_000_000, sandbox_memory_mb=2)
    with pytest.raises(SandboxMemoryError, match="needs"):
        session.run({"x": np.ones(1_000_000, np.float32)})
    small = session_for("Double", DOUBLE, n=8, sandbox_memory_mb=2)
    np.testing.assert_allclose(small.run({"x": np.ones(8, np.float32)})["y"], 2)


def test_modules_that_import_are_rejected():
    wat = '(module (import "env" "f" (func)) (memory (export "memory") 1)' \
          ' (func (export "run") (param i32 i32 i32)))'
    with pytest.raises(PluginError, match="import nothing"):
        sandboxed_operator("Bad", "com.test", wasmtime.wat2wasm(wat))


def test_bad_abi_is_rejected():
    wat = '(module (memory (export "memory") 1) (func (export "run") (param f32)))'
    with pytest.raises(PluginError, match="i32 pairs"):
        sandboxed_operator("Bad", "com.test", wasmtime.wat2wasm(wat))
