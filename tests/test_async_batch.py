"""Session.run_async (concurrent runs on one session) and Session.run_batch (stacked or not)."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import ronn
from ronn_core.errors import InputShapeError, InputTypeError, MissingInputError


def mlp(batch_dim="N", out_batch_dim="N") -> onnx.ModelProto:
    """x[batch, 8] -> Relu(x @ W1 + b1) @ W2 -> y[batch, 4]; plus a per-row sum output."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((8, 16)).astype(np.float32), "W1"),
             numpy_helper.from_array(rng.standard_normal(16).astype(np.float32), "b1"),
             numpy_helper.from_array(rng.standard_normal((16, 4)).astype(np.float32), "W2"),
             numpy_helper.from_array(np.array([1], dtype=np.int64), "axes")]
    nodes = [helper.make_node("MatMul", ["x", "W1"], ["h"]),
             helper.make_node("Add", ["h", "b1"], ["hb"]),
             helper.make_node("Relu", ["hb"], ["r"]),
             helper.make_node("MatMul", ["r", "W2"], ["y"]),
             helper.make_node("ReduceSum", ["y", "axes"], ["s"], keepdims=0)]
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch_dim, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [out_batch_dim, 4]),
         helper.make_tensor_value_info("s", TensorProto.FLOAT, [out_batch_dim])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def session_of(model: onnx.ModelProto):
    return ronn.Model.load(model.SerializeToString()).create_session(providers=["cpu"])


def reference(model: onnx.ModelProto):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def counting_runs(monkeypatch, session) -> list[int]:
    """Record the dim-0 size of every plan run of ``session``."""
    seen: list[int] = []
    real = session.plan.run

    def run(feeds, *args, **kwargs):
        seen.append(feeds["x"].shape[0])
        return real(feeds, *args, **kwargs)
    monkeypatch.setattr(session.plan, "run", run)
    return seen


def test_many_concurrent_run_async_match_sequential_runs():
    """200 runs in flight on 8 threads: bitwise the sequential results, and onnxruntime's."""
    model = mlp()
    session = session_of(model)
    rng = np.random.default_rng(1)
    feeds = [{"x": rng.standard_normal((1 + i % 5, 8)).astype(np.float32)} for i in range(200)]
    sequential = [session.run(f) for f in feeds]

    async def all_at_once(pool):
        return await asyncio.gather(*(session.run_async(f, executor=pool) for f in feeds))
    with ThreadPoolExecutor(8) as pool:
        concurrent = asyncio.run(all_at_once(pool))
    ref = reference(model)
    for f, seq, con in zip(feeds, sequential, concurrent):
        assert seq.keys() == con.keys() == {"y", "s"}
        for name in seq:
            np.testing.assert_array_equal(seq[name], con[name])
        want_y, want_s = ref.run(None, f)
        np.testing.assert_allclose(con["y"], want_y, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(con["s"], want_s, rtol=1e-5, atol=1e-4)
    session.close()


def test_run_async_uses_the_executor_given_and_propagates_errors(monkeypatch):
    import threading
    session = session_of(mlp())
    threads: list[str] = []
    real = session.plan.run

    def run(*args, **kwargs):
        threads.append(threading.current_thread().name)
        return real(*args, **kwargs)
    monkeypatch.setattr(session.plan, "run", run)
    x = np.ones((2, 8), np.float32)

    async def go(pool):
        out = await session.run_async({"x": x}, ["y"], executor=pool)
        with pytest.raises(InputTypeError, match="float64"):
            await session.run_async({"x": x.astype(np.float64)}, executor=pool)
        await session.run_async({"x": x})               # the session's own pool
        return out
    with ThreadPoolExecutor(2, thread_name_prefix="mine") as pool:
        out = asyncio.run(go(pool))
    assert list(out) == ["y"] and out["y"].shape == (2, 4)
    assert threads[0].startswith("mine") and threads[1].startswith("ronn-session")
    session.close()
    assert session._executor is None


def test_run_batch_stacks_when_every_first_dim_is_symbolic(monkeypatch):
    model = mlp()
    session = session_of(model)
    assert session.batch_blocker is None
    seen = counting_runs(monkeypatch, session)
    rng = np.random.default_rng(2)
    feeds = [{"x": rng.standard_normal((rows, 8)).astype(np.float32)} for rows in (1, 3, 1, 2)]
    results = session.run_batch(feeds)
    assert seen == [7]                                  # one stacked run of 1+3+1+2 rows
    ref = reference(model)
    for f, got in zip(feeds, results):
        want_y, want_s = ref.run(None, f)
        assert got["y"].shape == want_y.shape and got["s"].shape == want_s.shape
        np.testing.assert_allclose(got["y"], want_y, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(got["s"], want_s, rtol=1e-5, atol=1e-4)


def test_run_batch_runs_one_by_one_when_the_batch_dim_is_static(monkeypatch):
    model = mlp(batch_dim=2, out_batch_dim=2)
    session = session_of(model)
    assert "static first dim 2" in session.batch_blocker
    seen = counting_runs(monkeypatch, session)
    rng = np.random.default_rng(3)
    feeds = [{"x": rng.standard_normal((2, 8)).astype(np.float32)} for _ in range(3)]
    results = session.run_batch(feeds, ["y"])
    assert seen == [2, 2, 2]
    ref = reference(model)
    for f, got in zip(feeds, results):
        assert list(got) == ["y"]
        np.testing.assert_allclose(got["y"], ref.run(["y"], f)[0], rtol=1e-5, atol=1e-5)


def test_run_batch_single_output_with_static_dim_blocks_stacking():
    session = session_of(mlp(batch_dim="N", out_batch_dim=None))
    assert session.batch_blocker is None                  # unknown dims don't block
    session = session_of(mlp(batch_dim="N", out_batch_dim=5))
    assert "output 'y' has a static first dim 5" in session.batch_blocker


def test_run_batch_rejects_inconsistent_feeds():
    session = session_of(mlp())
    x = np.ones((1, 8), np.float32)
    with pytest.raises(InputTypeError, match=r"request 1: input 'x' expects tensor\(float\)"):
        session.run_batch([{"x": x}, {"x": x.astype(np.int64)}])
    with pytest.raises(InputShapeError, match=r"request 2: .*expects dim 1 = 8"):
        session.run_batch([{"x": x}, {"x": x}, {"x": np.ones((1, 9), np.float32)}])
    with pytest.raises(MissingInputError, match="request 1: missing input"):
        session.run_batch([{"x": x}, {}])


def test_stack_feeds_names_the_request_that_differs():
    from ronn_core.batch import stack_feeds
    a = {"a": np.ones((2, 3), np.float32), "b": np.ones((2,), np.int64)}
    with pytest.raises(InputShapeError, match=r"request 1: input 'a' has shape \[1, 4\], "
                                              r"request 0 has \[2, 3\]"):
        stack_feeds([a, {"a": np.ones((1, 4), np.float32), "b": np.ones((1,), np.int64)}])
    with pytest.raises(InputShapeError, match="inputs disagree on the batch dim"):
        stack_feeds([a, {"a": np.ones((1, 3), np.float32), "b": np.ones((3,), np.int64)}])
    with pytest.raises(MissingInputError, match=r"missing \['b'\]"):
        stack_feeds([a, {"a": np.ones((1, 3), np.float32)}])
    stacked, sizes = stack_feeds([a, {"a": np.zeros((3, 3), np.float32),
                                      "b": np.zeros((3,), np.int64)}])
    assert sizes == [2, 3] and stacked["a"].shape == (5, 3) and stacked["b"].shape == (5,)


def test_run_batch_falls_back_when_a_run_mixes_rows():
    """An output declared [N, 8] that really sums over the rows: caught, then one by one."""
    graph = helper.make_graph(
        [helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=1)], "mix",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8])],
        [numpy_helper.from_array(np.array([0], np.int64), "axes")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    session = session_of(model)
    assert session.batch_blocker is None
    feeds = [{"x": np.full((2, 8), i, np.float32)} for i in (1, 2, 3)]
    with pytest.warns(UserWarning, match="running requests one by one"):
        results = session.run_batch(feeds)
    assert [r["y"][0, 0] for r in results] == [2.0, 4.0, 6.0]
    assert "expected dim 0 = 6" in session.batch_blocker
