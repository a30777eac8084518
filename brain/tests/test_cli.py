"""The command line: `ronn plugins` lists the modules; a TOML config with cascade + episodic
cache runs through `ronn run` (a real subprocess), and its state carries over to the next run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np

from ronn.cli import main

MODULES = ("cascade", "working", "episodic", "semantic", "consolidation", "continual")

CONFIG = """\
model = "full.onnx"
threads = 1
runs = 3

[inputs]
input = "x.npy"

[modules.episodic]              # outermost: the semantic cache answers repeats
embedding_model = "embed.onnx"  # relative paths: beside the model
threshold = 0.1
state_dir = "state"

[modules.cascade]               # then the cascade: fast model first
fast_model = "fast.onnx"
min_top_prob = 0.9
state_dir = "state"
"""


def test_ronn_plugins_lists_the_brain_modules(capsys):
    assert main(["plugins"]) == 0
    line = next(l for l in capsys.readouterr().out.splitlines() if l.startswith("brain "))
    assert "ronn-brain" in line
    for name in MODULES:
        assert name in line


def test_bench_suite_is_registered(capsys):
    assert main(["bench", "--list-suites"]) == 0
    assert any(l.startswith("brain ") for l in capsys.readouterr().out.splitlines())


def _ronn_run(cfg):
    proc = subprocess.run([sys.executable, "-m", "ronn", "run", str(cfg), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_toml_config_runs_through_ronn_run(tmp_path, models, plain, digits):
    for name in ("full", "fast", "embed"):
        shutil.copy(models[name], tmp_path / f"{name}.onnx")
    x = digits.x_test[:6]
    np.save(tmp_path / "x.npy", x)
    cfg = tmp_path / "brain.toml"
    cfg.write_text(CONFIG)

    out = _ronn_run(cfg)
    fast = plain["fast"].run({"input": x})["probs"]
    full = plain["full"].run({"input": x})["probs"]
    want = np.where((fast.max(1) < 0.9)[:, None], full, fast)
    probs = out["outputs"]["probs"]
    assert probs["shape"] == [6, 10]
    assert abs(probs["top"][0]["value"] - float(want.max())) < 1e-6
    assert abs(probs["mean"] - float(want.astype(np.float64).mean())) < 1e-6

    cascade = json.loads((tmp_path / "state" / "cascade.json").read_text())["counts"]
    episodes = json.loads((tmp_path / "state" / "episodic.json").read_text())
    assert cascade["rows"] == 6                 # the 3 repeat runs were cache hits
    assert cascade["routed_full"] == int((fast.max(1) < 0.9).sum())
    assert len(episodes["own_digest"]) == 6

    _ronn_run(cfg)                              # a new process: the cache is still there
    cascade = json.loads((tmp_path / "state" / "cascade.json").read_text())["counts"]
    assert cascade["rows"] == 6 and cascade["requests"] == 1


def test_ronn_run_reports_a_bad_module_key(tmp_path, models, capsys):
    shutil.copy(models["full"], tmp_path / "full.onnx")
    cfg = tmp_path / "bad.toml"
    cfg.write_text('model = "full.onnx"\n[modules.episodic]\nthreshhold = 0.1\n')
    assert main(["run", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert "unknown key 'threshhold'" in err and "did you mean 'threshold'" in err
