"""The context object a kernel receives as ``ctx`` when registered with ``context=True``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class KernelContext:
    """Where a kernel runs: its node, provider, thread budget and provider options."""

    node: Any
    provider: Any
    threads: int | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class KernelBuild:
    """What a factory kernel sees at session creation: the node, its attributes, constant inputs.

    ``constants[i]`` is the array of input ``i`` when it is a (non-overridable) initializer, else
    None; ``input_types``/``output_types`` are the IR value types (None when unknown).
    """

    node: Any
    attributes: dict[str, Any]
    constants: list[Any]
    input_types: list[Any]
    output_types: list[Any]
    provider: Any = None
    threads: int | None = None
    reference: Any = None   # () -> the callable the reference kernel would run for this node

    def fallback(self):
        """The reference kernel bound to this node (for cases a fast kernel does not cover)."""
        if self.reference is None:
            raise LookupError(f"no reference kernel for {self.node!r}")
        return self.reference()
