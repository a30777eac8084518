"""blas.gemm_into: numpy's OpenBLAS called directly, for C += A @ B over strided views."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ronn_cpu.kernels import blas


def test_the_cblas_symbols_of_numpys_own_openblas_are_used():
    """Not another loaded copy (numba loads scipy's): its thread pool would fight numpy's."""
    import importlib.util
    if importlib.util.find_spec("scipy") is not None:
        import scipy.linalg.cython_blas  # noqa: F401  (a second OpenBLAS, loaded first)
    lib = blas._numpy_openblas()
    config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    assert lib is not None and lib.version == config["version"]
    assert ("64" in lib._symbol_suffix) == ("USE64BITINT" in config["openblas configuration"])
    assert blas._gemm_symbol(np.dtype(np.float32)) is not None
    assert blas._gemm_symbol(np.dtype(np.float64)) is not None


@settings(max_examples=60, deadline=None)
@given(m=st.integers(1, 9), k=st.integers(1, 9), n=st.integers(1, 9), pad=st.integers(0, 5),
       accumulate=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 99))
def test_gemm_into_strided_views_matches_numpy(m, k, n, pad, accumulate, dtype, seed):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((m, k)).astype(dtype)
    big_b = rng.standard_normal((k, n + pad + 2)).astype(dtype)
    b = big_b[:, 2:2 + n]                                  # rows strided, columns contiguous
    big_c = rng.standard_normal((m, n + pad)).astype(dtype)
    c = big_c[:, :n]
    before = big_c.copy()
    want = (c + a @ b) if accumulate else a @ b
    blas.gemm_into(a, b, c, accumulate)
    np.testing.assert_allclose(c, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(big_c[:, n:], before[:, n:])   # nothing past the view


def test_gemm_into_falls_back_to_numpy_for_non_unit_column_strides():
    a = np.ones((2, 3), np.float32)
    b = np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2]
    c = np.ones((2, 2), np.float32)
    blas.gemm_into(a, b, c, accumulate=True)
    np.testing.assert_array_equal(c, 1 + a @ b)


def test_gemm_into_refuses_mismatched_operands():
    with pytest.raises(ValueError, match=r"float32\[2, 3\] @ float32\[4, 2\]"):
        blas.gemm_into(np.ones((2, 3), np.float32), np.ones((4, 2), np.float32),
                       np.ones((2, 2), np.float32), accumulate=False)
    with pytest.raises(ValueError, match="float64"):
        blas.gemm_into(np.ones((2, 3), np.float32), np.ones((3, 2), np.float64),
                       np.ones((2, 2), np.float32), accumulate=False)
