"""Model inputs and outputs as users see them, and validation of the feeds given to ``run``."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ronn_core.errors import (InputShapeError, InputTypeError, MissingInputError,
                              UnknownInputError)
from ronn_core.types import (MapType, OptionalType, SequenceType, TensorType, ValueType,
                             onnx_type_name)


@dataclass(frozen=True)
class ValueInfo:
    """A model input or output: name, element dtype, and shape (ints, symbolic names or None)."""

    name: str
    type: ValueType | None

    @property
    def dtype(self) -> np.dtype | None:
        return self.type.dtype if isinstance(self.type, TensorType) else None

    @property
    def shape(self) -> list | None:
        if isinstance(self.type, TensorType) and self.type.shape is not None:
            return list(self.type.shape)
        return None

    @property
    def type_str(self) -> str:
        """onnxruntime's spelling: ``tensor(float)``, ``seq(tensor(int64))``..."""
        return _type_str(self.type)

    def __repr__(self) -> str:
        return f"ValueInfo(name={self.name!r}, type={self.type_str}, shape={self.shape})"


def _type_str(t: ValueType | None) -> str:
    if isinstance(t, TensorType):
        return f"tensor({onnx_type_name(t.elem_type) if t.elem_type else 'undefined'})"
    if isinstance(t, SequenceType):
        return f"seq({_type_str(t.elem)})"
    if isinstance(t, OptionalType):
        return f"optional({_type_str(t.elem)})"
    if isinstance(t, MapType):
        return f"map({onnx_type_name(t.key_type)},{_type_str(t.value)})"
    return "unknown"


class FeedValidator:
    """Checks feeds against the model's inputs; errors say what was expected and what came.

    Fast path: the signature (names, dtypes, shapes) of the last dict of plain numpy arrays that
    passed unchanged is kept; a dict with the same signature passes without the full check (it
    would pass it, and any other signature takes the full check)."""

    def __init__(self, inputs: list[ValueInfo], overridable: list[ValueInfo] = ()):
        self.inputs = inputs
        self.known = {i.name: i for i in (*inputs, *overridable)}
        self.required = [i.name for i in inputs]
        self._accepted: tuple | None = None

    def __call__(self, feeds: Mapping[str, Any]) -> dict[str, Any]:
        if type(feeds) is dict:
            signature = _signature(feeds)
            if signature is not None and signature == self._accepted:
                return dict(feeds)
            checked = self._check_all(feeds)
            if signature is not None and all(checked[n] is v for n, v in feeds.items()):
                self._accepted = signature
            return checked
        return self._check_all(feeds)

    def _check_all(self, feeds: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(feeds, Mapping):
            raise InputTypeError(f"feeds must be a dict of input name -> array, got "
                                 f"{type(feeds).__name__}")
        checked: dict[str, Any] = {}
        symbols: dict[str, tuple[int, str]] = {}
        for name, value in feeds.items():
            info = self.known.get(name)
            if info is None:
                close = difflib.get_close_matches(str(name), list(self.known), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise UnknownInputError(f"unknown input {name!r}{hint or '.'} The model's inputs are "
                                        f"{self.required}")
            checked[name] = self._check(info, value, symbols)
        missing = [n for n in self.required if n not in checked]
        if missing:
            expected = ", ".join(f"{n} ({self.known[n].type_str} {self.known[n].shape})"
                                 for n in missing)
            raise MissingInputError(f"missing input(s): {expected}; got {sorted(checked)}")
        return checked

    def _check(self, info: ValueInfo, value: Any, symbols: dict) -> Any:
        t = info.type
        if not isinstance(t, TensorType):
            if isinstance(t, SequenceType) and not isinstance(value, (list, tuple)):
                raise InputTypeError(f"input {info.name!r} expects {info.type_str} (a list of "
                                     f"arrays), got {type(value).__name__}")
            return list(value) if isinstance(value, tuple) else value
        if not isinstance(value, np.ndarray):
            device = getattr(value, "__cuda_array_interface__", None)
            if device is not None:         # a device array (CuPy...): checked, never copied
                return self._check_device(info, value, device, symbols)
            if hasattr(value, "__array__") or isinstance(value, (list, int, float, bool)):
                value = np.asarray(value)
            else:
                raise InputTypeError(f"input {info.name!r} expects {info.type_str}, got "
                                     f"{type(value).__name__}")
        expected = t.dtype
        if expected is not None and value.dtype != expected:
            if not (expected == np.dtype(object) and value.dtype.kind in "OU"):
                raise InputTypeError(
                    f"input {info.name!r} expects {info.type_str} ({expected}), got {value.dtype}; "
                    f"convert it with .astype(np.{expected.name})")
            value = value.astype(object)
        if t.shape is not None:
            self._check_shape(info, t.shape, value.shape, symbols)
        return value

    def _check_device(self, info: ValueInfo, value: Any, interface: dict, symbols: dict) -> Any:
        """Dtype and shape of a device array from its ``__cuda_array_interface__``."""
        got = np.dtype(interface["typestr"])
        if info.dtype is not None and got != info.dtype:
            raise InputTypeError(f"input {info.name!r} expects {info.type_str} ({info.dtype}), "
                                 f"got a device array of {got}")
        if info.type.shape is not None:
            self._check_shape(info, info.type.shape, tuple(interface["shape"]), symbols)
        return value

    @staticmethod
    def _check_shape(info: ValueInfo, want: tuple, got: tuple, symbols: dict) -> None:
        if len(want) != len(got):
            raise InputShapeError(f"input {info.name!r} expects rank {len(want)} "
                                  f"{_dims(want)}, got rank {len(got)} {list(got)}")
        for axis, (w, g) in enumerate(zip(want, got)):
            if isinstance(w, int) and w != g:
                raise InputShapeError(f"input {info.name!r} expects dim {axis} = {w} "
                                      f"(shape {_dims(want)}), got {g} (shape {list(got)})")
            if isinstance(w, str):
                seen = symbols.get(w)
                if seen is not None and seen[0] != g:
                    raise InputShapeError(
                        f"input {info.name!r} dim {axis} is '{w}' = {g}, but input {seen[1]!r} "
                        f"already set '{w}' = {seen[0]}")
                symbols.setdefault(w, (g, info.name))


def _signature(feeds: dict) -> tuple | None:
    """``((name, dtype, shape), ...)`` of feeds that are all plain numpy arrays, else None."""
    signature = []
    for name, value in feeds.items():
        if type(value) is not np.ndarray:
            return None
        signature.append((name, value.dtype, value.shape))
    return tuple(signature)


def _dims(shape: tuple) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"
