"""Why the GPU provider cannot run here: CuPy missing, no CUDA driver, no device, no Triton."""

from __future__ import annotations

import importlib.util
import os

_cache: dict[int, str | None] = {}


def cupy_reason(device_id: int = 0) -> str | None:
    """None when CuPy imports and CUDA device ``device_id`` answers; otherwise why not."""
    if importlib.util.find_spec("cupy") is None:
        return ("CuPy is not installed (pip install 'ronn-provider-gpu[cuda]' or "
                "cupy-cuda12x)")
    try:
        import cupy
    except Exception as exc:     # a broken wheel, missing libraries
        return f"CuPy failed to import: {type(exc).__name__}: {exc}"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:     # CUDARuntimeError: no driver, insufficient driver...
        return f"no usable CUDA driver: {_one_line(exc)}"
    if count == 0:
        return "the CUDA driver reports no GPU device"
    if not 0 <= device_id < count:
        return f"device_id {device_id} does not exist; this machine has {count} CUDA device(s)"
    return None


def triton_reason() -> str | None:
    """None when Triton imports (its kernels are JIT-compiled on first use)."""
    if importlib.util.find_spec("triton") is None:
        return "Triton is not installed (pip install 'ronn-provider-gpu[cuda]' or triton)"
    return None


def unavailable_reason(device_id: int = 0) -> str | None:
    """Why the ``gpu`` provider cannot run on device ``device_id``, or None (cached)."""
    if os.environ.get("RONN_GPU_DISABLE"):
        return "disabled by the RONN_GPU_DISABLE environment variable"
    if device_id not in _cache:
        _cache[device_id] = cupy_reason(device_id) or triton_reason()
    return _cache[device_id]


def _one_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"
