"""Session configuration from TOML: every key validated, paths relative to the config file.

    model = "resnet50.onnx"            # required; relative to this file
    optimization_level = "O3"          # O0 .. O3
    threads = 2                        # intra-op threads (omit: library default)
    providers = ["cpu"]                # preference order; or, with options:
    # [[providers]]
    # name = "cpu"
    # options = { ... }
    [passes]
    enable = []                        # pass names to add beyond the level
    disable = ["cse"]                  # pass names to skip
    [profiling]
    enabled = true
    output = "trace.json"              # Chrome trace written by `ronn run`
    [inputs]                           # for `ronn run`: input name -> .npy file
    data = "input.npy"
    [modules.NAME]                     # a session module's own table
"""

from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ronn_core.errors import ConfigError, ConfigValueError, UnknownConfigKeyError
from ronn_core.passes import LEVELS

TOP_KEYS = ("model", "name", "optimization_level", "threads", "providers", "passes",
            "profiling", "inputs", "output_dir", "modules", "runs")
PASSES_KEYS = ("enable", "disable")
PROFILING_KEYS = ("enabled", "output")
PROVIDER_KEYS = ("name", "options")


def nearest_hint(key: str, valid: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest valid key, or ``""``."""
    close = difflib.get_close_matches(str(key), [str(v) for v in valid], n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


@dataclass
class SessionConfig:
    """A validated session configuration."""

    model: Path
    source: Path | None = None
    name: str | None = None
    optimization_level: str = "O3"
    threads: int | None = None
    providers: list[tuple[str, dict[str, Any]]] = field(default_factory=lambda: [("cpu", {})])
    enable_passes: list[str] = field(default_factory=list)
    disable_passes: list[str] = field(default_factory=list)
    profiling: bool = False
    profile_output: Path | None = None
    inputs: dict[str, Path] = field(default_factory=dict)
    output_dir: Path | None = None
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: int = 1
    base_dir: Path | None = None      # the config file's folder: module paths resolve against it

    def session_kwargs(self) -> dict[str, Any]:
        return {"optimization_level": self.optimization_level, "threads": self.threads,
                "providers": [(n, o) for n, o in self.providers],
                "enable_passes": self.enable_passes, "disable_passes": self.disable_passes,
                "profiling": self.profiling, "modules": self.modules,
                "base_dir": self.base_dir}

    def create_session(self, **overrides):
        from ronn_core.onnx_io import load
        from ronn_core.session import Session
        kwargs = {**self.session_kwargs(), **overrides}
        return Session(load(self.model), **kwargs)


def load_config(path) -> SessionConfig:
    """Read and validate a TOML session config."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {str(path)!r} as TOML text: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, base_dir=path.parent, source=path)


def parse_config(data: dict[str, Any], *, base_dir: Path = Path("."),
                 source: Path | None = None) -> SessionConfig:
    """Validate a config dict (as read from TOML); relative paths resolve against ``base_dir``."""
    where = str(source) if source else "config"
    _check_keys(data, TOP_KEYS, where, "the top level")
    if "model" not in data:
        raise ConfigValueError(f"{where}: 'model' is required (the path of the .onnx file)")
    model = _path(data, "model", base_dir, where)
    cfg = SessionConfig(model=model, source=source, base_dir=base_dir)
    if "name" in data:
        cfg.name = _typed(data, "name", str, where)
    if "optimization_level" in data:
        level = data["optimization_level"]
        if level not in LEVELS:
            raise ConfigValueError(f"{where}: optimization_level = {level!r} is not allowed; "
                                   f"expected one of {', '.join(LEVELS)}")
        cfg.optimization_level = level
    if "threads" in data:
        cfg.threads = _positive_int(data, "threads", where)
    if "runs" in data:
        cfg.runs = _positive_int(data, "runs", where)
    if "providers" in data:
        cfg.providers = _providers(data["providers"], where)
    if "passes" in data:
        passes = _table(data, "passes", where)
        _check_keys(passes, PASSES_KEYS, where, "[passes]")
        cfg.enable_passes = _names(passes, "enable", where, "passes.enable")
        cfg.disable_passes = _names(passes, "disable", where, "passes.disable")
    if "profiling" in data:
        prof = data["profiling"]
        if isinstance(prof, bool):
            cfg.profiling = prof
        elif isinstance(prof, dict):
            _check_keys(prof, PROFILING_KEYS, where, "[profiling]")
            cfg.profiling = _typed(prof, "enabled", bool, where, "profiling.enabled", True)
            if "output" in prof:
                cfg.profile_output = _path(prof, "output", base_dir, where, "profiling.output")
        else:
            raise ConfigValueError(f"{where}: profiling = {prof!r} is not allowed; expected true, "
                                   f"false or a table with 'enabled' and 'output'")
    if "inputs" in data:
        table = _table(data, "inputs", where)
        cfg.inputs = {k: _path(table, k, base_dir, where, f"inputs.{k}") for k in table}
    if "output_dir" in data:
        cfg.output_dir = _path(data, "output_dir", base_dir, where)
    if "modules" in data:
        mods = _table(data, "modules", where)
        for name, table in mods.items():
            if not isinstance(table, dict):
                raise ConfigValueError(f"{where}: modules.{name} must be a table "
                                       f"([modules.{name}]), got {table!r}")
        cfg.modules = {k: dict(v) for k, v in mods.items()}
    return cfg


def _providers(value: Any, where: str) -> list[tuple[str, dict[str, Any]]]:
    if not isinstance(value, list) or not value:
        raise ConfigValueError(f"{where}: providers = {value!r} is not allowed; expected a "
                               f"non-empty list of names, or [[providers]] tables")
    out = []
    for i, entry in enumerate(value):
        if isinstance(entry, str):
            out.append((entry, {}))
        elif isinstance(entry, dict):
            _check_keys(entry, PROVIDER_KEYS, where, f"providers[{i}]")
            if not isinstance(entry.get("name"), str):
                raise ConfigValueError(f"{where}: providers[{i}] needs name = \"...\" "
                                       f"(e.g. \"cpu\")")
            options = entry.get("options", {})
            if not isinstance(options, dict):
                raise ConfigValueError(f"{where}: providers[{i}].options = {options!r} is not "
                                       f"allowed; expected a table")
            out.append((entry["name"], dict(options)))
        else:
            raise ConfigValueError(f"{where}: providers[{i}] = {entry!r} is not allowed; "
                                   f"expected a provider name or a table with 'name'")
    return out


def _check_keys(table: dict, valid: tuple[str, ...], where: str, section: str) -> None:
    for key in table:
        if key not in valid:
            raise UnknownConfigKeyError(f"{where}: unknown key {key!r} in {section}"
                                        f"{nearest_hint(key, valid)}; valid keys: "
                                        f"{', '.join(valid)}")


def _table(data: dict, key: str, where: str) -> dict:
    value = data[key]
    if not isinstance(value, dict):
        raise ConfigValueError(f"{where}: {key} = {value!r} is not allowed; expected a table "
                               f"([{key}])")
    return value


def _typed(data: dict, key: str, kind: type, where: str, label: str | None = None,
           default: Any = None) -> Any:
    if key not in data:
        return default
    value = data[key]
    if not isinstance(value, kind):
        raise ConfigValueError(f"{where}: {label or key} = {value!r} is not allowed; expected "
                               f"a {kind.__name__}")
    return value


def _positive_int(data: dict, key: str, where: str) -> int:
    value = data[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigValueError(f"{where}: {key} = {value!r} is not allowed; expected a positive "
                               f"integer")
    return value


def _names(data: dict, key: str, where: str, label: str) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigValueError(f"{where}: {label} = {value!r} is not allowed; expected a list "
                               f"of pass names")
    return list(value)


def _path(data: dict, key: str, base_dir: Path, where: str, label: str | None = None) -> Path:
    value = _typed(data, key, str, where, label)
    p = Path(value).expanduser()
    return p if p.is_absolute() else (base_dir / p)
