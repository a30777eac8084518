"""GELU fusion: ``0.5 * x * (1 + erf(x / sqrt(2)))`` written out in Div/Erf/Add/Mul nodes.

Matched forms (any operand order of the commutative ops):

    A: Mul(Mul(x, 1 + erf(x/sqrt2)), 0.5)
    B: Mul(x, Mul(1 + erf(x/sqrt2), 0.5))
    C: Mul(Mul(x, 0.5), 1 + erf(x/sqrt2))

where ``x / sqrt2`` may also be ``x * 0.7071``. Every intermediate must have one reader.
At O2 (``gelu-fusion``) the target is ai.onnx ``Gelu``, only when the model's opset has it (>= 20);
at O3 (``gelu-fusion-ronn``) older models get ``com.ronn::Gelu``.
"""

from __future__ import annotations

import math

from ronn_core.graph import Graph, Node
from ronn_passes import util

SQRT2 = math.sqrt(2.0)


def _near(v: float | None, target: float, tol: float = 1e-3) -> bool:
    return v is not None and abs(v - target) <= tol * max(1.0, abs(target))


def _other(node: Node, name: str) -> str | None:
    if len(node.inputs) != 2 or node.inputs.count(name) != 1:
        return None
    return node.inputs[1] if node.inputs[0] == name else node.inputs[0]


def _mul_by(graph: Graph, node: Node | None, name: str, value: float) -> bool:
    """``node`` is Mul(name, c) with constant c == value."""
    if node is None or node.op_type != "Mul" or node.domain:
        return False
    other = _other(node, name)
    return other is not None and _near(util.scalar(graph, other), value)


def match_gelu(graph: Graph, erf: Node) -> tuple[str, list[Node]] | None:
    """(x, nodes to replace, last first) for the GELU subgraph around ``erf``."""
    if erf.op_type != "Erf" or erf.domain:
        return None
    scale_node = util.producer(graph, erf.inputs[0])
    if scale_node is None or scale_node.domain or len(scale_node.inputs) != 2:
        return None
    if util.only_consumer(graph, scale_node.outputs[0]) is not erf:
        return None
    if scale_node.op_type == "Div" and _near(util.scalar(graph, scale_node.inputs[1]), SQRT2):
        x = scale_node.inputs[0]
    elif scale_node.op_type == "Mul":
        a, b = scale_node.inputs
        x = a if _near(util.scalar(graph, b), 1 / SQRT2) else (
            b if _near(util.scalar(graph, a), 1 / SQRT2) else None)
        if x is None:
            return None
    else:
        return None
    add = util.only_consumer(graph, erf.outputs[0])
    if add is None or add.op_type != "Add" or add.domain:
        return None
    if not _near(util.scalar(graph, _other(add, erf.outputs[0]) or ""), 1.0):
        return None
    m1 = util.only_consumer(graph, add.outputs[0])
    if m1 is None or m1.op_type != "Mul" or m1.domain:
        return None
    other = _other(m1, add.outputs[0])
    if other is None:
        return None
    head = [scale_node, erf, add]
    if other == x:                                            # form A
        m2 = util.only_consumer(graph, m1.outputs[0])
        if _mul_by(graph, m2, m1.outputs[0], 0.5):
            return x, [*head, m1, m2]
        return None
    if _near(util.scalar(graph, other), 0.5):                 # form B
        m2 = util.only_consumer(graph, m1.outputs[0])
        if m2 is not None and m2.op_type == "Mul" and _other(m2, m1.outputs[0]) == x:
            return x, [*head, m1, m2]
        return None
    half = util.producer(graph, other)                              # form C
    if half is not None and _mul_by(graph, half, x, 0.5) \
            and util.only_consumer(graph, other) is m1:
        return x, [*head, half, m1]
    return None


class _GeluFusionBase(util.StandardPass):
    after = ("constant-folding", "noop-elimination")
    before = ("activation-fusion",)

    def target(self, graph: Graph) -> tuple[str, str] | None:
        raise NotImplementedError

    def rewrite(self, graph: Graph, ctx) -> bool:
        target = self.target(graph)
        if target is None:
            return False
        domain, op = target
        changed = False
        for erf in list(graph.nodes):
            if erf not in graph.nodes:
                continue
            found = match_gelu(graph, erf)
            if found is None:
                continue
            x, nodes = found
            out = nodes[-1].outputs[0]
            if not util.is_float(graph, out) and util.elem_type(graph, out) != 0:
                continue
            gelu = util.make_node(graph, op, [x], [out], domain=domain,
                                  name=graph.unique_name(f"{erf.name}_gelu"))
            util.replace_nodes(graph, nodes, gelu)
            changed = True
        return changed


class GeluFusion(_GeluFusionBase):
    """Erf-form GELU into ai.onnx Gelu (opset >= 20)."""

    name = "gelu-fusion"
    level = "O2"

    def target(self, graph: Graph):
        return ("", "Gelu") if graph.opsets.get("", 1) >= 20 else None


class RonnGeluFusion(_GeluFusionBase):
    """Erf-form GELU into com.ronn::Gelu for models whose opset predates ai.onnx Gelu."""

    name = "gelu-fusion-ronn"
    level = "O3"
    after = ("gelu-fusion", *_GeluFusionBase.after)

    def target(self, graph: Graph):
        return (util.RONN_DOMAIN, "Gelu") if graph.opsets.get("", 1) < 20 else None
