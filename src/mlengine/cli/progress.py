"""A live line for the long commands (``versions create``, followed jobs), in a terminal only.

When standard output and standard error are both terminals (one screen) and user output is
on, the block runs under rich's spinner (``⠋ Creating version [v1]... 0:00:04``), which
:class:`Activity.update` can rewrite (``... 12,000 predictions``); what the command prints
meanwhile goes above it (rich redirects standard output while the spinner runs). Anywhere
else (a pipe, a file, a script, ``--no-user-output-enabled``) it shows nothing, so scripts
read exactly what they read before.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from mlengine.cli.gcloud import invocation


def interactive() -> bool:
    """Whether both standard output and standard error are terminals (a seam for the tests)."""
    from rich.console import Console

    return Console(file=sys.stdout).is_terminal and Console(file=sys.stderr).is_terminal


class Activity:
    """The live line of one long command (inert outside a terminal)."""

    def __init__(self, message: str, progress: Any = None, task: Any = None):
        self.message = message
        self._progress = progress
        self._task = task

    @property
    def live(self) -> bool:
        return self._progress is not None

    def update(self, detail: str | None = None) -> None:
        """Show ``message detail`` (the spinner and the time elapsed keep running)."""
        if self._progress is not None:
            text = f"{self.message} {detail or ''}".rstrip()
            self._progress.update(self._task, description=text)

    def write(self, text: str) -> None:
        """Print ``text`` as it is (no new line added), above the live line when there is one."""
        sys.stdout.write(text)  # while live, rich's proxy puts it above the spinner
        sys.stdout.flush()


@contextmanager
def activity(message: str) -> Iterator[Activity]:
    """Show ``message`` with a spinner and the time elapsed while the block runs."""
    if not (invocation().user_output and interactive()):
        yield Activity(message)
        return
    from rich.console import Console
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}", markup=False),
        TimeElapsedColumn(),
        console=Console(file=sys.stderr),
        transient=True,  # gone when the command prints its result
    )
    with progress:
        yield Activity(message, progress, progress.add_task(message, total=None))


__all__ = ["Activity", "activity", "interactive"]
