"""Operator schemas for custom domains: inputs, outputs, typed attributes, type inference.

ai.onnx ops are described by onnx's own schemas; a plugin that adds ops in its own domain declares
them with ``OpSchema`` and registers the schema next to the kernels (``register(schema)`` in
``ronn_operators``). Sessions then check every node of that op (inputs, attributes and their
types) and fill in the types of its outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ronn_core.errors import ModelError, PluginError
from ronn_core.graph import Graph, Node
from ronn_core.kernel_spec import normalize_domain
from ronn_core.types import TensorType, ValueType

_NO_DEFAULT = object()
_ATTR_KINDS = {int: "int", float: "float", str: "string", list: "list", bool: "int"}


@dataclass(frozen=True)
class Input:
    """A formal input: name, type variable (e.g. ``"T"``), optional or not, variadic or not."""

    name: str
    type: str = "T"
    optional: bool = False
    variadic: bool = False


@dataclass(frozen=True)
class Output:
    name: str
    type: str = "T"
    optional: bool = False


@dataclass(frozen=True)
class Attr:
    """An attribute: name, Python type (int, float, str, list), default (omit: required)."""

    name: str
    kind: type
    default: Any = _NO_DEFAULT
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is _NO_DEFAULT


@dataclass(frozen=True)
class OpSchema:
    """The contract of one custom op version."""

    op_type: str
    domain: str
    since: int = 1
    inputs: tuple[Input, ...] = ()
    outputs: tuple[Output, ...] = ()
    attributes: tuple[Attr, ...] = ()
    type_constraints: dict[str, tuple[str, ...]] = field(default_factory=dict)
    infer: Callable[[Node, list[ValueType | None]], list[ValueType | None]] | None = None
    doc: str = ""
    plugin: str | None = field(default=None, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "domain", normalize_domain(self.domain))
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "attributes", tuple(self.attributes))
        if not self.domain:
            raise PluginError(f"OpSchema {self.op_type!r}: custom schemas need a domain of their "
                              f"own (ai.onnx ops are described by onnx)")

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.domain, self.op_type, self.since)

    def check(self, node: Node) -> None:
        """Raise ModelError if ``node`` breaks this schema (inputs, attributes, their types)."""
        where = f"node {node.describe()} ({self.domain}::{self.op_type} version {self.since})"
        required = [i for i in self.inputs if not i.optional and not i.variadic]
        variadic = any(i.variadic for i in self.inputs)
        given = node.inputs
        for i, formal in enumerate(required):
            if i >= len(given) or not given[i]:
                raise ModelError(f"{where}: required input {i} ({formal.name!r}) is missing")
        if not variadic and len(given) > len(self.inputs):
            raise ModelError(f"{where}: takes at most {len(self.inputs)} inputs "
                             f"({[i.name for i in self.inputs]}), got {len(given)}")
        known = {a.name: a for a in self.attributes}
        for name, value in node.attributes.items():
            attr = known.get(name)
            if attr is None:
                raise ModelError(f"{where}: unknown attribute {name!r}; it takes "
                                 f"{sorted(known) or 'no attributes'}")
            if not _matches(value, attr.kind):
                raise ModelError(f"{where}: attribute {name!r} = {value!r} should be "
                                 f"{_ATTR_KINDS.get(attr.kind, attr.kind.__name__)}")
        for attr in self.attributes:
            if attr.required and attr.name not in node.attributes:
                raise ModelError(f"{where}: required attribute {attr.name!r} is missing")

    def output_types(self, node: Node, input_types: list[ValueType | None]
                     ) -> list[ValueType | None]:
        """Output types: the schema's ``infer`` function, else by shared type variables."""
        if self.infer is not None:
            return list(self.infer(node, input_types))
        by_var: dict[str, ValueType | None] = {}
        for formal, t in zip(self.inputs, input_types):
            if isinstance(t, TensorType) and formal.type not in by_var:
                by_var[formal.type] = TensorType(t.elem_type, None)
        return [by_var.get(o.type) for o in self.outputs]


def _matches(value: Any, kind: type) -> bool:
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int)
    return isinstance(value, kind)


class SchemaRegistry:
    """Registered custom-op schemas, resolved like kernels (highest since <= opset)."""

    def __init__(self) -> None:
        self._by_op: dict[tuple[str, str], list[OpSchema]] = {}

    def add(self, schema: OpSchema) -> None:
        versions = self._by_op.setdefault((schema.domain, schema.op_type), [])
        if any(s.since == schema.since for s in versions):
            raise PluginError(f"schema {schema.domain}::{schema.op_type} version {schema.since} "
                              f"is registered twice (plugins {[s.plugin for s in versions]} and "
                              f"{schema.plugin!r})")
        versions.append(schema)

    def resolve(self, domain: str, op_type: str, version: int) -> OpSchema | None:
        best = None
        for s in self._by_op.get((domain, op_type), ()):
            if s.since <= version and (best is None or s.since > best.since):
                best = s
        return best

    def __iter__(self):
        return iter(sorted((s for v in self._by_op.values() for s in v), key=lambda s: s.key))

    def __len__(self) -> int:
        return sum(len(v) for v in self._by_op.values())


def apply_schemas(graph: Graph, schemas: SchemaRegistry) -> None:
    """Check every custom-op node against its schema and type its outputs (subgraphs too)."""
    if not len(schemas):
        return
    for node in graph.nodes:
        schema = schemas.resolve(node.domain, node.op_type, node.version) if node.domain else None
        if schema is not None:
            schema.check(node)
            types = schema.output_types(node, [graph.value(n).type if n else None
                                               for n in node.inputs])
            for name, t in zip(node.outputs, types):
                if name and t is not None and graph.value(name).type is None:
                    graph.value(name).type = t
        for sub in node.subgraphs.values():
            for g in (sub if isinstance(sub, list) else [sub]):
                apply_schemas(g, schemas)
