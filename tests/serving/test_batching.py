"""Micro-batching: a lone request runs at once, concurrent ones share model calls (a call waits,
briefly, for as many instances as the previous one took), a bad request in a shared call gets
its own error, and a big request neither waits for nor blocks small ones."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlengine.errors import FeatureError
from mlengine.serving.batching import Batcher, run_chunked
from mlengine.serving.schema import Columns
from tests.serving import helpers as h


def columns(*values: float) -> Columns:
    return Columns({"x": list(values)}, len(values))


class FakeModel:
    """Doubles ``x``; records the size of every call; optionally slow or refusing negatives."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[int] = []
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, batch: Columns) -> dict[str, np.ndarray]:
        with self.lock:
            self.calls.append(batch.count)
        if any(v < 0 for v in batch.values["x"]):
            raise FeatureError(f"negative value in a batch of {batch.count}")
        time.sleep(self.delay)
        return {"y": np.asarray(batch.values["x"], dtype=np.float64) * 2}


@pytest.fixture
def pools() -> Any:
    with ThreadPoolExecutor(2) as small, ThreadPoolExecutor(2) as bulk:
        yield small, bulk


def test_a_lone_request_runs_at_once(pools: Any) -> None:
    model = FakeModel()
    batcher = Batcher(model, *pools, max_batch=64, max_delay=0.5)

    async def main() -> list[Any]:
        return [await batcher.predict(columns(i)) for i in range(5)]

    started = time.monotonic()
    results = asyncio.run(main())
    assert [r["y"].tolist() for r in results] == [[0.0], [2.0], [4.0], [6.0], [8.0]]
    assert model.calls == [1, 1, 1, 1, 1]
    assert time.monotonic() - started < 1.0  # the 0.5 s gathering wait never applied


def test_small_calls_run_on_the_event_loop_and_big_ones_on_workers(pools: Any) -> None:
    """Calls of at most ``inline_rows`` instances hold the GIL anyway (the row path): they run
    on the loop's thread; bigger ones on a worker thread."""
    threads: list[int] = []

    def run(batch: Columns) -> dict[str, np.ndarray]:
        threads.append(threading.get_ident())
        return {"y": np.asarray(batch.values["x"], dtype=np.float64)}

    batcher = Batcher(run, *pools, max_batch=64, inline_rows=4)

    async def main() -> int:
        await batcher.predict(columns(1.0, 2.0))  # inline
        await batcher.predict(columns(*range(10)))  # a worker
        concurrent = await asyncio.gather(*(batcher.predict(columns(i)) for i in range(3)))
        assert [r["y"].tolist() for r in concurrent] == [[0.0], [1.0], [2.0]]
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert threads[0] == loop_thread and threads[1] != loop_thread
    assert threads[2:] == [loop_thread]  # the three gathered into one inline call


def burn(seconds: float) -> None:
    """Spend ``seconds`` of this thread's CPU time (what the batcher measures)."""
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_calls_expected_to_be_quick_run_on_the_event_loop(pools: Any) -> None:
    """Above ``inline_rows``, a call runs on the loop when the model's CPU time per instance so
    far says it takes at most ``inline_seconds``; before any call was measured, or when it
    would take longer, on a worker thread."""
    threads: list[tuple[int, int]] = []

    def run(batch: Columns) -> dict[str, np.ndarray]:
        threads.append((batch.count, threading.get_ident()))
        burn(batch.count * 20e-6)  # 20 us of CPU an instance
        return {"y": np.asarray(batch.values["x"], dtype=np.float64)}

    batcher = Batcher(run, *pools, max_batch=4096, inline_rows=4, inline_seconds=0.01)

    async def main() -> int:
        await batcher.predict(columns(*range(100)))  # not measured yet: a worker (2 ms)
        await batcher.predict(columns(*range(100)))  # 2 ms expected: the loop
        await batcher.predict(columns(*range(1000)))  # 20 ms expected: a worker
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert [rows for rows, _ in threads] == [100, 100, 1000]
    on_loop = [thread == loop_thread for _, thread in threads]
    assert on_loop == [False, True, False]
    assert batcher.seconds_per_row is not None and batcher.seconds_per_row >= 20e-6


def test_concurrent_requests_share_calls(pools: Any) -> None:
    model = FakeModel(delay=0.05)
    seen: list[int] = []
    batcher = Batcher(model, *pools, max_batch=64, on_batch=seen.append)

    async def main() -> list[Any]:
        return await asyncio.gather(*(batcher.predict(columns(i, i + 0.5)) for i in range(20)))

    results = asyncio.run(main())
    for i, result in enumerate(results):
        assert result["y"].tolist() == [2 * i, 2 * i + 1]  # each gets its own rows back
    assert sum(model.calls) == 40
    assert len(model.calls) <= 3 and max(model.calls) >= 30
    assert seen == model.calls


def test_a_call_waits_until_it_has_as_many_instances_as_the_previous_one(pools: Any) -> None:
    model = FakeModel()
    batcher = Batcher(model, *pools, max_batch=64, max_delay=5.0)

    async def main() -> tuple[bool, float, list[Any]]:
        await asyncio.gather(*(batcher.predict(columns(i, i, i)) for i in range(3)))  # 9 rows
        first = asyncio.ensure_future(batcher.predict(columns(1, 1, 1)))
        await asyncio.sleep(0.2)
        waited = not first.done()  # 3 of the 9 instances the last call took
        started = time.monotonic()
        rest = await asyncio.gather(first, *(batcher.predict(columns(i, i, i)) for i in (2, 3)))
        return waited, time.monotonic() - started, rest

    waited, took, rest = asyncio.run(main())
    assert waited
    assert took < 2.5  # the call started once the 9 instances were in, not after 5 s
    assert model.calls == [9, 9]
    assert [r["y"].tolist() for r in rest] == [[2.0] * 3, [4.0] * 3, [6.0] * 3]


def test_the_wait_for_more_instances_ends_after_max_delay(pools: Any) -> None:
    model = FakeModel()
    batcher = Batcher(model, *pools, max_batch=64, max_delay=1.0)

    async def main() -> tuple[float, float]:
        await asyncio.gather(*(batcher.predict(columns(i, i)) for i in range(3)))  # 6 rows
        started = time.monotonic()
        await batcher.predict(columns(5, 5))  # waits 1 s for 4 more that never come
        waited = time.monotonic() - started
        started = time.monotonic()
        await batcher.predict(columns(6, 6))  # as many as the last call: at once
        return waited, time.monotonic() - started

    waited, then = asyncio.run(main())
    assert 0.99 <= waited < 4.0
    assert then < 0.5  # far under the 1 s it would have waited
    assert model.calls == [6, 2, 2]


def test_batches_respect_max_batch(pools: Any) -> None:
    model = FakeModel(delay=0.02)
    batcher = Batcher(model, *pools, max_batch=8)

    async def main() -> list[Any]:
        return await asyncio.gather(*(batcher.predict(columns(i, i, i)) for i in range(10)))

    asyncio.run(main())
    assert sum(model.calls) == 30 and max(model.calls) <= 8


def test_a_bad_request_fails_alone(pools: Any) -> None:
    model = FakeModel(delay=0.02)
    batcher = Batcher(model, *pools, max_batch=64)

    async def main() -> list[Any]:
        return await asyncio.gather(
            *(batcher.predict(columns(-1 if i == 3 else i)) for i in range(6)),
            return_exceptions=True,
        )

    results = asyncio.run(main())
    assert isinstance(results[3], FeatureError) and "batch of 1" in str(results[3])
    for i, result in enumerate(results):
        if i != 3:
            assert result["y"].tolist() == [2 * i]


def test_big_requests_are_chunked_and_do_not_block_small_ones(pools: Any) -> None:
    model = FakeModel()
    slow = FakeModel(delay=0.5)
    big_batcher = Batcher(slow, *pools, max_batch=4)

    async def main() -> tuple[Any, float, float]:
        started = time.monotonic()
        big = asyncio.ensure_future(big_batcher.predict(columns(*range(10))))
        await asyncio.sleep(0.05)
        small = await big_batcher.predict(columns(7))
        small_done = time.monotonic() - started
        return await big, small_done, small["y"].tolist()

    big, small_done, small = asyncio.run(main())
    assert big["y"].tolist() == [2.0 * i for i in range(10)]
    assert slow.calls[:1] == [4] and sorted(slow.calls) == [1, 2, 4, 4]
    assert small == [14.0]
    assert small_done < 1.5  # it did not wait for the 3 chunks of the big request (1.5 s)
    assert run_chunked(model, columns(*range(9)), 4)["y"].tolist() == [2.0 * i for i in range(9)]


def test_concurrent_http_requests_match_one_by_one(fresh: Any, exports: dict[str, Path]) -> None:
    """32 clients at once: every answer is the one its own instances get alone, and the
    batch-size histogram shows calls of more than one request."""
    rows = h.instances(64)
    expected = h.expected(exports["v1"], rows)
    url = "/v1/projects/local/models/census:predict"
    barrier = threading.Barrier(32)
    results: dict[int, Any] = {}

    def one(i: int) -> None:
        barrier.wait()
        for _ in range(5):
            pair = rows[2 * i : 2 * i + 2]
            results[i] = fresh.post(url, json={"instances": pair}).json()["predictions"]

    threads = [threading.Thread(target=one, args=(i,)) for i in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for i in range(32):
        assert expected[2 * i : 2 * i + 2].matches(results[i])
    text = fresh.get("/metrics").text
    count = _sample(text, 'mlengine_batch_size_instances_count{model="census",version="v1"}')
    total = _sample(text, 'mlengine_batch_size_instances_sum{model="census",version="v1"}')
    assert total >= 320 and count < 160  # fewer model calls than requests


def _sample(text: str, prefix: str) -> float:
    line = next(line for line in text.splitlines() if line.startswith(prefix))
    return float(line.rsplit(" ", 1)[1])
