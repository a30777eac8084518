"""The fast pooling paths (flat stride-1 planes, one-window planes, strided rows, parallel
chunks) give the reference kernel's results, NaNs and float64 included (hypothesis)."""

from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ronn_cpu.kernels import activations, pool
from cpu_harness import one_node
from test_fast_kernels import assert_fast_matches_reference


@st.composite
def pool_cases(draw):
    op = draw(st.sampled_from(["MaxPool", "AveragePool"]))
    one_d = draw(st.booleans())
    nd = 1 if one_d else 2
    k = [draw(st.integers(1, 4)) for _ in range(nd)]
    s = [draw(st.sampled_from([1, 1, 2, 3])) for _ in range(nd)]
    d = [draw(st.integers(1, 2)) if op == "MaxPool" else 1 for _ in range(nd)]
    size = [max(draw(st.integers(1, 13)), (kk - 1) * dd + 1) for kk, dd in zip(k, d)]
    attrs = {"kernel_shape": k, "strides": s, "ceil_mode": draw(st.sampled_from([0, 1]))}
    if op == "MaxPool":
        attrs["dilations"] = d
    else:
        attrs["count_include_pad"] = draw(st.sampled_from([0, 1]))
    auto_pad = draw(st.sampled_from(["NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"]))
    if auto_pad == "NOTSET":
        attrs["pads"] = [draw(st.integers(0, kk - 1)) for kk in k + k]
    else:
        attrs["auto_pad"] = auto_pad
        attrs.pop("dilations", None)
        if auto_pad != "VALID":
            size = [max(n, kk) for n, kk in zip(size, k)]
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 4)), *size)
    x = np.random.default_rng(draw(st.integers(0, 999))).standard_normal(shape).astype(dtype)
    nans = draw(st.integers(0, 3))
    for flat in draw(st.lists(st.integers(0, x.size - 1), min_size=nans, max_size=nans)):
        x.flat[flat] = np.nan
    return op, attrs, x


def check(op, attrs, x):
    exact = op == "MaxPool"
    assert_fast_matches_reference(one_node(op, x, attrs, opset=19), x,
                                  rtol=0 if exact else 1e-5, atol=0 if exact else 1e-6)


@settings(max_examples=100, deadline=None)
@given(pool_cases(), st.booleans())
def test_pool_paths_match_reference(case, planes):
    """Row by row, or (``planes``) over padded phase planes (pool_planes.py)."""
    with patch.object(pool, "PLANES_MAX_PIXELS", 1 << 30 if planes else 0):
        check(*case)


@settings(max_examples=30, deadline=None)
@given(pool_cases(), st.booleans())
def test_pool_parallel_chunks_match_reference(case, planes):
    with patch.object(activations, "PARALLEL_MIN", 1), \
            patch.object(pool, "PLANES_MAX_PIXELS", 1 << 30 if planes else 0):
        check(*case)


@pytest.mark.parametrize("op,attrs,shape", [
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]},
     (1, 3, 112, 112)),
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}, (1, 5, 56, 56)),
    ("AveragePool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, (1, 6, 28, 28)),
    ("MaxPool", {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}, (1, 6, 14, 14)),
    ("AveragePool", {"kernel_shape": [7, 7]}, (1, 8, 7, 7)),
    ("MaxPool", {"kernel_shape": [7, 7]}, (1, 8, 7, 7)),
    ("MaxPool", {"kernel_shape": [2, 2], "strides": [2, 2]}, (1, 4, 56, 56))])
@pytest.mark.parametrize("planes", [False, True])
def test_model_shaped_pools_match_reference_with_nans(op, attrs, shape, planes):
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    x[0, 0, 0, 0] = x[0, 1, 5, 6] = x[0, -1, -1, -1] = np.nan
    with patch.object(pool, "PLANES_MAX_PIXELS", 1 << 30 if planes else 0):
        check(op, attrs, x)


@settings(max_examples=40, deadline=None)
@given(one_d=st.booleans(), h=st.integers(1, 9), w=st.integers(1, 9), c=st.integers(1, 70),
       n=st.integers(1, 2), ceil_mode=st.sampled_from([0, 1]),
       include_pad=st.sampled_from([0, 1]), dtype=st.sampled_from([np.float32, np.float64]),
       seed=st.integers(0, 999))
def test_one_window_over_the_whole_map_takes_the_global_average(one_d, h, w, c, n, ceil_mode,
                                                                 include_pad, dtype, seed):
    """An AveragePool whose unpadded window is the whole map (before a classifier) runs
    GlobalAveragePool's loop, serial or parallel, NaNs included."""
    shape = (n, c, w) if one_d else (n, c, h, w)
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype) * 5
    x.flat[seed % x.size] = np.nan if seed % 3 == 0 else x.flat[seed % x.size]
    attrs = {"kernel_shape": list(shape[2:]), "ceil_mode": ceil_mode,
             "count_include_pad": include_pad}
    calls = []
    loops = {name: getattr(pool, name) for name in ("_global_average_serial",
                                                    "_global_average_parallel")}
    with patch.object(activations, "PARALLEL_MIN", 1 if seed % 2 else 1 << 30), \
            patch.object(pool, "_global_average_serial",
                         lambda *a: (calls.append(1), loops["_global_average_serial"](*a))), \
            patch.object(pool, "_global_average_parallel",
                         lambda *a: (calls.append(2), loops["_global_average_parallel"](*a))):
        check("AveragePool", attrs, x)
    assert calls, "the whole-map window did not take the global average"


def test_a_whole_map_window_over_padding_keeps_the_window_loop():
    x = np.random.default_rng(0).standard_normal((1, 3, 5, 5)).astype(np.float32)
    attrs = {"kernel_shape": [5, 5], "pads": [1, 1, 1, 1], "count_include_pad": 1}
    with patch.object(pool, "_global_average_serial", None), \
            patch.object(pool, "_global_average_parallel", None):
        check("AveragePool", attrs, x)          # 3x3 outputs, padding counted: the windows


@settings(max_examples=60, deadline=None)
@given(h=st.integers(1, 12), w=st.integers(1, 12), c=st.integers(1, 40), n=st.integers(1, 2),
       pads=st.tuples(*[st.integers(0, 2)] * 4), ceil_mode=st.sampled_from([0, 1]),
       auto_pad=st.sampled_from(["NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"]),
       dtype=st.sampled_from([np.float32, np.float64]), parallel=st.booleans(),
       seed=st.integers(0, 999))
def test_max_pool_3x3_stride_2_takes_its_two_pass_loop(h, w, c, n, pads, ceil_mode, auto_pad,
                                                       dtype, parallel, seed):
    """pool_max3 against the reference: any padding, ceil mode, auto_pad, NaNs, serial or
    parallel, with the path asserted."""
    attrs = {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": ceil_mode}
    if auto_pad == "NOTSET":
        attrs["pads"] = list(pads)
    else:
        attrs["auto_pad"] = auto_pad
    if auto_pad in ("NOTSET", "VALID"):
        h, w = max(h, 3 - pads[0] - pads[2] if auto_pad == "NOTSET" else 3), \
            max(w, 3 - pads[1] - pads[3] if auto_pad == "NOTSET" else 3)
    x = np.random.default_rng(seed).standard_normal((n, c, h, w)).astype(dtype)
    for flat in np.random.default_rng(seed + 1).integers(0, x.size, seed % 4):
        x.flat[flat] = np.nan
    calls = []
    loops = {name: getattr(pool, name) for name in ("max3s2_serial", "max3s2_parallel")}
    with patch.object(activations, "PARALLEL_MIN", 1 if parallel else 1 << 30), \
            patch.object(pool, "max3s2_serial",
                         lambda *a: (calls.append(1), loops["max3s2_serial"](*a))), \
            patch.object(pool, "max3s2_parallel",
                         lambda *a: (calls.append(2), loops["max3s2_parallel"](*a))):
        check("MaxPool", attrs, x)
    assert calls and set(calls) == {2 if parallel and n * c > 1 else 1}


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 9), w=st.integers(1, 9), c=st.integers(1, 70), n=st.integers(1, 2),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 999))
def test_a_max_pool_over_the_whole_map_reduces_each_plane_not_phase_planes(h, w, c, n, dtype,
                                                                          seed):
    x = np.random.default_rng(seed).standard_normal((n, c, h, w)).astype(dtype)
    x.flat[seed % x.size] = np.nan if seed % 3 == 0 else x.flat[seed % x.size]
    with patch.object(pool, "pool_over_planes", None):       # the phase planes never run
        check("MaxPool", {"kernel_shape": [h, w]}, x)
