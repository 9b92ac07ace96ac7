"""Ready-made hooks: ``LoggingTensorHook``, ``StopAtStepHook`` and early stopping.

The callbacks themselves are :mod:`mlengine.training.hooks`' (what a hook may fetch is listed
there). Early stopping reads the evaluations an estimator wrote (its ``eval_dir()`` event
files, as TensorFlow's ``tf.estimator.experimental.stop_if_*`` hooks do), so it acts between
the evaluations ``train_and_evaluate`` runs after checkpoints.
"""

from __future__ import annotations

import glob
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tensorboard.compat.proto.event_pb2 import Event

from mlengine.data.tfrecord import read_records
from mlengine.errors import DataError, InvalidParameterError
from mlengine.training.hooks import (
    CheckpointSaverListener,
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
    fetch_name,
)
from mlengine.training.progress import number, report


class _Timer:
    """TF's SecondOrStepTimer: triggers every ``every_steps`` steps or ``every_secs`` seconds
    (the first call always triggers)."""

    def __init__(self, every_steps: int | None, every_secs: float | None) -> None:
        if (every_steps is None) == (every_secs is None):
            raise InvalidParameterError(
                "Give exactly one of every_n_iter (steps) and every_n_secs."
            )
        self.every_steps, self.every_secs = every_steps, every_secs
        self.last_step: int | None = None
        self.last_time: float | None = None

    def should_trigger(self, step: int) -> bool:
        if self.last_step is None:
            return True
        if self.every_steps is not None:
            return step >= self.last_step + self.every_steps
        assert self.every_secs is not None and self.last_time is not None
        return time.monotonic() >= self.last_time + self.every_secs

    def update(self, step: int) -> float | None:
        now = time.monotonic()
        elapsed = None if self.last_time is None else now - self.last_time
        self.last_step, self.last_time = step, now
        return elapsed


class LoggingTensorHook(SessionRunHook):
    """``tf.estimator.LoggingTensorHook(tensors, every_n_iter=None, every_n_secs=None,
    at_end=False, formatter=None)``: log fetched values (``loss``, ``global_step``...) as
    ``name = value, ...`` every N steps or seconds."""

    def __init__(
        self,
        tensors: Mapping[str, Any] | Sequence[Any],
        every_n_iter: int | None = None,
        every_n_secs: float | None = None,
        at_end: bool = False,
        formatter: Callable[[dict[str, Any]], str] | None = None,
    ) -> None:
        if isinstance(tensors, Mapping):
            self.tags = list(tensors)
            self.fetches = {tag: fetch_name(value) for tag, value in tensors.items()}
        else:
            names = [fetch_name(value) for value in tensors]
            self.tags = names
            self.fetches = {name: name for name in names}
        if not at_end and every_n_iter is None and every_n_secs is None:
            raise InvalidParameterError(
                "LoggingTensorHook needs every_n_iter, every_n_secs or at_end"
            )
        periodic = every_n_iter is not None or every_n_secs is not None
        self.timer = _Timer(every_n_iter, every_n_secs) if periodic else None
        self.at_end = at_end
        self.formatter = formatter
        self.step = 0
        self.triggered = False

    def _log(self, values: dict[str, Any], elapsed: float | None = None) -> None:
        if self.formatter is not None:
            report(False, self.formatter(values))
            return
        line = ", ".join(f"{tag} = {number(values[tag])}" for tag in self.tags)
        report(False, line + ("" if elapsed is None else f" ({elapsed:.3f} sec)"))

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs | None:
        self.triggered = self.timer is not None and self.timer.should_trigger(self.step)
        return SessionRunArgs(self.fetches) if self.triggered else None

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        if self.triggered:
            assert self.timer is not None
            self._log(run_values.results, self.timer.update(self.step))
        self.step += 1

    def end(self, session: Any) -> None:
        if self.at_end:
            self._log(session.run(self.fetches))


class StopAtStepHook(SessionRunHook):
    """``tf.estimator.StopAtStepHook(num_steps=None, last_step=None)``: stop after ``num_steps``
    more steps, or at global step ``last_step``."""

    def __init__(self, num_steps: int | None = None, last_step: int | None = None) -> None:
        if (num_steps is None) == (last_step is None):
            raise InvalidParameterError(
                "StopAtStepHook needs exactly one of num_steps and last_step."
            )
        self.num_steps, self.last_step = num_steps, last_step

    def after_create_session(self, session: Any, coord: Any) -> None:
        if self.num_steps is not None:
            self.last_step = int(session.run("global_step")) + self.num_steps

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs:
        return SessionRunArgs("global_step")

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        assert self.last_step is not None
        if int(run_values.results) + 1 >= self.last_step:
            run_context.request_stop()


# -- early stopping -------------------------------------------------------------------------


def read_eval_metrics(eval_dir: str) -> dict[int, dict[str, float]]:
    """Every evaluation written into ``eval_dir``: ``{global_step: {metric: value}}``."""
    found: dict[int, dict[str, float]] = {}
    for path in sorted(glob.glob(os.path.join(eval_dir, "events.out.tfevents.*"))):
        try:
            for record in read_records(path):
                event = Event.FromString(record)
                if not event.HasField("summary"):
                    continue
                values = found.setdefault(int(event.step), {})
                for value in event.summary.value:
                    if value.HasField("simple_value"):
                        values[value.tag] = float(value.simple_value)
        except DataError:
            continue  # an event file being written: read what is complete next time
    return dict(sorted(found.items()))


class _EarlyStoppingHook(SessionRunHook):
    """Every ``run_every_steps`` steps or ``run_every_secs`` seconds, ask ``should_stop_fn``;
    a true answer stops training (on the chief; others follow the chief's checkpoints)."""

    def __init__(
        self,
        should_stop_fn: Callable[[], bool],
        run_every_secs: float | None,
        run_every_steps: int | None,
    ) -> None:
        if run_every_steps is not None:
            run_every_secs = None
        self.should_stop_fn = should_stop_fn
        self.timer = _Timer(run_every_steps, run_every_secs)

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs:
        return SessionRunArgs("global_step")

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        step = int(run_values.results) + 1  # the step just taken
        if self.timer.should_trigger(step):
            self.timer.update(step)
            if self.should_stop_fn():
                report(False, f"Requesting early stopping at global step {step}")
                run_context.request_stop()


def make_early_stopping_hook(
    estimator: Any,
    should_stop_fn: Callable[[], bool],
    run_every_secs: float | None = 60,
    run_every_steps: int | None = None,
) -> SessionRunHook:
    """``tf.estimator.experimental.make_early_stopping_hook``."""
    return _EarlyStoppingHook(should_stop_fn, run_every_secs, run_every_steps)


def _stop_if(
    estimator: Any,
    metric_name: str,
    decide: Callable[[list[tuple[int, float]]], bool],
    eval_dir: str | None,
    min_steps: int,
    run_every_secs: float | None,
    run_every_steps: int | None,
) -> SessionRunHook:
    directory = eval_dir or estimator.eval_dir()

    def should_stop() -> bool:
        evaluations = read_eval_metrics(directory)
        history = [(step, m[metric_name]) for step, m in evaluations.items() if metric_name in m]
        if not history or history[-1][0] < min_steps:
            return False
        return decide(history)

    return _EarlyStoppingHook(should_stop, run_every_secs, run_every_steps)


def stop_if_higher_hook(
    estimator: Any,
    metric_name: str,
    threshold: float,
    eval_dir: str | None = None,
    min_steps: int = 0,
    run_every_secs: float | None = 60,
    run_every_steps: int | None = None,
) -> SessionRunHook:
    """Stop once the latest evaluation's ``metric_name`` is above ``threshold``."""
    return _stop_if(
        estimator,
        metric_name,
        lambda h: h[-1][1] > threshold,
        eval_dir,
        min_steps,
        run_every_secs,
        run_every_steps,
    )


def stop_if_lower_hook(
    estimator: Any,
    metric_name: str,
    threshold: float,
    eval_dir: str | None = None,
    min_steps: int = 0,
    run_every_secs: float | None = 60,
    run_every_steps: int | None = None,
) -> SessionRunHook:
    """Stop once the latest evaluation's ``metric_name`` is below ``threshold``."""
    return _stop_if(
        estimator,
        metric_name,
        lambda h: h[-1][1] < threshold,
        eval_dir,
        min_steps,
        run_every_secs,
        run_every_steps,
    )


def _no_improvement(
    better: Callable[[float, float], bool], patience: int
) -> Callable[[list[tuple[int, float]]], bool]:
    def decide(history: list[tuple[int, float]]) -> bool:
        best_step, best = history[0]
        for step, value in history[1:]:
            if better(value, best):
                best_step, best = step, value
        return history[-1][0] - best_step >= patience

    return decide


def stop_if_no_decrease_hook(
    estimator: Any,
    metric_name: str,
    max_steps_without_decrease: int,
    eval_dir: str | None = None,
    min_steps: int = 0,
    run_every_secs: float | None = 60,
    run_every_steps: int | None = None,
) -> SessionRunHook:
    """Stop when ``metric_name`` has not decreased for ``max_steps_without_decrease`` steps
    of evaluations."""
    decide = _no_improvement(lambda new, best: new < best, max_steps_without_decrease)
    return _stop_if(
        estimator, metric_name, decide, eval_dir, min_steps, run_every_secs, run_every_steps
    )


def stop_if_no_increase_hook(
    estimator: Any,
    metric_name: str,
    max_steps_without_increase: int,
    eval_dir: str | None = None,
    min_steps: int = 0,
    run_every_secs: float | None = 60,
    run_every_steps: int | None = None,
) -> SessionRunHook:
    """Stop when ``metric_name`` has not increased for ``max_steps_without_increase`` steps
    of evaluations."""
    decide = _no_improvement(lambda new, best: new > best, max_steps_without_increase)
    return _stop_if(
        estimator, metric_name, decide, eval_dir, min_steps, run_every_secs, run_every_steps
    )


__all__ = [
    "CheckpointSaverListener",
    "LoggingTensorHook",
    "SessionRunArgs",
    "SessionRunContext",
    "SessionRunHook",
    "SessionRunValues",
    "StopAtStepHook",
    "make_early_stopping_hook",
    "read_eval_metrics",
    "stop_if_higher_hook",
    "stop_if_lower_hook",
    "stop_if_no_decrease_hook",
    "stop_if_no_increase_hook",
]
