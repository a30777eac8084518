"""The ``ronn serve`` config: a ``[server]`` table and one ``[models.NAME]`` table per model.

    [server]
    host = "127.0.0.1"           # --host overrides
    port = 8000                  # --port overrides; 0 picks a free port
    shutdown_timeout_s = 30      # how long SIGTERM waits for requests in flight

    [models.mlp]
    path = "mlp.onnx"            # required; relative to this file
    version = "1"
    providers = ["cpu"]
    threads = 1                  # intra-op (BLAS) threads of one run; default 1: workers give
                                 # the parallelism
    optimization_level = "O3"
    workers = 2                  # runs (batches) of this model in flight at once
    max_queue_size = 128         # requests waiting beyond that are refused (HTTP 503)

    [models.mlp.batching]
    enabled = true
    max_batch_size = 32          # rows (sum of dim 0) in one batch
    timeout_ms = 2.0             # how long the first request of a batch waits for company
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ronn_core.config import nearest_hint
from ronn_core.errors import ConfigError, ConfigValueError, UnknownConfigKeyError
from ronn_core.passes import LEVELS

SERVER_KEYS = ("host", "port", "shutdown_timeout_s")
MODEL_KEYS = ("path", "version", "providers", "threads", "optimization_level", "workers",
              "max_queue_size", "batching")
BATCHING_KEYS = ("enabled", "max_batch_size", "timeout_ms")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass
class BatchingConfig:
    enabled: bool = False
    max_batch_size: int = 32
    timeout_ms: float = 2.0


@dataclass
class ModelConfig:
    name: str
    path: Path
    version: str = "1"
    providers: list[str] = field(default_factory=lambda: ["cpu"])
    threads: int = 1
    optimization_level: str = "O3"
    workers: int = 2
    max_queue_size: int = 128
    batching: BatchingConfig = field(default_factory=BatchingConfig)

    def create_session(self):
        from ronn_core.onnx_io import load
        from ronn_core.session import Session
        return Session(load(self.path), providers=self.providers, threads=self.threads,
                       optimization_level=self.optimization_level)


@dataclass
class ServeConfig:
    models: dict[str, ModelConfig]
    host: str = "127.0.0.1"
    port: int = 8000
    shutdown_timeout_s: float = 30.0
    source: Path | None = None


def load_serve_config(path) -> ServeConfig:
    """Read and validate a serve config; errors name the file, the table and the key."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read serve config {str(path)!r}: {exc.strerror or exc}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    return parse_serve_config(data, base=path.parent, source=path)


def parse_serve_config(data: dict[str, Any], *, base: Path = Path("."),
                       source: Path | None = None) -> ServeConfig:
    where = str(source) if source else "serve config"
    _known(data, ("server", "models"), where, "top level")
    server = data.get("server", {})
    _table(server, f"{where}: [server]")
    _known(server, SERVER_KEYS, where, "[server]")
    config = ServeConfig(models={}, source=source)
    if "host" in server:
        config.host = _typed(server["host"], str, where, "server.host")
    if "port" in server:
        config.port = _int(server["port"], where, "server.port", low=0, high=65535)
    if "shutdown_timeout_s" in server:
        config.shutdown_timeout_s = _number(server["shutdown_timeout_s"], where,
                                            "server.shutdown_timeout_s", low=0)
    models = data.get("models")
    if not models:
        raise ConfigValueError(f"{where}: no models to serve; add a [models.NAME] table with "
                               f"path = \"model.onnx\"")
    _table(models, f"{where}: [models]")
    for name, table in models.items():
        config.models[name] = _model(name, table, base, where)
    return config


def _model(name: str, table: Any, base: Path, where: str) -> ModelConfig:
    if not NAME_PATTERN.match(name):
        raise ConfigValueError(f"{where}: model name {name!r} must match "
                               f"{NAME_PATTERN.pattern} (it becomes part of the URL)")
    at = f"models.{name}"
    _table(table, f"{where}: [{at}]")
    _known(table, MODEL_KEYS, where, f"[{at}]")
    if "path" not in table:
        raise ConfigValueError(f"{where}: [{at}] has no path; add path = \"model.onnx\"")
    model_path = Path(_typed(table["path"], str, where, f"{at}.path"))
    model_path = model_path if model_path.is_absolute() else base / model_path
    if not model_path.is_file():
        raise ConfigValueError(f"{where}: {at}.path: model file {str(model_path)!r} not found")
    model = ModelConfig(name=name, path=model_path)
    if "version" in table:
        model.version = str(_typed(table["version"], (str, int), where, f"{at}.version"))
    if "providers" in table:
        providers = table["providers"]
        if (not isinstance(providers, list) or not providers
                or not all(isinstance(p, str) for p in providers)):
            raise ConfigValueError(f"{where}: {at}.providers must be a non-empty list of "
                                   f"provider names, e.g. [\"cpu\"]; got {providers!r}")
        model.providers = providers
    if "threads" in table:
        model.threads = _int(table["threads"], where, f"{at}.threads", low=1)
    if "optimization_level" in table:
        level = table["optimization_level"]
        if level not in LEVELS:
            raise ConfigValueError(f"{where}: {at}.optimization_level = {level!r}: expected one "
                                   f"of {list(LEVELS)}")
        model.optimization_level = level
    if "workers" in table:
        model.workers = _int(table["workers"], where, f"{at}.workers", low=1, high=256)
    if "max_queue_size" in table:
        model.max_queue_size = _int(table["max_queue_size"], where, f"{at}.max_queue_size",
                                    low=1)
    batching = table.get("batching", {})
    _table(batching, f"{where}: [{at}.batching]")
    _known(batching, BATCHING_KEYS, where, f"[{at}.batching]")
    if "enabled" in batching:
        model.batching.enabled = _typed(batching["enabled"], bool, where,
                                        f"{at}.batching.enabled")
    if "max_batch_size" in batching:
        model.batching.max_batch_size = _int(batching["max_batch_size"], where,
                                             f"{at}.batching.max_batch_size", low=1)
    if "timeout_ms" in batching:
        model.batching.timeout_ms = _number(batching["timeout_ms"], where,
                                            f"{at}.batching.timeout_ms", low=0, high=60_000)
    return model


def _known(table: dict, keys: tuple, where: str, what: str) -> None:
    for key in table:
        if key not in keys:
            raise UnknownConfigKeyError(f"{where}: unknown key {key!r} in {what}"
                                        f"{nearest_hint(key, keys)}; valid keys: {list(keys)}")


def _table(value: Any, what: str) -> None:
    if not isinstance(value, dict):
        raise ConfigValueError(f"{what} must be a table, got {type(value).__name__} {value!r}")


def _typed(value: Any, kind, where: str, key: str) -> Any:
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        names = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
        raise ConfigValueError(f"{where}: {key} = {value!r}: expected {names}, got "
                               f"{type(value).__name__}")
    return value


def _int(value: Any, where: str, key: str, low: int, high: int | None = None) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (
            high is not None and value > high):
        span = f"an integer >= {low}" + (f" and <= {high}" if high is not None else "")
        raise ConfigValueError(f"{where}: {key} = {value!r}: expected {span}")
    return value


def _number(value: Any, where: str, key: str, low: float, high: float | None = None) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < low or (
            high is not None and value > high):
        span = f"a number >= {low}" + (f" and <= {high}" if high is not None else "")
        raise ConfigValueError(f"{where}: {key} = {value!r}: expected {span}")
    return float(value)
