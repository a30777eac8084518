"""Small helpers that keep command output aligned and terminal-sized."""

from __future__ import annotations

import json
import shutil
import sys
from typing import Any, Iterable


def table(rows: Iterable[Iterable[Any]], headers: list[str]) -> str:
    """Left-aligned columns; on a terminal, lines are cut to its width."""
    rows = [[("" if c is None else str(c)) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    width = shutil.get_terminal_size().columns if sys.stdout.isatty() else 10**6
    lines = []
    for r in [headers, ["-" * w for w in widths], *rows]:
        line = "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
        lines.append(line if len(line) <= width else line[: width - 1] + "…")
    return "\n".join(lines)


def emit_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
