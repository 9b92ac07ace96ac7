"""A registry that lets ``mlengine serve`` start while its database is unreachable.

:class:`~mlengine.registry.Registry` opens its database when it is created (schema check,
migrations, reaping dead workers) and raises :class:`~mlengine.errors.UnavailableError` when
the database cannot be reached. A replica in a cluster often starts before its database does, or
while it is being failed over: exiting then makes the orchestrator restart it in a loop (with
growing back-off). :class:`DeferredRegistry` instead starts unopened; the model manager keeps
calling :meth:`DeferredRegistry.open` every poll interval, and the server reports not-ready
(503 on ``/v2/health/ready``; ``/v2/health/live`` stays 200) until it succeeds. Any other
error (a bad URL, a schema newer than this code) still fails at once.
"""

from __future__ import annotations

import contextlib
import threading

from mlengine.errors import UnavailableError
from mlengine.registry import Registry


class DeferredRegistry(Registry):
    """A :class:`Registry` whose opening waits for the database (see the module docstring).

    Attributes:
        opened: whether the database has been opened (read from any thread).
    """

    opened: bool = False

    def _open(self) -> None:
        # Called by Registry.__init__: try once; an unreachable database is retried later.
        self._open_lock = threading.Lock()
        # The model manager logs the reason when its first refresh fails the same way.
        with contextlib.suppress(UnavailableError):
            self.open()

    def open(self) -> None:
        """Open the database unless that was done (blocking: call it off the event loop).

        Raises:
            UnavailableError: the database is still unreachable.
        """
        with self._open_lock:
            if not self.opened:
                super()._open()
                self.opened = True


__all__ = ["DeferredRegistry"]
