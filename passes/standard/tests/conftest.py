"""Helpers for the standard-pass tests: tiny models, running chosen passes, and the before/after
comparison every rewrite must pass (RONN at O0 on both models, onnxruntime on the written one).

pytest runs with ``--import-mode=importlib``; test modules import these as ``ronn_passes_tests``.
"""

from __future__ import annotations

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import ronn
from ronn_core.onnx_io import load
from ronn_core.passes import PassContext, order_passes
from ronn_passes.registry import ALL_PASSES

FLOAT = TensorProto.FLOAT
sys.modules["ronn_passes_tests"] = sys.modules[__name__]
PASSES = {p.name: p for p in ALL_PASSES}


def make_model(nodes, inputs, outputs, *, initializers=(), opset=17, ir_version=10,
               extra_inputs=()) -> onnx.ModelProto:
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in dict(initializers).items()]
    graph = helper.make_graph(list(nodes), "t", [*inputs, *extra_inputs], list(outputs),
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    return model


def tensor(name, shape, elem=FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def rand(*shape, seed=0, dtype=np.float32):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def run_passes(model: onnx.ModelProto, names, *, dce=True, ir_version=None):
    """Load ``model``, run the named passes (in their declared order) plus dce; return the graph,
    the rewritten model and the passes' results."""
    loaded = load(model.SerializeToString())
    graph = loaded.graph
    chosen = {n: PASSES[n] for n in [*names, *(["dce"] if dce else [])]}
    options = {} if ir_version is None else {"ir_version": ir_version}
    ctx = PassContext(providers=["cpu"], options=options)
    changed = {p.name: p.run(graph, ctx) for p in order_passes(chosen)}
    graph.toposort()
    out = graph.to_onnx(ir_version=max(model.ir_version, 4))
    return graph, out, changed


def ops(graph) -> dict[str, int]:
    return graph.op_histogram()


def assert_same_outputs(original: onnx.ModelProto, optimized: onnx.ModelProto, feeds,
                        *, ort: bool | None = None, rtol=1e-3, atol=1e-4):
    """Outputs agree: RONN (O0) on the original vs RONN (O0) on the optimized model, and
    onnxruntime on the optimized model when it is standard ONNX."""
    want = ronn.Model.load(original.SerializeToString()).create_session(
        optimization_level="O0").run(feeds)
    got = ronn.Model.load(optimized.SerializeToString()).create_session(
        optimization_level="O0").run(feeds)
    assert list(want) == list(got)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=rtol, atol=atol, err_msg=name)
        assert got[name].dtype == want[name].dtype
    standard = all(not n.domain for n in optimized.graph.node)
    if ort if ort is not None else standard:
        import onnxruntime
        sess = onnxruntime.InferenceSession(optimized.SerializeToString(),
                                            providers=["CPUExecutionProvider"])
        res = sess.run(None, feeds)
        for name, value in zip(want, res):
            np.testing.assert_allclose(value, want[name], rtol=rtol, atol=atol, err_msg=name)


def assert_typed(graph) -> None:
    """Every value a node writes has a type (rewrites set types by construction)."""
    missing = [o for n in graph.nodes for o in n.outputs if o and graph.values[o].type is None]
    assert not missing, f"untyped values after rewrite: {missing}"
