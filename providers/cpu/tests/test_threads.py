"""The cpu provider's per-run thread limit."""

import numba
import numpy as np
import pytest
from threadpoolctl import ThreadpoolController

import ronn
from ronn_cpu.provider import CPUExecutionProvider


def blas_threads() -> int:
    return ThreadpoolController().select(internal_api="openblas").lib_controllers[0] \
        .get_num_threads()


@pytest.mark.parametrize("threads", [1, 2, None])
def test_run_context_puts_numba_on_the_threads_and_blas_on_one_and_restores_them(threads):
    """BLAS runs each product on one thread, called from numba's pool (kernels/blas.py);
    without a limit numba gets all of its threads."""
    from ronn_core.runtime import default_runtime
    provider = CPUExecutionProvider(default_runtime(), threads=threads)
    before_blas, before_numba = blas_threads(), numba.get_num_threads()
    with provider.run_context()():
        assert blas_threads() == 1
        assert numba.get_num_threads() == min(threads or numba.config.NUMBA_NUM_THREADS,
                                              numba.config.NUMBA_NUM_THREADS)
    assert (blas_threads(), numba.get_num_threads()) == (before_blas, before_numba)


def test_a_session_with_threads_gives_the_same_result_as_one_without():
    from ronn.zoo import light_model, random_inputs
    data = light_model("squeezenet", seed=0).SerializeToString()
    limited = ronn.Model.load(data).create_session(threads=1)
    free = ronn.Model.load(data).create_session()
    feeds = random_inputs(limited.inputs, seed=0)
    for (name, got), want in zip(limited.run(feeds).items(), free.run(feeds).values()):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=name)
