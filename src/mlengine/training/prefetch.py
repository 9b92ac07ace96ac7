"""Run an iterator one item ahead in a background thread.

On a GPU the training step is mostly waiting for kernels, so the next chunk's feature
transform (numpy and pyarrow, which release the GIL) and its pinned-memory copy can run
meanwhile. On the CPU it is not used: there the step itself needs the interpreter, and a
background encoder made census training slower when measured.
Exceptions raised while producing an item are re-raised to the consumer, and closing the
consumer stops the producer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

_END = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def prefetch(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """Yield ``items`` while a thread produces up to ``depth`` items ahead."""
    slots: queue.Queue[object] = queue.Queue(maxsize=depth)
    stopped = threading.Event()

    def put(item: object) -> bool:
        while not stopped.is_set():
            try:
                slots.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_END)
        except BaseException as error:  # handed to the consumer, re-raised there
            put(_Failure(error))

    worker = threading.Thread(target=produce, name="mlengine-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = slots.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        stopped.set()
        worker.join(timeout=10)
