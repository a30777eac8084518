"""Partitioning: providers, in preference order, claim the nodes they can run."""

from __future__ import annotations

from dataclasses import dataclass

from ronn_core.errors import NoKernelError
from ronn_core.graph import Graph, Node
from ronn_core.provider import ExecutionProvider

# Where the kernels of first-party domains come from, for the "what to install" hint.
KNOWN_DOMAINS = {
    "": "ronn-opset-onnx",
    "com.ronn": "ronn-passes",
    "com.ronn.bitnet": "ronn-provider-bitnet",
    "com.example": "ronn-example",
}


@dataclass(frozen=True)
class Placement:
    """Where one node runs, and which plugin's kernel runs it."""

    node: str
    op_type: str
    domain: str
    version: int
    provider: str
    kernel_plugin: str | None
    fallback: bool          # True when a preferred provider could not take the node

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def assign(graph: Graph, providers: list[ExecutionProvider]) -> dict[int, ExecutionProvider]:
    """Map each node (by id) to the first provider, in preference order, that claims it."""
    owner: dict[int, ExecutionProvider] = {}
    for provider in providers:
        for node in provider.claims(graph):
            owner.setdefault(id(node), provider)
    missing = [n for n in graph.nodes if id(n) not in owner]
    if missing:
        raise no_kernel_error(missing, providers)
    return owner


def placements(graph: Graph, owner: dict[int, ExecutionProvider],
               providers: list[ExecutionProvider]) -> list[Placement]:
    first = providers[0].name if providers else None
    out = []
    for node in graph.nodes:
        p = owner[id(node)]
        spec = p.kernel_for(node)
        out.append(Placement(node.name, node.op_type, node.domain, node.version, p.name,
                             spec.plugin if spec else None, p.name != first))
    return out


def no_kernel_error(missing: list[Node], providers: list[ExecutionProvider]) -> NoKernelError:
    node = missing[0]
    runtime = providers[0].runtime if providers else None
    registry = runtime.kernels if runtime else None
    plugins = [i.name for i in runtime.plugins() if i.error is None] if runtime else []
    dom = node.domain or "ai.onnx"
    versions = registry.versions(node.domain, node.op_type) if registry else []
    if versions:
        hint = (f"Kernels for {node.op_type!r} exist from opset versions {versions}, none of "
                f"them <= {node.version} on these providers.")
    elif registry is not None and node.domain not in registry.domains():
        dist = KNOWN_DOMAINS.get(node.domain)
        hint = (f"No installed plugin provides domain {dom!r}; install one that does"
                + (f" (pip install {dist})." if dist else "."))
    else:
        dist = KNOWN_DOMAINS.get(node.domain)
        hint = (f"Install a plugin that implements {dom}::{node.op_type}"
                + (f" (a newer {dist})." if dist else "."))
    others = sorted({f"{n.domain + '::' if n.domain else ''}{n.op_type}" for n in missing[1:]}
                    - {f"{node.domain + '::' if node.domain else ''}{node.op_type}"})
    if others:
        hint += f" Also missing: {', '.join(others)}."
    return NoKernelError(node=node.name, op_type=node.op_type, domain=node.domain,
                         version=node.version, plugins=plugins,
                         providers=[p.name for p in providers], hint=hint)
