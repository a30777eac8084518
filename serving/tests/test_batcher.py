"""The dynamic batcher on its own: grouping, slicing back, backpressure, isolation, draining."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import ronn
from ronn_core.errors import InputTypeError, OverloadedError
from ronn_serve.batcher import DynamicBatcher
from ronn_serve.errors import ShuttingDownError
from ronn_serve.testing import build_mlp


@pytest.fixture(scope="module")
def session():
    return ronn.Model.load(build_mlp(8, 16).SerializeToString()).create_session(providers=["cpu"])


def recording(session, sizes: list[int], gate: threading.Event | None = None):
    def run_batch(feeds_list):
        if gate is not None:
            gate.wait(10)
        sizes.append(sum(f["x"].shape[0] for f in feeds_list))
        return session.run_batch(feeds_list)
    return run_batch


def test_concurrent_requests_are_batched_and_each_gets_its_own_rows(session):
    sizes: list[int] = []
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((1 + i % 2, 8)).astype(np.float32) for i in range(20)]

    async def go():
        with ThreadPoolExecutor(1) as pool:
            batcher = DynamicBatcher(recording(session, sizes), executor=pool, max_batch_size=6,
                                     timeout_ms=50, max_queue_size=64)
            results = await asyncio.gather(*(batcher.submit({"x": x}) for x in xs))
            await batcher.drain()
            return results
    results = asyncio.run(go())
    assert sum(sizes) == sum(x.shape[0] for x in xs) and max(sizes) <= 6
    assert len(sizes) < len(xs)                       # requests really were grouped
    for x, got in zip(xs, results):
        np.testing.assert_array_equal(got["y"], session.run({"x": x})["y"])


def test_a_full_queue_refuses_with_overloaded_and_drops_nothing(session):
    sizes: list[int] = []
    gate = threading.Event()

    async def go():
        with ThreadPoolExecutor(1) as pool:
            batcher = DynamicBatcher(recording(session, sizes, gate), executor=pool,
                                     max_batch_size=1, timeout_ms=0, max_queue_size=2,
                                     name="m")
            x = np.ones((1, 8), np.float32)
            first = asyncio.ensure_future(batcher.submit({"x": x}))
            await asyncio.sleep(0.05)                 # taken by the (blocked) worker
            queued = [asyncio.ensure_future(batcher.submit({"x": x})) for _ in range(2)]
            await asyncio.sleep(0.01)
            assert batcher.queue_depth == 2
            with pytest.raises(OverloadedError, match=r"model 'm' is overloaded: 2 requests "
                                                      r"already wait .*max_queue_size = 2"):
                await batcher.submit({"x": x})
            gate.set()
            done = await asyncio.gather(first, *queued)
            await batcher.drain()
            return done
    done = asyncio.run(go())
    assert len(done) == 3 and all(d["y"].shape == (1, 10) for d in done)
    assert sizes == [1, 1, 1]


def test_a_bad_request_fails_alone_not_its_batch(session):
    async def go():
        with ThreadPoolExecutor(1) as pool:
            batcher = DynamicBatcher(session.run_batch, executor=pool, max_batch_size=8,
                                     timeout_ms=30, max_queue_size=8)
            good = np.ones((1, 8), np.float32)
            bad = np.ones((1, 8), np.float64)       # same dims, so it lands in a batch
            out = await asyncio.gather(batcher.submit({"x": good}), batcher.submit({"x": bad}),
                                       batcher.submit({"x": good}), return_exceptions=True)
            await batcher.drain()
            return out
    first, error, third = asyncio.run(go())
    assert isinstance(error, InputTypeError) and "float64" in str(error)
    np.testing.assert_array_equal(first["y"], third["y"])


def test_requests_with_different_dims_are_not_stacked_together(session):
    sizes: list[int] = []

    async def go():
        with ThreadPoolExecutor(1) as pool:
            batcher = DynamicBatcher(recording(session, sizes), executor=pool, max_batch_size=8,
                                     timeout_ms=30, max_queue_size=8)
            a = batcher.submit({"x": np.ones((1, 8), np.float32)})
            b = batcher.submit({"x": np.ones((1, 9), np.float32)})
            out = await asyncio.gather(a, b, return_exceptions=True)
            await batcher.drain()
            return out
    ok, wrong = asyncio.run(go())
    assert ok["y"].shape == (1, 10)
    assert "expects dim 1 = 8" in str(wrong)
    assert sizes == [1, 1]                             # two runs: never stacked together


def test_drain_answers_queued_requests_then_refuses_new_ones(session):
    async def go():
        with ThreadPoolExecutor(1) as pool:
            batcher = DynamicBatcher(session.run_batch, executor=pool, max_batch_size=64,
                                     timeout_ms=10_000, max_queue_size=8)
            x = np.ones((1, 8), np.float32)
            pending = [asyncio.ensure_future(batcher.submit({"x": x})) for _ in range(3)]
            await asyncio.sleep(0.05)
            loop = asyncio.get_running_loop()
            start = loop.time()
            await batcher.drain()                      # must not wait out the 10 s timeout
            took = loop.time() - start
            assert all(p.done() and p.result()["y"].shape == (1, 10) for p in pending)
            with pytest.raises(ShuttingDownError, match="shutting down"):
                await batcher.submit({"x": x})
            return took
    assert asyncio.run(go()) < 5
