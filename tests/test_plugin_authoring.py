"""The plugin author's experience: conflicts, scaffolding, tracing, and installing a real plugin.

- Two plugins registering the same kernel key: the declared priority decides, deterministically,
  with a warning, and ``ronn ops`` shows the winner.
- ``ronn new-plugin`` generates projects whose own tests pass as generated.
- ``RONN_TRACE_PLUGINS=1`` traces hook calls on stderr.
- (slow) In a throwaway venv with only the core, the ai.onnx opset and the cpu provider, a
  com.example model fails naming what to install; after ``pip install plugins_example`` it runs
  and matches numpy; after uninstalling, the error is back.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import types
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import ronn
import ronn.cli
import ronn_core.runtime
import ronn_cpu.plugin
import ronn_opset_onnx.plugin
from ronn.cli import new_plugin
from ronn_core import Runtime, hookimpl, kernel

ROOT = Path(__file__).resolve().parents[1]


# -- helpers ----------------------------------------------------------------------------------


def operator_plugin(name: str, *kernels) -> types.ModuleType:
    """A plugin object named ``name`` whose ``ronn_operators`` registers ``kernels``."""
    plugin = types.ModuleType(name)

    @hookimpl
    def ronn_operators(register):
        register(*kernels)

    plugin.ronn_operators = ronn_operators
    return plugin


def constant_kernel(value: float, priority: int = 0):
    """A kernel for ``com.conflict::Fill`` that returns ``value`` everywhere."""

    @kernel("Fill", domain="com.conflict", since=1, priority=priority)
    def fill(x):
        return np.full_like(x, value)

    return fill


def fill_model() -> bytes:
    node = helper.make_node("Fill", ["x"], ["y"], domain="com.conflict", name="fill")
    graph = helper.make_graph([node], "fill",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.conflict", 1)])
    model.ir_version = 10
    return model.SerializeToString()


def loaded(*plugins) -> tuple[Runtime, list[warnings.WarningMessage]]:
    """An isolated runtime with the cpu provider and ``plugins``, loaded; and its warnings."""
    rt = Runtime(plugins=[ronn_opset_onnx.plugin, ronn_cpu.plugin, *plugins], discover=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rt.load()
    return rt, [w for w in caught if "com.conflict" in str(w.message)]


def fill_result(rt: Runtime) -> float:
    session = ronn.Model.load(fill_model()).create_session(runtime=rt)
    return float(session.run({"x": np.zeros(2, np.float32)})["y"][0])


# -- priority conflicts -----------------------------------------------------------------------


@pytest.mark.parametrize("order", ["low first", "high first"])
def test_higher_priority_wins_whatever_the_registration_order(order):
    low = operator_plugin("zzz_low", constant_kernel(1.0, priority=0))
    high = operator_plugin("aaa_high", constant_kernel(2.0, priority=10))
    plugins = [low, high] if order == "low first" else [high, low]
    rt, caught = loaded(*plugins)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "'zzz_low'" in message and "'aaa_high'" in message
    assert "using 'aaa_high' (priority 10)" in message
    [conflict] = rt.kernels.conflicts
    assert conflict.winner.plugin == "aaa_high" and conflict.loser.plugin == "zzz_low"
    assert rt.kernels.resolve("com.conflict", "Fill", 1, "cpu").plugin == "aaa_high"
    assert fill_result(rt) == 2.0


def test_priority_beats_the_alphabet():
    """The tie-break is by name only when priorities are equal: 'zzz' wins with priority 1."""
    rt, _ = loaded(operator_plugin("aaa", constant_kernel(1.0)),
                   operator_plugin("zzz", constant_kernel(3.0, priority=1)))
    assert fill_result(rt) == 3.0


@pytest.mark.parametrize("order", [0, 1])
def test_equal_priority_resolves_deterministically_by_plugin_name(order):
    plugins = [operator_plugin("beta", constant_kernel(2.0)),
               operator_plugin("alpha", constant_kernel(1.0))]
    rt, caught = loaded(*(plugins if order else plugins[::-1]))
    assert len(caught) == 1 and "using 'alpha' (priority 0)" in str(caught[0].message)
    assert fill_result(rt) == 1.0


def test_ronn_ops_shows_the_winner(monkeypatch, capsys):
    rt, _ = loaded(operator_plugin("zzz_low", constant_kernel(1.0)),
                   operator_plugin("aaa_high", constant_kernel(2.0, priority=5)))
    monkeypatch.setattr(ronn_core.runtime, "_default", rt)   # what default_runtime() returns
    assert ronn.cli.main(["ops", "--json", "--domain", "com.conflict"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == [{"domain": "com.conflict", "op_type": "Fill", "versions": [1],
                     "providers": ["reference"], "plugins": ["aaa_high"]}]
    assert ronn.cli.main(["ops", "--domain", "com.conflict"]) == 0
    table = capsys.readouterr().out
    assert "aaa_high" in table and "zzz_low" not in table


def test_the_same_kernel_registered_twice_is_no_conflict():
    fill = constant_kernel(1.0)
    rt, caught = loaded(operator_plugin("one", fill), operator_plugin("two", fill))
    assert caught == [] and rt.kernels.conflicts == []


# -- ronn new-plugin --------------------------------------------------------------------------


def scaffold_cli(*argv: str) -> int:
    """Run ``ronn new-plugin ...`` through the command's own parser."""
    parser = argparse.ArgumentParser(prog="ronn")
    new_plugin.register(parser.add_subparsers())
    args = parser.parse_args(["new-plugin", *argv])
    return args.func(args)


def run_generated_tests(project: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RONN_")}
    env["PYTHONPATH"] = str(project)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "--rootdir", str(project), str(project / "tests")],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("kind, hook", [("op", "ronn_operators"),
                                        ("provider", "ronn_providers"),
                                        ("pass", "ronn_passes")])
def test_new_plugin_generates_a_project_whose_tests_pass(tmp_path, capsys, kind, hook):
    assert scaffold_cli(f"my-{kind}", "--kind", kind, "--dir", str(tmp_path)) == 0
    assert f"ronn-my-{kind}" in capsys.readouterr().out
    project = tmp_path / f"my-{kind}"
    pkg = f"ronn_my_{kind}"
    assert sorted(str(p.relative_to(project)) for p in project.rglob("*") if p.is_file()) == \
        sorted(["pyproject.toml", "README.md", f"{pkg}/__init__.py", f"{pkg}/plugin.py",
                "tests/test_plugin.py"])
    pyproject = (project / "pyproject.toml").read_text()
    assert f'name = "ronn-my-{kind}"' in pyproject
    assert f'[project.entry-points.ronn]\nmy_{kind} = "{pkg}.plugin"' in pyproject
    assert f"def {hook}(register)" in (project / pkg / "plugin.py").read_text()
    for path in project.rglob("*.py"):
        compile(path.read_text(), str(path), "exec")
    result = run_generated_tests(project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "failed" not in result.stdout


def test_new_plugin_refuses_a_non_empty_folder_and_bad_names(tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file.txt").write_text("mine")
    assert scaffold_cli("taken", "--dir", str(tmp_path)) == 1
    assert "not empty" in capsys.readouterr().err
    assert (tmp_path / "taken" / "file.txt").read_text() == "mine"
    assert scaffold_cli("9lives", "--dir", str(tmp_path)) == 1
    assert "letters, digits" in capsys.readouterr().err


def test_new_plugin_names():
    names = new_plugin.plugin_names("ronn-Fancy_Ops")
    assert (names["dist"], names["pkg"], names["ep"], names["domain"]) == \
        ("ronn-fancy-ops", "ronn_fancy_ops", "fancy_ops", "com.fancy_ops")


def test_new_plugin_is_a_ronn_command(tmp_path):
    """Fails until ``new_plugin`` is listed in ``ronn/cli/__init__.py``'s ``build_parser``."""
    assert ronn.cli.main(["new-plugin", "wired", "--kind", "pass", "--dir", str(tmp_path)]) == 0
    assert (tmp_path / "wired" / "ronn_wired" / "plugin.py").exists()


# -- tracing ----------------------------------------------------------------------------------


TRACE_SCRIPT = textwrap.dedent("""
    import numpy as np
    from onnx import TensorProto, helper
    import ronn
    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", 1, [2])],
                              [helper.make_tensor_value_info("y", 1, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    session = ronn.Model.load(model.SerializeToString()).create_session()
    print(session.run({"x": np.array([-1.0, 2.0], np.float32)})["y"])
""")


def traced_run(**env_extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RONN_")}
    env.update(RONN_PLUGINS="onnx,cpu", **env_extra)
    return subprocess.run([sys.executable, "-c", TRACE_SCRIPT], env=env, capture_output=True,
                          text=True, timeout=120)


def test_trace_plugins_prints_hook_calls_to_stderr():
    traced = traced_run(RONN_TRACE_PLUGINS="1")
    assert traced.returncode == 0, traced.stderr
    assert "[0. 2.]" in traced.stdout
    assert "ronn_session_created [hook]" in traced.stderr
    assert "finish ronn_session_created" in traced.stderr
    quiet = traced_run()
    assert quiet.returncode == 0 and "[hook]" not in quiet.stderr


def test_trace_plugins_shows_contribution_hooks_per_plugin():
    traced = traced_run(RONN_TRACE_PLUGINS="1")
    assert "ronn_operators" in traced.stderr and "ronn_providers" in traced.stderr


# -- the example plugin in a throwaway venv (slow) --------------------------------------------


PROBE = textwrap.dedent('''
    """Run a com.example model; print JSON: the error, or the outputs' distance to numpy."""
    import json
    import numpy as np
    from onnx import TensorProto, helper
    import ronn
    from ronn_core.errors import NoKernelError

    F = TensorProto.FLOAT
    nodes = [helper.make_node("SwiGLU", ["x", "gate"], ["h"], domain="com.example", name="swiglu"),
             helper.make_node("RotaryEmbedding", ["h"], ["y"], domain="com.example", name="rope")]
    graph = helper.make_graph(nodes, "example",
                              [helper.make_tensor_value_info(n, F, [2, 5, 3, 8]) for n in ("x", "gate")],
                              [helper.make_tensor_value_info("y", F, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.example", 1)])
    model.ir_version = 10
    try:
        session = ronn.Model.load(model.SerializeToString()).create_session(providers=["cpu"])
    except NoKernelError as exc:
        print(json.dumps({"error": str(exc), "op_type": exc.op_type, "domain": exc.domain}))
        raise SystemExit(0)
    rng = np.random.default_rng(0)
    x, gate = (rng.standard_normal((2, 5, 3, 8)).astype(np.float32) for _ in range(2))
    y = session.run({"x": x, "gate": gate})["y"]
    h = (x / (1 + np.exp(-x)) * gate).astype(np.float64)
    z = (h[..., :4] + 1j * h[..., 4:]) * np.exp(
        1j * np.arange(5)[:, None, None] / 10000.0 ** (np.arange(0, 8, 2) / 8))
    expected = np.concatenate([z.real, z.imag], axis=-1)
    import ronn_example
    print(json.dumps({"max_diff": float(np.abs(y - expected).max()), "dtype": str(y.dtype),
                      "module": ronn_example.__file__}))
''')


@pytest.mark.slow
def test_example_plugin_install_and_uninstall_in_a_fresh_venv(tmp_path):
    start = time.monotonic()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    bin_dir = venv / "bin"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("RONN_", "PYTHON", "VIRTUAL_ENV"))}
    env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
               PIP_DISABLE_PIP_VERSION_CHECK="1")

    def sh(*cmd, check=True):
        result = subprocess.run([str(c) for c in cmd], env=env, cwd=tmp_path,
                                capture_output=True, text=True, timeout=600)
        if check and result.returncode:
            pytest.fail(f"{' '.join(map(str, cmd))} failed:\n{result.stdout}\n{result.stderr}")
        return result

    pip = (bin_dir / "python", "-m", "pip", "install", "-q")
    # the core's dependencies at the versions this interpreter tests with (the pip cache has them)
    import importlib_metadata
    import pluggy
    import threadpoolctl
    sh(*pip, "setuptools>=68", "wheel", f"numpy=={np.__version__}", f"onnx=={onnx.__version__}",
       f"pluggy=={pluggy.__version__}", f"importlib-metadata=={importlib_metadata.version('importlib-metadata')}",
       f"threadpoolctl=={threadpoolctl.__version__}")
    sh(*pip, "--no-deps", "--no-build-isolation", "-e", ROOT, "-e", ROOT / "opsets/onnx",
       "-e", ROOT / "providers/cpu")
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)

    def run_probe() -> dict:
        return json.loads(sh(bin_dir / "python", probe).stdout.strip().splitlines()[-1])

    def example_ops() -> list:
        return json.loads(sh(bin_dir / "ronn", "ops", "--domain", "com.example", "--json").stdout)

    def assert_missing():
        result = run_probe()
        assert result["op_type"] in ("SwiGLU", "RotaryEmbedding") and \
            result["domain"] == "com.example"
        message = result["error"]
        assert f"'{result['op_type']}'" in message and "'com.example'" in message
        assert "pip install ronn-example" in message
        assert example_ops() == []

    assert_missing()

    # a real (non-editable) install, from a copy so the build leaves nothing in the repository
    source = tmp_path / "ronn-example-src"
    shutil.copytree(ROOT / "plugins_example", source, ignore=shutil.ignore_patterns(
        "__pycache__", "*.egg-info", "build", ".pytest_cache", ".hypothesis", "tests"))
    sh(*pip, "--no-build-isolation", source)
    result = run_probe()
    assert result["max_diff"] < 1e-5 and result["dtype"] == "float32"
    assert "site-packages" in result["module"]
    ops = example_ops()
    assert {r["op_type"] for r in ops} >= {"SwiGLU", "RotaryEmbedding"}
    assert all(r["plugins"] == ["example"] for r in ops)
    plugins = json.loads(sh(bin_dir / "ronn", "plugins", "--json").stdout)
    [example] = [p for p in plugins if p["name"] == "example"]
    assert example["distribution"] == "ronn-example" and example["error"] is None

    sh(bin_dir / "python", "-m", "pip", "uninstall", "-y", "-q", "ronn-example")
    assert_missing()
    assert time.monotonic() - start < 300
