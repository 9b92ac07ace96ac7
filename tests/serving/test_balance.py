"""A worker that holds more than its share of the connections (plus one) asks that many of its
clients to reconnect; the integration test (connections forced onto one worker, then spread)
is in tests/cli/test_serve.py."""

from __future__ import annotations

import pytest

from mlengine.serving.balance import ConnectionBalancer


@pytest.mark.parametrize(
    ("mine", "others", "to_close"),
    [
        (8, [0], 4),  # all on this worker: half of them move
        (7, [1], 3),
        (6, [2], 2),
        (5, [3], 0),  # within one of its share: left alone (moving one would not help)
        (4, [4], 0),
        (0, [8], 0),  # the other worker's to shed
        (6, [0, 0], 4),  # three workers: a share of 2
        (0, [0], 0),
    ],
)
def test_a_worker_sheds_what_it_holds_over_its_share(
    mine: int, others: list[int], to_close: int
) -> None:
    counts = [0, *others]
    balancer = ConnectionBalancer(counts, 0)
    balancer.connections = lambda: mine
    balancer.update()
    assert counts[0] == mine  # published for the other workers
    assert [balancer.close_this_one() for _ in range(to_close + 2)] == [True] * to_close + [
        False,
        False,
    ]
