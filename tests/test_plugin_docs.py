"""docs/plugins.md documents every hook in ronn_core/hookspecs.py, with its exact signature.

Add a hook without documenting it and this fails: each ``ronn_*`` hookspec needs a heading
``### ronn_name`` and a signature line ``def ronn_name(param: ..., ...)`` naming exactly its
parameters, in order.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

from ronn_core import hookspecs

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
HOOKS = sorted(name for name, fn in vars(hookspecs).items()
               if name.startswith("ronn_") and inspect.isfunction(fn)
               and hasattr(fn, "ronn_spec"))


def documented_params(text: str, hook: str) -> list[list[str]]:
    """Parameter names of every one-line ``def hook(...) -> ...`` signature in the docs."""
    found = []
    for line in re.findall(rf"^\s*def {hook}\(.*$", text, re.M):
        try:
            fn = ast.parse(line.strip().rstrip(":") + ": ...").body[0]
        except SyntaxError:
            continue
        found.append([a.arg for a in (*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs)])
    return found


def test_hookspecs_are_found():
    assert {"ronn_operators", "ronn_providers", "ronn_passes"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_heading_and_its_exact_signature(hook):
    text = DOC.read_text(encoding="utf-8")
    assert re.search(rf"^#+ `?{hook}`?\s*$", text, re.M), \
        f"docs/plugins.md has no heading for hook {hook}"
    expected = list(inspect.signature(getattr(hookspecs, hook)).parameters)
    signatures = documented_params(text, hook)
    assert signatures, f"docs/plugins.md shows no `def {hook}(...)` signature"
    assert expected in signatures, \
        f"docs/plugins.md documents {hook}{signatures} but the hookspec takes {expected}"


def test_docs_point_to_the_tutorial():
    text = DOC.read_text(encoding="utf-8")
    assert "plugins_example/README.md" in text
    assert (DOC.parents[1] / "plugins_example" / "README.md").exists()
