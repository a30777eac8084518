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
    ``take(i)`` hands constant ``i`` to the callable: the step then reads no input ``i``.
    """

    node: Any
    attributes: dict[str, Any]
    constants: list[Any]
    input_types: list[Any]
    output_types: list[Any]
    provider: Any = None
    threads: int | None = None
    reference: Any = None   # () -> the callable the reference kernel would run for this node
    # inputs ``take`` handed to the callable; a copy by ``dataclasses.replace`` shares the set
    taken: set[int] = field(default_factory=set)

    def fallback(self):
        """The reference kernel bound to this node (for cases a fast kernel does not cover)."""
        if self.reference is None:
            raise LookupError(f"no reference kernel for {self.node!r}")
        return self.reference()

    def take(self, index: int) -> Any:
        """Constant input ``index``, kept by the built callable alone: at run time the step
        passes None in its place, and where no other step reads the constant the session lets
        it go (so weights a kernel packed are not held twice). Call it once the fast callable
        is certain: a fallback to the reference kernel needs the input at run time."""
        value = self.constants[index] if index < len(self.constants) else None
        if value is None:
            raise LookupError(f"input {index} of {self.node!r} is not a constant")
        self.taken.add(index)
        return value
