"""The CPU execution provider: host memory, numpy/BLAS and numba kernels, thread limits per run."""

from __future__ import annotations

from ronn_core import ExecutionProvider

_blas: list | None = None


def _blas_controllers() -> list:
    """threadpoolctl's controllers of the native pools loaded now (BLAS, OpenMP), found once."""
    global _blas
    if _blas is None:
        from threadpoolctl import ThreadpoolController
        _blas = list(ThreadpoolController().lib_controllers)
    return _blas


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


class ThreadLimit:
    """Entered around one run: BLAS and numba use at most ``threads``; what was changed is put
    back on exit. Checks before it sets, so a run whose limits already hold pays ~1 us (where
    ``threadpoolctl.limit`` costs ~10 us). One object per run: concurrent runs never share it."""

    __slots__ = ("threads", "numba", "blas", "undo")

    def __init__(self, threads: int, numba_calls, blas: list):
        self.threads, self.numba, self.blas, self.undo = threads, numba_calls, blas, []

    def __enter__(self) -> "ThreadLimit":
        want = self.threads
        for lib in self.blas:
            old = lib.get_num_threads()
            if old is not None and old != want:
                lib.set_num_threads(want)
                self.undo.append((lib.set_num_threads, old))
        get, set_, most = self.numba
        old, wanted = get(), min(want, most)
        if old != wanted:
            set_(wanted)
            self.undo.append((set_, old))
        return self

    def __exit__(self, *exc) -> None:
        for set_, old in reversed(self.undo):
            set_(old)
        self.undo.clear()


class CPUExecutionProvider(ExecutionProvider):
    """Runs every node it has a kernel for (its own fast kernels, else the reference ones)."""

    name = "cpu"
    ort_name = "CPUExecutionProvider"
    device = "cpu"
    uses_reference_kernels = True

    def run_context(self):
        """Limit BLAS and numba to the session's ``threads`` during a run."""
        if self.threads is None:
            return None
        threads, numba_calls, blas = self.threads, _numba_threads(), _blas_controllers()
        return lambda: ThreadLimit(threads, numba_calls, blas)
