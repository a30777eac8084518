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
