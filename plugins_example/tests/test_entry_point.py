"""The plugin as installed: found through its entry point, listed by `ronn plugins`/`ronn ops`."""

from __future__ import annotations

import importlib.metadata as md
import json

import pytest

import ronn_example.plugin
from ronn_core import Runtime

installed = any(ep.name == "example" and ep.value == "ronn_example.plugin"
                for ep in md.entry_points(group="ronn"))
pytestmark = pytest.mark.skipif(not installed, reason="ronn-example is not pip-installed")


def test_runtime_discovers_the_entry_point():
    [info] = [i for i in Runtime().plugins() if i.name == "example"]
    assert info.error is None
    assert info.distribution == "ronn-example" and info.version == ronn_example.__version__
    assert info.kinds == ["operators", "passes"]
    assert "example.swiglu_fusion" in info.registered["passes"]
    assert any("SwiGLU" in item for item in info.registered["operators"])


def test_allowlist_can_leave_it_out(monkeypatch):
    monkeypatch.setenv("RONN_PLUGINS", "onnx,cpu")
    assert "example" not in [i.name for i in Runtime().plugins()]


def test_ronn_ops_lists_the_domain(monkeypatch, capsys):
    import ronn.cli
    import ronn_core.runtime
    monkeypatch.setattr(ronn_core.runtime, "_default", Runtime())
    assert ronn.cli.main(["ops", "--json", "--domain", "com.example"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["op_type"] for r in rows} == {"RotaryEmbedding", "SwiGLU"}
    swiglu = next(r for r in rows if r["op_type"] == "SwiGLU")
    assert swiglu["versions"] == [1] and set(swiglu["providers"]) == {"reference", "cpu"}
