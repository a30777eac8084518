"""GEMMs with weights packed once for OpenBLAS's own kernel (prepacked.py): products against
numpy over random shapes (hypothesis), the rule that picks them, lazy packing, and convs that
take them. On a CPU whose kernels were not validated the packed path must be absent and the
convs still right; those tests assert that instead."""

import ctypes
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ronn_cpu.kernels import activations, conv_direct, prepacked
from ronn_cpu.openblas import numpy_openblas
from cpu_harness import one_node
from test_fast_kernels import assert_fast_matches_reference


def corename() -> str:
    fn = numpy_openblas()._get_symbol("openblas_get_corename")
    fn.restype = ctypes.c_char_p
    return fn().decode()


AVAILABLE = prepacked.routines() is not None


def test_the_packed_kernel_is_found_exactly_on_the_validated_cores():
    assert AVAILABLE == (corename() in prepacked.CORES)
    w = np.ones((64, 8), np.float32)
    assert (prepacked.pack(w) is not None) == AVAILABLE
    assert prepacked.Lazy(w).packable == AVAILABLE
    assert prepacked.pack(w.astype(np.float64)) is None          # float32 only
    assert not prepacked.Lazy(w.astype(np.float64)).packable


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 80), depth=st.integers(1, 900), columns=st.integers(1, 600),
       batch=st.sampled_from([1, 1, 2, 3, 16]), threads=st.sampled_from([1, 2]),
       wide=st.booleans(), seed=st.integers(0, 999))
def test_packed_products_match_numpy(rows, depth, columns, batch, threads, wide, seed):
    """Any shape, several depth blocks (> 384) and column blocks (> 448), row remainders,
    rows of ``out`` inside wider rows; split by weight rows or whole products per thread."""
    if not AVAILABLE:
        assert prepacked.pack(np.ones((rows, depth), np.float32)) is None
        return
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((batch, rows, depth)).astype(np.float32)
    x = rng.standard_normal((batch, depth, columns)).astype(np.float32)
    pw = prepacked.pack(w if batch > 1 else w[0])
    want = np.matmul(w, x)
    with patch.object(prepacked, "threads", lambda: threads):
        if batch > 1:
            out = np.full((batch, rows, columns), np.nan, np.float32)
            assert prepacked.matmul_packed(pw, x, out)
            np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-3)
        else:
            store = np.full((rows, columns + (5 if wide else 0)), 7.0, np.float32)
            out = store[:, :columns]
            assert prepacked.matmul_packed(pw, x[0], out)
            np.testing.assert_allclose(out, want[0], rtol=1e-4, atol=1e-3)
            assert (store[:, columns:] == 7.0).all()               # nothing past its rows


def test_operands_it_cannot_take_are_refused_untouched():
    pw = prepacked.pack(np.ones((64, 8), np.float32))
    if not AVAILABLE:
        assert pw is None
        return
    out = np.zeros((64, 5), np.float32)
    for x in (np.ones((8, 10), np.float32)[:, ::2],                # strided columns
              np.ones((8, 5), np.float64),                         # another dtype
              np.ones((9, 5), np.float32)):                        # another depth
        assert not prepacked.matmul_packed(pw, x, out)
    assert (out == 0).all()


def test_the_rule_picks_narrow_products_with_many_weights():
    with patch.object(prepacked, "threads", lambda: 2):
        assert prepacked.pays(2048, 512, 49)                       # ResNet's last 1x1 convs
        assert not prepacked.pays(64, 256, 49)                     # 32 rows a thread
        assert not prepacked.pays(256, 64, 3136)                   # wide: cblas's packing pays
        assert prepacked.pays(512, 128, 784)
        assert prepacked.pays(512, 512, 16, batch=16)              # Winograd at 7x7
        assert not prepacked.pays(32, 128, 16, batch=16)           # small matrices
        assert not prepacked.pays(512, 512, 2000, batch=16)        # wide
    with patch.object(prepacked, "threads", lambda: 32):
        assert not prepacked.pays(512, 512, 16, batch=16)          # a batch short of threads
        assert not prepacked.pays(1024, 512, 49)                   # 32 rows a thread


def test_lazy_weights_are_packed_once_and_only_when_a_product_pays():
    w = np.random.default_rng(0).standard_normal((256, 64)).astype(np.float32)
    lazy = prepacked.Lazy(w)
    wide = np.ones((64, 3136), np.float32)
    out = np.empty((256, 3136), np.float32)
    assert not lazy.product(wide, out)
    lazy.matmul(wide, out)                                          # BLAS
    np.testing.assert_allclose(out, w @ wide, rtol=1e-4, atol=1e-4)
    assert lazy._packed is (None if AVAILABLE else False)          # no second copy kept
    x = np.random.default_rng(1).standard_normal((64, 49)).astype(np.float32)
    out = np.empty((256, 49), np.float32)
    with patch.object(prepacked, "threads", lambda: 2):
        assert lazy.product(x, out) == AVAILABLE
        packed = lazy._packed
        lazy.matmul(x, out)
        assert lazy._packed is packed                               # packed once
    np.testing.assert_allclose(out, w @ x, rtol=1e-4, atol=1e-4)


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 70), depth=st.integers(1, 900), batch=st.sampled_from([1, 2, 16]),
       seed=st.integers(0, 999))
def test_unpack_restores_the_packed_weights_bit_for_bit(rows, depth, batch, seed):
    """Any shape: row remainders, several depth blocks; NaN, infinities and -0.0 survive."""
    if not AVAILABLE:
        return
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((batch, rows, depth)).astype(np.float32)
    w.flat[rng.integers(0, w.size, 3)] = [np.nan, -np.inf, -0.0]
    restored = prepacked.unpack(prepacked.pack(w))
    np.testing.assert_array_equal(restored.view(np.int32), w.view(np.int32))


def test_weights_are_let_go_once_packed_and_unpacked_when_needed():
    """Winograd's U: dropped after packing; a product the packed kernel does not take (too
    wide) unpacks the weights again, exactly."""
    from ronn_cpu.kernels import winograd
    rng = np.random.default_rng(2)
    w = rng.standard_normal((256, 192, 3, 3)).astype(np.float32)
    weights = winograd.weights(w)
    u = winograd.transform_weights(w)
    if not AVAILABLE:
        assert not weights.packable and weights.held
        return
    narrow = rng.standard_normal((16, 192, 16)).astype(np.float32)
    out = np.empty((16, 256, 16), np.float32)
    with patch.object(prepacked, "threads", lambda: 2):
        weights.matmul(narrow, out)
        assert weights._packed and not weights.held                        # U let go
        np.testing.assert_allclose(out, np.matmul(u, narrow), rtol=1e-4, atol=1e-3)
        wide = rng.standard_normal((16, 192, 2000)).astype(np.float32)
        out = np.empty((16, 256, 2000), np.float32)
        weights.matmul(wide, out)                                          # BLAS, U again
    assert weights.held
    np.testing.assert_allclose(out, np.matmul(u, wide), rtol=1e-4, atol=1e-3)
    np.testing.assert_array_equal(weights.array(), u)


@pytest.mark.parametrize("kernel,channels,out_channels,size", [(1, 256, 512, 7),
                                                                (3, 192, 256, 7)])
def test_convs_on_small_maps_take_the_packed_weights_and_match_the_reference(
        kernel, channels, out_channels, size):
    """A 1x1 conv (one product) and a 3x3 one (Winograd's 16) on a 7x7 map, at 2 threads."""
    rng = np.random.default_rng(kernel)
    x = rng.standard_normal((2, channels, size, size)).astype(np.float32)
    w = (rng.standard_normal((out_channels, channels, kernel, kernel)) * 0.1).astype(np.float32)
    calls = []
    real = prepacked.Lazy.product

    def spy(self, *args):
        done = real(self, *args)
        calls.append(done)
        return done
    with patch.object(prepacked.Lazy, "product", spy), \
            patch.object(activations, "PARALLEL_MIN", 1), \
            patch.object(conv_direct, "ENABLED", False):    # it would run the 1x1 one
        assert_fast_matches_reference(
            one_node("Conv", x, {"pads": [kernel // 2] * 4}, [w]), x, rtol=1e-4, atol=1e-4,
            threads=2)
    assert any(calls) == AVAILABLE
