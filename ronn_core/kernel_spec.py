"""The ``@kernel`` decorator and the record it attaches to a kernel function.

A kernel receives its inputs positionally (``None`` for an absent optional input) and the node's
attributes as keywords; it returns one value or a tuple of values (one per output, in order).
Tensors are numpy arrays, sequences are lists, optionals are ``None`` or the value, maps are dicts.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

ONNX_DOMAIN = ""


def normalize_domain(domain: str) -> str:
    """``ai.onnx`` and ``""`` name the same (default) domain."""
    return "" if domain in ("", "ai.onnx") else domain


@dataclass(frozen=True)
class KernelSpec:
    """What a ``@kernel`` decorator records about one function for one op version."""

    op_type: str
    domain: str
    since: int
    fn: Callable[..., Any]
    provider: str | None = None   # None: a reference kernel any CPU-memory provider may run
    context: bool = False         # the function takes a ``ctx`` keyword (KernelContext)
    priority: int = 0             # higher wins when two plugins register the same key
    plugin: str | None = field(default=None, compare=False)  # filled in at registration
    factory: bool = False         # fn(build: KernelBuild) returns the callable (prepacking)

    @property
    def key(self) -> tuple[str, str, int, str | None]:
        return (self.domain, self.op_type, self.since, self.provider)

    @property
    def attribute_names(self) -> frozenset[str] | None:
        """Keyword parameters the function accepts, or None if it takes ``**kwargs``."""
        return None if self.factory else _keyword_names(self.fn)


def kernel(op_type: str, *, domain: str = "", since: int = 1, provider: str | None = None,
           context: bool = False, priority: int = 0,
           factory: bool = False) -> Callable[[Callable], Callable]:
    """Mark ``fn`` as the kernel of ``op_type`` from opset version ``since`` on.

    Stack several decorators to register one function for several versions. ``provider`` limits
    the kernel to one execution provider (a fast kernel); leave it ``None`` for a reference kernel.
    ``context=True`` passes a :class:`ronn_core.context.KernelContext` as the ``ctx`` keyword.
    ``factory=True`` makes ``fn`` a builder: called once per node at session creation with a
    :class:`ronn_core.context.KernelBuild` (attributes, constant inputs, types), it returns the
    callable that runs the node, so weights can be prepacked once.
    """

    def decorate(fn: Callable) -> Callable:
        spec = KernelSpec(op_type, normalize_domain(domain), int(since), fn, provider, context,
                          priority, factory=factory)
        specs = list(getattr(fn, "__ronn_kernels__", ()))
        specs.append(spec)
        fn.__ronn_kernels__ = tuple(specs)
        return fn

    return decorate


def kernels_in(obj: Any) -> list[KernelSpec]:
    """The kernel specs carried by a decorated function, or by every function in a module."""
    specs = getattr(obj, "__ronn_kernels__", None)
    if specs is not None:
        return list(specs)
    if inspect.ismodule(obj):
        found: list[KernelSpec] = []
        for value in vars(obj).values():
            if callable(value) and getattr(value, "__module__", None) == obj.__name__:
                found.extend(getattr(value, "__ronn_kernels__", ()))
        return found
    return []


def _keyword_names(fn: Callable) -> frozenset[str] | None:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None
    names = set()
    for p in params:
        if p.kind is p.VAR_KEYWORD:
            return None
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.add(p.name)
    return frozenset(names)
