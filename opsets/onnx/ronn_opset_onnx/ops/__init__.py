"""The ai.onnx reference kernels: one module per op family, every ``@kernel`` in it registered."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def op_modules() -> list[ModuleType]:
    """Every op-family module in this package, imported, in name order."""
    return [importlib.import_module(f"{__name__}.{info.name}")
            for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name)
            if not info.name.startswith("_")]
