"""The background prefetcher used to overlap input encoding with GPU steps."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from mlengine.training.prefetch import prefetch


def test_yields_every_item_in_order() -> None:
    assert list(prefetch(iter(range(100)), depth=2)) == list(range(100))


def test_an_error_while_producing_reaches_the_consumer_after_the_items_before_it() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("row 3 is bad")

    got = []
    with pytest.raises(ValueError, match="row 3 is bad"):
        for item in prefetch(items()):
            got.append(item)
    assert got == [1, 2]


def test_closing_the_consumer_stops_the_producer() -> None:
    produced = []

    def endless() -> Iterator[int]:
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    consumer = prefetch(endless(), depth=1)
    assert next(consumer) == 0
    consumer.close()
    time.sleep(0.2)
    count = len(produced)
    time.sleep(0.2)
    assert len(produced) == count <= 3  # bounded by depth, and no longer growing
    assert not any(t.name == "mlengine-prefetch" for t in threading.enumerate())
