"""O2: transpose and reshape cancellation.

- ``Transpose(p1) -> Transpose(p2)`` becomes one Transpose with the composed permutation, or
  nothing when the composition is the identity.
- ``Reshape -> Reshape`` (and Flatten/Squeeze/Unsqueeze feeding a Reshape): the second reshape
  reads the first one's input directly when its target shape is a constant without ``0`` entries
  (``0`` copies a dim of its immediate input, which would change meaning). A reshape whose input
  and output have the same static shape disappears.

The first node is left for dead-code elimination when something else still reads it.
"""

from __future__ import annotations

from ronn_core.graph import Graph, Node
from ronn_passes import util

RESHAPE_LIKE = ("Reshape", "Flatten", "Squeeze", "Unsqueeze")


class TransposeCancellation(util.StandardPass):
    name = "transpose-cancellation"
    level = "O2"
    after = ("constant-folding", "noop-elimination")

    def rewrite(self, graph: Graph, ctx) -> bool:
        changed = False
        for second in list(graph.nodes):
            if second not in graph.nodes or not _is(second, "Transpose"):
                continue
            first = util.producer(graph, second.inputs[0])
            if first is None or not _is(first, "Transpose"):
                continue
            p1, p2 = first.attributes.get("perm"), second.attributes.get("perm")
            if p1 is None or p2 is None or len(p1) != len(p2):
                continue
            perm = [p1[i] for i in p2]
            src = first.inputs[0]
            if perm == list(range(len(perm))):
                if not util.bypass(graph, second, src, second.outputs[0]):
                    continue
            else:
                second.attributes["perm"] = perm
                util.set_inputs(graph, second, [src])
            if not util.consumers(graph, first.outputs[0]) and util.removable(graph, first.outputs[0]):
                util.remove(graph, first)
                util.forget(graph, first.outputs[0])
            changed = True
        return changed


class ReshapeCancellation(util.StandardPass):
    name = "reshape-cancellation"
    level = "O2"
    after = ("constant-folding", "noop-elimination")

    def rewrite(self, graph: Graph, ctx) -> bool:
        changed = False
        for second in list(graph.nodes):
            if second not in graph.nodes or not _is(second, "Reshape") or len(second.inputs) < 2:
                continue
            first = util.producer(graph, second.inputs[0])
            if first is None or first.domain or first.op_type not in RESHAPE_LIKE:
                continue
            shape = util.const(graph, second.inputs[1])
            if shape is None or (shape == 0).any() and not second.attributes.get("allowzero", 0):
                continue
            src = first.inputs[0]
            if util.elem_type(graph, src) != util.elem_type(graph, second.outputs[0]):
                continue
            util.set_inputs(graph, second, [src, second.inputs[1]])
            if not util.consumers(graph, first.outputs[0]) and util.removable(graph, first.outputs[0]):
                util.remove(graph, first)
                util.forget(graph, first.outputs[0])
            changed = True
            s_in, s_out = util.static_shape(graph, src), util.static_shape(graph, second.outputs[0])
            if s_in is not None and s_in == s_out:
                util.bypass(graph, second, src, second.outputs[0])
        return changed


def _is(node: Node, op: str) -> bool:
    return node.op_type == op and not node.domain and len(node.outputs) == 1
