"""O2: ``MatMul(A, B) -> Add(C)`` becomes ``Gemm(A, B, C)``.

Only where Gemm means the same thing: A and B are 2-D, C broadcasts one way onto the product
(shape ``[N]``, ``[1, N]``, ``[M, 1]``, ``[M, N]`` or a scalar, known statically), every operand has
the same float type, the model's opset has Gemm with unidirectional broadcasting (>= 7), and the
MatMul result has the Add as its only reader. The Gemm writes the Add's output (type kept).
"""

from __future__ import annotations

from ronn_core.graph import Graph
from ronn_passes import util


class MatMulAddFusion(util.StandardPass):
    name = "matmul-add-fusion"
    level = "O2"
    after = ("constant-folding", "noop-elimination")

    def rewrite(self, graph: Graph, ctx) -> bool:
        if graph.opsets.get("", 1) < 7:
            return False
        changed = False
        for mm, add in util.pairs(graph, "MatMul", "Add"):
            c = add.inputs[1] if add.inputs[0] == mm.outputs[0] else add.inputs[0]
            a, b = mm.inputs
            sa, sb = _dims(graph, a), _dims(graph, b)
            sc = util.static_shape(graph, c)
            if sa is None or sb is None or sc is None or len(sa) != 2 or len(sb) != 2:
                continue
            types = {util.elem_type(graph, n) for n in (a, b, c)}
            if len(types) != 1 or types.pop() not in (1, 10, 11):
                continue
            m, n = sa[0], sb[1]
            if len(sc) > 2 or not _broadcasts(sc, m, n):
                continue
            gemm = util.make_node(graph, "Gemm", [a, b, c], [add.outputs[0]],
                                  name=graph.unique_name(f"{mm.name}_gemm"))
            util.replace_nodes(graph, [mm, add], gemm)
            changed = True
        return changed


def _dims(graph: Graph, name: str):
    t = util.tensor_type(graph, name)
    c = util.const(graph, name)
    if c is not None:
        return tuple(c.shape)
    return None if t is None or t.shape is None else tuple(t.shape)


def _broadcasts(sc: tuple, m, n) -> bool:
    full = (1,) * (2 - len(sc)) + tuple(sc)
    ok_m = full[0] == 1 or (isinstance(m, int) and full[0] == m)
    ok_n = full[1] == 1 or (isinstance(n, int) and full[1] == n)
    return ok_m and ok_n
