"""Graph passes: the ``Pass`` interface, optimization levels, and ordering by constraints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from ronn_core.errors import ConfigValueError, PluginError
from ronn_core.graph import Graph

LEVELS = ("O0", "O1", "O2", "O3")


@dataclass
class PassContext:
    """What a pass may consult: the session's providers and options; it appends to ``log``."""

    providers: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    log: list["PassRecord"] = field(default_factory=list)


@dataclass(frozen=True)
class PassRecord:
    name: str
    changed: bool
    nodes_before: int
    nodes_after: int
    seconds: float


class Pass:
    """A graph rewrite. Subclass, set ``name`` and ``level``, implement ``run``.

    ``run(graph, ctx)`` edits the graph in place and returns True when it changed anything. The
    outputs of the graph must stay the same. ``after``/``before`` name passes this one must run
    after/before when both are selected; ``providers`` limits the pass to sessions using one of
    those providers (a provider-specific rewrite).
    """

    name: ClassVar[str] = ""
    level: ClassVar[str] = "O1"
    after: ClassVar[tuple[str, ...]] = ()
    before: ClassVar[tuple[str, ...]] = ()
    providers: ClassVar[tuple[str, ...]] = ()
    plugin: str | None = None

    def run(self, graph: Graph, ctx: PassContext) -> bool:
        raise NotImplementedError


def check_level(level: str) -> str:
    if level not in LEVELS:
        raise ConfigValueError(f"optimization_level {level!r} is not allowed; expected one of "
                               f"{', '.join(LEVELS)}")
    return level


def select_passes(passes: dict[str, Pass], level: str, *, providers: list[str],
                  enable: list[str] = (), disable: list[str] = ()) -> list[Pass]:
    """The passes a session runs, in an order that honours every constraint.

    Passes up to ``level`` are selected, plus ``enable`` (by name, whatever their level), minus
    ``disable``. Ties are broken by level then name, so registration order never matters.
    """
    check_level(level)
    for name in (*enable, *disable):
        if name not in passes:
            from ronn_core.config import nearest_hint
            raise ConfigValueError(f"no pass named {name!r}{nearest_hint(name, passes)}; "
                                   f"installed passes: {sorted(passes) or 'none'}")
    limit = LEVELS.index(level)
    chosen = {n: p for n, p in passes.items()
              if (LEVELS.index(p.level) <= limit or n in enable) and n not in disable
              and (not p.providers or set(p.providers) & set(providers))}
    return order_passes(chosen)


def order_passes(passes: dict[str, Pass]) -> list[Pass]:
    """Topological order over ``after``/``before`` constraints; ties by (level, name)."""
    edges: dict[str, set[str]] = {n: set() for n in passes}   # n -> must run before these
    for n, p in passes.items():
        for a in p.after:
            if a in passes:
                edges[a].add(n)
        for b in p.before:
            if b in passes:
                edges[n].add(b)
    indegree = {n: 0 for n in passes}
    for targets in edges.values():
        for t in targets:
            indegree[t] += 1
    key = lambda n: (LEVELS.index(passes[n].level), n)  # noqa: E731
    ready = sorted((n for n, d in indegree.items() if d == 0), key=key)
    ordered: list[Pass] = []
    while ready:
        n = ready.pop(0)
        ordered.append(passes[n])
        for t in edges[n]:
            indegree[t] -= 1
            if indegree[t] == 0:
                ready.append(t)
        ready.sort(key=key)
    if len(ordered) != len(passes):
        stuck = sorted(set(passes) - {p.name for p in ordered})
        raise PluginError(f"passes {stuck} have contradictory after/before constraints")
    return ordered
