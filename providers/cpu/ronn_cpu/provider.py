"""The CPU execution provider: host memory, numpy/BLAS and numba kernels, thread limits per run."""

from __future__ import annotations

import threading

from ronn_core import ExecutionProvider
from ronn_cpu.openblas import RUN_SCOPE

_pools: list | None = None


def _native_pools() -> list:
    """(get, set) thread-count calls of the native pools loaded now other than BLAS (OpenMP),
    found once: raw C functions where they are exported (~0.1 us a call), else threadpoolctl's
    methods. BLAS itself runs one thread per call on numba's threads (kernels/blas.py)."""
    global _pools
    if _pools is None:
        from threadpoolctl import ThreadpoolController
        _pools = [_raw_calls(lib) for lib in ThreadpoolController().lib_controllers
                 if lib.user_api != "blas"]
    return _pools


def _raw_calls(lib) -> tuple:
    """(get, set) of one pool: OpenMP's own C functions, else threadpoolctl's methods."""
    if getattr(lib, "internal_api", None) == "openmp":
        get, set_ = (getattr(lib.dynlib, n, None)
                     for n in ("omp_get_max_threads", "omp_set_num_threads"))
        if get is not None and set_ is not None:
            return get, set_
    return lib.get_num_threads, lib.set_num_threads


def numba_thread_calls():
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
    """Entered around one run: numba (and OpenMP) use ``threads``; what was changed is put
    back on exit, with BLAS's count if the run held it (``RUN_SCOPE``). Checks before it sets,
    so a run whose limits already hold pays ~0.5 us (where
    ``threadpoolctl.limit`` costs ~10 us). One object per run: concurrent runs never share it."""

    __slots__ = ("threads", "numba", "pools", "undo")

    def __init__(self, threads: int, numba_calls, pools: list):
        self.threads, self.numba, self.pools, self.undo = threads, numba_calls, pools, []

    def __enter__(self) -> "ThreadLimit":
        RUN_SCOPE.__enter__()
        want = self.threads
        for get, set_ in self.pools:
            old = get()
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
        RUN_SCOPE.__exit__(*exc)


_LIMITS_HOLD = RUN_SCOPE       # stateless: every run may share it
# Checking the limits costs a C call per pool (~1 us each in a busy run loop), so a thread
# where they held is trusted for the next RECHECK_EVERY runs unless a ThreadLimit has changed
# a count since (``_changes``). A count changed outside RONN meanwhile (threadpoolctl,
# numba.set_num_threads) is seen within those runs; results never depend on it.
RECHECK_EVERY = 32
_changes = [0]
_verified = threading.local()     # .state: (threads, _changes seen, runs left) of this thread


def _limit_factory(threads: int, numba_calls, pools: list):
    """The session's run context: the shared ``RUN_SCOPE`` while the limits hold, else a
    ThreadLimit that sets and restores them (and enters ``RUN_SCOPE`` itself)."""
    numba_get, _, most = numba_calls
    numba_wanted = min(threads, most)

    def limit():
        seen = getattr(_verified, "state", None)
        changes = _changes[0]
        if seen is not None and seen[0] == threads and seen[1] == changes and seen[2] > 0:
            _verified.state = (threads, changes, seen[2] - 1)
            return _LIMITS_HOLD
        for get, _ in pools:
            old = get()
            if old is not None and old != threads:
                return ThreadLimit(threads, numba_calls, pools)
        if numba_get() != numba_wanted:
            return ThreadLimit(threads, numba_calls, pools)
        _verified.state = (threads, changes, RECHECK_EVERY)
        return _LIMITS_HOLD
    return limit


class CPUExecutionProvider(ExecutionProvider):
    """Runs every node it has a kernel for (its own fast kernels, else the reference ones)."""

    name = "cpu"
    ort_name = "CPUExecutionProvider"
    device = "cpu"
    uses_reference_kernels = True

    def compile(self, nodes, ctx):
        """One step per node, then each run of small layers as one step (``chains``)."""
        from ronn_cpu.kernels import chains
        return chains.fuse(super().compile(nodes, ctx), ctx.graph)

    def run_context(self):
        """numba on the session's ``threads`` (all of numba's without a limit) during a run;
        BLAS one thread per call once a run's products are big enough (``RUN_SCOPE``)."""
        calls = numba_thread_calls()
        return _limit_factory(self.threads or calls[2], calls, _native_pools())
