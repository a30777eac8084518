"""The ``wasm`` execution provider: kernels in WebAssembly (wasmtime), tensors in linear memory."""

from __future__ import annotations

import os

import numpy as np

from ronn_core import ExecutionProvider

from ronn_wasm.arena import Arena


class WasmExecutionProvider(ExecutionProvider):
    """Runs the ops it has wasm kernels for; values live in the session's arena (device "wasm").

    Options: ``sandbox_fuel`` (instructions, roughly, a sandboxed operator may run per call) and
    ``sandbox_memory_mb`` (the linear-memory cap of a sandboxed operator).
    """

    name = "wasm"
    device = "wasm"
    uses_reference_kernels = False
    default_options = {"sandbox_fuel": 2_000_000_000, "sandbox_memory_mb": 64}

    def __init__(self, runtime, *, options=None, threads=None):
        super().__init__(runtime, options=options, threads=threads)
        if self.options["sandbox_fuel"] < 1 or self.options["sandbox_memory_mb"] < 1:
            from ronn_core.errors import ConfigValueError
            raise ConfigValueError(f"wasm provider options sandbox_fuel and sandbox_memory_mb "
                                   f"must be positive; got {self.options}")
        self.arena = Arena(threads=min(2, self.threads or os.cpu_count() or 1))

    @classmethod
    def unavailable_reason(cls) -> str | None:
        try:
            import wasmtime  # noqa: F401
        except ImportError:
            return "the wasmtime package is not installed (pip install wasmtime)"
        return None

    def compile(self, nodes, ctx):
        """One step per node, except Add/Sum -> Relu pairs, which run as one add_relu call, with
        the conv that feeds the Add when there is one (see ``fusion``)."""
        from ronn_wasm.fusion import (add_relu_pairs, add_relu_step, conv_add_relu_step,
                                      conv_feeding)
        pairs = add_relu_pairs(nodes, ctx.graph)
        skip = {id(relu) for relu in pairs.values()}
        convs = {}            # id(add) -> (conv, index): that conv runs inside the add's step
        for node in nodes:
            found = conv_feeding(node, nodes, ctx.graph, skip) if id(node) in pairs else None
            if found is not None:
                convs[id(node)] = found
                skip.add(id(found[0]))
        steps = []
        for node in nodes:
            if id(node) in skip:
                continue
            relu = pairs.get(id(node))
            if id(node) in convs:
                conv, index = convs[id(node)]
                steps.append(conv_add_relu_step(self, conv, index, node, relu, ctx))
            elif relu is not None:
                steps.append(add_relu_step(self, node, relu, ctx))
            else:
                steps.append(self.compile_node(node, ctx))
        return steps

    def run_context(self):
        return lambda: self.arena.lock   # one run at a time per arena (a store is not reentrant)

    def to_device(self, value):
        if not isinstance(value, np.ndarray) and not np.isscalar(value):
            return value                  # sequences, maps: stay host objects
        out = self.arena.adopt(np.asarray(value), "input")
        if self.arena.trace is not None:      # an export records where inputs land
            self.arena.inputs.append((self.arena.ptr(out), np.array(out)))
        return out

    def to_host(self, value):
        if isinstance(value, np.ndarray) and self.arena.owns(value):
            out = value.view()            # zero-copy: the view keeps its block alive
            if self.arena.trace is not None:
                self.arena.outputs[id(out)] = self.arena.ptr(value)
            return out
        return value
