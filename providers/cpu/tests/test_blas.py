"""blas.matmul: numpy's OpenBLAS called on numba's threads, for C (+)= A @ B over strided views."""

import ctypes
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from ronn_cpu.kernels import blas
from ronn_cpu.openblas import numpy_openblas


def test_the_cblas_symbols_of_numpys_own_openblas_are_used():
    """Not another loaded copy (numba loads scipy's): its thread pool would fight numpy's."""
    import importlib.util
    if importlib.util.find_spec("scipy") is not None:
        import scipy.linalg.cython_blas  # noqa: F401  (a second OpenBLAS, loaded first)
    lib = numpy_openblas()
    config = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    assert lib is not None and lib.version == config["version"]
    assert ("64" in lib._symbol_suffix) == ("USE64BITINT" in config["openblas configuration"])
    for routine in ("gemm", "gemv"):
        for dtype in (np.float32, np.float64):
            assert blas.address(routine, dtype) == ctypes.cast(lib._get_symbol(
                f"cblas_{'s' if dtype == np.float32 else 'd'}{routine}"), ctypes.c_void_p).value


@settings(max_examples=80, deadline=None)
@given(batch=st.sampled_from([(), (1,), (3,), (2, 2)]), m=st.sampled_from([1, 2, 7, 40]),
       k=st.integers(1, 9), n=st.sampled_from([1, 3, 16, 40]), pad=st.integers(0, 5),
       accumulate=st.booleans(), dtype=st.sampled_from([np.float32, np.float64]),
       split_small=st.booleans(), transposed=st.booleans(), seed=st.integers(0, 99))
def test_matmul_over_strided_views_matches_numpy(batch, m, k, n, pad, accumulate, dtype,
                                                 split_small, transposed, seed):
    """Serial, and (``split_small``: no serial threshold) split into row or column blocks over
    numba's threads; one row or column takes gemv; transposed operands go to BLAS as they are;
    C's columns past the view are never written."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(batch + (m, k)).astype(dtype)
    big_b = rng.standard_normal(batch + (k, n + pad + 2)).astype(dtype)
    b = big_b[..., 2:2 + n]                                # rows strided, columns contiguous
    big_c = rng.standard_normal(batch + (m, n + pad)).astype(dtype)
    c = big_c[..., :n]
    before = big_c.copy()
    want = (c + a @ b) if accumulate else a @ b
    if transposed:                                         # a and b stored transposed
        a = np.ascontiguousarray(np.swapaxes(a, -1, -2)).swapaxes(-1, -2)
        b = np.ascontiguousarray(np.swapaxes(b, -1, -2)).swapaxes(-1, -2)
    serial = blas.OPENBLAS_SERIAL_MACS
    with patch.object(blas, "OPENBLAS_SERIAL_MACS", 0 if split_small else serial):
        blas.matmul(a, b, c, accumulate)
    np.testing.assert_allclose(c, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(big_c[..., n:], before[..., n:])   # nothing past the view


@pytest.mark.parametrize("m, n", [(300, 20), (20, 300), (7, 1000)])
def test_matmul_blocks_cover_every_row_and_column(m, n):
    """Row blocks (many rows) and 16-aligned column blocks (few rows) tile the whole output."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((m, 64)), rng.standard_normal((64, n))
    c = np.full((m, n), np.nan)
    with patch.object(blas, "OPENBLAS_SERIAL_MACS", 0):
        parts, by_rows = blas.split(m, n, 1, m * n * 64, blas.threads())
        blas.matmul(a, b, c)
    assert by_rows == (m >= n) or parts == 1
    np.testing.assert_allclose(c, a @ b, rtol=1e-10)


def test_matmul_over_head_views_whose_batch_axes_do_not_merge():
    """(B, H, S, D) views of a (B, S, H, D) buffer, as attention makes them."""
    rng = np.random.default_rng(1)
    q = rng.standard_normal((2, 70, 4, 16)).astype(np.float32).transpose(0, 2, 1, 3)
    k = rng.standard_normal((2, 70, 4, 16)).astype(np.float32).transpose(0, 2, 3, 1)
    out = np.empty((2, 70, 4, 70), np.float32).transpose(0, 2, 1, 3)
    with patch.object(blas, "OPENBLAS_SERIAL_MACS", 0):
        blas.matmul(q, k, out)
    np.testing.assert_allclose(out, q @ k, rtol=1e-5, atol=1e-5)


def test_matmul_falls_back_to_numpy_for_non_unit_column_strides():
    a = np.ones((2, 3), np.float32)
    b = np.arange(12, dtype=np.float32).reshape(3, 4)[:, ::2]
    c = np.ones((2, 2), np.float32)
    blas.matmul(a, b, c, accumulate=True)
    np.testing.assert_array_equal(c, 1 + a @ b)


def test_matmul_refuses_mismatched_operands_as_numpy_does():
    with pytest.raises(ValueError, match="mismatch"):
        blas.matmul(np.ones((2, 3), np.float32), np.ones((4, 2), np.float32),
                    np.ones((2, 2), np.float32))
