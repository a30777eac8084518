"""LayerNorm and SkipLayerNorm fusion.

LayerNorm written out (as exporters do before opset 17)::

    mean = ReduceMean(x, axes)          d = Sub(x, mean)
    var  = ReduceMean(Pow(d, 2) | Mul(d, d), axes)
    y    = Div(d, Sqrt(Add(var, eps))) * gamma [+ beta]

with ``axes`` the trailing axes of x (keepdims on), constant gamma/beta over those axes, and
every intermediate read only inside the pattern. ``layernorm-fusion`` (O2) targets ai.onnx
LayerNormalization when the model's opset has it (>= 17); ``layernorm-fusion-ronn`` (O3) targets
``com.ronn::LayerNormalization`` for older models.

``skip-layernorm-fusion`` (O3): ``Add(a, b) -> LayerNormalization(axis=-1)`` with a and b of the
same shape becomes ``com.ronn::SkipLayerNormalization``; when the sum is read elsewhere too (a
residual stream) it stays available as the fused node's fourth output.
"""

from __future__ import annotations

from ronn_core.graph import Graph, Node
from ronn_passes import util


def _reduce_axes(graph: Graph, node: Node, x: str) -> int | None:
    """The first normalized axis when ``node`` is ReduceMean over the trailing axes of ``x``."""
    if node.op_type != "ReduceMean" or node.domain or node.attributes.get("keepdims", 1) != 1:
        return None
    axes = util.axes_of(graph, node)
    r = util.rank(graph, x)
    if not axes or r is None:
        return None
    norm = sorted(a % r for a in axes)
    if norm != list(range(norm[0], r)):
        return None
    return norm[0]


def _sole(graph: Graph, name: str, op: str) -> Node | None:
    n = util.only_consumer(graph, name)
    return n if n is not None and n.op_type == op and not n.domain else None


def _other(node: Node, name: str) -> str | None:
    if len(node.inputs) != 2 or node.inputs.count(name) != 1:
        return None
    return node.inputs[1] if node.inputs[0] == name else node.inputs[0]


def match_layernorm(graph: Graph, mean: Node):
    """(x, gamma, beta or "", axis, eps, nodes) for the pattern starting at ``mean``."""
    x = mean.inputs[0] if mean.inputs else ""
    axis = _reduce_axes(graph, mean, x)
    if axis is None:
        return None
    sub = _sole(graph, mean.outputs[0], "Sub")
    if sub is None or sub.inputs != [x, mean.outputs[0]]:
        return None
    d = sub.outputs[0]
    users = list({id(u): u for u in util.consumers(graph, d)}.values())
    if len(users) != 2 or not util.removable(graph, d):
        return None
    sq = next((u for u in users if u.op_type in ("Pow", "Mul") and not u.domain), None)
    div = next((u for u in users if u.op_type == "Div" and not u.domain), None)
    if sq is None or div is None or div.inputs[0] != d:
        return None
    if sq.op_type == "Pow" and not (sq.inputs[0] == d and util.scalar(graph, sq.inputs[1]) == 2.0):
        return None
    if sq.op_type == "Mul" and sq.inputs != [d, d]:
        return None
    var = _sole(graph, sq.outputs[0], "ReduceMean")
    if var is None or _reduce_axes(graph, var, sq.outputs[0]) != axis:
        return None
    add_eps = _sole(graph, var.outputs[0], "Add")
    eps = util.scalar(graph, _other(add_eps, var.outputs[0]) or "") if add_eps else None
    if eps is None:
        return None
    sqrt = _sole(graph, add_eps.outputs[0], "Sqrt")
    if sqrt is None or util.only_consumer(graph, sqrt.outputs[0]) is not div \
            or div.inputs[1] != sqrt.outputs[0]:
        return None
    mul = _sole(graph, div.outputs[0], "Mul")
    gamma = _other(mul, div.outputs[0]) if mul else None
    if gamma is None or not _param_ok(graph, gamma, x, axis):
        return None
    nodes = [mean, sub, sq, var, add_eps, sqrt, div, mul]
    beta = ""
    add = util.only_consumer(graph, mul.outputs[0])
    if add is not None and add.op_type == "Add" and not add.domain:
        cand = _other(add, mul.outputs[0])
        if cand is not None and _param_ok(graph, cand, x, axis):
            beta = cand
            nodes.append(add)
    return x, gamma, beta, axis, eps, nodes


def _param_ok(graph: Graph, name: str, x: str, axis: int) -> bool:
    """A constant of x's dtype shaped like x's normalized dims (leading 1s allowed)."""
    c = util.const(graph, name)
    if c is None or util.elem_type(graph, name) != util.elem_type(graph, x):
        return False
    r = util.rank(graph, x)
    t = util.tensor_type(graph, x)
    normalized = tuple(t.shape[axis:]) if t is not None and t.shape is not None else None
    shape = tuple(c.shape)
    while len(shape) > r - axis and shape[0] == 1:
        shape = shape[1:]
    if len(shape) != r - axis:
        return False
    return normalized is None or all(not isinstance(d, int) or d == s
                                     for d, s in zip(normalized, shape))


class _LayerNormBase(util.StandardPass):
    after = ("constant-folding", "noop-elimination", "cse")

    def target(self, graph: Graph):
        raise NotImplementedError

    def rewrite(self, graph: Graph, ctx) -> bool:
        target = self.target(graph)
        if target is None:
            return False
        domain, op = target
        changed = False
        for mean in list(graph.nodes):
            if mean not in graph.nodes or mean.op_type != "ReduceMean":
                continue
            found = match_layernorm(graph, mean)
            if found is None:
                continue
            x, gamma, beta, axis, eps, nodes = found
            n = util.rank(graph, x) - axis           # normalized dims; params drop leading 1s
            inputs = [x] + [_squeezed(graph, p, n) for p in (gamma, beta) if p]
            ln = util.make_node(graph, op, inputs, [nodes[-1].outputs[0]], domain=domain,
                                name=graph.unique_name(f"{mean.name}_layernorm"),
                                attributes={"axis": axis, "epsilon": float(eps)})
            util.replace_nodes(graph, nodes, ln)
            changed = True
        return changed


def _squeezed(graph: Graph, name: str, n: int) -> str:
    c = util.const(graph, name)
    if c.ndim == n:
        return name
    return util.new_constant(graph, f"{name}_ln", c.reshape(c.shape[-n:]))


class LayerNormFusion(_LayerNormBase):
    name = "layernorm-fusion"
    level = "O2"

    def target(self, graph: Graph):
        return ("", "LayerNormalization") if graph.opsets.get("", 1) >= 17 else None


class RonnLayerNormFusion(_LayerNormBase):
    name = "layernorm-fusion-ronn"
    level = "O3"
    after = ("layernorm-fusion", *_LayerNormBase.after)

    def target(self, graph: Graph):
        if graph.opsets.get("", 1) >= 17:
            return None
        return util.RONN_DOMAIN, "LayerNormalization"


class SkipLayerNormFusion(util.StandardPass):
    name = "skip-layernorm-fusion"
    level = "O3"
    after = ("layernorm-fusion", "layernorm-fusion-ronn")

    def rewrite(self, graph: Graph, ctx) -> bool:
        changed = False
        for ln in list(graph.nodes):
            if ln.op_type != "LayerNormalization" or ln.domain not in ("", util.RONN_DOMAIN):
                continue
            if any(o for o in ln.outputs[1:]) or len(ln.present_inputs) < 2:
                continue
            add = util.producer(graph, ln.inputs[0])
            if add is None or add.op_type != "Add" or add.domain or len(add.inputs) != 2:
                continue
            a, b = add.inputs
            r = util.rank(graph, a)
            ta, tb = util.tensor_type(graph, a), util.tensor_type(graph, b)
            if r is None or ln.attributes.get("axis", -1) % r != r - 1 or ta is None \
                    or tb is None or ta.shape is None or ta.shape != tb.shape or None in ta.shape \
                    or ta.elem_type != tb.elem_type or util.const(graph, ln.inputs[1]) is None \
                    or util.const(graph, ln.inputs[1]).ndim != 1:
                continue
            s = add.outputs[0]
            shared = len(util.consumers(graph, s)) > 1 or not util.removable(graph, s)
            beta = ln.inputs[2] if len(ln.inputs) > 2 else ""
            if util.used_by_subgraph(graph, s) or (beta and util.const(graph, beta) is None):
                continue
            outputs = [ln.outputs[0], "", "", s] if shared else [ln.outputs[0]]
            eps = float(ln.attributes.get("epsilon", 1e-5))
            fused = util.make_node(graph, "SkipLayerNormalization", [a, b, ln.inputs[1], beta],
                                   outputs, domain=util.RONN_DOMAIN, attributes={"epsilon": eps},
                                   name=graph.unique_name(f"{ln.name}_skip"))
            if not beta:
                fused.inputs = fused.inputs[:3]
            _replace_keep_order(graph, add, ln, fused)
            changed = True
        return changed


def _replace_keep_order(graph: Graph, add: Node, ln: Node, fused: Node) -> None:
    """Put ``fused`` where ``add`` was (its sum output may be read before the LayerNorm)."""
    i = graph.nodes.index(add)
    util.remove(graph, ln)
    util.remove(graph, add)
    util.insert(graph, i, [fused])
