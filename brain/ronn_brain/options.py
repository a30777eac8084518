"""Module options: validate a ``[modules.NAME]`` table, resolve its paths, find its state files."""

from __future__ import annotations

import atexit
import json
import os
import sys
import tempfile
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from ronn_core.config import nearest_hint
from ronn_core.errors import ConfigValueError, UnknownConfigKeyError

NUMBER = (int, float)


class Options:
    """A module's validated config: ``opts.key`` for each key of ``spec``.

    ``spec`` maps key -> (accepted types, default). Every module also accepts ``state_dir``
    (where it persists what it learns) and ``base_dir`` (the folder relative paths resolve
    against; default: ``session.base_dir``, i.e. the session config's folder, else the folder of
    the session's model file, else the working directory).
    """

    def __init__(self, module: str, session, config: dict[str, Any],
                 spec: dict[str, tuple[tuple[type, ...], Any]]):
        self._module = module
        spec = {**spec, "state_dir": ((str,), None), "base_dir": ((str,), None)}
        for key in config:
            if key not in spec:
                raise UnknownConfigKeyError(
                    f"modules.{module}: unknown key {key!r}{nearest_hint(key, spec)}; valid "
                    f"keys: {', '.join(sorted(spec))}")
        self.values: dict[str, Any] = {}
        for key, (kinds, default) in spec.items():
            value = config.get(key, default)
            if key in config and not _is(value, kinds):
                names = " or ".join("number" if k is float else k.__name__ for k in kinds)
                raise ConfigValueError(f"modules.{module}.{key} = {value!r} is not allowed; "
                                       f"expected {names}")
            self.values[key] = float(value) if kinds == (float,) and value is not None \
                else value
        base = self.values["base_dir"] or getattr(session, "base_dir", None) or "."
        self.base_dir = Path(base).expanduser()
        self.state = StateDir(self.path("state_dir"), module) if self.values["state_dir"] \
            else None

    def __getattr__(self, key: str) -> Any:
        try:
            return self.__dict__["values"][key]
        except KeyError:
            raise AttributeError(key) from None

    def positive(self, key: str, *, allow_zero: bool = False) -> Any:
        value = self.values[key]
        if value is None or value > 0 or (allow_zero and value == 0):
            return value
        raise ConfigValueError(f"modules.{self._module}.{key} = {value!r} is not allowed; "
                               f"expected a {'non-negative' if allow_zero else 'positive'} "
                               f"number")

    def fraction(self, key: str) -> float:
        value = self.values[key]
        if not 0.0 <= value <= 1.0:
            raise ConfigValueError(f"modules.{self._module}.{key} = {value!r} is not allowed; "
                                   f"expected a number from 0 to 1")
        return value

    def path(self, key: str) -> Path | None:
        value = self.values[key]
        if value is None:
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base_dir / p

    def existing_file(self, key: str) -> Path | None:
        p = self.path(key)
        if p is not None and not p.is_file():
            raise ConfigValueError(f"modules.{self._module}.{key} = {self.values[key]!r}: no "
                                   f"such file {str(p)!r} (relative paths resolve against "
                                   f"{str(self.base_dir)!r}; set base_dir to change that)")
        return p


def _is(value: Any, kinds: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in kinds:
        return False
    if float in kinds and isinstance(value, int):
        return True
    return isinstance(value, kinds)


class StateDir:
    """``DIR/MODULE.json`` and ``DIR/MODULE.npz``, written atomically (write, then rename)."""

    def __init__(self, directory: Path, module: str):
        self.directory = Path(directory)
        self.module = module

    def file(self, suffix: str) -> Path:
        return self.directory / f"{self.module}{suffix}"

    def save_json(self, data: dict) -> None:
        self._atomic(".json", lambda f: f.write(json.dumps(data).encode()))

    def load_json(self) -> dict | None:
        path = self.file(".json")
        return json.loads(path.read_text()) if path.is_file() else None

    def save_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self._atomic(".npz", lambda f: np.savez(f, **arrays))

    def load_arrays(self) -> dict[str, np.ndarray] | None:
        path = self.file(".npz")
        if not path.is_file():
            return None
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    def _atomic(self, suffix: str, write) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{self.module}", suffix=suffix)
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
            os.replace(tmp, self.file(suffix))
        except BaseException:
            os.unlink(tmp)
            raise


def save_at_exit(save) -> None:
    """Call the bound method ``save`` when the interpreter exits (if its object still lives),
    so state persists even when the owner never closes the session (e.g. ``ronn run``)."""
    ref = weakref.WeakMethod(save)

    def _save():
        method = ref()
        if method is None:
            return
        try:
            method()
        except Exception as exc:          # at exit: report, never raise
            print(f"ronn-brain: could not save {method.__self__.name} state at exit: {exc}",
                  file=sys.stderr)

    atexit.register(_save)
