"""``TrainSpec``, ``EvalSpec`` and ``train_and_evaluate``, with evaluation in plain terms.

TensorFlow evaluated only when a new checkpoint existed and ``throttle_secs`` had passed, which
confused many users. Here ``EvalSpec(every_n_steps=N)`` says it directly: train N steps,
evaluate, run the exporters, repeat until ``TrainSpec.max_steps`` or the input ends. Without
``every_n_steps``, training runs to the end and evaluation happens once, after it.
"""

from __future__ import annotations

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
    export_results: list[Any] = []
    every = eval_spec.every_n_steps
    while True:
        before = _step(estimator)
        if every is None:
            estimator.train(train_spec.input_fn, max_steps=train_spec.max_steps)
        else:
            target = before + every
            if train_spec.max_steps is not None:
                target = min(target, train_spec.max_steps)
            estimator.train(train_spec.input_fn, max_steps=target)
        after = _step(estimator)
        result = estimator.evaluate(eval_spec.input_fn, steps=eval_spec.steps, name=eval_spec.name)
        is_final = (
            every is None
            or after == before
            or (train_spec.max_steps is not None and after >= train_spec.max_steps)
            or after < before + every
        )
        for exporter in eval_spec._exporter_list:
            export_results.append(
                exporter.export(
                    estimator,
                    f"{estimator.model_dir}/export/{exporter.name}",
                    estimator.latest_checkpoint(),
                    result,
                    is_final,
                )
            )
        if is_final:
            return result, export_results


def _step(estimator: Estimator) -> int:
    latest = estimator.latest_checkpoint()
    return 0 if latest is None else int(latest.rsplit("-", 1)[-1])
