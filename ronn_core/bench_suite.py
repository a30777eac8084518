"""``BenchSuite``: a named benchmark a plugin contributes to ``ronn bench --suite NAME``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, ClassVar


@dataclass(frozen=True)
class BenchSuite:
    """``run(threads=None|int, runs=int, quick=bool) -> list[dict]``: one row per measurement.

    Rows share their keys; speed is reported as ratios against a baseline timed in the same run.
    ``quick`` asks for the smallest sizes (tests and CI).
    """

    name: str
    description: str
    run: Callable[..., list[dict[str, Any]]]
    plugin: str | None = None
    kind: ClassVar[str] = "bench suite"
