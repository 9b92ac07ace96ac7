"""``tf.contrib.learn.Experiment``, ``learn_runner.run`` and ``saved_model_export_utils``'s
``make_export_strategy`` (TF 1.0-1.4, the Cloud ML census samples of 2017), on mlengine's
``train_and_evaluate``.

An Experiment runs locally, as ``learn_runner`` did without a cluster: its schedule is
``train_and_evaluate`` (or one the program names: ``train``, ``evaluate``,
``train_and_evaluate``). Training runs to ``train_steps`` (or the input's end); evaluations
follow checkpoints (RunConfig's cadence, the first skipped, as TF's listener) and end the run;
each export strategy exports once, after the final evaluation (contrib's ``_maybe_export``),
to ``<model_dir>/export/<name>`` (``Servo`` for ``make_export_strategy``). Arguments that only
mattered on a cluster (``delay_workers_by_global_step``, ``continuous_eval_throttle_secs``) are
accepted and ignored; ``eval_metrics``, ``train_steps_per_iteration`` and
``checkpoint_and_export`` are not supported and say so.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from mlengine import estimator as _mle
from mlengine.errors import InvalidParameterError, NotSupportedError


def _refused(what: str) -> NotSupportedError:
    return NotSupportedError(
        f"{what} is not supported by mlengine.tf. (see the 'TensorFlow coverage' table of "
        "mlengine's README.)"
    )


def make_export_strategy(
    serving_input_fn: Any,
    default_output_alternative_key: Any = None,
    assets_extra: Any = None,
    as_text: bool = False,
    exports_to_keep: int | None = 5,
    strip_default_attrs: Any = None,
) -> _mle.FinalExporter:
    """``saved_model_export_utils.make_export_strategy``: the ``Servo`` export of the final
    evaluation (``default_output_alternative_key`` names a head of a multi-head model in TF;
    mlengine's single heads take None)."""
    if assets_extra is not None:
        raise _refused("make_export_strategy(assets_extra=...)")
    return _mle.FinalExporter("Servo", serving_input_fn)


class Experiment:
    """``tf.contrib.learn.Experiment`` (see the module docstring)."""

    def __init__(
        self,
        estimator: Any,
        train_input_fn: Any,
        eval_input_fn: Any,
        eval_metrics: Any = None,
        train_steps: int | None = None,
        eval_steps: int | None = 100,
        train_monitors: Sequence[Any] | None = None,
        eval_hooks: Sequence[Any] | None = None,
        local_eval_frequency: Any = None,
        eval_delay_secs: int = 120,
        continuous_eval_throttle_secs: int = 60,
        min_eval_frequency: int | None = None,
        delay_workers_by_global_step: bool = False,
        export_strategies: Any = None,
        train_steps_per_iteration: int | None = None,
        checkpoint_and_export: bool = False,
        saving_listeners: Sequence[Any] | None = None,
    ) -> None:
        for name, value in (
            ("eval_metrics", eval_metrics),
            ("local_eval_frequency", local_eval_frequency),
            ("train_steps_per_iteration", train_steps_per_iteration),
            ("checkpoint_and_export", checkpoint_and_export or None),
        ):
            if value is not None:
                raise _refused(f"tf.contrib.learn.Experiment({name}=...)")
        if not isinstance(estimator, _mle.Estimator):
            raise InvalidParameterError(
                f"Experiment needs an estimator; got {type(estimator).__name__}."
            )
        strategies = export_strategies or []
        if not isinstance(strategies, list | tuple):
            strategies = [strategies]
        self.estimator = estimator
        self.train_spec = _mle.TrainSpec(
            train_input_fn,
            max_steps=train_steps,
            hooks=tuple(train_monitors or ()),
            saving_listeners=tuple(saving_listeners or ()),
        )
        self.eval_spec = _mle.EvalSpec(
            eval_input_fn,
            steps=eval_steps,
            hooks=tuple(eval_hooks or ()),
            exporters=tuple(strategies),
            start_delay_secs=eval_delay_secs,
            throttle_secs=0,
        )

    def train_and_evaluate(self) -> tuple[dict[str, Any], list[Any]]:
        """Train, evaluating after checkpoints; the final evaluation and the exports."""
        return _mle.train_and_evaluate(self.estimator, self.train_spec, self.eval_spec)

    def train(self, delay_secs: Any = None) -> Any:
        spec = self.train_spec
        return self.estimator.train(
            input_fn=spec.input_fn,
            hooks=list(spec.hooks),
            max_steps=spec.max_steps,
            saving_listeners=list(spec.saving_listeners),
        )

    def evaluate(self, delay_secs: Any = None, name: str | None = None) -> dict[str, Any]:
        spec = self.eval_spec
        result: dict[str, Any] = self.estimator.evaluate(
            input_fn=spec.input_fn, steps=spec.steps, hooks=list(spec.hooks), name=name
        )
        return result

    def test(self) -> dict[str, Any]:
        """contrib's smoke test: one training step and one evaluation step."""
        spec = self.train_spec
        self.estimator.train(input_fn=spec.input_fn, steps=1)
        result: dict[str, Any] = self.estimator.evaluate(input_fn=self.eval_spec.input_fn, steps=1)
        return result


SCHEDULES = ("train_and_evaluate", "train", "evaluate", "test")


def run(
    experiment_fn: Callable[..., Experiment],
    output_dir: str | None = None,
    schedule: str | None = None,
    run_config: Any = None,
    hparams: Any = None,
) -> Any:
    """``learn_runner.run``: build the Experiment (``experiment_fn(output_dir)``, or
    ``experiment_fn(run_config, hparams)`` in TF 1.3+'s form) and run its schedule locally."""
    if (output_dir is None) == (run_config is None):
        raise InvalidParameterError(
            "learn_runner.run needs exactly one of output_dir and run_config."
        )
    if output_dir is not None:
        experiment = experiment_fn(output_dir)
    else:
        experiment = experiment_fn(run_config, hparams)
    if not isinstance(experiment, Experiment):
        raise InvalidParameterError(
            f"experiment_fn must return a tf.contrib.learn.Experiment; got "
            f"{type(experiment).__name__}."
        )
    chosen = schedule or "train_and_evaluate"
    if chosen not in SCHEDULES:
        raise _refused(f"learn_runner.run(schedule={chosen!r})")
    return getattr(experiment, chosen)()


__all__ = ["SCHEDULES", "Experiment", "make_export_strategy", "run"]
