"""What training shows while it runs, in TensorFlow's words, and where it goes.

* standard error is a terminal, no sink is set and the run's last step is known (``steps`` or
  ``max_steps``): a bar drawn by rich, ``step 1,200/5,000``, the bar, examples/s, the loss and
  the time left, redrawn at most ten times a second (each redraw reads the loss: one device
  sync);
* otherwise (a log file, a pipe, a job's output, a run until the input ends, or a program that
  routes the lines with :func:`set_sink`): TensorFlow's lines every ``log_step_count_steps``
  steps, ``loss = 0.6931472, step = 0``, ``loss = 0.41233, step = 100 (0.812 sec)`` and
  ``global_step/sec: 246.3 (63,050 examples/sec)``; evaluation reports ``Saving dict for
  global step N: accuracy = ...``;
* ``RunConfig(quiet=True)``, and every rank but the chief under torchrun: nothing.

It is also the one clock of the steps per second: :meth:`TrainingProgress.step` returns the
rate at every ``log_step_count_steps``-th step, shown or not, and the training loops write it
as the ``global_step/sec`` summary.

Lines go to stderr unless a program sends them elsewhere with :func:`set_sink` (the
``mlengine.tf`` façade routes them through ``tf.logging``, so they show as
``INFO:tensorflow:...`` lines at its INFO verbosity, as TensorFlow's did). The bar goes to
standard error too, so standard output stays the program's.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import IO, Any

Sink = Callable[[str], None]
_sink: Sink | None = None

#: Seconds between two redraws of the bar.
REFRESH_SECS = 0.1


def set_sink(sink: Sink | None) -> Sink | None:
    """Send progress lines to ``sink`` (None: stderr); returns the previous sink."""
    global _sink
    previous, _sink = _sink, sink
    return previous


def report(quiet: bool, message: str) -> None:
    """Write one progress line, unless ``quiet``."""
    if quiet:
        return
    if _sink is not None:
        _sink(message)
    else:
        print(message, file=sys.stderr, flush=True)


def number(value: Any) -> str:
    """A metric as TensorFlow printed it: a float32's shortest repr, ints as they are."""
    if isinstance(value, bool | int):
        return str(value)
    try:
        import numpy as np

        return str(np.float32(value))
    except (TypeError, ValueError):
        return str(value)


def eval_line(metrics: Mapping[str, Any], global_step: int) -> str:
    """``Saving dict for global step N: k = v, ...`` (sorted keys, strings skipped), as TF."""
    pairs = ", ".join(
        f"{key} = {number(value)}"
        for key, value in sorted(metrics.items())
        if not isinstance(value, str | bytes)
    )
    return f"Saving dict for global step {global_step}: {pairs}"


def is_terminal(stream: IO[str]) -> bool:
    """Whether ``stream`` is an interactive terminal (rich's test: TERM=dumb is not one)."""
    from rich.console import Console

    return Console(file=stream).is_terminal


class TrainingProgress:
    """Shows one ``train`` call's progress; call :meth:`step` after every step, then
    :meth:`close` (or use as a context manager).

    Args:
        start_step: the global step the run starts from.
        last_step: the step it stops at, if known.
        log_every: lines every N steps (``RunConfig.log_step_count_steps``).
        quiet: show nothing.
        stream: where to show it (default: standard error).
    """

    def __init__(
        self,
        *,
        start_step: int,
        last_step: int | None,
        log_every: int,
        quiet: bool = False,
        stream: IO[str] | None = None,
    ):
        self._own_stream = stream
        self.stream = stream if stream is not None else sys.stderr
        self.start_step = start_step
        self.last_step = last_step
        self.log_every = log_every
        self.mode = "off"
        if not quiet:
            known = last_step is not None and last_step > start_step
            bar = known and _sink is None and is_terminal(self.stream)
            self.mode = "bar" if bar else "lines"
        now = time.monotonic()
        self._started = now
        self._tick_time, self._tick_step, self._tick_examples = now, start_step, 0
        self._log_time = now
        self._examples = 0
        self._next_draw = now
        self._progress: Any = None
        self._task: Any = None
        if self.mode == "bar":
            self._open_bar()

    def _open_bar(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("step"),
            MofNCompleteColumn(),
            BarColumn(),
            TextColumn("{task.fields[rate]} examples/s"),
            TextColumn("loss {task.fields[loss]}"),
            TimeRemainingColumn(),
            console=Console(file=self.stream),
            auto_refresh=False,  # redrawn from step(), no thread of its own
            redirect_stdout=False,
            redirect_stderr=False,
        )
        assert self.last_step is not None
        self._task = self._progress.add_task(
            "train", total=self.last_step, completed=self.start_step, rate="-", loss="-"
        )
        self._progress.start()

    def step(self, step: int, examples: int, loss: Callable[[], float]) -> float | None:
        """Record ``step`` (``examples`` rows in it); ``loss()`` is read only when shown.

        Returns:
            At global steps N, 2N... (``log_every``), the steps per second since the last of
            them (or the start): what the loop writes as the ``global_step/sec`` summary,
            whatever is shown; None at every other step.
        """
        self._tick_examples += examples
        # As TF's StepCounterHook, the rate at global steps N, 2N...; as its LoggingTensorHook,
        # the loss at this call's iterations 0, N, 2N... (its counter starts at every train()
        # call), each with the global step before the update: 0, N, 2N... from scratch, 8, 18...
        # for a run resumed at step 8.
        rate = None
        if step % self.log_every == 0:
            now = time.monotonic()
            elapsed = max(now - self._tick_time, 1e-9)
            rate = (step - self._tick_step) / elapsed
            if self.mode == "lines":
                speed = f"{self._tick_examples / elapsed:,.0f} examples/sec"
                self._emit(f"global_step/sec: {rate:g} ({speed})")  # TF: "%s: %g"
            self._tick_time, self._tick_step, self._tick_examples = now, step, 0
        if self.mode == "bar":
            self._examples += examples
            now = time.monotonic()
            if now >= self._next_draw or step == self.last_step:
                self._draw(step, now, loss())
        elif self.mode == "lines" and (step - 1 - self.start_step) % self.log_every == 0:
            now = time.monotonic()
            took = "" if step - 1 == self.start_step else f" ({now - self._log_time:.3f} sec)"
            self._emit(f"loss = {number(loss())}, step = {step - 1}{took}")
            self._log_time = now
        return rate

    def _emit(self, line: str) -> None:
        if self._own_stream is not None:
            print(line, file=self._own_stream, flush=True)
        else:
            report(False, line)

    def _draw(self, step: int, now: float, loss: float) -> None:
        elapsed = max(now - self._started, 1e-9)
        self._progress.update(
            self._task,
            completed=step,
            rate=f"{self._examples / elapsed:,.0f}",
            loss=f"{loss:.4g}",
        )
        self._progress.refresh()
        self._next_draw = now + REFRESH_SECS

    def close(self) -> None:
        """Stop drawing (the bar stays on screen at its last state)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def __enter__(self) -> TrainingProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = [
    "REFRESH_SECS",
    "Sink",
    "TrainingProgress",
    "eval_line",
    "is_terminal",
    "number",
    "report",
    "set_sink",
]
