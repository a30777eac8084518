"""The plugin as installed: entry point, `ronn ops`, `ronn bench --suite bitnet --quick`."""

from __future__ import annotations

import importlib.metadata as md
import json

import pytest

import ronn_bitnet
from ronn.cli import main
from ronn_core import Runtime

installed = any(ep.name == "bitnet" and ep.value == "ronn_bitnet.plugin"
                for ep in md.entry_points(group="ronn"))
pytestmark = pytest.mark.skipif(not installed, reason="ronn-provider-bitnet is not pip-installed")


def test_runtime_discovers_the_plugin():
    rt = Runtime()
    [info] = [i for i in rt.plugins() if i.name == "bitnet"]
    assert info.error is None
    assert info.distribution == "ronn-provider-bitnet" and info.version == ronn_bitnet.__version__
    assert "bitnet" in rt.providers and "bitnet" in rt.bench_suites


def test_ronn_ops_lists_reference_and_bitnet(monkeypatch, capsys):
    import ronn_core.runtime
    monkeypatch.setattr(ronn_core.runtime, "_default", Runtime())
    assert main(["ops", "--json", "--domain", "com.ronn.bitnet"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["op_type"] == "BitLinear" and row["versions"] == [1]
    assert set(row["providers"]) == {"reference", "bitnet"}


def test_bench_suite_quick(capsys):
    assert main(["bench", "--suite", "bitnet", "--quick", "--runs", "2", "--threads", "1",
                 "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["suites"]["bitnet"]
    assert [(r["size"], r["batch"]) for r in rows] == [(256, 1), (256, 8), (512, 1), (512, 8)]
    for r in rows:
        assert r["kernel"] in ("i2s", "tl")
        assert r["ternary_ms"] == min(t for t in (r["i2s_ms"], r["tl_ms"]) if t is not None)
        assert r["vs_f32"] == pytest.approx(r["f32_ms"] / r["ternary_ms"])
        assert r["vs_int8"] == pytest.approx(r["int8_ms"] / r["ternary_ms"])
        assert min(r["f32_ms"], r["int8_ms"], r["ternary_ms"]) > 0
