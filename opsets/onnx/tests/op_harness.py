"""Run one ONNX node in onnxruntime and in RONN's reference kernels, and compare the outputs."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper

from ronn_core.kernel_spec import kernels_in, normalize_domain
from ronn_opset_onnx.ops import op_modules

_ORT_OPTIONS = ort.SessionOptions()
_ORT_OPTIONS.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
_ORT_OPTIONS.log_severity_level = 3


def node_model(op_type: str, inputs: dict, attrs: dict | None = None, *, opset: int,
               n_outputs: int = 1, domain: str = "") -> onnx.ModelProto:
    """A one-node model whose inputs are the given arrays (names in order; None = absent)."""
    in_names = [name if arr is not None else "" for name, arr in inputs.items()]
    out_names = [f"out{i}" for i in range(n_outputs)]
    node = helper.make_node(op_type, in_names, out_names, domain=domain, **(attrs or {}))
    graph_inputs = [
        helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(arr.dtype), arr.shape)
        for name, arr in inputs.items() if arr is not None]
    graph_outputs = [helper.make_empty_tensor_value_info(name) for name in out_names]
    graph = helper.make_graph([node], f"{op_type}_test", graph_inputs, graph_outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(domain, opset)])
    model.ir_version = min(model.ir_version, 10)
    return model


def run_onnxruntime(model: onnx.ModelProto, inputs: dict) -> list[np.ndarray]:
    sess = ort.InferenceSession(model.SerializeToString(), _ORT_OPTIONS,
                                providers=["CPUExecutionProvider"])
    return sess.run(None, {k: v for k, v in inputs.items() if v is not None})


def resolve_reference_kernel(op_type: str, opset: int, domain: str = ""):
    """The reference kernel with the highest ``since`` <= opset (the registry's rule)."""
    domain = normalize_domain(domain)
    best = None
    for module in op_modules():
        for spec in kernels_in(module):
            if (spec.op_type, spec.domain, spec.provider) == (op_type, domain, None) \
                    and spec.since <= opset and (best is None or spec.since > best.since):
                best = spec
    if best is None:
        raise LookupError(f"no reference kernel for {op_type} at opset {opset}")
    return best


def run_reference(op_type: str, inputs: dict, attrs: dict | None = None, *, opset: int,
                  domain: str = "") -> list:
    spec = resolve_reference_kernel(op_type, opset, domain)
    result = spec.fn(*inputs.values(), **(attrs or {}))
    return list(result) if isinstance(result, tuple) else [result]


def check_node(op_type: str, inputs: dict, attrs: dict | None = None, *, opset: int = 17,
               n_outputs: int = 1, rtol: float = 1e-5, atol: float = 1e-6) -> list:
    """Assert RONN's reference kernel gives onnxruntime's outputs (values, dtypes and shapes)."""
    model = node_model(op_type, inputs, attrs, opset=opset, n_outputs=n_outputs)
    expected = run_onnxruntime(model, inputs)
    got = run_reference(op_type, inputs, attrs, opset=opset)[:n_outputs]
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected)):
        g = np.asarray(g)
        assert g.dtype == e.dtype, f"output {i}: dtype {g.dtype}, onnxruntime gives {e.dtype}"
        assert g.shape == e.shape, f"output {i}: shape {g.shape}, onnxruntime gives {e.shape}"
        np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, err_msg=f"output {i}")
    return got
