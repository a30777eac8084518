"""What the O3 sibling merges share: nodes reading one input, grouped by what must match,
each group of two or more replaced by one node and a Split."""

from __future__ import annotations

from collections import defaultdict

from ronn_core.graph import Graph, Node
from ronn_passes import util


class SiblingMerge(util.CpuOnlyPass):
    """Subclasses give ``_key`` (what siblings must share, or None) and ``_merge``."""

    def rewrite(self, graph: Graph, ctx) -> bool:
        changed = False
        readers: dict[str, list[Node]] = defaultdict(list)
        for node in graph.nodes:
            if node.inputs:
                readers[node.inputs[0]].append(node)
        for nodes in readers.values():
            groups: dict[tuple, list[Node]] = defaultdict(list)
            for node in nodes:
                key = self._key(graph, node)
                if key is not None:
                    groups[key].append(node)
            for group in groups.values():
                if len(group) > 1:
                    self._merge(graph, group)
                    changed = True
        return changed

    @staticmethod
    def _key(graph: Graph, node: Node):
        raise NotImplementedError

    @staticmethod
    def _merge(graph: Graph, group: list[Node]) -> None:
        raise NotImplementedError


def replace(graph: Graph, group: list[Node], merged: Node, split: Node) -> None:
    """Put ``merged`` and ``split`` where the first of ``group`` was, and drop ``group``."""
    position = min(graph.nodes.index(n) for n in group)
    for node in group:
        util.remove(graph, node)
    util.insert(graph, position, [merged, split])
