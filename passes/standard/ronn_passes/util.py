"""Helpers every pass shares: constants, consumers, safe rewiring and new nodes with types.

The rules that keep rewrites safe live here, so each pass states its pattern and nothing else:

- :func:`const` is the only way a pass reads a constant. An initializer that is also a graph input
  is *overridable* (a feed may replace it) and is never a constant to a pass.
- :func:`removable` says whether a value may disappear: it is no graph output and no subgraph
  reads it from the enclosing scope.
- New nodes get ``version`` from ``graph.opsets``; a ``com.ronn`` node adds that opset import.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ronn_core import Pass
from ronn_core.graph import Graph, Node
from ronn_core.types import TensorType

RONN_DOMAIN = "com.ronn"
RONN_OPSET = 1
FLOAT_TYPES = (1, 10, 11, 16)     # FLOAT, FLOAT16, DOUBLE, BFLOAT16


# -- a producer/consumer index kept current by the helpers below, for one pass run -----------


class _Index:
    """Producers and consumers of every value, patched per edit instead of rebuilt (the core
    index is rebuilt in O(nodes) after every edit, which makes a pass quadratic)."""

    def __init__(self, graph: Graph):
        self.producers: dict[str, Node] = {}
        self.consumers: dict[str, list[Node]] = {}
        self.implicit = {x for n in graph.nodes for x in n.implicit_inputs}
        for node in graph.nodes:
            self.link(node)

    def link(self, node: Node) -> None:
        for o in node.outputs:
            if o:
                self.producers[o] = node
        for i in (*node.inputs, *node.implicit_inputs):
            if i:
                self.consumers.setdefault(i, []).append(node)

    def unlink(self, node: Node) -> None:
        for o in node.outputs:
            if o and self.producers.get(o) is node:
                del self.producers[o]
        for i in set(n for n in (*node.inputs, *node.implicit_inputs) if n):
            users = self.consumers.get(i)
            if users:
                users[:] = [u for u in users if u is not node]


def index(graph: Graph) -> _Index:
    ix = graph.__dict__.get("_ronn_passes_index")
    if ix is None:
        ix = graph.__dict__["_ronn_passes_index"] = _Index(graph)
    return ix


def release(graph: Graph) -> None:
    """Forget the pass-local index (after a pass, or after rebuilding ``graph.nodes``)."""
    graph.__dict__.pop("_ronn_passes_index", None)
    graph.invalidate()


class StandardPass(Pass):
    """A pass of this package: ``rewrite`` runs with a pass-local index, dropped afterwards."""

    def run(self, graph: Graph, ctx) -> bool:
        release(graph)
        try:
            return bool(self.rewrite(graph, ctx))
        finally:
            release(graph)

    def rewrite(self, graph: Graph, ctx) -> bool:
        raise NotImplementedError


class CpuOnlyPass(StandardPass):
    """An O3 rewrite into what only the cpu provider runs fast: it acts only in sessions whose
    providers are all ``cpu``, before any layout change."""

    level = "O3"
    before = ("layout-transform",)
    providers = frozenset({"cpu"})

    def run(self, graph: Graph, ctx) -> bool:
        return only_providers(ctx, self.providers) and super().run(graph, ctx)


def producer(graph: Graph, name: str) -> Node | None:
    return index(graph).producers.get(name) if name else None


def consumers(graph: Graph, name: str) -> list[Node]:
    return list(index(graph).consumers.get(name, ()))


def set_inputs(graph: Graph, node: Node, inputs: list[str]) -> None:
    ix = index(graph)
    ix.unlink(node)
    node.inputs = list(inputs)
    ix.link(node)
    graph.invalidate()


def set_outputs(graph: Graph, node: Node, outputs: list[str]) -> None:
    ix = index(graph)
    ix.unlink(node)
    node.outputs = list(outputs)
    ix.link(node)
    graph.invalidate()


def remove(graph: Graph, node: Node) -> None:
    index(graph).unlink(node)
    graph.nodes.remove(node)
    graph.invalidate()


def insert(graph: Graph, position: int, nodes: list[Node]) -> None:
    ix = index(graph)
    graph.nodes[position:position] = nodes
    for n in nodes:
        ix.link(n)
        for o in n.outputs:
            if o:
                graph.value(o)
    graph.invalidate()


def rename_uses(graph: Graph, old: str, new: str) -> None:
    """Every reader (and graph output) of ``old`` reads ``new``."""
    for node in consumers(graph, old):
        set_inputs(graph, node, [new if n == old else n for n in node.inputs])
    graph.outputs = [new if n == old else n for n in graph.outputs]


def const(graph: Graph, name: str) -> np.ndarray | None:
    """The constant array behind ``name``, or None (absent, computed, or overridable)."""
    if not name:
        return None
    v = graph.values.get(name)
    if v is None or v.constant is None or name in _input_set(graph):
        return None
    return v.constant


def _input_set(graph: Graph) -> set[str]:
    cached = getattr(graph, "_ronn_passes_inputs", None)
    if cached is None or cached[0] != graph.inputs:
        cached = (list(graph.inputs), set(graph.inputs))
        graph._ronn_passes_inputs = cached
    return cached[1]


def scalar(graph: Graph, name: str) -> float | None:
    """A one-element constant as a Python float, else None."""
    c = const(graph, name)
    if c is None or c.size != 1 or c.dtype.kind not in "fiu":
        return None
    return float(c.reshape(-1)[0])


def tensor_type(graph: Graph, name: str) -> TensorType | None:
    v = graph.values.get(name)
    return v.type if v is not None and isinstance(v.type, TensorType) else None


def static_shape(graph: Graph, name: str) -> tuple[int, ...] | None:
    """The shape of ``name`` when every dim is a known integer."""
    c = const(graph, name)
    if c is not None:
        return tuple(c.shape)
    t = tensor_type(graph, name)
    if t is None or t.shape is None or not all(isinstance(d, int) for d in t.shape):
        return None
    return tuple(t.shape)


def rank(graph: Graph, name: str) -> int | None:
    c = const(graph, name)
    if c is not None:
        return c.ndim
    t = tensor_type(graph, name)
    return None if t is None else t.rank


def elem_type(graph: Graph, name: str) -> int:
    c = const(graph, name)
    if c is not None:
        from onnx import helper
        return helper.np_dtype_to_tensor_dtype(c.dtype)
    t = tensor_type(graph, name)
    return t.elem_type if t is not None else 0


def is_float(graph: Graph, name: str) -> bool:
    return elem_type(graph, name) in FLOAT_TYPES


def outputs_set(graph: Graph) -> set[str]:
    return set(graph.outputs)


def used_by_subgraph(graph: Graph, name: str) -> bool:
    """True when a subgraph (If/Loop/Scan body) reads ``name`` from this scope."""
    return name in index(graph).implicit


def removable(graph: Graph, name: str) -> bool:
    """``name`` may vanish: no graph output, and no subgraph reads it."""
    return name not in graph.outputs and not used_by_subgraph(graph, name)


def only_providers(ctx, allowed) -> bool:
    """Whether every provider of the session is in ``allowed`` (a rewrite into an op that only
    those providers run; ``Pass.providers`` asks for any one of them instead)."""
    return set(ctx.providers or ["cpu"]) <= set(allowed)


def only_consumer(graph: Graph, name: str) -> Node | None:
    """The single node reading ``name`` (once), when ``name`` may otherwise vanish."""
    users = consumers(graph, name)
    if len(users) != 1 or not removable(graph, name):
        return None
    node = users[0]
    if node.inputs.count(name) != 1:
        return None
    return node


def follower(graph: Graph, node: Node, op_type: str) -> Node | None:
    """The standard-domain ``op_type`` node that is the only reader of ``node``'s first output."""
    nxt = only_consumer(graph, node.outputs[0]) if node.outputs else None
    return nxt if nxt is not None and nxt.op_type == op_type and not nxt.domain else None


def pairs(graph: Graph, first: str, second: str):
    """``(a, b)`` for each standard ``first`` node whose output only ``second`` node ``b`` reads;
    safe while the caller rewrites (nodes already removed are skipped)."""
    for node in list(graph.nodes):
        if node.op_type != first or node.domain or node not in graph.nodes:
            continue
        nxt = follower(graph, node, second)
        if nxt is not None:
            yield node, nxt


def producer_of(graph: Graph, name: str, op_type: str) -> Node | None:
    node = producer(graph, name)
    return node if node is not None and node.op_type == op_type and node.domain == "" else None


def bypass(graph: Graph, node: Node, keep: str, drop: str) -> bool:
    """Remove ``node`` whose output ``drop`` equals its input ``keep``; False if unsafe.

    Readers of ``drop`` read ``keep`` instead. When ``drop`` is a graph output, the producer of
    ``keep`` is renamed to write ``drop`` directly (only if ``keep`` is otherwise private).
    """
    if used_by_subgraph(graph, drop):
        return False
    if drop in graph.outputs:
        src = producer(graph, keep)
        if (src is None or keep in graph.outputs or used_by_subgraph(graph, keep)
                or any(c is not node for c in consumers(graph, keep))):
            return False
        remove(graph, node)
        set_outputs(graph, src, [drop if o == keep else o for o in src.outputs])
        forget(graph, keep)
        return True
    remove(graph, node)
    rename_uses(graph, drop, keep)
    forget(graph, drop)
    return True


def forget(graph: Graph, name: str) -> None:
    """Drop a value nothing refers to any more (keeps ``graph.values`` free of orphans)."""
    v = graph.values.get(name)
    if v is not None and v.constant is None and name not in graph.inputs \
            and name not in graph.outputs:
        del graph.values[name]


def new_constant(graph: Graph, base: str, array: np.ndarray) -> str:
    name = graph.unique_name(base)
    graph.add_constant(name, np.ascontiguousarray(array))
    return name


def ensure_ronn_opset(graph: Graph) -> int:
    if RONN_DOMAIN not in graph.opsets:
        graph.opsets[RONN_DOMAIN] = RONN_OPSET
    return graph.opsets[RONN_DOMAIN]


def make_node(graph: Graph, op_type: str, inputs: list[str], outputs: list[str], *,
              domain: str = "", name: str = "", attributes: dict[str, Any] | None = None,
              like: Node | None = None) -> Node:
    """A node with ``version`` resolved from the graph's opsets (``com.ronn`` imported on use)."""
    if domain == RONN_DOMAIN:
        ensure_ronn_opset(graph)
    attrs = dict(attributes or {})
    node = Node(op_type, list(inputs), list(outputs), attrs, domain,
                name or graph.unique_name(f"{op_type}_fused"), graph.opsets.get(domain, 1))
    if like is not None:
        node.attribute_types = {k: t for k, t in like.attribute_types.items() if k in attrs}
    return node


def replace_nodes(graph: Graph, old: list[Node], new: Node) -> None:
    """Put ``new`` where the last of ``old`` was, then remove ``old`` (order stays topological
    when every input of ``new`` is available before the last old node, as in a fused chain)."""
    ix = index(graph)
    last = max(graph.nodes.index(n) for n in old)
    graph.nodes.insert(last + 1, new)
    ids = {id(n) for n in old}
    for n in old:
        ix.unlink(n)
    graph.nodes[:] = [n for n in graph.nodes if id(n) not in ids]
    ix.link(new)
    for o in new.outputs:
        if o:
            graph.value(o)
    graph.invalidate()
    produced = {o for n in old for o in n.outputs if o} - set(new.outputs)
    for name in produced:
        if not ix.consumers.get(name):
            forget(graph, name)


def attr(node: Node, name: str, default: Any = None) -> Any:
    return node.attributes.get(name, default)


def axes_of(graph: Graph, node: Node, input_index: int = 1) -> list[int] | None:
    """A reduce/squeeze node's axes from its attribute or (newer opsets) its constant input."""
    if "axes" in node.attributes:
        return [int(a) for a in node.attributes["axes"]]
    if len(node.inputs) > input_index and node.inputs[input_index]:
        c = const(graph, node.inputs[input_index])
        return None if c is None else [int(a) for a in c.reshape(-1)]
    return None


def split_node(graph: Graph, x: str, outputs: list[str], sizes: list[int], *, axis: int,
               name: str) -> Node:
    """A ``Split`` of ``x`` into ``outputs`` of ``sizes`` along ``axis``, in the form the
    graph's opset takes (sizes as a constant input from opset 13, else an attribute)."""
    from onnx import AttributeProto
    if graph.opsets.get("", 13) >= 13:
        sizes_in = new_constant(graph, f"{name}_sizes", np.array(sizes, np.int64))
        split = make_node(graph, "Split", [x, sizes_in], outputs, name=name,
                          attributes={"axis": axis})
    else:
        split = make_node(graph, "Split", [x], outputs, name=name,
                          attributes={"axis": axis, "split": list(sizes)})
        split.attribute_types["split"] = AttributeProto.INTS
    split.attribute_types["axis"] = AttributeProto.INT
    return split
