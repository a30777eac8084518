"""Rewrite an ONNX model's MatMul/Gemm layers with constant weights into BitLinear (ternary).

``quantize_model(proto, exclude=())`` returns the new ModelProto and a ``QuantizeResult``
listing what was converted and what was skipped, and why. Weights are ternarized with
``packing.ternarize`` (BitNet b1.58's absmean rule); the original float weights are dropped
when nothing else reads them. ``compare_outputs`` measures the deviation the rewrite causes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ronn_core.errors import ConfigValueError, ModelError

from ronn_bitnet import DOMAIN, OPSET
from ronn_bitnet.packing import F32, pack, ternarize

SCHEMES = ("ternary",)


@dataclass
class QuantizeResult:
    converted: list[str] = field(default_factory=list)          # node names
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (node name, reason)


def _label(node: onnx.NodeProto) -> str:
    return node.name or node.output[0]


def _attrs(node: onnx.NodeProto) -> dict[str, Any]:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class _Rewriter:
    """Holds the graph's constants and the new initializers while nodes are rewritten."""

    def __init__(self, graph: onnx.GraphProto):
        self.graph = graph
        inputs = {i.name for i in graph.input}
        self.constants = {t.name: t for t in graph.initializer if t.name not in inputs}
        self.names = ({t.name for t in graph.initializer} | inputs
                      | {o for n in graph.node for o in n.output})
        self.new: list[TensorProto] = []
        self.packed: dict[tuple[str, bool], tuple[str, str, int]] = {}

    def unique(self, base: str) -> str:
        name, i = base, 1
        while name in self.names:
            name, i = f"{base}_{i}", i + 1
        self.names.add(name)
        return name

    def float_matrix(self, name: str) -> np.ndarray | None:
        t = self.constants.get(name)
        if t is None or t.data_type != TensorProto.FLOAT or len(t.dims) != 2:
            return None
        return numpy_helper.to_array(t)

    def ternary(self, weight: str, transposed: bool, alpha: float) -> tuple[str, str, int]:
        """(packed name, scale name, K) for the weight matrix [N, K] = W.T (or W if transposed)."""
        key = (weight, transposed)
        if key not in self.packed or alpha != 1.0:
            w = self.float_matrix(weight)
            t, scale = ternarize(w if transposed else w.T)
            scale = F32(scale * F32(alpha)) if alpha != 1.0 else scale
            packed = self.unique(f"{weight}_ternary")
            scale_name = self.unique(f"{weight}_scale")
            self.new += [numpy_helper.from_array(pack(t), packed),
                         numpy_helper.from_array(np.array(scale, F32), scale_name)]
            if alpha != 1.0:
                return packed, scale_name, t.shape[1]
            self.packed[key] = (packed, scale_name, t.shape[1])
        return self.packed[key]

    def bias(self, node: onnx.NodeProto, c_name: str, beta: float, n: int) -> str | None:
        c = self.constants.get(c_name)
        if c is None or c.data_type != TensorProto.FLOAT:
            return None
        value = numpy_helper.to_array(c).astype(F32)
        if value.size not in (1, n) or value.ndim > 2 or (value.ndim == 2 and value.shape[0] != 1):
            return None
        b = np.ascontiguousarray(np.broadcast_to(value.reshape(-1), (n,)) * F32(beta), F32)
        name = self.unique(f"{_label(node)}_bias")
        self.new.append(numpy_helper.from_array(b, name))
        return name


def _why_not(node: onnx.NodeProto, rw: _Rewriter) -> str | None:
    """Why ``node`` (a MatMul or Gemm) cannot become BitLinear, or None if it can."""
    if len(node.input) < 2 or rw.float_matrix(node.input[1]) is None:
        return "its weight (input 1) is not a constant float32 2-D initializer"
    if node.op_type == "Gemm":
        attrs = _attrs(node)
        if attrs.get("transA", 0):
            return "Gemm with transA=1"
        if len(node.input) > 2 and node.input[2]:
            c = rw.constants.get(node.input[2])
            if c is None or c.data_type != TensorProto.FLOAT:
                return "its C input is not a constant float32 initializer"
    return None


def _convert(node: onnx.NodeProto, rw: _Rewriter) -> onnx.NodeProto | None:
    attrs = _attrs(node) if node.op_type == "Gemm" else {}
    transposed = bool(attrs.get("transB", 0))
    packed, scale, k = rw.ternary(node.input[1], transposed, float(attrs.get("alpha", 1.0)))
    inputs = [node.input[0], packed, scale]
    if node.op_type == "Gemm" and len(node.input) > 2 and node.input[2]:
        n = rw.float_matrix(node.input[1]).shape[0 if transposed else 1]
        bias = rw.bias(node, node.input[2], float(attrs.get("beta", 1.0)), n)
        if bias is None:
            return None
        inputs.append(bias)
    return helper.make_node("BitLinear", inputs, list(node.output), name=node.name,
                            domain=DOMAIN, in_features=k)


def _is_candidate(node: onnx.NodeProto) -> bool:
    return node.op_type in ("MatMul", "Gemm") and node.domain in ("", "ai.onnx")


def _names_read(graph: onnx.GraphProto) -> set[str]:
    """Every value name any node reads, in subgraphs too."""
    used = set()
    for node in graph.node:
        used.update(node.input)
        for a in node.attribute:
            for g in ([a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)):
                used |= _names_read(g)
    return used


def quantize_model(model: onnx.ModelProto, *, scheme: str = "ternary",
                   exclude: tuple[str, ...] | list[str] = ()) -> tuple[onnx.ModelProto,
                                                                        QuantizeResult]:
    """A copy of ``model`` with its MatMul/Gemm layers of constant weights as BitLinear."""
    if scheme not in SCHEMES:
        raise ConfigValueError(f"unsupported quantization scheme {scheme!r}; supported: "
                               f"{list(SCHEMES)}")
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    candidates = [n for n in graph.node if _is_candidate(n)]
    known = {_label(n) for n in candidates}
    unknown = [e for e in exclude if e not in known]
    if unknown:
        from ronn_core.config import nearest_hint
        raise ConfigValueError(f"--exclude {unknown[0]!r} names no MatMul/Gemm node"
                               f"{nearest_hint(unknown[0], known)}; the model's MatMul/Gemm "
                               f"nodes are {sorted(known)}")
    rw, result = _Rewriter(graph), QuantizeResult()
    nodes = []
    for node in graph.node:
        if not _is_candidate(node):
            nodes.append(node)
            continue
        reason = "excluded" if _label(node) in exclude else _why_not(node, rw)
        new = None if reason else _convert(node, rw)
        if new is None:
            result.skipped.append((_label(node), reason or "its C input is not a scalar or [N]"))
            nodes.append(node)
        else:
            result.converted.append(_label(node))
            nodes.append(new)
    if not result.converted:
        detail = "; ".join(f"{n}: {r}" for n, r in result.skipped) or "the graph has none"
        raise ModelError(f"nothing to quantize: no MatMul/Gemm node with a constant float32 "
                         f"2-D weight ({detail})")
    del graph.node[:]
    graph.node.extend(nodes)
    graph.initializer.extend(rw.new)
    used = _names_read(graph) | {o.name for o in graph.output}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    if not any(o.domain == DOMAIN for o in out.opset_import):
        out.opset_import.append(helper.make_opsetid(DOMAIN, OPSET))
    return out, result


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """cos(a, b) over all elements (float64); 1.0 for two zero arrays."""
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0 or nb == 0:
        return 1.0 if na == nb else 0.0
    return float(a @ b / (na * nb))
