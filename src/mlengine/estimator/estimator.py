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

from mlengine.errors import InvalidParameterError, NotFittedError, NotSupportedError
from mlengine.estimator.warm_start import warm_start
from mlengine.model import Model
from mlengine.model.encode import Encoder
from mlengine.training.checkpoint import latest_checkpoint, load_checkpoint
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
from mlengine.training.head_metrics import metrics_for_head
from mlengine.training.loop import run_training
from mlengine.training.optimizers import OptimizerSpec
from mlengine.training.pipeline import encoded_batches, encoded_chunks
from mlengine.training.session import MODEL_PREFIX, TrainingSession, check_same_model
from mlengine.training.summaries import write_eval_summaries

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


def _shard(input_fn: Any, *, evaluation: bool = False) -> Any:
    """This rank's part of an mlengine input function; others are read whole by every rank.

    Training pads uneven parts so every rank takes the same number of steps; evaluation keeps
    each row exactly once, so reduced metrics count every example once.
    """
    shard = getattr(input_fn, "shard", None)
    if shard is None:
        logger.warning(
            "input_fn has no shard() method, so every rank reads all of it. Shard it yourself by "
            "RANK and WORLD_SIZE, or use pandas/numpy/csv/parquet_input_fn."
        )
        return input_fn
    return shard(rank(), world_size(), uneven="keep" if evaluation else "pad")


def check_train_arguments(
    hooks: Sequence[Any] | None,
    saving_listeners: Sequence[Any] | None,
    steps: int | None,
    max_steps: int | None,
) -> None:
    """train()'s rules, shared by every estimator: no hooks, steps or max_steps (ints >= 1)."""
    if hooks or saving_listeners:
        raise NotSupportedError("train(hooks=..., saving_listeners=...) is not supported.")
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
        """Train on ``input_fn`` for ``steps`` more steps, up to ``max_steps``, or until the
        input ends. Resumes from the latest checkpoint in model_dir. Returns ``self``."""
        check_train_arguments(hooks, saving_listeners, steps, max_steps)
        latest = self.latest_checkpoint()
        if latest is not None:
            _, manifest = load_checkpoint(latest)
            check_same_model(manifest.get("model_spec"), self._model_spec(), latest)
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
                input_fn = _shard(input_fn)
            batches = encoded_batches(input_fn, self._encoder(session.model), need_labels=True)
            run_training(
                session,
                batches,
                last_step=last_step,
                config=self._config,
                model_dir=self._model_dir,
                gradient_clip_norm=self._gradient_clip_norm,
                distributed=distributed,
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
        TensorBoard summaries into ``model_dir/eval`` (``eval_<name>``)."""
        if hooks:
            raise NotSupportedError("evaluate(hooks=...) is not supported.")
        distributed = self._join_job()
        if distributed:
            input_fn = _shard(input_fn, evaluation=True)
        with _threads(self._config.intra_op_threads):
            session = self._restored(checkpoint_path)
            model = session.model
            model.network.eval()
            metrics = metrics_for_head(model.head)
            loss_sum = torch.zeros((), dtype=torch.float64, device=self._device)
            batches = 0
            # (encoded rows, how many of the input function's batches they are)
            source = (
                ((b, 1) for b in encoded_batches(input_fn, self._encoder(model), need_labels=True))
                if steps is not None
                else (
                    (c, 1 if size is None else math.ceil(c.num_rows / size))
                    for c, size in encoded_chunks(input_fn, self._encoder(model), need_labels=True)
                )
            )
            for batch, count in source:
                if steps is not None and batches >= steps:
                    break
                assert batch.labels is not None
                logits = model.network(batch.inputs)
                losses = model.head.unreduced_loss(logits, batch.labels)
                metrics.update(
                    model.head.metric_inputs(logits), batch.labels, batch.weights, losses
                )
                weighted = losses if batch.weights is None else losses * batch.weights
                loss_sum += weighted.sum()
                batches += count
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
        if is_chief():
            write_eval_summaries(self._model_dir, result, session.global_step, name)
        self._last_eval = dict(result)
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
            raise NotSupportedError("predict(hooks=...) is not supported.")
        session = self._restored(checkpoint_path)
        model = session.model
        model.network.eval()
        encoder = Encoder(model, self._device)  # no weight column: predict needs no weights

        def outputs(chunk: Any) -> Callable[[], Mapping[str, np.ndarray]]:
            return lambda: model.head.predictions(model.network(chunk.inputs))

        chunks = encoded_chunks(input_fn, encoder, need_labels=False)
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
            members = None
            if export_onnx:
                from mlengine.export.portable import portable_member

                model = session.model
                weights = {
                    name: tensor.detach().cpu().numpy()
                    for name, tensor in model.network.state_dict().items()
                }
                members = {"onnx": portable_member(model.spec, weights, model.head)}
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


__all__ = ["MODEL_PREFIX", "Estimator"]
