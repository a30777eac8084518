"""The cpu provider's per-run thread limit."""

import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import ronn
from ronn_cpu.kernels import blas
from ronn_cpu.openblas import numpy_openblas
from ronn_cpu.provider import CPUExecutionProvider


def blas_threads() -> int:
    """numpy's OpenBLAS (numba may have loaded scipy's copy too, which RONN never calls)."""
    return numpy_openblas().get_num_threads()


@pytest.mark.parametrize("threads", [1, 2, None])
def test_run_context_sets_numba_threads_holds_blas_for_big_products_and_restores(threads):
    """numba gets the run's threads (all of them without a limit). BLAS is left alone until a
    product big enough for OpenBLAS to thread; then it runs one thread per call (on numba's
    threads, kernels/blas.py) until the run ends."""
    from ronn_core.runtime import default_runtime
    provider = CPUExecutionProvider(default_runtime(), threads=threads)
    with threadpool_limits(2, user_api="blas"):     # OpenBLAS threaded, whatever the machine
        check_hold(provider, threads)


def check_hold(provider, threads):
    before_blas, before_numba = blas_threads(), numba.get_num_threads()
    assert before_blas == 2
    small, big = np.ones((4, 4), np.float32), np.ones((256, 256), np.float32)
    with provider.run_context()():
        assert numba.get_num_threads() == min(threads or numba.config.NUMBA_NUM_THREADS,
                                              numba.config.NUMBA_NUM_THREADS)
        blas.matmul(small, small, np.empty_like(small))
        assert blas_threads() == before_blas
        blas.matmul(big, big, np.empty_like(big))
        assert blas_threads() == 1
    assert (blas_threads(), numba.get_num_threads()) == (before_blas, before_numba)


def test_outside_a_run_blas_is_never_held():
    big = np.ones((256, 256), np.float32)
    before = blas_threads()
    blas.matmul(big, big, np.empty_like(big))
    assert blas_threads() == before


def test_a_session_with_threads_gives_the_same_result_as_one_without():
    from ronn.zoo import light_model, random_inputs
    data = light_model("squeezenet", seed=0).SerializeToString()
    limited = ronn.Model.load(data).create_session(threads=1)
    free = ronn.Model.load(data).create_session()
    feeds = random_inputs(limited.inputs, seed=0)
    for (name, got), want in zip(limited.run(feeds).items(), free.run(feeds).values()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)
