"""The Estimator base: train / evaluate / predict / export over a model_dir, as tf.estimator.

Subclasses (the canned estimators) only describe their model: a JSON model spec (columns,
network options, head) and one optimizer spec per part. Everything else lives here.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from mlengine.data.contract import ConstantBatch, Resolved, resolve_input
from mlengine.errors import InvalidParameterError, NotFittedError, NotSupportedError
from mlengine.estimator.warm_start import warm_start
from mlengine.model import Model
from mlengine.model.encode import Encoder
from mlengine.training.checkpoint import latest_checkpoint, read_manifest
from mlengine.training.config import RunConfig
from mlengine.training.distributed import (
    barrier,
    broadcast_parameters,
    broadcast_text,
    ensure_process_group,
    is_chief,
    local_device,
    rank,
    reduce_metric_state,
    world_size,
)
from mlengine.training.evidence import (
    MEMBER,
    EvidenceCollector,
    evidence_member,
    linear_importances,
    load_last_evaluation,
    save_last_evaluation,
)
from mlengine.training.head_metrics import metrics_for_head
from mlengine.training.hooks import Hooks
from mlengine.training.loop import run_training
from mlengine.training.optimizers import OptimizerSpec
from mlengine.training.pipeline import encoded_batches, encoded_chunks
from mlengine.training.progress import eval_line, report
from mlengine.training.session import MODEL_PREFIX, TrainingSession, check_same_model
from mlengine.training.summaries import eval_dir, write_eval_summaries

logger = logging.getLogger("mlengine")


@contextlib.contextmanager
def _threads(count: int | None) -> Iterator[None]:
    """Run with ``count`` torch CPU threads, restoring the previous setting after."""
    previous = torch.get_num_threads()
    if count is not None and count != previous:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


def _shard(source: Resolved, *, evaluation: bool = False) -> Resolved:
    """This rank's part of an mlengine input function; others are read whole by every rank.

    Training pads uneven parts so every rank takes the same number of steps; evaluation keeps
    each row exactly once, so reduced metrics count every example once.
    """
    shard = getattr(source, "shard", None)
    if shard is None:
        logger.warning(
            "input_fn has no shard() method, so every rank reads all of it. Shard it yourself by "
            "RANK and WORLD_SIZE, or use pandas/numpy/csv/parquet_input_fn."
        )
        return source
    part: Resolved = shard(rank(), world_size(), uneven="keep" if evaluation else "pad")
    return part


def check_train_arguments(
    hooks: Sequence[Any] | None,
    saving_listeners: Sequence[Any] | None,
    steps: int | None,
    max_steps: int | None,
) -> None:
    """train()'s rules for the estimators that take no hooks: none, and :func:`check_steps`."""
    if hooks or saving_listeners:
        raise NotSupportedError("train(hooks=..., saving_listeners=...) is not supported.")
    check_steps(steps, max_steps)


def training_input(
    input_fn: Any, seed: int | None, steps: int | None, max_steps: int | None
) -> Any:
    """train()'s input, resolved (:func:`~mlengine.data.contract.resolve_input`); one batch of
    arrays is fed at every step, as TensorFlow feeds constant tensors, so it needs ``steps`` or
    ``max_steps``."""
    source = resolve_input(input_fn, seed)
    if isinstance(source, ConstantBatch) and steps is None and max_steps is None:
        raise InvalidParameterError(
            "input_fn returned one batch of arrays, which is fed at every step (as "
            "TensorFlow feeds constant tensors): give train() steps or max_steps, or "
            "training would never end."
        )
    return source


def check_steps(steps: int | None, max_steps: int | None) -> None:
    """train()'s rules for ``steps`` and ``max_steps``: not both, ints >= 1."""
    if steps is not None and max_steps is not None:
        raise InvalidParameterError("Can not provide both steps and max_steps.")
    for name, value in (("steps", steps), ("max_steps", max_steps)):
        if value is not None and (not isinstance(value, int) or value < 1):
            raise InvalidParameterError(
                f"The {name!r} parameter must be an int >= 1. Got {value!r}."
            )


class Estimator:
    """tf.estimator.Estimator: the base of the canned estimators, and, given a ``model_fn``,
    a custom estimator (:class:`~mlengine.estimator.custom.CustomEstimator`, which
    ``Estimator(model_fn=...)`` builds).
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> Estimator:
        if cls is Estimator:  # Estimator(model_fn=...): TF's custom estimator
            from mlengine.estimator.custom import CustomEstimator

            return super().__new__(CustomEstimator)
        return super().__new__(cls)

    def __init__(
        self,
        model_fn: Any = None,
        model_dir: str | os.PathLike[str] | None = None,
        config: RunConfig | None = None,
        params: dict[str, Any] | None = None,
        warm_start_from: str | None = None,
    ):
        raise NotSupportedError(  # only reached by a subclass that does not define __init__
            f"{type(self).__name__} must define its own __init__."
        )

    # -- set-up shared by subclasses -------------------------------------------------------

    def _init_run(
        self,
        model_dir: str | os.PathLike[str] | None,
        config: RunConfig | None,
        warm_start_from: str | None,
    ) -> None:
        if config is not None and not isinstance(config, RunConfig):
            raise InvalidParameterError(
                f"The 'config' parameter of {type(self).__name__} must be a RunConfig. "
                f"Got {config!r} instead."
            )
        config = config or RunConfig()
        directory = os.fspath(model_dir) if model_dir is not None else config.model_dir
        if model_dir is not None and config.model_dir not in (None, directory):
            raise InvalidParameterError(
                f"model_dir={directory!r} differs from config.model_dir={config.model_dir!r}."
            )
        if directory is None:
            directory = tempfile.mkdtemp(prefix="mlengine-model-")
            logger.warning("Using temporary folder as model directory: %s", directory)
        self._model_dir = directory
        self._config = config.replace(model_dir=directory)
        self._warm_start_from = None if warm_start_from is None else os.fspath(warm_start_from)
        self._session: TrainingSession | None = None
        self._device = local_device(self._config.torch_device())

    def _model_spec(self) -> dict[str, Any]:
        """The JSON description of the model (stored in checkpoints and exports)."""
        raise NotImplementedError

    def _optimizer_specs(self) -> dict[str, OptimizerSpec]:
        """One optimizer spec per network part: ``linear`` and/or ``dnn``."""
        raise NotImplementedError

    _weight_column: str | None = None
    _gradient_clip_norm: float | None = None

    # -- properties ------------------------------------------------------------------------

    @property
    def model_dir(self) -> str:
        return self._model_dir

    @property
    def config(self) -> RunConfig:
        return self._config

    def eval_dir(self, name: str | None = None) -> str:
        """Where ``evaluate(name=...)`` writes its event files: ``model_dir/eval[_name]``."""
        return eval_dir(self._model_dir, name)

    def latest_checkpoint(self) -> str | None:
        """Prefix of the newest complete checkpoint in model_dir (None before training)."""
        return latest_checkpoint(self._model_dir)

    def get_variable_names(self) -> list[str]:
        """Names of the model's weights, as stored in checkpoints and exports."""
        return sorted(self._restored().model.network.state_dict())

    def get_variable_value(self, name: str) -> np.ndarray:
        """The value of one weight, as a numpy array."""
        weights = self._restored().model.network.state_dict()
        if name not in weights:
            raise InvalidParameterError(f"Variable {name!r} not found; see get_variable_names().")
        return weights[name].detach().cpu().numpy()

    # -- sessions: build, warm start, restore ------------------------------------------------

    def _new_session(self) -> TrainingSession:
        session = TrainingSession.create(
            self._model_spec(), self._optimizer_specs(), self._device, self._config.tf_random_seed
        )
        if self._warm_start_from is not None:
            warm_start(session, self._warm_start_from)
        return session

    def _session_at(self, checkpoint: str | None, *, for_training: bool) -> TrainingSession:
        """A session holding ``checkpoint`` (reused from memory when it is the same step)."""
        session = self._session
        if checkpoint is None:
            if session is None or session.global_step != 0:
                session = self._new_session()
        else:
            step = int(os.path.basename(checkpoint).split("-")[-1].split(".")[0])
            reusable = (
                session is not None
                and session.global_step == step
                and (session.resumable or not for_training)
            )
            if session is None or not reusable:
                session = self._new_session()
                session.restore(checkpoint, with_optimizers=for_training)
        self._session = session
        return session

    def _restored(self, checkpoint_path: str | None = None) -> TrainingSession:
        """The model at ``checkpoint_path`` or the latest checkpoint; error if there is none."""
        path = checkpoint_path or self.latest_checkpoint()
        if path is None:
            raise NotFittedError(
                f"Could not find a trained model in model_dir {self._model_dir!r}: call train() "
                "first (or point model_dir at a trained model)."
            )
        return self._session_at(path, for_training=False)

    def _encoder(self, model: Model) -> Encoder:
        return Encoder(model, self._device, self._weight_column)

    # -- train ---------------------------------------------------------------------------

    def train(
        self,
        input_fn: Any,
        hooks: Sequence[Any] | None = None,
        steps: int | None = None,
        max_steps: int | None = None,
        saving_listeners: Sequence[Any] | None = None,
    ) -> Estimator:
        """Train on ``input_fn`` for ``steps`` more steps, up to ``max_steps``, until the input
        ends, or until a hook or saving listener asks to stop. Resumes from the latest
        checkpoint in model_dir. Returns ``self``.

        ``input_fn`` is any form of :mod:`mlengine.data.contract`; one that returns a constant
        batch of arrays is fed that batch at every step (as TF fed constant tensors), so it
        needs ``steps`` or ``max_steps``. ``hooks`` and ``saving_listeners`` follow
        :mod:`mlengine.training.hooks`.
        """
        check_steps(steps, max_steps)
        latest = self.latest_checkpoint()
        if latest is not None:
            manifest = read_manifest(latest)  # the weights are read only if restored
            check_same_model(manifest.get("model_spec"), self._model_spec(), latest)
        source = training_input(input_fn, self._config.tf_random_seed, steps, max_steps)
        distributed = self._join_job()
        with _threads(self._config.intra_op_threads), torch.random.fork_rng(devices=[]):
            session = self._session_at(latest, for_training=True)
            session.resume_rng()
            if max_steps is not None and session.global_step >= max_steps:
                logger.info("Skipping training: global_step %d >= max_steps.", session.global_step)
                return self
            last_step = max_steps if max_steps is not None else None
            if steps is not None:
                last_step = session.global_step + steps
            if distributed:
                broadcast_parameters(session.model.network)
                source = _shard(source)
            encoder = self._encoder(session.model)
            batches = encoded_batches(source, encoder, need_labels=True, repeat=True)
            run_training(
                session,
                batches,
                last_step=last_step,
                config=self._config,
                model_dir=self._model_dir,
                gradient_clip_norm=self._gradient_clip_norm,
                distributed=distributed,
                hooks=Hooks(hooks or (), saving_listeners or ()),
            )
            session.keep_rng()
        if distributed:
            barrier()  # the chief's checkpoint is on disk before any rank reads model_dir
        return self

    def _join_job(self) -> bool:
        """Under torchrun (WORLD_SIZE > 1): join the process group; False otherwise."""
        return ensure_process_group(self._device, self._config.distributed_timeout_secs)

    fit = train  # tf.contrib.learn's name, used by the talk's code

    # -- evaluate ------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(
        self,
        input_fn: Any,
        steps: int | None = None,
        hooks: Sequence[Any] | None = None,
        checkpoint_path: str | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """Metrics of the latest (or given) checkpoint over ``input_fn`` (``steps`` batches at
        most), with TensorFlow's keys plus ``loss`` and ``global_step``; also written as
        TensorBoard summaries into ``model_dir/eval`` (``eval_<name>``) and logged as TF's
        ``Saving dict for global step N: ...``. A constant batch is evaluated once.
        ``hooks`` are called around each batch and may fetch ``global_step`` only."""
        eval_hooks = Hooks(hooks or ())
        source = resolve_input(input_fn, self._config.tf_random_seed)
        distributed = self._join_job()
        if distributed:
            source = _shard(source, evaluation=True)
        with _threads(self._config.intra_op_threads):
            session = self._restored(checkpoint_path)
            model = session.model
            was_training = model.network.training  # a listener may evaluate mid-training
            model.network.eval()
            metrics = metrics_for_head(model.head)
            evidence = EvidenceCollector(model.head, model.raw_keys)
            loss_sum = torch.zeros((), dtype=torch.float64, device=self._device)
            batches = 0
            encoder = self._encoder(model)
            # (encoded rows, how many of the input function's batches they are)
            stream = (
                (
                    (b, 1)
                    for b in encoded_batches(
                        source, encoder, need_labels=True, see_features=evidence.see_features
                    )
                )
                if steps is not None or eval_hooks
                else (
                    (c, 1 if size is None else math.ceil(c.num_rows / size))
                    for c, size in encoded_chunks(
                        source, encoder, need_labels=True, see_features=evidence.see_features
                    )
                )
            )
            run_session = eval_run_session(session.global_step)
            if eval_hooks:
                eval_hooks.begin(run_session)
            for batch, count in stream:
                if steps is not None and batches >= steps:
                    break
                if eval_hooks:
                    contexts = eval_hooks.before_run(run_session)
                assert batch.labels is not None
                logits = model.network(batch.inputs)
                losses = model.head.unreduced_loss(logits, batch.labels)
                metrics.update(
                    model.head.metric_inputs(logits), batch.labels, batch.weights, losses
                )
                evidence.update(logits, batch.labels, batch.weights)
                weighted = losses if batch.weights is None else losses * batch.weights
                loss_sum += weighted.sum()
                batches += count
                if eval_hooks:
                    eval_hooks.after_run(contexts, run_session.value)
                    if eval_hooks.stop_requested:
                        break
            state: dict[str, Any] | None = None
            if distributed:  # exact: sums summed, every score gathered (AUC included)
                counts = torch.tensor([float(batches)], dtype=torch.float64, device=self._device)
                state = reduce_metric_state({**metrics.state(), "_loss": loss_sum, "_n": counts[0]})
                loss_sum, batches = state.pop("_loss"), int(state.pop("_n"))
                result: dict[str, Any] = metrics.result_from_state(state)
            if batches == 0:
                raise InvalidParameterError("evaluate(): input_fn gave no batches.")
            if not distributed:
                result = metrics.result()
            result["loss"] = result["average_loss"]
            if model.head.loss_reduction == "sum":  # TF1's loss: the mean batch sum
                result["loss"] = float(loss_sum) / batches
            result["global_step"] = session.global_step
            result = self._metric_names(result)
            if eval_hooks:
                eval_hooks.end(run_session, session.global_step)
            model.network.train(was_training)
        if is_chief():
            write_eval_summaries(self._model_dir, result, session.global_step, name)
            # the step the result reports (contrib's combined estimators count two a step)
            report(self._config.quiet, eval_line(result, int(result["global_step"])))
            record = evidence.record(result, session.global_step, state or metrics.state())
            save_last_evaluation(self._model_dir, record)
            self._last_evidence = record
        self._last_eval = dict(result)
        return result

    def _metric_names(self, result: dict[str, Any]) -> dict[str, Any]:
        """The evaluation's metrics as this estimator names them (TF's keys; the façade's
        ``tf.contrib.learn`` estimators rename them to contrib's)."""
        return result

    # -- predict -------------------------------------------------------------------------

    @torch.no_grad()
    def predict(
        self,
        input_fn: Any,
        predict_keys: Sequence[str] | str | None = None,
        hooks: Sequence[Any] | None = None,
        checkpoint_path: str | None = None,
        yield_single_examples: bool = True,
    ) -> Iterator[dict[str, Any]]:
        """Yield one dict of predictions per example (or per batch when
        ``yield_single_examples=False``), keys as tf.estimator (``predict_keys`` filters)."""
        if hooks:
            raise NotSupportedError(
                "predict(hooks=...) is not supported: hooks run around training and "
                "evaluation steps."
            )
        session = self._restored(checkpoint_path)
        model = session.model
        model.network.eval()
        encoder = Encoder(model, self._device)  # no weight column: predict needs no weights

        def outputs(chunk: Any) -> Callable[[], Mapping[str, np.ndarray]]:
            return lambda: model.head.predictions(model.network(chunk.inputs))

        source = resolve_input(input_fn, self._config.tf_random_seed)
        chunks = encoded_chunks(source, encoder, need_labels=False)
        yield from self._predictions(
            ((chunk.num_rows, outputs(chunk)) for chunk, _ in chunks),
            predict_keys,
            yield_single_examples,
            known=model.head.prediction_keys,
        )

    def _predictions(
        self,
        batches: Iterable[tuple[int, Callable[[], Mapping[str, np.ndarray]]]],
        predict_keys: Sequence[str] | str | None,
        yield_single_examples: bool,
        known: Sequence[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """``predict``'s loop, for every estimator: each batch's columnar outputs computed
        (with the config's torch threads), kept to ``predict_keys``, and yielded whole or as
        one dict per example. ``batches`` gives each batch's row count and its computation.
        Unknown ``predict_keys`` are an error before any batch is computed where the keys
        are ``known`` up front, else at the first batch."""
        keys = [predict_keys] if isinstance(predict_keys, str) else predict_keys

        def check(available: Iterable[str]) -> None:
            unknown = sorted(set(keys or ()) - set(available))
            if unknown:
                raise InvalidParameterError(
                    f"predict_keys {unknown} are not among {list(available)}."
                )

        if known is not None:
            check(known)
        for num_rows, compute in batches:
            with _threads(self._config.intra_op_threads):
                outputs = compute()
            if keys is not None:
                check(outputs)
                outputs = {k: outputs[k] for k in keys}
            if not yield_single_examples:
                yield dict(outputs)
                continue
            for i in range(num_rows):
                yield {k: v[i] for k, v in outputs.items()}

    # -- export --------------------------------------------------------------------------

    def export_saved_model(
        self,
        export_dir_base: str | os.PathLike[str],
        serving_input_receiver_fn: Any = None,
        assets_extra: dict[str, str] | None = None,
        as_text: bool = False,
        checkpoint_path: str | None = None,
        experimental_mode: Any = None,
        export_onnx: bool = False,
    ) -> str:
        """Export the latest (or given) checkpoint to ``export_dir_base/<timestamp>/``.

        With ``export_onnx=True`` the export also carries ``model.onnx``: the whole model
        (feature columns, network, head) as one ONNX graph from raw features to the
        Predictor's outputs, for ONNX runtimes outside Python (see
        :mod:`mlengine.export.portable`). Off by default: building and checking it takes
        about a second.
        """
        from mlengine.export.writer import export_model

        session = self._restored(checkpoint_path)
        path = None
        if is_chief():
            members: dict[str, tuple[str, bytes, dict[str, Any]]] = {}
            if export_onnx:
                from mlengine.export.portable import portable_member

                model = session.model
                weights = {
                    name: tensor.detach().cpu().numpy()
                    for name, tensor in model.network.state_dict().items()
                }
                members["onnx"] = portable_member(model.spec, weights, model.head)
            evidence = evidence_member(
                self._model_dir, self._evaluation_record(), linear_importances(session.model)
            )
            if evidence is not None:
                members[MEMBER] = evidence
            path = export_model(
                export_dir_base,
                session.model,
                estimator_name=type(self).__name__,
                global_step=session.global_step,
                metrics=getattr(self, "_last_eval", None),
                serving_input_receiver_fn=serving_input_receiver_fn,
                members=members,
            )
        if self._join_job():
            return broadcast_text(path, self._device)  # every rank learns the chief's path
        assert path is not None
        return path

    export_savedmodel = export_saved_model  # TF1's name

    def _evaluation_record(self) -> dict[str, Any] | None:
        """The last evaluation of this model_dir (this object's, else the one kept on disk)."""
        record: dict[str, Any] | None = getattr(self, "_last_evidence", None)
        return record if record is not None else load_last_evaluation(self._model_dir)


class _EvalRunSession:
    """What evaluation hooks may fetch: ``global_step`` (the checkpoint's)."""

    def __init__(self, global_step: int) -> None:
        self.global_step = global_step

    def value(self, name: str) -> Any:
        if name != "global_step":
            raise NotSupportedError(
                f"Evaluation hooks cannot fetch {name!r}; they may fetch 'global_step'."
            )
        return self.global_step

    def run(self, fetches: Any, feed_dict: Any = None) -> Any:
        from mlengine.training.hooks import resolve_fetches

        return resolve_fetches(fetches, self.value)


def eval_run_session(global_step: int) -> Any:
    """The session evaluation hooks are given: they may fetch ``global_step`` only."""
    return _EvalRunSession(global_step)


__all__ = ["MODEL_PREFIX", "Estimator"]
