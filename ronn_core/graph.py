"""The graph IR: ``Graph`` (values, nodes in topological order, opsets), ``Node`` and ``Value``.

Nodes refer to values by name; ``""`` names an absent optional input or output. A graph keeps an
index of producers and consumers that its mutation methods keep current (call ``invalidate()``
after editing ``node.inputs`` or ``node.outputs`` directly).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import numpy as np

from ronn_core.errors import ModelError
from ronn_core.types import ValueType, type_of_array


@dataclass(eq=False)
class Value:
    """A named value: a graph input, an initializer (``constant``), or a node output."""

    name: str
    type: ValueType | None = None
    constant: np.ndarray | None = None

    @property
    def is_constant(self) -> bool:
        return self.constant is not None

    def __repr__(self) -> str:
        kind = "constant " if self.constant is not None else ""
        return f"<Value {kind}{self.name!r}: {self.type}>"


@dataclass(eq=False)
class Node:
    """One operator application. ``version`` is the opset version its domain resolves to."""

    op_type: str
    inputs: list[str]
    outputs: list[str]
    attributes: dict[str, Any] = field(default_factory=dict)
    domain: str = ""
    name: str = ""
    version: int = 0
    attribute_types: dict[str, int] = field(default_factory=dict)  # onnx AttributeProto types
    implicit_inputs: list[str] = field(default_factory=list)       # outer-scope names subgraphs use
    doc_string: str = ""

    @property
    def subgraphs(self) -> dict[str, "Graph | list[Graph]"]:
        """Attributes that hold graphs (If branches, Loop and Scan bodies)."""
        return {k: v for k, v in self.attributes.items()
                if isinstance(v, Graph) or (isinstance(v, list) and v and isinstance(v[0], Graph))}

    @property
    def present_inputs(self) -> list[str]:
        return [n for n in self.inputs if n]

    def describe(self) -> str:
        """How errors name this node: its name, else its op and first output."""
        label = self.name or (self.outputs[0] if self.outputs else "?")
        return f"{label} ({self.op_type})"

    def __repr__(self) -> str:
        return f"<Node {self.name!r} {self.domain + '::' if self.domain else ''}{self.op_type}>"


class Graph:
    """A (sub)graph: inputs, outputs, nodes in topological order, initializers and opset imports."""

    def __init__(self, name: str = "graph", *, opsets: dict[str, int] | None = None,
                 parent: "Graph | None" = None):
        self.name = name
        self.nodes: list[Node] = []
        self.values: dict[str, Value] = {}
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self.opsets: dict[str, int] = dict(opsets or {})
        self.parent = parent
        self.doc_string = ""
        self._index: tuple[dict[str, Node], dict[str, list[Node]]] | None = None

    # -- values -------------------------------------------------------------------------------

    def value(self, name: str) -> Value:
        """The value called ``name``, created (untyped) when first asked for."""
        v = self.values.get(name)
        if v is None:
            v = self.values[name] = Value(name)
        return v

    def add_constant(self, name: str, array: np.ndarray) -> Value:
        """Add (or replace) an initializer."""
        v = self.value(name)
        v.constant = np.asarray(array)
        v.type = type_of_array(v.constant)
        return v

    @property
    def initializers(self) -> dict[str, np.ndarray]:
        return {n: v.constant for n, v in self.values.items() if v.constant is not None}

    def unique_name(self, base: str) -> str:
        """A value or node name not used yet in this graph."""
        taken = set(self.values) | {n.name for n in self.nodes}
        if base not in taken:
            return base
        i = 1
        while f"{base}_{i}" in taken:
            i += 1
        return f"{base}_{i}"

    # -- structure ----------------------------------------------------------------------------

    def invalidate(self) -> None:
        """Forget the producer/consumer index (after editing nodes directly)."""
        self._index = None

    def _built_index(self) -> tuple[dict[str, Node], dict[str, list[Node]]]:
        if self._index is None:
            producers: dict[str, Node] = {}
            consumers: dict[str, list[Node]] = {}
            for node in self.nodes:
                for name in node.outputs:
                    if name:
                        producers[name] = node
                for name in (*node.inputs, *node.implicit_inputs):
                    if name:
                        consumers.setdefault(name, []).append(node)
            self._index = (producers, consumers)
        return self._index

    def producer(self, name: str) -> Node | None:
        return self._built_index()[0].get(name)

    def consumers(self, name: str) -> list[Node]:
        return list(self._built_index()[1].get(name, ()))

    def add_node(self, node: Node, index: int | None = None) -> Node:
        """Insert a node (at the end unless ``index``); its outputs become values of this graph."""
        if index is None:
            self.nodes.append(node)
        else:
            self.nodes.insert(index, node)
        for name in node.outputs:
            if name:
                self.value(name)
        self.invalidate()
        return node

    def remove_node(self, node: Node) -> None:
        self.nodes.remove(node)
        self.invalidate()

    def replace_uses(self, old: str, new: str) -> None:
        """Make every consumer (and graph output) of ``old`` read ``new`` instead."""
        for node in self.nodes:
            node.inputs = [new if n == old else n for n in node.inputs]
        self.outputs = [new if n == old else n for n in self.outputs]
        self.invalidate()

    def walk(self) -> Iterator[Node]:
        """Every node of this graph and, depth first, of its subgraphs."""
        for node in self.nodes:
            yield node
            for sub in node.subgraphs.values():
                for g in (sub if isinstance(sub, list) else [sub]):
                    yield from g.walk()

    def toposort(self) -> None:
        """Reorder nodes topologically (stable); raise ModelError on a cycle or missing value."""
        available = set(self.inputs) | {n for n, v in self.values.items() if v.is_constant}
        available |= self.outer_names()
        pending = list(self.nodes)
        ordered: list[Node] = []
        while pending:
            still: list[Node] = []
            for node in pending:
                if all(not n or n in available for n in (*node.inputs, *node.implicit_inputs)):
                    ordered.append(node)
                    available.update(n for n in node.outputs if n)
                else:
                    still.append(node)
            if len(still) == len(pending):
                node = still[0]
                missing = [n for n in node.inputs if n and n not in available]
                raise ModelError(f"node {node.describe()} reads {missing}, which nothing in graph "
                                 f"{self.name!r} produces (a cycle or a dangling input)")
            pending = still
        self.nodes = ordered
        self.invalidate()

    def outer_names(self) -> set[str]:
        """Names visible from enclosing graphs (for subgraphs)."""
        names: set[str] = set()
        g = self.parent
        while g is not None:
            names |= set(g.values)
            g = g.parent
        return names

    def free_names(self) -> list[str]:
        """Names this graph (or its subgraphs) reads but neither defines nor takes as input."""
        defined = set(self.inputs) | {n for n, v in self.values.items() if v.is_constant}
        free: list[str] = []
        for node in self.nodes:
            for name in (*node.inputs, *node.implicit_inputs):
                if name and name not in defined and name not in free:
                    free.append(name)
            defined.update(n for n in node.outputs if n)
        for name in self.outputs:
            if name not in defined and name not in free:
                free.append(name)
        return free

    def op_histogram(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for node in self.nodes:
            key = f"{node.domain}::{node.op_type}" if node.domain else node.op_type
            counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def copy(self) -> "Graph":
        """A structural copy (nodes and values copied; constant arrays and subgraphs shared)."""
        g = Graph(self.name, opsets=self.opsets, parent=self.parent)
        g.doc_string = self.doc_string
        g.inputs, g.outputs = list(self.inputs), list(self.outputs)
        g.values = {k: Value(v.name, v.type, v.constant) for k, v in self.values.items()}
        g.nodes = [Node(n.op_type, list(n.inputs), list(n.outputs), dict(n.attributes), n.domain,
                        n.name, n.version, dict(n.attribute_types), list(n.implicit_inputs),
                        n.doc_string) for n in self.nodes]
        return g

    def to_onnx(self, *, ir_version: int | None = None, producer: str = "ronn"):
        """This graph as an ``onnx.ModelProto``."""
        from ronn_core.onnx_io import graph_to_model
        return graph_to_model(self, ir_version=ir_version, producer=producer)

    def __repr__(self) -> str:
        return (f"<Graph {self.name!r}: {len(self.inputs)} inputs, {len(self.nodes)} nodes, "
                f"{len(self.outputs)} outputs>")


def iter_graphs(value: Any) -> Iterable[Graph]:
    """The graphs inside an attribute value (a graph or a list of graphs)."""
    if isinstance(value, Graph):
        yield value
    elif isinstance(value, list):
        yield from (v for v in value if isinstance(v, Graph))
