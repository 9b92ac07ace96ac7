"""Spreading keep-alive connections over ``mlengine serve``'s workers.

The workers share one listening socket, and the kernel hands each new connection to whichever
worker accepts first. A client that opens a few keep-alive connections at once (a gateway's
pool, a load generator) may find them all on one worker, which then does all the work while
the other cores idle (8 connections landed 8/0 on two workers in about one run in twenty: half
the throughput), and keep-alive keeps it so.

Each worker publishes how many connections it holds in a shared array (one slot per worker);
a worker holding more than one over its share (the total divided by the workers, rounded up)
answers that many of its next predictions with ``Connection: close``. Those clients reconnect
(as HTTP/1.1 clients do), and a new connection usually goes to a less busy worker, since that
one returns to accepting sooner. Only predictions carry the header: they are what keeps a
worker busy, and a client is never refused or cut off mid-request.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, MutableSequence

UPDATE_INTERVAL = 0.25  # seconds between a worker's looks at its connections


class ConnectionBalancer:
    """One worker's part (see the module docstring).

    Args:
        counts: every worker's connection count, shared between the worker processes.
        index: this worker's slot in ``counts``.
    """

    def __init__(self, counts: MutableSequence[int], index: int) -> None:
        self.counts = counts
        self.index = index
        self.connections: Callable[[], int] = lambda: 0  # this worker's live connections
        self.to_close = 0  # predictions still to answer with "Connection: close"

    def update(self) -> None:
        """Publish this worker's count; ask clients to move if it holds too many."""
        mine = self.connections()
        self.counts[self.index] = mine
        share = math.ceil(sum(self.counts) / len(self.counts))
        self.to_close = mine - share if mine > share + 1 else 0

    def close_this_one(self) -> bool:
        """Whether the prediction being answered should close its connection."""
        if self.to_close <= 0:
            return False
        self.to_close -= 1
        return True

    def start(self) -> None:
        """Update every :data:`UPDATE_INTERVAL` seconds on a daemon thread, for good."""
        threading.Thread(target=self._keep_updating, name="mlengine-balance", daemon=True).start()

    def _keep_updating(self) -> None:
        while True:
            time.sleep(UPDATE_INTERVAL)
            self.update()


__all__ = ["UPDATE_INTERVAL", "ConnectionBalancer"]
