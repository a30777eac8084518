"""A pass that rewrites the standard-op SiLU-gate pattern into one ``com.example::SwiGLU`` node.

Exporters write LLaMA's ``silu(a) * b`` as three ai.onnx nodes::

    s = Sigmoid(a)
    h = Mul(a, s)        # or Mul(s, a)
    y = Mul(h, b)        # or Mul(b, h)

``SwiGLUFusion`` replaces them with ``y = com.example::SwiGLU(a, b)`` when ``s`` and ``h`` are
used nowhere else. It runs at level O3 (the default) and only in sessions that use the cpu
provider, where the fused op has a kernel. Disable it with ``disable_passes=["example.swiglu_fusion"]``.
"""

from __future__ import annotations

from ronn_core import Graph, Node, Pass, PassContext, TensorType
from ronn_core.errors import ModelError

from ronn_example import DOMAIN
from ronn_example.schemas import broadcast_shape


class SwiGLUFusion(Pass):
    name = "example.swiglu_fusion"
    level = "O3"
    providers = ("cpu",)

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        changed = False
        for node in list(graph.nodes):
            if node in graph.nodes and node.op_type == "Mul" and not node.domain:
                changed |= self._fuse(graph, node)
        for node in graph.nodes:  # If/Loop/Scan bodies too
            for sub in node.subgraphs.values():
                for g in (sub if isinstance(sub, list) else [sub]):
                    changed |= self.run(g, ctx)
        return changed

    def _fuse(self, graph: Graph, outer: Node) -> bool:
        """Fuse if ``outer`` is ``Mul(Mul(a, Sigmoid(a)), b)`` in any operand order."""
        if len(outer.inputs) != 2 or not all(outer.inputs):
            return False
        for h_name, b_name in (outer.inputs, outer.inputs[::-1]):
            inner = graph.producer(h_name)
            if not self._private(graph, h_name, inner, "Mul"):
                continue
            for a_name, s_name in (inner.inputs, inner.inputs[::-1]):
                sig = graph.producer(s_name)
                if self._private(graph, s_name, sig, "Sigmoid") and sig.inputs[0] == a_name:
                    self._replace(graph, outer, inner, sig, a_name, b_name)
                    return True
        return False

    @staticmethod
    def _private(graph: Graph, name: str, node: Node | None, op_type: str) -> bool:
        """``name`` comes from an ai.onnx ``op_type`` node and only one node reads it."""
        return (node is not None and node.op_type == op_type and not node.domain
                and len(node.inputs) == (1 if op_type == "Sigmoid" else 2) and all(node.inputs)
                and name not in graph.outputs and len(graph.consumers(name)) == 1)

    @staticmethod
    def _replace(graph: Graph, outer: Node, inner: Node, sig: Node, a: str, b: str) -> None:
        version = graph.opsets.setdefault(DOMAIN, 1)
        fused = Node("SwiGLU", [a, b], list(outer.outputs), domain=DOMAIN, version=version,
                     name=graph.unique_name(f"{outer.name or outer.outputs[0]}_swiglu"))
        graph.add_node(fused, graph.nodes.index(outer))
        for old in (outer, inner, sig):
            graph.remove_node(old)
        out = graph.value(outer.outputs[0])
        ta, tb = graph.value(a).type, graph.value(b).type
        if out.type is None and isinstance(ta, TensorType):
            try:
                shape = broadcast_shape(ta.shape, tb.shape) if isinstance(tb, TensorType) else None
            except ModelError:
                shape = None
            out.type = TensorType(ta.elem_type, shape)
