"""The execution provider interface: what a provider claims, and how it compiles nodes to steps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from ronn_core.errors import ConfigValueError, ModelError
from ronn_core.graph import Graph, Node
from ronn_core.kernel_spec import KernelSpec

if TYPE_CHECKING:
    from ronn_core.runtime import Runtime


@dataclass
class Step:
    """One call in a plan: ``fn(*inputs) -> output or tuple of outputs``, over value names.

    A provider may fuse several nodes into one step; ``nodes`` lists them all.
    """

    fn: Callable[..., Any]
    inputs: list[str]
    outputs: list[str]
    nodes: list[Node]
    provider: str
    kernel: KernelSpec | None = None
    label: str = ""
    output_copy: bool = False    # the copy of a graph output back to the host (skipped when
                                 # the caller asks for outputs on the device)

    @property
    def op_type(self) -> str:
        return "+".join(n.op_type for n in self.nodes) if self.nodes else self.label


@dataclass
class CompileContext:
    """What ``ExecutionProvider.compile`` may use: the graph, and a compiler for subgraphs."""

    graph: Graph
    compile_subgraph: Callable[[Graph], Any]
    options: dict[str, Any] = field(default_factory=dict)


class ExecutionProvider:
    """Base class of execution providers. Subclass, set ``name``, register via ``ronn_providers``.

    A provider claims the nodes it can run and compiles them into ``Step`` objects. CPU-memory
    providers (``device = "cpu"``) run the reference kernels for what they do not accelerate.
    """

    name: ClassVar[str] = ""
    ort_name: ClassVar[str | None] = None      # onnxruntime's name, e.g. "CPUExecutionProvider"
    device: ClassVar[str] = "cpu"
    uses_reference_kernels: ClassVar[bool] = True
    default_options: ClassVar[dict[str, Any]] = {}
    plugin: ClassVar[str | None] = None         # filled in at registration

    def __init__(self, runtime: "Runtime", *, options: dict[str, Any] | None = None,
                 threads: int | None = None):
        self.runtime = runtime
        self.threads = threads
        self.options = self.validate_options(options or {})

    # -- availability -------------------------------------------------------------------------

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this provider cannot run here (missing library, no device), or None."""
        return None

    @classmethod
    def available(cls) -> bool:
        return cls.unavailable_reason() is None

    @classmethod
    def validate_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """Check options against ``default_options`` (names and types); return the merged dict."""
        from ronn_core.config import nearest_hint
        merged = dict(cls.default_options)
        for key, value in options.items():
            if key not in cls.default_options:
                raise ConfigValueError(
                    f"provider {cls.name!r} has no option {key!r}"
                    f"{nearest_hint(key, cls.default_options)}; its options are "
                    f"{sorted(cls.default_options) or 'none'}")
            default = cls.default_options[key]
            if default is not None and not isinstance(value, type(default)):
                raise ConfigValueError(f"provider {cls.name!r} option {key!r} = {value!r}: "
                                       f"expected a {type(default).__name__}")
            merged[key] = value
        return merged

    # -- partitioning and compiling -----------------------------------------------------------

    def kernel_for(self, node: Node) -> KernelSpec | None:
        """The kernel this provider would run for ``node``, or None."""
        return self.runtime.kernels.resolve(node.domain, node.op_type, node.version, self.name,
                                            self.uses_reference_kernels)

    def claims(self, graph: Graph) -> list[Node]:
        """The nodes of ``graph`` this provider can run."""
        return [n for n in graph.nodes if self.kernel_for(n) is not None]

    def compile(self, nodes: list[Node], ctx: CompileContext) -> list[Step]:
        """Turn the nodes assigned to this provider into steps (default: one kernel call each)."""
        return [self.compile_node(node, ctx) for node in nodes]

    def compile_node(self, node: Node, ctx: CompileContext) -> Step:
        spec = self.kernel_for(node)
        if spec is None:
            raise ModelError(f"provider {self.name!r} was assigned node {node.describe()} "
                             f"but has no kernel for it")
        taken: set[int] = set()
        fn = bind_kernel(spec, node, ctx, self, taken)
        inputs = ["" if i in taken else name for i, name in enumerate(node.inputs)]
        return Step(fn, inputs + node.implicit_inputs, list(node.outputs), [node], self.name,
                    spec)

    def kernel_context(self, node: Node) -> Any:
        """The ``ctx`` object handed to kernels declared with ``context=True``."""
        from ronn_core.context import KernelContext
        return KernelContext(node=node, provider=self, threads=self.threads, options=self.options)

    def run_context(self):
        """A context manager entered around each run (thread limits), or None."""
        return None

    # -- devices ------------------------------------------------------------------------------

    def to_device(self, value: Any) -> Any:
        """Move a host (numpy) value to this provider's device."""
        return value

    def to_host(self, value: Any) -> Any:
        """Move a value on this provider's device to the host (numpy)."""
        return value


def bind_kernel(spec: KernelSpec, node: Node, ctx: CompileContext,
                provider: ExecutionProvider, taken: set[int] | None = None) -> Callable[..., Any]:
    """A callable that runs ``spec`` for ``node``: attributes bound, subgraphs compiled. A
    factory's ``KernelBuild.take`` calls land in ``taken`` (input positions the callable keeps
    itself); without ``taken`` the caller passes every input (the callable ignores those it took)."""
    accepted = spec.attribute_names
    if accepted is not None:
        unknown = [a for a in node.attributes if a not in accepted]
        if unknown:
            raise ModelError(f"node {node.describe()} has attribute(s) {unknown} that op "
                             f"{node.op_type!r} version {spec.since} does not define; "
                             f"known: {sorted(a for a in accepted if a != 'ctx')}")
    graphs = {k: ctx.compile_subgraph(v) for k, v in node.subgraphs.items()
              if not isinstance(v, list)}
    attrs = {k: v for k, v in node.attributes.items() if k not in graphs}  # graphs bound per run
    if spec.context:
        attrs["ctx"] = provider.kernel_context(node)
    if spec.factory:
        build = kernel_build(node, ctx, provider, attrs)
        fn = spec.fn(build)
        if taken is not None:
            taken.update(build.taken)
        return fn
    fn = spec.fn
    if graphs:
        return _subgraph_caller(fn, attrs, graphs, len(node.inputs), node.implicit_inputs)
    if not attrs:
        return fn
    return _bound(fn, attrs)


def kernel_build(node: Node, ctx: CompileContext, provider: ExecutionProvider,
                 attrs: dict[str, Any]):
    """The ``KernelBuild`` a factory kernel receives for ``node``."""
    from ronn_core.context import KernelBuild
    graph = ctx.graph
    overridable = set(graph.inputs)

    def constant(name: str):
        v = graph.values.get(name) if name else None
        return v.constant if v is not None and name not in overridable else None

    def vtype(name: str):
        v = graph.values.get(name) if name else None
        return v.type if v is not None else None

    def reference():
        spec = provider.runtime.kernels.resolve(node.domain, node.op_type, node.version,
                                                provider="", use_reference=True)
        if spec is None:
            raise LookupError(f"no reference kernel for node {node.describe()}")
        return bind_kernel(spec, node, ctx, provider)

    return KernelBuild(node, attrs, [constant(n) for n in node.inputs],
                       [vtype(n) for n in node.inputs], [vtype(n) for n in node.outputs],
                       provider, provider.threads, reference)


def _bound(fn: Callable, attrs: dict[str, Any]) -> Callable:
    def call(*inputs):
        return fn(*inputs, **attrs)
    call.__wrapped__ = fn
    return call


def _subgraph_caller(fn, attrs, graphs, n_inputs: int, implicit: list[str]):
    """Kernels with graph attributes get callables that run the compiled subgraph."""

    def call(*values):
        outer = dict(zip(implicit, values[n_inputs:]))
        bound = {k: plan.bind(outer) for k, plan in graphs.items()}
        return fn(*values[:n_inputs], **attrs, **bound)
    call.__wrapped__ = fn
    return call
