"""O3: layout changes, made only where a provider asks for them.

A provider asks by setting the class attribute ``preferred_layouts = {"Conv": "NHWC"}`` (op type
to layout). For each 4-D float Conv with constant weights on such a session, the pass writes

    Transpose(NCHW->NHWC) -> com.ronn::NhwcConv -> Transpose(NHWC->NCHW)

and transpose cancellation (ordered after this pass) removes back-to-back pairs.
No installed provider asks today, so on a plain CPU session this pass changes nothing.
"""

from __future__ import annotations

from ronn_core.graph import Graph
from ronn_core.types import TensorType
from ronn_passes import util


def requested_layouts(ctx) -> dict[str, str]:
    """op type -> layout, merged over the session's providers (first provider wins)."""
    runtime = ctx.options.get("runtime")
    if runtime is None:
        from ronn_core.runtime import default_runtime
        runtime = default_runtime()
    found: dict[str, str] = {}
    classes = runtime.providers
    for name in ctx.providers:
        cls = classes.get(name)
        for op, layout in (getattr(cls, "preferred_layouts", None) or {}).items():
            found.setdefault(op, layout)
    return found


class LayoutTransform(util.StandardPass):
    name = "layout-transform"
    level = "O3"
    after = ("activation-fusion", "conv-affine-fusion")
    before = ("transpose-cancellation",)

    def rewrite(self, graph: Graph, ctx) -> bool:
        wanted = requested_layouts(ctx)
        if wanted.get("Conv") != "NHWC":
            return False
        changed = False
        for conv in list(graph.nodes):
            if conv.op_type != "Conv" or conv.domain or len(conv.outputs) != 1:
                continue
            x, out = conv.inputs[0], conv.outputs[0]
            w = util.const(graph, conv.inputs[1])
            tx, ty = util.tensor_type(graph, x), util.tensor_type(graph, out)
            if w is None or w.ndim != 4 or tx is None or ty is None or tx.rank != 4 \
                    or ty.rank != 4 or not util.is_float(graph, x):
                continue
            to_nhwc, to_nchw = (0, 2, 3, 1), (0, 3, 1, 2)
            x_nhwc = graph.unique_name(f"{x}_nhwc")
            y_nhwc = graph.unique_name(f"{out}_nhwc")
            graph.value(x_nhwc).type = TensorType(tx.elem_type, tuple(tx.shape[i] for i in to_nhwc))
            graph.value(y_nhwc).type = TensorType(ty.elem_type, tuple(ty.shape[i] for i in to_nhwc))
            t1 = util.make_node(graph, "Transpose", [x], [x_nhwc], attributes={"perm": list(to_nhwc)})
            nc = util.make_node(graph, "NhwcConv", [x_nhwc, *conv.inputs[1:]], [y_nhwc],
                                domain=util.RONN_DOMAIN, attributes=dict(conv.attributes),
                                like=conv)
            t2 = util.make_node(graph, "Transpose", [y_nhwc], [out], attributes={"perm": list(to_nchw)})
            i = graph.nodes.index(conv)
            util.remove(graph, conv)
            util.insert(graph, i, [t1, nc, t2])
            changed = True
        return changed
