"""Dynamic micro-batching: requests that arrive together are predicted together.

``MicroBatcher(fn, max_batch=8, max_wait_ms=5)``: ``await batcher.submit(item)`` queues one item. A
worker task takes the first waiting item, then more until ``max_batch`` or until ``max_wait_ms`` have
passed since the first, and runs ``fn(items)`` in a worker thread, so the event loop keeps accepting
requests. ``fn`` returns one result per item, or an exception for an item that failed: one bad item
fails its own request only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

BatchFn = Callable[[list[T]], Sequence[R | BaseException]]


class MicroBatcher(Generic[T, R]):
    def __init__(
        self,
        fn: BatchFn[T, R],
        *,
        max_batch: int = 8,
        max_wait_ms: float = 5.0,
        on_batch: Callable[[int], None] | None = None,
        name: str = "batch",
    ) -> None:
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError("max_batch must be >= 1 and max_wait_ms >= 0")
        self.fn, self.max_batch, self.max_wait = fn, max_batch, max_wait_ms / 1000.0
        self.on_batch = on_batch
        self._queue: asyncio.Queue[tuple[T, asyncio.Future[R]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"idsight-{name}")

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._pool.shutdown(wait=True)

    async def submit(self, item: T) -> R:
        if self._queue is None:
            raise RuntimeError("the batcher is not started")
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        await self._queue.put((item, fut))
        return await fut

    async def _take(self) -> list[tuple[T, asyncio.Future[R]]]:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        batch = [await self._queue.get()]
        deadline = loop.time() + self.max_wait
        while len(batch) < self.max_batch:
            left = deadline - loop.time()
            if left <= 0:
                while len(batch) < self.max_batch and not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), left))
            except TimeoutError:
                break
        return batch

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._take()
            live = [(item, fut) for item, fut in batch if not fut.cancelled()]
            if not live:
                continue
            if self.on_batch is not None:
                self.on_batch(len(live))
            items = [item for item, _ in live]
            try:
                results: Sequence[Any] = await loop.run_in_executor(self._pool, self.fn, items)
                if len(results) != len(items):
                    raise RuntimeError(
                        f"the batch function gave {len(results)} results for {len(items)} items"
                    )
            except Exception as e:  # the whole batch failed: every request hears why
                results = [e] * len(items)
            for (_, fut), res in zip(live, results, strict=True):
                if fut.done():
                    continue
                if isinstance(res, BaseException):
                    fut.set_exception(res)
                else:
                    fut.set_result(res)
