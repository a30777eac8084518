"""numpy's OpenBLAS: which loaded copy it is, and its thread count held at one during a run.

kernels/blas.py runs products on numba's threads, one single-threaded OpenBLAS call per block;
OpenBLAS's own worker threads must then stay idle, so a run's first product big enough for them
sets OpenBLAS (a process-wide count) to one thread, and the run's end puts it back. Kept free
of numba: the provider enters ``RUN_SCOPE`` around every run, even where only the reference
kernels are installed.
"""

from __future__ import annotations

import os
import threading


def numpy_openblas():
    """threadpoolctl's controller of the OpenBLAS that numpy itself links, or None.

    Other OpenBLAS copies may be loaded too (numba loads scipy's on its first compile), each
    with its own pool of worker threads; calling one of those would run a second pool on the
    same cores (measured: VGG-19 360-450 ms per run instead of 200 in the processes where it
    happened). numpy's is the one whose file name its core extension names as a dependency.
    """
    from threadpoolctl import ThreadpoolController
    from numpy._core import _multiarray_umath
    with open(_multiarray_umath.__file__, "rb") as f:
        linked = f.read()
    for lib in ThreadpoolController().lib_controllers:
        if lib.internal_api == "openblas" and \
                os.path.basename(lib.filepath).encode() in linked:
            return lib
    return None


class _Hold(threading.local):
    depth = 0            # runs entered on this thread
    undo = None          # OpenBLAS's thread count before this run held it at one


_hold = _Hold()
_openblas_threads: list = []       # [(get, set)] of numpy's OpenBLAS, found once


def _thread_calls():
    if not _openblas_threads:
        calls = (None, None)
        lib = numpy_openblas()
        if lib is not None:
            calls = (lib._get_symbol("openblas_get_num_threads"),
                     lib._get_symbol("openblas_set_num_threads"))
        _openblas_threads.append(calls if None not in calls else (None, None))
    return _openblas_threads[0]


def hold_one_thread() -> None:
    """Inside a run: OpenBLAS on one thread per call until the run ends."""
    if not _hold.depth:
        return
    get, set_ = _thread_calls()
    if get is not None:
        old = get()
        if old != 1:
            set_(1)
            if _hold.undo is None:
                _hold.undo = old


class RunScope:
    """Entered around every run by the cpu provider: a big product in it holds OpenBLAS to one
    thread; leaving the outermost run on this thread puts its count back."""

    __slots__ = ()

    def __enter__(self) -> "RunScope":
        _hold.depth += 1
        return self

    def __exit__(self, *exc) -> None:
        _hold.depth -= 1
        if not _hold.depth and _hold.undo is not None:
            _thread_calls()[1](_hold.undo)
            _hold.undo = None


RUN_SCOPE = RunScope()      # stateless (thread-local state): every run may share it
