"""Micro-batching: concurrent small requests to one version run as one model call.

TF Serving's ``--enable_batching``, without its fixed wait. A request that finds the version
idle starts a model call at once, so a lone client pays nothing. Requests that arrive while a
call runs queue up, and the next call takes them all (up to ``max_batch`` instances): the
busier the server, the bigger the batches. A batch bound for a worker thread may also wait, up to
``max_delay`` (``--max-batch-delay-ms``), until it has as many instances as the previous
call took: under steady concurrency the clients' next requests are on their way, and fewer,
bigger model calls cost less per instance; once they are all in, the call starts. A lone client
never waits (its previous call held only its own request).

A call of at most ``inline_rows`` instances (the Predictor's row path: Python lookups and numpy
on tiny arrays) runs on the event loop: it holds the GIL throughout,
so a worker thread would not free the loop, only add two thread handoffs to every request.
So does a bigger call expected to take at most ``inline_seconds`` (the server passes the GIL's
switch interval), going by the model's CPU time per instance in the calls so far: on a
worker thread it would hold the GIL for most of that time anyway, in stretches of up to the
switch interval, and the handoffs of the GIL between the thread and the loop cost more than the
numpy sections that release it gain. Slower calls run on worker threads,
where torch and numpy release the GIL in their long operations. A request of
``max_batch`` instances or more skips the queue: it is cut into calls of ``max_batch`` on a
separate pool, so a big request neither waits behind small ones nor holds them up. If a merged
call fails on bad input, its requests are retried one by one, so each gets its own answer or
error.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor

import numpy as np

from mlengine.errors import MLEngineError
from mlengine.serving.schema import Columns, concat

Outputs = dict[str, np.ndarray]
log = logging.getLogger("mlengine.serving")


def run_chunked(run: Callable[[Columns], Outputs], columns: Columns, size: int) -> Outputs:
    """``run`` over ``columns`` in calls of at most ``size`` rows, outputs concatenated."""
    if columns.count <= size:
        return run(columns)
    parts = [run(columns.slice(start, start + size)) for start in range(0, columns.count, size)]
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


class Batcher:
    """Gathers one version's concurrent requests into model calls (see the module docstring).

    Args:
        run: the model call (blocking; columns in, output arrays with one row per instance out).
        executor: threads for the gathered calls.
        bulk_executor: threads for requests of ``max_batch`` instances or more.
        max_batch: most instances per model call.
        max_delay: seconds a batch may wait for more requests once concurrency was seen.
        on_batch: told the size of every model call (for the batch-size histogram).
        inline_rows: calls of at most this many instances run on the event loop.
        inline_seconds: so do calls expected to take at most this long.
    """

    def __init__(
        self,
        run: Callable[[Columns], Outputs],
        executor: Executor,
        bulk_executor: Executor,
        max_batch: int,
        max_delay: float = 0.0,
        on_batch: Callable[[int], None] | None = None,
        inline_rows: int = 0,
        inline_seconds: float = 0.0,
    ) -> None:
        self._run = run
        self._executor = executor
        self._bulk = bulk_executor
        self.max_batch = max_batch
        self.max_delay = max_delay
        self._on_batch = on_batch
        self.inline_rows = inline_rows
        self.inline_seconds = inline_seconds
        # CPU seconds per instance of the calls above inline_rows (None until one was made).
        self.seconds_per_row: float | None = None
        self._pending: list[tuple[Columns, asyncio.Future[Outputs]]] = []
        self._pending_rows = 0
        self._task: asyncio.Task[None] | None = None
        self._last_rows = 0  # instances in the previous call: what the next one waits for
        self._enough: asyncio.Future[None] | None = None  # done once that many are pending

    async def predict(self, columns: Columns) -> Outputs:
        """The outputs for ``columns`` (one row per instance), from a shared model call."""
        loop = asyncio.get_running_loop()
        if columns.count >= self.max_batch:
            if self._on_batch is not None:
                self._on_batch(columns.count)
            return await loop.run_in_executor(
                self._bulk, run_chunked, self._run, columns, self.max_batch
            )
        future: asyncio.Future[Outputs] = loop.create_future()
        self._pending.append((columns, future))
        self._pending_rows += columns.count
        if self._enough is not None and self._pending_rows >= self._last_rows:
            _finish(self._enough)
        if self._task is None:
            self._task = loop.create_task(self._drain())
        return await future

    async def _gather(self) -> None:
        """Wait until as many instances as the previous call took are pending, or
        ``max_delay`` has passed."""
        loop = asyncio.get_running_loop()
        self._enough = loop.create_future()
        timer = loop.call_later(self.max_delay, _finish, self._enough)
        try:
            await self._enough
        finally:
            timer.cancel()
            self._enough = None

    def _take(self) -> list[tuple[Columns, asyncio.Future[Outputs]]]:
        taken, rows = 0, 0
        for columns, _ in self._pending:
            if taken and rows + columns.count > self.max_batch:
                break
            taken += 1
            rows += columns.count
        items, self._pending = self._pending[:taken], self._pending[taken:]
        self._pending_rows -= rows
        return items

    async def _drain(self) -> None:
        try:
            while self._pending:
                if self._pending_rows <= self.inline_rows:
                    # An inline call holds the loop: let requests already received join it,
                    # but wait no longer, since nothing else could serve them meanwhile.
                    await asyncio.sleep(0)
                elif self.max_delay and self._pending_rows < min(self._last_rows, self.max_batch):
                    await self._gather()
                items = self._take()
                batch = concat([columns for columns, _ in items])
                self._last_rows = batch.count
                if self._on_batch is not None:
                    self._on_batch(batch.count)
                try:
                    outputs = await self._call(batch)
                except MLEngineError as error:
                    if len(items) == 1:
                        _fail(items[0][1], error)
                    else:
                        await self._one_by_one(items)
                    continue
                except Exception as error:
                    log.error("model call failed", exc_info=error)
                    for _, future in items:
                        _fail(future, error)
                    continue
                start = 0
                for columns, future in items:
                    stop = start + columns.count
                    if not future.done():
                        future.set_result(
                            {key: value[start:stop] for key, value in outputs.items()}
                        )
                    start = stop
        finally:
            self._task = None

    async def _call(self, columns: Columns) -> Outputs:
        rows = columns.count
        if rows <= self.inline_rows:
            return self._run(columns)
        per_row = self.seconds_per_row
        if per_row is not None and rows * per_row <= self.inline_seconds:
            outputs, seconds = self._timed_run(columns)
        else:
            loop = asyncio.get_running_loop()
            outputs, seconds = await loop.run_in_executor(self._executor, self._timed_run, columns)
        new = seconds / rows
        self.seconds_per_row = new if per_row is None else 0.8 * per_row + 0.2 * new
        return outputs

    def _timed_run(self, columns: Columns) -> tuple[Outputs, float]:
        """The call and the CPU time of the thread that made it (not the waits for the GIL)."""
        started = time.thread_time()
        outputs = self._run(columns)
        return outputs, time.thread_time() - started

    async def _one_by_one(self, items: list[tuple[Columns, asyncio.Future[Outputs]]]) -> None:
        for columns, future in items:
            try:
                outputs = await self._call(columns)
            except Exception as error:
                _fail(future, error)
            else:
                if not future.done():
                    future.set_result(outputs)


def _finish(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _fail(future: asyncio.Future[Outputs], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


__all__ = ["Batcher", "Outputs", "run_chunked"]
