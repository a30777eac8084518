"""The CPU execution provider: host memory, numpy/BLAS and numba kernels, thread limits per run."""

from __future__ import annotations

import contextlib
import threading

from ronn_core import ExecutionProvider

_blas: list | None = None


def _blas_controllers() -> list:
    """(get, set, is BLAS) thread-count calls of the native pools loaded now (BLAS, OpenMP),
    found once: raw C functions where they are exported (~0.1 us a call), else threadpoolctl's
    methods."""
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController
        _blas = [(*_raw_calls(lib), lib.user_api == "blas")
                 for lib in ThreadpoolController().lib_controllers]
    return _blas


def _raw_calls(lib) -> tuple:
    """(get, set) of one pool as the library's own C functions where threadpoolctl knows them
    (OpenBLAS, OpenMP), else threadpoolctl's methods."""
    names = {"openblas": ("openblas_get_num_threads", "openblas_set_num_threads"),
             "openmp": ("omp_get_max_threads", "omp_set_num_threads")}.get(
        getattr(lib, "internal_api", None))
    if names is not None:
        try:
            if lib.internal_api == "openblas":
                get, set_ = (lib._get_symbol(n) for n in names)
            else:
                get, set_ = (getattr(lib.dynlib, n, None) for n in names)
        except Exception:                    # pragma: no cover - another threadpoolctl
            get = set_ = None
        if get is not None and set_ is not None:
            return get, set_
    return lib.get_num_threads, lib.set_num_threads


def _numba_threads():
    """numba's (get, set, most) for the calling thread's parallel-loop width: the raw C calls
    (~0.2 us) where this numba has them, else its public functions."""
    import numba
    try:
        from numba.np.ufunc import parallel
        parallel._launch_threads()
        get, set_ = parallel._get_num_threads, parallel._set_num_threads
    except (ImportError, AttributeError):    # pragma: no cover - other numba versions
        get, set_ = numba.get_num_threads, numba.set_num_threads
    return get, set_, numba.config.NUMBA_NUM_THREADS


def wanted(threads: int, is_blas: bool) -> int:
    """A pool's thread count during a run: BLAS runs each product on one thread, called from
    RONN's numba pool (kernels/blas.py); the others get the run's ``threads``."""
    return 1 if is_blas else threads


class ThreadLimit:
    """Entered around one run: numba (and OpenMP) use ``threads``, BLAS one thread per call
    (see ``wanted``); what was changed is put back on exit. Checks before it sets, so a run
    whose limits already hold pays ~0.5 us (where
    ``threadpoolctl.limit`` costs ~10 us). One object per run: concurrent runs never share it."""

    __slots__ = ("threads", "numba", "blas", "undo")

    def __init__(self, threads: int, numba_calls, blas: list):
        self.threads, self.numba, self.blas, self.undo = threads, numba_calls, blas, []

    def __enter__(self) -> "ThreadLimit":
        for get, set_, is_blas in self.blas:
            old, want = get(), wanted(self.threads, is_blas)
            if old is not None and old != want:
                set_(want)
                self.undo.append((set_, old))
        get, set_, most = self.numba
        old, count = get(), min(self.threads, most)
        if old != count:
            set_(count)
            self.undo.append((set_, old))
        if self.undo:
            _changes[0] += 1
        return self

    def __exit__(self, *exc) -> None:
        for set_, old in reversed(self.undo):
            set_(old)
        if self.undo:
            _changes[0] += 1
        self.undo.clear()


_LIMITS_HOLD = contextlib.nullcontext()     # stateless: every run may share it
# Checking the limits costs a C call per pool (~1 us each in a busy run loop), so a thread
# where they held is trusted for the next RECHECK_EVERY runs unless a ThreadLimit has changed
# a count since (``_changes``). A count changed outside RONN meanwhile (threadpoolctl,
# numba.set_num_threads) is seen within those runs; results never depend on it.
RECHECK_EVERY = 32
_changes = [0]
_verified = threading.local()     # .state: (threads, _changes seen, runs left) of this thread


def _limit_factory(threads: int, numba_calls, blas: list):
    """The session's run context: the shared do-nothing context while the limits hold, else
    a ThreadLimit that sets and restores them."""
    numba_get, _, most = numba_calls
    numba_wanted = min(threads, most)

    def limit():
        seen = getattr(_verified, "state", None)
        changes = _changes[0]
        if seen is not None and seen[0] == threads and seen[1] == changes and seen[2] > 0:
            _verified.state = (threads, changes, seen[2] - 1)
            return _LIMITS_HOLD
        for get, _, is_blas in blas:
            old = get()
            if old is not None and old != wanted(threads, is_blas):
                return ThreadLimit(threads, numba_calls, blas)
        if numba_get() != numba_wanted:
            return ThreadLimit(threads, numba_calls, blas)
        _verified.state = (threads, changes, RECHECK_EVERY)
        return _LIMITS_HOLD
    return limit


class CPUExecutionProvider(ExecutionProvider):
    """Runs every node it has a kernel for (its own fast kernels, else the reference ones)."""

    name = "cpu"
    ort_name = "CPUExecutionProvider"
    device = "cpu"
    uses_reference_kernels = True

    def run_context(self):
        """numba on the session's ``threads`` (all of numba's without a limit), BLAS on one
        thread per call during a run (see ``wanted``)."""
        calls = _numba_threads()
        return _limit_factory(self.threads or calls[2], calls, _blas_controllers())
