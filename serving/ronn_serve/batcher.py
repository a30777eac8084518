"""The dynamic batcher: concurrent requests of one model go out as one stacked run.

Requests wait in a bounded queue. When a worker is free, the batcher takes the oldest request
and every queued request with the same input signature (dtypes and dims after the first), up
to ``max_batch_size`` rows; if there are fewer, it waits for company until the oldest request
has waited ``timeout_ms`` (like Triton's ``max_queue_delay``). At most ``max_inflight``
batches run at once, on ``executor``. A full queue refuses the request with
``OverloadedError``: nothing is dropped silently. With
``max_batch_size = 1`` this is a plain bounded queue in front of a worker pool.
"""

from __future__ import annotations

import asyncio
import collections
import time
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ronn_core.errors import ConfigValueError, OverloadedError
from ronn_serve.errors import ShuttingDownError

RunBatch = Callable[[Sequence[Mapping[str, Any]]], list[dict[str, Any]]]


@dataclass
class _Request:
    feeds: Mapping[str, Any]
    rows: int
    signature: tuple
    future: asyncio.Future
    arrived: float = field(default_factory=time.monotonic)


def signature_of(feeds: Mapping[str, Any]) -> tuple[tuple, int]:
    """(what must match for two requests to stack, rows of this request)."""
    sig, rows = [], 1
    for name in sorted(feeds):
        value = feeds[name]
        shape = np.shape(value)
        dtype = getattr(value, "dtype", None)
        sig.append((name, str(dtype), tuple(shape[1:]), len(shape)))
        if shape:
            rows = shape[0]
    return tuple(sig), rows


class DynamicBatcher:
    """Queue, group and run requests of one model; ``await submit(feeds)`` gives its outputs."""

    def __init__(self, run_batch: RunBatch, *, executor: Executor, max_batch_size: int = 32,
                 timeout_ms: float = 2.0, max_queue_size: int = 128, max_inflight: int = 1,
                 name: str = "model", on_batch: Callable[[int], None] | None = None,
                 on_queue: Callable[[int], None] | None = None):
        if max_batch_size < 1 or max_queue_size < 1 or max_inflight < 1 or timeout_ms < 0:
            raise ConfigValueError(f"batcher {name!r}: max_batch_size, max_queue_size and "
                                   f"max_inflight must be >= 1 and timeout_ms >= 0")
        self.run_batch, self.executor, self.name = run_batch, executor, name
        self.max_batch_size, self.timeout = max_batch_size, timeout_ms / 1000.0
        self.max_queue_size, self.max_inflight = max_queue_size, max_inflight
        self._on_batch, self._on_queue = on_batch, on_queue
        self._queue: collections.deque[_Request] = collections.deque()
        self._arrived = asyncio.Event()
        self._slots = asyncio.Semaphore(max_inflight)
        self._running: set[asyncio.Task] = set()
        self._closing = False
        self._loop_task: asyncio.Task | None = None

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        if self._loop_task is None:
            self._loop_task = asyncio.get_running_loop().create_task(self._dispatch())

    async def submit(self, feeds: Mapping[str, Any]) -> dict[str, Any]:
        """Queue one request; return its outputs once its batch has run."""
        if self._closing:
            raise ShuttingDownError(f"model {self.name!r}: the server is shutting down and takes "
                                    f"no new requests")
        if len(self._queue) >= self.max_queue_size:
            raise OverloadedError(f"model {self.name!r} is overloaded: {len(self._queue)} "
                                  f"requests already wait in its queue (max_queue_size = "
                                  f"{self.max_queue_size}); retry later or raise "
                                  f"max_queue_size / workers in the serve config")
        self.start()
        signature, rows = signature_of(feeds)
        request = _Request(feeds, rows, signature, asyncio.get_running_loop().create_future())
        self._queue.append(request)
        self._queue_changed()
        self._arrived.set()
        return await request.future

    def stop_intake(self) -> None:
        """Refuse new requests from now on; queued ones run without waiting for company."""
        self._closing = True
        self._arrived.set()

    async def drain(self) -> None:
        """``stop_intake``, then wait until every queued and running request is answered."""
        self.stop_intake()
        if self._loop_task is not None:
            await self._loop_task
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    # -- the dispatch loop --------------------------------------------------------------------

    async def _dispatch(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._arrived.clear()
                await self._arrived.wait()
                continue
            await self._slots.acquire()
            await self._wait_for_company()
            batch = self._take_batch()
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _wait_for_company(self) -> None:
        """Until the oldest request has waited ``timeout`` or a batch is full."""
        while not self._closing:
            remaining = self._queue[0].arrived + self.timeout - time.monotonic()
            if remaining <= 0 or self._rows_available() >= self.max_batch_size:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except asyncio.TimeoutError:
                return

    def _rows_available(self) -> int:
        head = self._queue[0].signature
        return sum(r.rows for r in self._queue if r.signature == head)

    def _take_batch(self) -> list[_Request]:
        head = self._queue.popleft()
        batch, rows, kept = [head], head.rows, collections.deque()
        while self._queue:
            request = self._queue.popleft()
            if request.signature == head.signature and rows + request.rows <= self.max_batch_size:
                batch.append(request)
                rows += request.rows
            else:
                kept.append(request)
        self._queue = kept
        self._queue_changed()
        return batch

    async def _run(self, batch: list[_Request]) -> None:
        loop = asyncio.get_running_loop()
        try:
            if self._on_batch:
                self._on_batch(sum(r.rows for r in batch))
            try:
                results = await loop.run_in_executor(self.executor, self.run_batch,
                                                     [r.feeds for r in batch])
            except Exception as exc:
                if len(batch) == 1:
                    _settle(batch[0].future, error=exc)
                    return
                # one bad request must not fail its neighbours: rerun them alone
                for request in batch:
                    try:
                        result = await loop.run_in_executor(self.executor, self.run_batch,
                                                            [request.feeds])
                        _settle(request.future, result=result[0])
                    except Exception as single:
                        _settle(request.future, error=single)
                return
            for request, result in zip(batch, results):
                _settle(request.future, result=result)
        except BaseException as exc:  # cancelled or broken executor: nobody may hang
            for request in batch:
                _settle(request.future, error=exc if isinstance(exc, Exception)
                        else ShuttingDownError(f"model {self.name!r}: run cancelled"))
            raise
        finally:
            self._slots.release()

    def _queue_changed(self) -> None:
        if self._on_queue:
            self._on_queue(len(self._queue))


def _settle(future: asyncio.Future, *, result: Any = None, error: BaseException | None = None):
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
