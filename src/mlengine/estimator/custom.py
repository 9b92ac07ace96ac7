"""Custom estimators: ``Estimator(model_fn=...)`` with TF's contract, and ``ModuleEstimator``.

``model_fn(features, labels, mode, params[, config])`` returns an :class:`EstimatorSpec`; it
runs eagerly once per batch (:mod:`mlengine.estimator.layers` finds its variables again by
name). ``ModuleEstimator(module, head, optimizer)`` is the short form: your ``torch.nn.Module``
turns the batch's :class:`~mlengine.model.dense_features.ModelFeatures` into logits, and the
head does the rest. Both train, checkpoint (safetensors, by variable name), resume, warm
start, evaluate, predict and export (the network as ONNX: :mod:`mlengine.estimator.onnx_export`)
like the canned estimators. A ModuleEstimator whose module is DenseFeatures followed by Linear
layers and activations trains in numpy, as the canned DNN does
(:mod:`mlengine.training.module_step`).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import itertools
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from threadpoolctl import threadpool_limits
from torch import nn

from mlengine.data.contract import ConstantBatch, resolve_input
from mlengine.errors import (
    CheckpointError,
    DataError,
    InvalidParameterError,
    NotFittedError,
    NotSupportedError,
)
from mlengine.estimator import layers
from mlengine.estimator.estimator import (
    Estimator,
    _shard,
    _threads,
    check_steps,
    eval_run_session,
    training_input,
)
from mlengine.estimator.metrics import metric_result
from mlengine.estimator.spec import EstimatorSpec, ModeKeys, TrainOp
from mlengine.estimator.warm_start import source_weights
from mlengine.feature_column import FeatureTransformer, from_config, to_config
from mlengine.model import heads as head_module
from mlengine.model.dense_features import ModelFeatures, feature_modules
from mlengine.model.heads import SUM, Head
from mlengine.training import module_step
from mlengine.training.checkpoint import (
    load_checkpoint,
    optimizer_state_from_tensors,
    optimizer_state_to_tensors,
    read_manifest,
    restore_rng_state,
    rng_state,
    save_checkpoint,
    tensors_under,
)
from mlengine.training.distributed import (
    GradientSync,
    barrier,
    broadcast_parameters,
    broadcast_text,
    is_chief,
)
from mlengine.training.evidence import EvidenceCollector, finite_metrics, save_last_evaluation
from mlengine.training.fast_step import FastUpdater, backward
from mlengine.training.head_metrics import metrics_for_head
from mlengine.training.hooks import Hooks, RunSession
from mlengine.training.loop import finite_loss
from mlengine.training.numpy_step import Loss as NumpyLoss
from mlengine.training.optimizers import OptimizerSpec, get_optimizer
from mlengine.training.pipeline import raw_batches
from mlengine.training.progress import TrainingProgress, eval_line, number, report
from mlengine.training.summaries import SummaryWriter, write_eval_summaries
from mlengine.training.torch_private import without_dynamo_import

logger = logging.getLogger("mlengine")
StepLoss = torch.Tensor | NumpyLoss
"""A training step's loss: a tensor, or the numpy step's (both give ``float(loss.detach())``)."""
MODEL_PREFIX = "model/"


def _head_spec(
    head: Head,
    features: Any,
    mode: str,
    logits: torch.Tensor,
    labels: Any,
    optimizer: Any,
    train_op_fn: Any,
    regularization_losses: Any,
) -> EstimatorSpec:
    """``Head.create_estimator_spec``: loss from the head, a train op from ``optimizer``."""
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        logits = torch.as_tensor(logits).reshape(-1, head.logits_dimension)
    if logits.shape[1] != head.logits_dimension:
        raise InvalidParameterError(
            f"The head ({head.kind}) needs logits of shape [n, {head.logits_dimension}]; the "
            f"model gave {list(logits.shape)}."
        )
    predictions = {"logits": logits}
    if mode == ModeKeys.PREDICT:
        return EstimatorSpec(mode, predictions=predictions, head=head, logits=logits)
    if labels is None:
        raise DataError(f"The head needs labels in {mode} mode; the input_fn gave none.")
    if isinstance(labels, EncodedLabels):
        encoded = labels.tensor
    else:
        encoded = torch.from_numpy(head.encode_labels(_as_array(labels))).to(logits.device)
    if len(encoded) != logits.shape[0]:
        raise DataError(
            f"The batch has {logits.shape[0]} rows of logits but {len(encoded)} labels."
        )
    weights = None
    if head.weight_column is not None:
        weights = features[head.weight_column]
        if not isinstance(weights, torch.Tensor):
            raise DataError(f"Weight column {head.weight_column!r} must be numeric.")
        weights = weights.reshape(-1).to(logits.dtype)
    # Per-example losses feed evaluation's metrics only: training skips computing them twice.
    unreduced = head.unreduced_loss(logits, encoded) if mode == ModeKeys.EVAL else None
    loss = head.loss(logits, encoded, weights)
    if regularization_losses:
        loss = loss + sum(regularization_losses)
    train_op = None
    if mode == ModeKeys.TRAIN:
        if train_op_fn is not None:
            train_op = train_op_fn(loss)
        elif optimizer is not None:
            spec = optimizer
            if not isinstance(spec, OptimizerSpec):
                spec = get_optimizer(
                    optimizer, default_learning_rate=0.05, owner="Head", param="optimizer"
                )
            train_op = spec.minimize(loss)
        else:
            raise InvalidParameterError(
                "create_estimator_spec in TRAIN mode needs an 'optimizer' or a 'train_op_fn'."
            )
    return EstimatorSpec(
        mode,
        predictions=predictions,
        loss=loss,
        train_op=train_op,
        head=head,
        logits=logits,
        unreduced_loss=unreduced,
        labels=encoded,
        weights=weights,
    )


head_module.spec_builder = _head_spec


def _as_array(labels: Any) -> Any:
    if isinstance(labels, torch.Tensor):
        return labels.detach().cpu().numpy()
    return labels


def _label_values(labels: Any) -> Any:
    """Labels as the model_fn gets them: a tensor when numeric, the raw values otherwise."""
    if labels is None:
        return None
    array = (
        labels.to_numpy() if hasattr(labels, "to_numpy") and not hasattr(labels, "type") else labels
    )
    if isinstance(array, np.ndarray) and array.dtype.kind in "fiub":
        array = np.ascontiguousarray(array)
        return torch.from_numpy(array if array.flags.writeable else array.copy())
    return labels


class _InputEnded(Exception):
    """Raised by an update under torchrun when some rank's input has ended."""


class _NoSummaries:
    """What ranks other than the chief write: nothing."""

    def __enter__(self) -> _NoSummaries:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def scalar(self, tag: str, value: float, step: int) -> None:
        pass

    def scalars(self, values: Mapping[str, Any], step: int) -> None:
        pass


class EncodedLabels:
    """Labels already encoded by the head (ModuleEstimator encodes each chunk's once)."""

    def __init__(self, tensor: torch.Tensor):
        self.tensor = tensor

    def __getitem__(self, rows: slice) -> EncodedLabels:
        return EncodedLabels(self.tensor[rows])


class _Batch:
    """One batch as a model_fn call takes it."""

    def __init__(self, features: ModelFeatures, labels: Any):
        self.features = features
        self.labels = labels


def _model_fn_arguments(model_fn: Callable[..., Any]) -> set[str]:
    try:
        parameters = inspect.signature(model_fn).parameters
    except (TypeError, ValueError):
        return {"features", "labels", "mode", "params", "config"}
    names = set(parameters)
    if not {"features"} <= names and not any(
        p.kind is p.VAR_POSITIONAL for p in parameters.values()
    ):
        raise InvalidParameterError(
            "The 'model_fn' parameter of Estimator must take (features, labels, mode, params"
            f"[, config]). It takes {sorted(names)}."
        )
    return names


class CustomEstimator(Estimator):
    """``Estimator(model_fn=...)``: what :class:`Estimator` builds when given a model_fn."""

    def __init__(
        self,
        model_fn: Any = None,
        model_dir: Any = None,
        config: Any = None,
        params: dict[str, Any] | None = None,
        warm_start_from: str | None = None,
        *,
        network: nn.Module | None = None,
        name: str = "Estimator",
    ):
        if not callable(model_fn):
            raise InvalidParameterError(
                f"The 'model_fn' parameter of Estimator must be a function. Got {model_fn!r}."
            )
        self._model_fn = model_fn
        self._arguments = _model_fn_arguments(model_fn)
        self._params = dict(params or {})
        self._name = name
        self._init_run(model_dir, config, warm_start_from)
        self._network: nn.Module = network if network is not None else layers.VariableStore()
        self._network.to(self._device)
        if isinstance(self._network, layers.VariableStore):
            self._network.device = self._device
        self._scratch = layers.VariableStore()  # layer functions in a module's model_fn
        self._scratch.frozen = isinstance(network, nn.Module)
        self._optimizers: dict[str, torch.optim.Optimizer] = {}
        self._pending_optimizers: tuple[dict[str, torch.Tensor], dict[str, Any]] | None = None
        self._updater: FastUpdater | None = None
        self._distributed = False  # under torchrun: gradients averaged across ranks
        self._sync: GradientSync | None = None
        self._global_step = 0
        self._restored_from: str | None = None
        self._direct_inputs: dict[str, str] = {}  # numeric features the network reads itself
        self._warm_started = False
        self._raw_reads: set[str] = set()  # non-numeric features the model_fn reads itself

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._params)

    # -- calling the model_fn ------------------------------------------------------------

    def _call(
        self, batch: _Batch, mode: str, metrics: dict[str, Any] | None = None
    ) -> tuple[EstimatorSpec, dict[str, torch.Tensor]]:
        store = self._network if isinstance(self._network, layers.VariableStore) else self._scratch
        context = layers.CallContext(store, mode, self._global_step, metrics or {})
        kwargs: dict[str, Any] = {}
        if "params" in self._arguments:
            kwargs["params"] = self._params
        if "config" in self._arguments:
            kwargs["config"] = self._config
        labels = batch.labels if mode != ModeKeys.PREDICT else None
        with layers.calling(context):
            spec = self._model_fn(batch.features, labels, mode, **kwargs)
        for key in batch.features.read_directly:
            self._direct_inputs.setdefault(key, "float32")
        self._raw_reads |= batch.features.read_raw
        return _check_spec(spec, mode), context.scalars

    def _transformers(self) -> list[tuple[str, FeatureTransformer]]:
        return [(name, m.transformer) for name, m in feature_modules(self._network)]

    def _batches(self, input_fn: Any, need_labels: bool, repeat: bool = False) -> Iterator[_Batch]:
        """Batches of an input_fn or of what it resolved to (:mod:`mlengine.data.contract`); a
        constant batch is read once or, with ``repeat``, for ever."""
        source = input_fn
        if not isinstance(source, ConstantBatch):
            source = resolve_input(input_fn, self._config.tf_random_seed)
        items: Iterable[Any]
        if isinstance(source, ConstantBatch):
            pair = (source.features, source.labels)
            items, batch_size = (itertools.repeat(pair) if repeat else [pair]), None
        else:
            items, batch_size = raw_batches(source)
        for index, item in enumerate(items):
            features, labels = (
                (item[0], item[1]) if isinstance(item, tuple | list) else (item, None)
            )
            if not isinstance(features, Mapping):
                raise DataError(
                    "An input_fn must yield (features, labels) pairs or features dicts; got "
                    f"{type(item).__name__}."
                )
            if need_labels and labels is None:
                raise DataError("input_fn gave no labels; training and evaluation need them.")
            chunk = ModelFeatures(features, self._device)
            if chunk.num_rows == 0:
                raise DataError(f"input_fn yielded an empty batch (input batch {index}).")
            transformers = [t for _, t in self._transformers()]
            chunk.encode(transformers)  # a whole chunk at a time, moved to the device once
            for transformer in transformers:
                chunk.tensors(transformer)
            values = _label_values(labels)
            head = getattr(self, "_head", None)
            if head is not None and values is not None:  # ModuleEstimator: its head is known
                values = EncodedLabels(
                    torch.from_numpy(head.encode_labels(_as_array(values))).to(self._device)
                )
            if batch_size is None or chunk.num_rows <= batch_size:
                yield _Batch(chunk, values)
                continue
            parts = chunk.split(batch_size)
            if isinstance(values, EncodedLabels):
                labels_parts: list[Any] = [
                    EncodedLabels(t) for t in torch.split(values.tensor, batch_size)
                ]
            else:
                labels_parts = [
                    None if values is None else values[i * batch_size : (i + 1) * batch_size]
                    for i in range(len(parts))
                ]
            for part, part_labels in zip(parts, labels_parts, strict=True):
                yield _Batch(part, part_labels)

    # -- checkpoints -----------------------------------------------------------------------

    def _inputs_config(self) -> list[dict[str, Any]]:
        """The feature-column modules (by name) and the numeric features read directly."""
        modules = [
            {
                "name": name,
                "columns": [to_config(c) for c in t.feature_columns],
                "sparse_combiner": t.sparse_combiner,
            }
            for name, t in self._transformers()
        ]
        return modules

    def _model_spec(self) -> dict[str, Any]:
        return {"estimator": self._name, "custom": True}

    def _save(self) -> str:
        tensors = {MODEL_PREFIX + k: v for k, v in self._network.state_dict().items()}
        structures: dict[str, Any] = {}
        for key, optimizer in self._optimizers.items():
            with without_dynamo_import():
                state = optimizer.state_dict()
            opt_tensors, structure = optimizer_state_to_tensors(state, f"optimizer/{key}/")
            tensors.update(opt_tensors)
            structures[key] = {**structure, "class": type(optimizer).__name__}
        rng_tensors, rng_info = rng_state()
        tensors.update(rng_tensors)
        manifest = {
            "model_spec": self._model_spec(),
            "optimizers": structures,
            "rng": rng_info,
            "feature_modules": self._inputs_config(),
            "direct_inputs": dict(sorted(self._direct_inputs.items())),
            "raw_inputs": sorted(self._raw_reads),
        }
        return save_checkpoint(
            self._model_dir, self._global_step, tensors, manifest, self._config.keep_checkpoint_max
        )

    def _restore(self, path: str, *, with_optimizers: bool) -> dict[str, Any]:
        tensors, manifest = load_checkpoint(path)
        spec = manifest.get("model_spec")
        if not isinstance(spec, dict) or not spec.get("custom"):
            raise CheckpointError(
                f"{path} was written by a canned estimator ({spec!r}); use a new model_dir, or "
                "warm_start_from it."
            )
        weights = tensors_under(tensors, MODEL_PREFIX)
        if isinstance(self._network, layers.VariableStore):
            self._network.pending = dict(weights)
            own = self._network.state_dict(keep_vars=True)
            for name in list(own):
                if name in weights:
                    with torch.no_grad():
                        own[name].data.copy_(self._network.pending.pop(name))
        else:
            from mlengine.model.spec import check_weights

            check_weights(self._network.state_dict(), weights, path, CheckpointError)
            self._network.load_state_dict(weights)
        self._global_step = int(manifest["global_step"])
        self._direct_inputs = dict(manifest.get("direct_inputs", {}))
        self._optimizers, self._updater, self._sync = {}, None, None
        self._pending_optimizers = (tensors, manifest.get("optimizers", {}))
        if with_optimizers:
            restore_rng_state(tensors, manifest.get("rng", {}))
        self._restored_from = path
        return manifest

    def _ensure_restored(self, checkpoint_path: str | None) -> dict[str, Any]:
        path = checkpoint_path or self.latest_checkpoint()
        if path is None:
            raise NotFittedError(
                f"Could not find a trained model in model_dir {self._model_dir!r}: call train() "
                "first (or point model_dir at a trained model)."
            )
        if self._restored_from == path and self._global_step == _step_of(path):
            return read_manifest(path)  # its weights are the ones already restored
        return self._restore(path, with_optimizers=False)

    def _warm_start(self) -> None:
        if self._warm_start_from is None or self._warm_started:
            return
        weights = source_weights(self._warm_start_from)
        own = self._network.state_dict(keep_vars=True)
        copied = [n for n, t in own.items() if n in weights and weights[n].shape == t.shape]
        with torch.no_grad():
            for name in copied:
                own[name].data.copy_(weights[name])
        if isinstance(self._network, layers.VariableStore):
            for name, tensor in weights.items():  # variables the model_fn has yet to create
                if name not in own:
                    self._network.pending[name] = tensor
        elif not copied:
            raise CheckpointError(
                f"warm_start_from={self._warm_start_from!r}: no weight matches this model by "
                "name and shape."
            )
        self._warm_started = True

    def get_variable_names(self) -> list[str]:
        self._ensure_restored(None)
        names = set(self._network.state_dict())
        if isinstance(self._network, layers.VariableStore):
            names |= set(self._network.pending)
        return sorted(names)

    def get_variable_value(self, name: str) -> np.ndarray:
        self._ensure_restored(None)
        weights = dict(self._network.state_dict())
        if isinstance(self._network, layers.VariableStore):
            weights.update(self._network.pending)
        if name not in weights:
            raise InvalidParameterError(f"Variable {name!r} not found; see get_variable_names().")
        return weights[name].detach().cpu().numpy()

    # -- train -----------------------------------------------------------------------------

    def _optimizer_for(self, key: str, op: TrainOp) -> torch.optim.Optimizer:
        optimizer = self._optimizers.get(key)
        if optimizer is not None:
            return optimizer
        params = (
            list(op.var_list)
            if op.var_list is not None
            else [p for p in self._network.parameters() if p.requires_grad]
        )
        if not params:
            raise InvalidParameterError("The train_op has no trainable variable to update.")
        with without_dynamo_import():
            optimizer = op.optimizer.build(params)
        if self._pending_optimizers is not None:
            tensors, structures = self._pending_optimizers
            structure = structures.get(key)
            if structure is not None:
                with without_dynamo_import():
                    optimizer.load_state_dict(optimizer_state_from_tensors(tensors, structure))
        self._optimizers[key] = optimizer
        return optimizer

    def _run_train_op(self, train_op: Any) -> None:
        ops = list(train_op) if isinstance(train_op, list | tuple) else [train_op]
        for op in ops:
            if not isinstance(op, TrainOp):
                raise InvalidParameterError(
                    "EstimatorSpec: 'train_op' must be what optimizer.minimize(loss) returns "
                    f"(or a list of them). Got {type(op).__name__}."
                )
        if self._updater is None:
            optimizers = [
                self._optimizer_for(f"{i}:{type(op.optimizer).__name__}", op)
                for i, op in enumerate(ops)
            ]
            if self._distributed:
                self._sync_gradients(optimizers)
            self._updater = FastUpdater(optimizers, grads="zero" if self._sync else "clear")
            if isinstance(self._network, layers.VariableStore):
                self._network.frozen = True
        losses = list({id(op.loss): op.loss for op in ops}.values())
        if len(losses) == 1:
            backward(losses[0])
        else:
            for index, loss in enumerate(losses):
                loss.backward(retain_graph=index < len(losses) - 1)
        self._update()

    def _sync_gradients(self, optimizers: list[torch.optim.Optimizer]) -> None:
        """Data-parallel training, at the first update (a model_fn's variables exist by
        then): every rank takes rank 0's weights, and the gradients become views of one
        buffer that :meth:`_update` averages across ranks (the first backward's kept)."""
        params = list(
            {
                id(p): p
                for optimizer in optimizers
                for group in optimizer.param_groups
                for p in group["params"]
                if p.requires_grad
            }.values()
        )
        broadcast_parameters(self._network)
        grads = [p.grad for p in params]
        self._sync = GradientSync(params)
        with torch.no_grad():
            for param, grad in zip(params, grads, strict=True):
                if grad is not None:
                    assert param.grad is not None
                    param.grad.copy_(grad)

    def _update(self) -> None:
        """The optimizers' step; under torchrun, after the gradients are averaged across
        ranks, and not at all when some rank's input has ended (every rank stops there)."""
        if self._sync is not None and not self._sync.all_reduce(True):
            raise _InputEnded
        assert self._updater is not None
        self._updater.step()

    def _train_step(self, batch: _Batch) -> tuple[StepLoss, dict[str, torch.Tensor]]:
        """One training step: the model_fn's spec, its train op run; the (detached) loss and
        the model_fn's summary scalars."""
        spec, scalars = self._call(batch, ModeKeys.TRAIN)
        self._run_train_op(spec.train_op)
        return spec.loss.detach(), scalars

    def train(
        self,
        input_fn: Any,
        hooks: Sequence[Any] | None = None,
        steps: int | None = None,
        max_steps: int | None = None,
        saving_listeners: Sequence[Any] | None = None,
    ) -> Estimator:
        """Train the model_fn for ``steps`` more steps, up to ``max_steps``, or to the end of
        the input; resumes from the latest checkpoint in model_dir. Returns ``self``.

        Under ``torchrun`` (WORLD_SIZE > 1) each rank trains on its shard of the input,
        gradients are averaged across ranks every step, every rank stops at the step where
        the first runs out of input, and rank 0 alone writes checkpoints and summaries, as
        for the canned estimators (:mod:`mlengine.training.distributed`).
        """
        check_steps(steps, max_steps)
        source = training_input(input_fn, self._config.tf_random_seed, steps, max_steps)
        latest = self.latest_checkpoint()
        self._distributed = self._join_job()
        if self._distributed:
            source = _shard(source)
        with _threads(self._config.intra_op_threads), torch.random.fork_rng(devices=[]):
            if self._config.tf_random_seed is not None and latest is None:
                torch.manual_seed(self._config.tf_random_seed)
            if latest is not None and not (
                self._restored_from == latest and self._updater is not None
            ):
                self._restore(latest, with_optimizers=True)
            elif latest is None:
                self._warm_start()
            last = max_steps if max_steps is not None else None
            if steps is not None:
                last = self._global_step + steps
            if last is not None and self._global_step >= last:
                return self
            if self._distributed:  # a module's weights exist already: rank 0's everywhere
                broadcast_parameters(self._network)
            self._train_loop(source, last, Hooks(hooks or (), saving_listeners or ()))
        if self._distributed:
            barrier()  # the chief's checkpoint is on disk before any rank reads model_dir
        self._restored_from = self.latest_checkpoint()
        return self

    fit = train

    def _learning_rates(self) -> Any:
        """The learning rate hooks fetch: the optimizer's, or a dict by optimizer when the
        model_fn's train_op runs several (none before the first step builds them)."""
        rates = {
            key: float(optimizer.param_groups[0]["lr"])
            for key, optimizer in self._optimizers.items()
        }
        return next(iter(rates.values())) if len(rates) == 1 else rates or None

    def _step_context(self) -> contextlib.AbstractContextManager[Any]:
        """What the training steps run in (see ModuleEstimator's)."""
        return contextlib.nullcontext()

    def _save_with(self, hooks: Hooks, session: RunSession) -> None:
        """A checkpoint, with the saving listeners called around it."""
        hooks.before_save(session, self._global_step)
        self._save()
        hooks.after_save(session, self._global_step)

    def _train_loop(self, input_fn: Any, last_step: int | None, hooks: Hooks) -> None:
        """The steps, with ``hooks`` (:mod:`mlengine.training.hooks`) called around each as
        for the canned estimators: they fetch ``loss``, ``global_step`` (before the step's
        update), ``learning_rate`` and ``batch_size``."""
        config = self._config
        start = self._global_step
        last_save = time.monotonic()
        loss_value: StepLoss | None = None
        chief = is_chief()
        rows, saved = 0, False

        def value_of(name: str, in_step: bool = True) -> Any:
            if name == "loss":
                return None if loss_value is None else float(loss_value)
            if name == "global_step":
                return self._global_step - (1 if in_step else 0)
            if name == "batch_size":
                return rows
            return self._learning_rates()

        run_session = RunSession(lambda name: value_of(name, in_step=False))
        if hooks:
            hooks.begin(run_session)
        self._network.train()  # once: nothing switches it back during the loop
        writer_context: Any = SummaryWriter(self._model_dir) if chief else _NoSummaries()
        progress = TrainingProgress(
            start_step=start,
            last_step=last_step,
            log_every=config.log_step_count_steps,
            quiet=config.quiet or not chief,
        )
        with writer_context as writer, progress, self._step_context():
            batches = iter(self._batches(input_fn, need_labels=True, repeat=True))
            while last_step is None or self._global_step < last_step:
                batch = next(batches, None)
                if batch is None:
                    if self._sync is not None:
                        self._sync.all_reduce(False)  # tell the other ranks: input ended here
                    break
                contexts = hooks.before_run(run_session) if hooks else None
                try:
                    loss_value, scalars = self._train_step(batch)
                except _InputEnded:  # another rank's input ended: every rank stops here
                    break
                self._global_step += 1
                step = self._global_step
                rows = batch.features.num_rows
                if step % config.save_summary_steps == 0:
                    writer.scalars({"loss": finite_loss(loss_value, step), **scalars}, step)
                steps_per_sec = progress.step(
                    step, rows, functools.partial(finite_loss, loss_value, step)
                )
                if steps_per_sec is not None:  # every log_step_count_steps
                    writer.scalar("global_step/sec", steps_per_sec, step)
                if contexts is not None:
                    hooks.after_run(contexts, value_of)
                due = config.save_checkpoints_steps and step % config.save_checkpoints_steps == 0
                secs = config.checkpoint_secs
                saved = False
                if chief and (due or (secs is not None and time.monotonic() - last_save >= secs)):
                    finite_loss(loss_value, step)
                    self._save_with(hooks, run_session)
                    last_save, saved = time.monotonic(), True
                if hooks.stop_requested:
                    break
            if loss_value is not None:
                finite_loss(loss_value, self._global_step)
            if chief and (self._global_step != start or self.latest_checkpoint() is None):
                if not saved or self._global_step == start:
                    self._save_with(hooks, run_session)
            if chief and loss_value is not None:
                shown = number(finite_loss(loss_value, self._global_step))
                report(config.quiet, f"Loss for final step: {shown}.")
        if hooks:
            hooks.end(run_session, self._global_step)

    # -- evaluate and predict --------------------------------------------------------------

    @torch.no_grad()
    def evaluate(
        self,
        input_fn: Any,
        steps: int | None = None,
        hooks: Sequence[Any] | None = None,
        checkpoint_path: str | None = None,
        name: str | None = None,
    ) -> dict[str, Any]:
        """The head's metrics (under TF's keys, suffixed ``/<head name>`` for a named head)
        plus ``eval_metric_ops``, ``loss`` and ``global_step``; also written to TensorBoard.

        Under ``torchrun`` every rank evaluates the whole input (the model_fn's streaming
        metrics then need no reduction across ranks) and rank 0 writes the summaries.
        ``hooks`` are called around each batch and may fetch ``global_step`` only, as the
        canned estimators' evaluation hooks."""
        eval_hooks = Hooks(hooks or ())
        with _threads(self._config.intra_op_threads):
            self._ensure_restored(checkpoint_path)
            self._network.eval()
            run_session = eval_run_session(self._global_step)
            if eval_hooks:
                eval_hooks.begin(run_session)
            streaming: dict[str, Any] = {}
            head_metrics: Any = None
            head: Head | None = None
            evidence: EvidenceCollector | None = None
            loss_total, batches, ops = 0.0, 0, None
            for batch in self._batches(input_fn, need_labels=True):
                if steps is not None and batches >= steps:
                    break
                contexts = eval_hooks.before_run(run_session) if eval_hooks else None
                spec, _ = self._call(batch, ModeKeys.EVAL, streaming)
                ops = spec.eval_metric_ops or {}
                if spec.head is not None:
                    head = spec.head
                    if head_metrics is None:
                        head_metrics = metrics_for_head(head)
                        evidence = EvidenceCollector(head, ())
                    head_metrics.update(spec.logits, spec.labels, spec.weights, spec.unreduced_loss)
                    assert evidence is not None
                    evidence.update(spec.logits, spec.labels, spec.weights)
                loss_total += float(spec.loss.detach())
                batches += 1
                if contexts is not None:
                    eval_hooks.after_run(contexts, run_session.value)
                    if eval_hooks.stop_requested:
                        break
            if batches == 0:
                raise InvalidParameterError("evaluate(): input_fn gave no batches.")
            result: dict[str, Any] = {}
            if head_metrics is not None and head is not None:
                result = head_metrics.result()
                if head.loss_reduction != SUM:
                    result["loss"] = result["average_loss"]
            result.setdefault("loss", loss_total / batches)
            if head is not None and head.name:
                result = {f"{key}/{head.name}": value for key, value in result.items()}
            for key, op in (ops or {}).items():
                if key in result:
                    raise InvalidParameterError(
                        f"eval_metric_ops key {key!r} clashes with a metric of the head."
                    )
                result[key] = metric_result(op, key)
            result["global_step"] = self._global_step
            if eval_hooks:
                eval_hooks.end(run_session, self._global_step)
        if is_chief():  # under torchrun every rank evaluates the whole input alike
            write_eval_summaries(self._model_dir, result, self._global_step, name)
            report(self._config.quiet, eval_line(result, self._global_step))
            self._last_evidence = (
                evidence.record(result, self._global_step, head_metrics.state())
                if evidence is not None
                else {
                    "global_step": self._global_step,
                    "metrics": finite_metrics(result),
                    "curves": {},
                    "instances": [],
                }
            )
            save_last_evaluation(self._model_dir, self._last_evidence)
        self._last_eval = dict(result)
        return result

    @torch.no_grad()
    def predict(
        self,
        input_fn: Any,
        predict_keys: Sequence[str] | str | None = None,
        hooks: Sequence[Any] | None = None,
        checkpoint_path: str | None = None,
        yield_single_examples: bool = True,
    ) -> Iterator[dict[str, Any]]:
        """One dict of predictions per example (or per batch), keys as the spec's."""
        if hooks:
            raise NotSupportedError("predict(hooks=...) is not supported.")
        self._ensure_restored(checkpoint_path)
        self._network.eval()

        def outputs(batch: _Batch) -> Callable[[], Mapping[str, np.ndarray]]:
            return lambda: prediction_arrays(self._call(batch, ModeKeys.PREDICT)[0])

        batches = self._batches(input_fn, need_labels=False)
        yield from self._predictions(
            ((batch.features.num_rows, outputs(batch)) for batch in batches),
            predict_keys,
            yield_single_examples,
        )

    # -- export ----------------------------------------------------------------------------

    def export_saved_model(
        self,
        export_dir_base: Any,
        serving_input_receiver_fn: Any = None,
        assets_extra: dict[str, str] | None = None,
        as_text: bool = False,
        checkpoint_path: str | None = None,
        experimental_mode: Any = None,
        export_onnx: bool = True,
    ) -> str:
        """Export the latest (or given) checkpoint: the network as ONNX (``model.onnx``)
        beside the feature columns, head and signature. Loading it runs no code of yours.

        ONNX is the one form a custom network is exported in, so the export always carries
        it: ``export_onnx`` (the canned estimators' option, which exporters hand on) changes
        nothing here."""
        from mlengine.estimator.onnx_export import export_custom

        manifest = self._ensure_restored(checkpoint_path)
        raw = sorted(set(manifest.get("raw_inputs", [])) | self._raw_reads)
        if raw:
            raise NotSupportedError(
                f"The model_fn reads feature(s) {raw} directly as raw values (strings): an "
                "exported network can read only numbers directly; read strings through feature "
                "columns (input_layer, linear_model, DenseFeatures, LinearModel)."
            )
        modules = manifest.get("feature_modules", [])
        transformers = [
            (
                entry["name"],
                FeatureTransformer(
                    [from_config(c) for c in entry["columns"]], entry["sparse_combiner"]
                ),
            )
            for entry in modules
        ]
        path = None
        if is_chief():  # under torchrun rank 0 writes, and every rank learns the path
            path = export_custom(
                self,
                export_dir_base,
                transformers,
                dict(manifest.get("direct_inputs", {})),
                serving_input_receiver_fn,
            )
        if self._join_job():
            return broadcast_text(path, self._device)
        assert path is not None
        return path

    export_savedmodel = export_saved_model


def prediction_arrays(spec: EstimatorSpec) -> dict[str, np.ndarray]:
    """A spec's predictions as numpy arrays (the head's keys when a head made it)."""
    if spec.head is not None:
        return spec.head.predictions(spec.logits)
    predictions = spec.predictions
    return {k: v.detach().cpu().numpy() for k, v in predictions.items()}


def _check_spec(spec: Any, mode: str) -> EstimatorSpec:
    if not isinstance(spec, EstimatorSpec):
        raise InvalidParameterError(
            f"The model_fn must return an EstimatorSpec; it returned {type(spec).__name__}."
        )
    if spec.mode != mode:
        raise InvalidParameterError(
            f"The model_fn was called in mode {mode!r} and returned a spec of mode {spec.mode!r}."
        )
    if mode in (ModeKeys.TRAIN, ModeKeys.EVAL):
        if not isinstance(spec.loss, torch.Tensor) or spec.loss.numel() != 1:
            got = "no loss" if spec.loss is None else f"loss of type {type(spec.loss).__name__}"
            raise InvalidParameterError(
                f"The model_fn returned {got} in {mode.upper()} mode: EstimatorSpec needs "
                "loss=<a scalar tensor> in TRAIN and EVAL."
            )
        if mode == ModeKeys.TRAIN and spec.train_op is None:
            raise InvalidParameterError(
                "The model_fn returned no train_op in TRAIN mode: return "
                "EstimatorSpec(mode, loss=loss, train_op=optimizer.minimize(loss))."
            )
    if mode == ModeKeys.PREDICT and spec.head is None:
        predictions = spec.predictions
        if isinstance(predictions, torch.Tensor):
            object.__setattr__(spec, "predictions", {"predictions": predictions})
            predictions = spec.predictions
        if not isinstance(predictions, Mapping) or not predictions:
            raise InvalidParameterError(
                "The model_fn returned no predictions in PREDICT mode: EstimatorSpec needs "
                "predictions=<a tensor or a dict of tensors>."
            )
        for key, value in predictions.items():
            if not isinstance(value, torch.Tensor):
                raise InvalidParameterError(
                    f"Prediction {key!r} is a {type(value).__name__}, not a tensor: every "
                    "prediction of a model_fn must be a torch tensor with one row per example."
                )
    return spec


def _step_of(path: str) -> int:
    return int(path.rsplit("-", 1)[-1].split(".")[0])


class ModuleEstimator(CustomEstimator):
    """The short form: your ``torch.nn.Module`` (logits from the batch's features), a head and
    an optimizer, on the whole machinery of a custom estimator.

    Example:
        >>> class Net(torch.nn.Module):                                     # doctest: +SKIP
        ...     def __init__(self, columns):
        ...         super().__init__()
        ...         self.inputs = DenseFeatures(columns)
        ...         self.hidden = torch.nn.Linear(self.inputs.output_dim, 16)
        ...         self.logits = torch.nn.Linear(16, 1)
        ...     def forward(self, features):
        ...         return self.logits(torch.relu(self.hidden(self.inputs(features))))
        >>> model = ModuleEstimator(Net(columns), binary_classification_head(), "Adagrad")
    """

    def __init__(
        self,
        module: nn.Module,
        head: Head,
        optimizer: Any = "Adagrad",
        model_dir: Any = None,
        config: Any = None,
        warm_start_from: str | None = None,
    ):
        if not isinstance(module, nn.Module):
            raise InvalidParameterError(
                f"The 'module' parameter of ModuleEstimator must be a torch.nn.Module. Got "
                f"{type(module).__name__}."
            )
        if not isinstance(head, Head):
            raise InvalidParameterError(
                "The 'head' parameter of ModuleEstimator must be a head such as "
                f"binary_classification_head(). Got {head!r}."
            )
        spec = get_optimizer(
            optimizer, default_learning_rate=0.05, owner="ModuleEstimator", param="optimizer"
        )

        def model_fn(features: Any, labels: Any, mode: str) -> EstimatorSpec:
            result: EstimatorSpec = head.create_estimator_spec(
                features, mode, module(features), labels, optimizer=spec
            )
            return result

        self._module_name = type(module).__name__
        self._module = module
        self._module_step: module_step.ModuleStep | None = None
        self._numpy_step_for: FastUpdater | None = None  # the updater it was built with
        self._head = head
        self._optimizer_spec = spec
        super().__init__(
            model_fn,
            model_dir,
            config,
            None,
            warm_start_from,
            network=module,
            name="ModuleEstimator",
        )

    def _train_step(self, batch: _Batch) -> tuple[StepLoss, dict[str, torch.Tensor]]:
        """The model_fn's step without its round trip through an EstimatorSpec: the module's
        logits, the head's loss, backward and the update, the same ops in the same order as
        the model_fn path (a test trains both ways to bitwise equal weights). The first step
        takes that path (it builds the optimizer and checks the spec), as does a head with a
        weight column; logits of another shape go through the head's spec, which reshapes
        them or names the problem. The spec's construction and checks were about 7% of a
        census step at batch 256 (interleaved CPU times).

        A module and head that :mod:`mlengine.training.module_step` covers (DenseFeatures,
        then Linear layers and relu/tanh/sigmoid; see its docstring) take its numpy step
        instead: the same gradients without autograd, to float32 rounding."""
        labels = batch.labels
        head = self._head
        if (
            self._updater is None
            or head.weight_column is not None
            or not isinstance(labels, EncodedLabels)
        ):
            return super()._train_step(batch)
        numpy_step = self._numpy_step()
        if numpy_step is not None:
            numpy_loss = numpy_step(batch.features, labels.tensor)
            if numpy_loss is not None:
                self._update()
                return numpy_loss, {}
            self._updater.zero_grads()  # the numpy step keeps them: autograd adds into them
        features = batch.features
        context = layers.CallContext(self._scratch, ModeKeys.TRAIN, self._global_step, {})
        with layers.calling(context):
            logits = self._module(features)
            plain = (
                isinstance(logits, torch.Tensor)
                and logits.dim() == 2
                and logits.shape[1] == head.logits_dimension
                and len(labels.tensor) == logits.shape[0]
            )
            if not plain:  # what the model_fn does with these logits, without a new forward
                spec = _check_spec(
                    head.create_estimator_spec(
                        features, ModeKeys.TRAIN, logits, labels, optimizer=self._optimizer_spec
                    ),
                    ModeKeys.TRAIN,
                )
        for key in features.read_directly:
            self._direct_inputs.setdefault(key, "float32")
        self._raw_reads |= features.read_raw
        if not plain:
            self._run_train_op(spec.train_op)
            return spec.loss.detach(), context.scalars
        loss = head.loss(logits, labels.tensor, None)
        backward(loss)
        self._update()
        return loss.detach(), context.scalars

    def _step_context(self) -> contextlib.AbstractContextManager[Any]:
        """numpy's BLAS with the threads torch has (the numpy step's matmuls), as the canned
        estimators' training loop runs their numpy step."""
        if self._device.type != "cpu":
            return contextlib.nullcontext()
        return threadpool_limits(torch.get_num_threads(), user_api="blas")

    def _numpy_step(self) -> module_step.ModuleStep | None:
        """The step in numpy (:mod:`mlengine.training.module_step`) where it covers the module
        and head, built (once per updater) after the first step has built the optimizers:
        the updater then keeps the gradients, which the numpy step overwrites every step."""
        if self._numpy_step_for is self._updater:
            return self._module_step
        self._module_step = None
        if not self._distributed and self._sync is None and self._device.type == "cpu":
            self._module_step = module_step.build(self._module, self._head)
            if self._module_step is not None:
                self._updater = FastUpdater(list(self._optimizers.values()), grads="keep")
        self._numpy_step_for = self._updater
        return self._module_step

    def _model_spec(self) -> dict[str, Any]:
        return {
            "estimator": self._name,
            "custom": True,
            "module": self._module_name,
            "head": self._head.config(),
            "optimizer": json.loads(json.dumps(self._optimizer_spec.to_config())),
        }


__all__ = ["CustomEstimator", "ModuleEstimator", "prediction_arrays"]
