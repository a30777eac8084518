"""The serve config: a valid file round-trips, every mistake is named."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest

from ronn.cli import main as ronn_main
from ronn_core.errors import ConfigError, ConfigValueError, UnknownConfigKeyError
from ronn_serve.config import load_serve_config
from ronn_serve.testing import build_mlp


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    onnx.save(build_mlp(8, 16), tmp_path / "mlp.onnx")
    return tmp_path


def write(folder: Path, text: str) -> Path:
    path = folder / "serve.toml"
    path.write_text(text)
    return path


def test_a_full_config_is_read_with_paths_relative_to_the_file(folder):
    config = load_serve_config(write(folder, """
[server]
host = "0.0.0.0"
port = 9000
shutdown_timeout_s = 5
[models.a]
path = "mlp.onnx"
version = 3
threads = 1
workers = 4
max_queue_size = 10
providers = ["cpu"]
optimization_level = "O1"
[models.a.batching]
enabled = true
max_batch_size = 16
timeout_ms = 1.5
[models.b]
path = "mlp.onnx"
"""))
    assert (config.host, config.port, config.shutdown_timeout_s) == ("0.0.0.0", 9000, 5.0)
    a, b = config.models["a"], config.models["b"]
    assert a.path == folder / "mlp.onnx" and a.version == "3" and a.workers == 4
    assert (a.batching.enabled, a.batching.max_batch_size, a.batching.timeout_ms) == (True, 16,
                                                                                       1.5)
    assert b.batching.enabled is False and b.max_queue_size == 128 and b.providers == ["cpu"]
    session = a.create_session()
    assert [i.name for i in session.inputs] == ["x"]


@pytest.mark.parametrize("text, error, message", [
    ("[models.a]\npath = 'mlp.onnx'\nworkrs = 2\n", UnknownConfigKeyError,
     r"unknown key 'workrs' in \[models.a\]; did you mean 'workers'\?"),
    ("[models.a]\npath = 'mlp.onnx'\n[models.a.batching]\nmax_batch = 2\n",
     UnknownConfigKeyError, r"\[models.a.batching\]; did you mean 'max_batch_size'"),
    ("[models.a]\nversion = '1'\n", ConfigValueError, r"\[models.a\] has no path"),
    ("[models.a]\npath = 'missing.onnx'\n", ConfigValueError,
     r"models.a.path: model file .*missing.onnx' not found"),
    ("[server]\nport = 70000\n[models.a]\npath = 'mlp.onnx'\n", ConfigValueError,
     r"server.port = 70000: expected an integer >= 0 and <= 65535"),
    ("[models.a]\npath = 'mlp.onnx'\nworkers = 0\n", ConfigValueError,
     r"models.a.workers = 0: expected an integer >= 1"),
    ("[models.a]\npath = 'mlp.onnx'\n[models.a.batching]\nenabled = 'yes'\n", ConfigValueError,
     r"models.a.batching.enabled = 'yes': expected bool, got str"),
    ("[models.a]\npath = 'mlp.onnx'\n[models.a.batching]\ntimeout_ms = -1\n", ConfigValueError,
     r"timeout_ms = -1: expected a number >= 0"),
    ("[models.a]\npath = 'mlp.onnx'\nproviders = 'cpu'\n", ConfigValueError,
     r"models.a.providers must be a non-empty list"),
    ("[models.'a b']\npath = 'mlp.onnx'\n", ConfigValueError, r"model name 'a b' must match"),
    ("[server]\nport = 1\n", ConfigValueError, r"no models to serve"),
    ("[models.a]\npath = 'mlp.onnx'\noptimization_level = 'O9'\n", ConfigValueError,
     r"expected one of \['O0', 'O1', 'O2', 'O3'\]"),
    ("[modles.a]\npath = 'mlp.onnx'\n", UnknownConfigKeyError, r"did you mean 'models'"),
    ("[models.a\n", ConfigError, r"not valid TOML"),
])
def test_mistakes_are_named(folder, text, error, message):
    with pytest.raises(error, match=message):
        load_serve_config(write(folder, text))


def test_ronn_serve_reports_a_bad_config_and_exits_1(folder, capsys):
    code = ronn_main(["serve", str(write(folder, "[models.a]\npath = 'nope.onnx'\n"))])
    assert code == 1
    assert "nope.onnx' not found" in capsys.readouterr().err
