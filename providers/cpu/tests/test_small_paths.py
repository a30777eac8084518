"""The per-call fast paths of small models: the tiny-conv gather, small_gemm, ReduceMean/ReduceSum
over constant axes, the skipped thread limit, and the streaming zoo models against onnxruntime."""

import numba
import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper, numpy_helper

import ronn
from ronn.zoo_builders import streaming_conv1d, streaming_mlp
from ronn_cpu import CPUExecutionProvider
from ronn_cpu.kernels import activations, blas, conv, conv_loops, gemm
from ronn_cpu.provider import ThreadLimit
from cpu_harness import REFERENCE


def assert_fast_matches_reference(model, x, kernel="_build_reduce.<locals>.run"):
    data = model.SerializeToString()
    fast = ronn.Model.load(data).create_session(optimization_level="O0")
    assert fast.plan.steps[0].fn.__qualname__ == kernel, "the fast kernel did not run"
    slow = ronn.Model.load(data).create_session(optimization_level="O0", runtime=REFERENCE)
    got, want = fast.run({"x": x})["y"], slow.run({"x": x})["y"]
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_gather_index_reads_padding_as_zero_and_the_bias_row_as_one():
    # c=1, h=1, w=3, kernel 1x3, pad 1 each side: columns are [pad x0 x1], [x0 x1 x2], [x1 x2 pad]
    index = conv.gather_index(1, 1, 3, 1, 3, 1, 1, 1, 1, 0, 1, 1, 3)
    assert index.tolist() == [[conv.PAD, 0, 1], [0, 1, 2], [1, 2, conv.PAD],
                              [conv.ONE] * 3]
    cols = np.empty((1, *index.shape), np.float32)
    conv_loops.gather_columns(np.array([[5, 6, 7]], np.float32), index, cols)
    assert cols[0].tolist() == [[0, 5, 6], [5, 6, 7], [6, 7, 0], [1, 1, 1]]


def test_streaming_conv1d_takes_the_gather_path_and_matches_onnxruntime(monkeypatch):
    calls = []
    real = conv.gather_product
    monkeypatch.setattr(conv, "gather_product", lambda *a: (calls.append(1), real(*a))[1])
    model = streaming_conv1d()
    session = ronn.Model.load(model.SerializeToString()).create_session(threads=1)
    x = np.random.default_rng(0).standard_normal((1, 8, 16)).astype(np.float32)
    got = session.run({"x": x})["y"]
    assert len(calls) == 3                      # every Conv of the stack
    want = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 3), c=st.integers(1, 6), m=st.integers(1, 9), length=st.integers(3, 20),
       code=st.sampled_from([activations.NONE, activations.RELU, activations.LEAKY_RELU,
                             activations.SIGMOID, activations.TANH]),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 999))
def test_gather_product_matches_gather_then_numpy(n, c, m, length, code, dtype, seed):
    """The one-call tiny conv (BLAS by address) against the gather, np.matmul and the epilogue
    (the path taken where no address is known)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, 1, length)).astype(dtype)
    index = conv.gather_index(c, 1, length, 1, 3, 1, 1, 1, 1, 0, 1, 1, length)
    weights = rng.standard_normal((m, index.shape[0])).astype(dtype)
    args = (x, index, index.shape, weights, (m, length), code, 0.1, 0.0,
            activations.no_bias(dtype))
    gemm_address = blas.address("gemm", dtype)
    assert gemm_address, "numpy's OpenBLAS gemm was not found"
    got = conv._gather_conv(*args, gemm_address)
    want = conv._gather_conv(*args, 0)
    assert got.dtype == want.dtype == dtype and got.shape == want.shape == (n, m, length)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_streaming_mlp_matches_onnxruntime():
    model = streaming_mlp()
    session = ronn.Model.load(model.SerializeToString()).create_session(threads=1)
    x = np.random.default_rng(1).standard_normal((1, 64)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString(),
                                providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    for _ in range(3):                          # repeated calls take the cached fast paths
        np.testing.assert_allclose(session.run({"x": x})["y"], want, rtol=1e-5, atol=1e-6)


def reduce_model(op, shape, axes, keepdims, opset):
    inputs, inits, attrs = ["x"], [], {"keepdims": keepdims}
    if opset >= (13 if op == "ReduceSum" else 18):
        inits.append(numpy_helper.from_array(np.array(axes, np.int64), "axes"))
        inputs.append("axes")
    else:
        attrs["axes"] = axes
    node = helper.make_node(op, inputs, ["y"], **attrs)
    graph = helper.make_graph([node], op, [helper.make_tensor_value_info("x", 1, shape)],
                              [helper.make_empty_tensor_value_info("y")], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


@settings(max_examples=50, deadline=None)
@given(op=st.sampled_from(["ReduceMean", "ReduceSum"]),
       shape=st.lists(st.integers(1, 5), min_size=1, max_size=4), data=st.data(),
       keepdims=st.sampled_from([0, 1]), opset=st.sampled_from([11, 13, 18]),
       seed=st.integers(0, 999))
def test_fast_reduce_matches_reference(op, shape, data, keepdims, opset, seed):
    axes = data.draw(st.lists(st.integers(-len(shape), len(shape) - 1), min_size=1,
                              max_size=len(shape), unique_by=lambda a: a % len(shape)))
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    assert_fast_matches_reference(reduce_model(op, shape, axes, keepdims, opset), x)


@pytest.mark.parametrize("x", [np.arange(6, dtype=np.int64).reshape(2, 3),   # integer: truncates
                               np.zeros((0, 3), np.float32)])               # empty: nan mean
def test_fast_reduce_mean_hands_integer_and_empty_inputs_to_the_reference(x):
    model = reduce_model("ReduceMean", list(x.shape), [1], 0, 13)
    model.graph.input[0].type.tensor_type.elem_type = helper.np_dtype_to_tensor_dtype(x.dtype)
    fast = ronn.Model.load(model.SerializeToString()).create_session(optimization_level="O0")
    slow = ronn.Model.load(model.SerializeToString()).create_session(optimization_level="O0",
                                                                     runtime=REFERENCE)
    with np.errstate(all="ignore"):
        got, want = fast.run({"x": x})["y"], slow.run({"x": x})["y"]
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("blas_row", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_gemm_runs_a_one_frame_gemm_with_its_activation(blas_row, dtype):
    """By BLAS's gemv per row (unit-stride rows, an address) or by its own loop."""
    rng = np.random.default_rng(3)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in ((2, 7), (7, 5), (5,)))
    gemv = gemm.address("gemv", dtype) if blas_row else 0
    assert gemv or not blas_row, "numpy's OpenBLAS gemv was not found"
    for rows in (x, np.asfortranarray(x)[:, ::1], x[:1]):
        out = np.empty((rows.shape[0], 5), dtype)
        gemm.small_gemm(gemv, rows, w, b, out, activations.RELU, 0.0, 0.0)
        np.testing.assert_allclose(out, np.maximum(rows @ w + b, 0), rtol=1e-5, atol=1e-6)
    strided = np.repeat(x, 2, axis=1)[:, ::2]                  # rows not unit-stride: the loop
    out = np.empty((2, 5), dtype)
    gemm.small_gemm(gemv, strided, w, b, out, activations.SIGMOID, 0.0, 0.0)
    np.testing.assert_allclose(out, 1 / (1 + np.exp(-(x @ w + b))), rtol=1e-5, atol=1e-6)


def test_thread_limit_is_skipped_only_while_the_limits_hold():
    from ronn_core.runtime import default_runtime
    limit = CPUExecutionProvider(default_runtime(), threads=1).run_context()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    with limit() as first:                      # BLAS and numba not at 1: set and restored
        assert isinstance(first, ThreadLimit)
        assert numba.get_num_threads() == 1
        with limit() as inner:                  # now they hold: the shared no-op context
            assert inner is not first and not isinstance(inner, ThreadLimit)
    assert numba.get_num_threads() == min(2, numba.config.NUMBA_NUM_THREADS)


def test_a_verified_thread_limit_is_checked_again_after_another_session_changes_it():
    from ronn_core.runtime import default_runtime
    one = CPUExecutionProvider(default_runtime(), threads=1).run_context()
    two = CPUExecutionProvider(default_runtime(), threads=2).run_context()
    numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
    with two():
        pass                                    # verified on this thread
    with one():                                 # changes numba (and BLAS) to 1 meanwhile
        assert numba.get_num_threads() == 1
        with two() as inner:                    # so the cached verdict must not be trusted
            if numba.config.NUMBA_NUM_THREADS > 1:
                assert isinstance(inner, ThreadLimit)
                assert numba.get_num_threads() == 2


def test_a_count_changed_outside_ronn_is_seen_within_recheck_every_runs(monkeypatch):
    from threadpoolctl import threadpool_limits
    from ronn_core.runtime import default_runtime
    from ronn_cpu import provider
    monkeypatch.setattr(provider, "RECHECK_EVERY", 3)
    limit = CPUExecutionProvider(default_runtime(), threads=1).run_context()
    before = numba.get_num_threads()
    with threadpool_limits(1):
        numba.set_num_threads(1)
        assert not isinstance(limit(), ThreadLimit)     # every limit holds: verified
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))   # outside RONN
        seen = [isinstance(limit(), ThreadLimit) for _ in range(5)]
    numba.set_num_threads(before)
    if numba.config.NUMBA_NUM_THREADS > 1:
        assert seen[:3] == [False] * 3 and seen[-1]     # trusted 3 runs, then checked
