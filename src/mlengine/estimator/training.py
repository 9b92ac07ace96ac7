"""``TrainSpec``, ``EvalSpec`` and ``train_and_evaluate``, with evaluation in plain terms.

TensorFlow evaluated only when a new checkpoint existed and ``throttle_secs`` had passed, which
confused many users. Here ``EvalSpec(every_n_steps=N)`` says it directly: train N steps,
evaluate, run the exporters, repeat until ``TrainSpec.max_steps`` or the input ends.

Without ``every_n_steps`` the cadence is TensorFlow's (its local ``train_and_evaluate``): one
training run, which evaluates (and runs the exporters) after a checkpoint is saved, skipping
the first one and then at most once per ``throttle_secs``, and once more at the end unless the
last checkpoint was just evaluated. With the default checkpoint cadence (every 600 s) a short
run therefore evaluates once, after training. The train spec's hooks and saving listeners go to
``train``, the eval spec's hooks to ``evaluate`` (an early-stopping hook sees each evaluation).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from mlengine.errors import InvalidParameterError
from mlengine.estimator.estimator import Estimator


@dataclass(frozen=True)
class TrainSpec:
    """What to train on: ``input_fn`` and the final global step (None: until input ends)."""

    input_fn: Any
    max_steps: int | None = None
    hooks: Sequence[Any] = ()
    saving_listeners: Sequence[Any] = ()


@dataclass(frozen=True)
class EvalSpec:
    """What to evaluate on, how often, and which exporters to run after each evaluation.

    ``steps`` batches per evaluation (None: the whole input; TF's default is 100). The
    TensorFlow arguments ``start_delay_secs`` and ``throttle_secs`` are accepted and ignored
    in favour of ``every_n_steps``.
    """

    input_fn: Any
    steps: int | None = 100
    name: str | None = None
    hooks: Sequence[Any] = ()
    exporters: Any = ()
    start_delay_secs: int = 120
    throttle_secs: int = 600
    every_n_steps: int | None = None
    _exporter_list: tuple[Any, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        exporters = self.exporters
        if exporters is None:
            exporters = ()
        elif not isinstance(exporters, list | tuple):
            exporters = (exporters,)
        names = [getattr(e, "name", None) for e in exporters]
        if len(set(names)) != len(names):
            raise InvalidParameterError(f"EvalSpec: exporter names must be unique. Got {names}.")
        object.__setattr__(self, "_exporter_list", tuple(exporters))
        if self.every_n_steps is not None and self.every_n_steps < 1:
            raise InvalidParameterError(
                f"The 'every_n_steps' parameter of EvalSpec must be >= 1. Got {self.every_n_steps}."
            )


def train_and_evaluate(
    estimator: Estimator, train_spec: TrainSpec, eval_spec: EvalSpec
) -> tuple[dict[str, Any], list[Any]]:
    """Alternate training and evaluation; return ``(last eval result, export results)``."""
    if not isinstance(estimator, Estimator):
        raise InvalidParameterError(
            f"train_and_evaluate needs an Estimator; got {type(estimator).__name__}."
        )
    if eval_spec.every_n_steps is None:
        return _at_checkpoints(estimator, train_spec, eval_spec)
    export_results: list[Any] = []
    every = eval_spec.every_n_steps
    while True:
        before = _step(estimator)
        target = before + every
        if train_spec.max_steps is not None:
            target = min(target, train_spec.max_steps)
        _train(estimator, train_spec, max_steps=target)
        after = _step(estimator)
        is_final = (
            after == before
            or (train_spec.max_steps is not None and after >= train_spec.max_steps)
            or after < before + every
        )
        result = _evaluate_and_export(estimator, eval_spec, is_final, export_results)
        if is_final:
            return result, export_results


def _train(
    estimator: Estimator, spec: TrainSpec, max_steps: int | None, listeners: Any = ()
) -> None:
    estimator.train(
        input_fn=spec.input_fn,
        hooks=list(spec.hooks),
        max_steps=max_steps,
        saving_listeners=[*spec.saving_listeners, *listeners],
    )


def _evaluate_and_export(
    estimator: Estimator, spec: EvalSpec, is_final: bool, export_results: list[Any]
) -> dict[str, Any]:
    result = estimator.evaluate(
        input_fn=spec.input_fn, steps=spec.steps, hooks=list(spec.hooks), name=spec.name
    )
    for exporter in spec._exporter_list:
        export_results.append(
            exporter.export(
                estimator,
                f"{estimator.model_dir}/export/{exporter.name}",
                estimator.latest_checkpoint(),
                result,
                is_final,
            )
        )
    return result


class _EvaluateAfterSave:
    """TF's ``_NewCheckpointListenerForEvaluate``: evaluate after a checkpoint save, skipping
    the first, at most once per ``throttle_secs``."""

    def __init__(
        self, estimator: Estimator, spec: EvalSpec, max_steps: int | None, results: list[Any]
    ) -> None:
        self.estimator, self.spec, self.max_steps = estimator, spec, max_steps
        self.export_results = results
        self.first = True
        self.last_time: float | None = None
        self.last_step: int | None = None
        self.last_result: dict[str, Any] | None = None
        self.last_final = False

    def after_save(self, session: Any, global_step_value: int) -> None:
        if self.first:
            self.first = False
            return
        now = time.monotonic()
        if self.last_time is not None and now - self.last_time < self.spec.throttle_secs:
            return
        self.evaluate(global_step_value)
        self.last_time = time.monotonic()

    def evaluate(self, step: int) -> None:
        final = self.max_steps is not None and step >= self.max_steps
        self.last_result = _evaluate_and_export(
            self.estimator, self.spec, final, self.export_results
        )
        self.last_step, self.last_final = step, final


def _at_checkpoints(
    estimator: Estimator, train_spec: TrainSpec, eval_spec: EvalSpec
) -> tuple[dict[str, Any], list[Any]]:
    export_results: list[Any] = []
    listener = _EvaluateAfterSave(estimator, eval_spec, train_spec.max_steps, export_results)
    _train(estimator, train_spec, train_spec.max_steps, [listener])
    step = _step(estimator)
    if listener.last_result is not None and listener.last_step == step:
        if not listener.last_final:  # evaluated, but not as the final export: export again
            for exporter in eval_spec._exporter_list:
                export_results.append(
                    exporter.export(
                        estimator,
                        f"{estimator.model_dir}/export/{exporter.name}",
                        estimator.latest_checkpoint(),
                        listener.last_result,
                        True,
                    )
                )
        return listener.last_result, export_results
    return _evaluate_and_export(estimator, eval_spec, True, export_results), export_results


def _step(estimator: Estimator) -> int:
    latest = estimator.latest_checkpoint()
    return 0 if latest is None else int(latest.rsplit("-", 1)[-1])
