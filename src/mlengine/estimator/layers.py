"""TF 1.x-style layer functions for a ``model_fn``, eager on torch, with variables by name.

A ``model_fn`` runs once per batch. Each layer function creates its variables on the first
call and finds them again on later calls by name, as TF's variable scopes did: an unnamed
``dense`` is ``dense``, the next ``dense_1`` and so on, counted afresh in every call of the
``model_fn``; ``variable_scope("tower")`` prefixes names (``tower/dense/kernel``). The
variables live in the estimator's :class:`VariableStore` (a torch module): they are what
checkpoints save by name, what ``warm_start_from`` copies, and what an export traces.

The documented set (the ``tf`` façade maps TF's names onto these):

==============================  ==========================================================
``input_layer``                 ``tf.feature_column.input_layer`` (a :class:`DenseFeatures`)
``linear_model``                ``tf.feature_column.linear_model`` (a :class:`LinearModel`)
``dense``                       ``tf.layers.dense`` (kernel glorot-uniform, bias zeros)
``dropout``                     ``tf.layers.dropout`` (``rate`` = probability of dropping)
``batch_normalization``         ``tf.layers.batch_normalization`` (moving statistics updated
                                in place while ``training``)
``get_variable``                ``tf.get_variable``
``variable_scope``              ``tf.variable_scope``
``get_global_step``             ``tf.train.get_global_step``
``scalar``                      ``tf.summary.scalar`` (written to TensorBoard in TRAIN)
==============================  ==========================================================

Anything else raises :class:`~mlengine.errors.NotSupportedError` naming it
(:func:`not_supported`).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mlengine.errors import InvalidParameterError, NotSupportedError
from mlengine.feature_column import FeatureColumn
from mlengine.model.dense_features import DenseFeatures, LinearModel, ModelFeatures
from mlengine.model.networks import ACTIVATIONS


class VariableStore(nn.Module):
    """The variables a ``model_fn`` creates, by TF name (``dense/kernel``), and the modules
    (``input_layer``) it creates. ``pending`` holds restored tensors waiting for their
    variable's creation (a checkpoint is restored before the ``model_fn`` first runs)."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: dict[str, torch.Tensor] = {}
        self.frozen = False  # after the first training step: new variables are an error
        self.device = torch.device("cpu")

    def _adopt(self, name: str, tensor: torch.Tensor) -> torch.Tensor:
        restored = self.pending.pop(name, None)
        if restored is not None:
            if tuple(restored.shape) != tuple(tensor.shape):
                raise InvalidParameterError(
                    f"Variable {name!r} has shape {tuple(tensor.shape)} in the model_fn but "
                    f"{tuple(restored.shape)} in the checkpoint."
                )
            with torch.no_grad():
                tensor.copy_(restored)
        return tensor

    def _check_new(self, name: str) -> None:
        if self.frozen:
            raise InvalidParameterError(
                f"The model_fn created variable {name!r} after the first training step; "
                "create every variable on the first call (TF's graph would not have it)."
            )

    def variable(
        self,
        name: str,
        shape: Sequence[int],
        initializer: Callable[[torch.Tensor], Any],
        trainable: bool = True,
    ) -> torch.Tensor:
        """The variable ``name``, created (and initialised, or restored) on first use."""
        existing: torch.Tensor | None = self._parameters.get(name)
        if existing is None:
            existing = self._buffers.get(name)
        if existing is not None:
            if tuple(existing.shape) != tuple(shape):
                raise InvalidParameterError(
                    f"Variable {name!r} exists with shape {tuple(existing.shape)}; this call "
                    f"asks for {tuple(shape)}."
                )
            return existing
        self._check_new(name)
        tensor = torch.empty(*shape, device=self.device)
        with torch.no_grad():
            initializer(tensor)
        self._adopt(name, tensor)
        if trainable:
            parameter = nn.Parameter(tensor)
            self.register_parameter(name, parameter)
            return parameter
        self.register_buffer(name, tensor)
        return tensor

    def module(self, name: str, factory: Callable[[], nn.Module]) -> nn.Module:
        """The submodule ``name``, built by ``factory`` on first use (its tensors restored)."""
        existing = self._modules.get(name)
        if existing is not None:
            return existing
        self._check_new(name)
        module = factory().to(self.device)
        for key, tensor in list(module.state_dict(keep_vars=True).items()):
            self._adopt(f"{name}.{key}", tensor.data)
        self.add_module(name, module)
        return module


@dataclass
class CallContext:
    """The state of one ``model_fn`` call (see :func:`calling`)."""

    store: VariableStore
    mode: str
    global_step: int
    metrics: dict[str, Any]  # tf.metrics accumulators, kept across evaluation batches
    scalars: dict[str, torch.Tensor] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    scopes: list[str] = field(default_factory=list)

    @property
    def training(self) -> bool:
        return self.mode == "train"

    def unique(self, base: str) -> str:
        """TF's layer naming: ``dense``, ``dense_1``, ... within the current scope."""
        scoped = "/".join([*self.scopes, base])
        count = self.counts.get(scoped, 0)
        self.counts[scoped] = count + 1
        return scoped if count == 0 else f"{scoped}_{count}"

    def scoped(self, name: str) -> str:
        return "/".join([*self.scopes, name])


_ACTIVE: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar(
    "mlengine_model_fn_call", default=None
)


@contextlib.contextmanager
def calling(context: CallContext) -> Iterator[CallContext]:
    """Make ``context`` the one the layer functions use while a ``model_fn`` runs."""
    token = _ACTIVE.set(context)
    try:
        yield context
    finally:
        _ACTIVE.reset(token)


def active(what: str) -> CallContext:
    """The running ``model_fn``'s context; outside one, an error naming ``what``."""
    context = _ACTIVE.get()
    if context is None:
        raise NotSupportedError(
            f"{what} can only be called inside a model_fn run by mlengine.estimator.Estimator."
        )
    return context


def not_supported(name: str) -> NotSupportedError:
    """The error for a TF op outside the documented set (for the ``tf`` façade)."""
    return NotSupportedError(
        f"{name} is not supported by mlengine's model_fn layer set; see "
        "mlengine.estimator.layers for the operations it runs."
    )


@contextlib.contextmanager
def variable_scope(name: str, reuse: Any = None) -> Iterator[None]:
    """``tf.variable_scope(name)``: prefix the names of variables created inside."""
    context = active("variable_scope")
    if not isinstance(name, str) or not name or "." in name:
        raise InvalidParameterError(
            f"variable_scope needs a non-empty name without '.'. Got {name!r} instead."
        )
    context.scopes.append(name)
    try:
        yield
    finally:
        context.scopes.pop()


def _glorot_uniform(tensor: torch.Tensor) -> None:
    # TF's glorot_uniform for a [fan_in, fan_out] kernel (torch's xavier is symmetric in fans)
    nn.init.xavier_uniform_(tensor)


def get_variable(
    name: str,
    shape: Sequence[int],
    initializer: Callable[[torch.Tensor], Any] | float | None = None,
    trainable: bool = True,
) -> torch.Tensor:
    """``tf.get_variable``: the variable ``name`` in the current scope (glorot-uniform unless
    ``initializer`` is a function filling a tensor, or a constant)."""
    context = active("get_variable")
    if initializer is None:
        init: Callable[[torch.Tensor], Any] = _glorot_uniform if len(shape) >= 2 else nn.init.zeros_
    elif callable(initializer):
        init = initializer
    else:
        value = float(initializer)
        init = lambda t: nn.init.constant_(t, value)  # noqa: E731
    return context.store.variable(context.scoped(name), shape, init, trainable)


def _activation(activation: Any) -> Callable[[torch.Tensor], torch.Tensor] | None:
    if activation is None or callable(activation):
        return activation
    if isinstance(activation, str) and activation.lower().removeprefix("tf.nn.") in ACTIVATIONS:
        function: Callable[[torch.Tensor], torch.Tensor] = ACTIVATIONS[
            activation.lower().removeprefix("tf.nn.")
        ]
        return function
    raise InvalidParameterError(
        f"The 'activation' parameter must be None, a function or one of {sorted(ACTIVATIONS)}. "
        f"Got {activation!r} instead."
    )


def dense(
    inputs: torch.Tensor,
    units: int,
    activation: Any = None,
    use_bias: bool = True,
    kernel_initializer: Callable[[torch.Tensor], Any] | None = None,
    bias_initializer: Callable[[torch.Tensor], Any] | None = None,
    trainable: bool = True,
    name: str | None = None,
    reuse: Any = None,
) -> torch.Tensor:
    """``tf.layers.dense``: ``activation(inputs @ kernel + bias)``; variables ``<name>/kernel``
    ``[in, units]`` (glorot-uniform) and ``<name>/bias`` ``[units]`` (zeros)."""
    context = active("dense")
    if isinstance(units, bool) or not isinstance(units, int) or units < 1:
        raise InvalidParameterError(f"dense: 'units' must be an int >= 1. Got {units!r} instead.")
    scope = context.scoped(name) if name else context.unique("dense")
    store = context.store
    kernel = store.variable(
        f"{scope}/kernel",
        (int(inputs.shape[-1]), units),
        kernel_initializer or _glorot_uniform,
        trainable,
    )
    out = inputs @ kernel
    if use_bias:
        out = out + store.variable(
            f"{scope}/bias", (units,), bias_initializer or nn.init.zeros_, trainable
        )
    function = _activation(activation)
    return out if function is None else function(out)


def dropout(
    inputs: torch.Tensor,
    rate: float = 0.5,
    noise_shape: Any = None,
    seed: Any = None,
    training: bool | torch.Tensor = False,
    name: str | None = None,
) -> torch.Tensor:
    """``tf.layers.dropout``: drop each unit with probability ``rate`` while ``training``."""
    active("dropout")
    if noise_shape is not None:
        raise NotSupportedError("dropout(noise_shape=...) is not supported.")
    if not 0 <= float(rate) < 1:
        raise InvalidParameterError(f"dropout: 'rate' must be in [0, 1). Got {rate!r} instead.")
    return F.dropout(inputs, float(rate), training=bool(training))


def batch_normalization(
    inputs: torch.Tensor,
    axis: int = -1,
    momentum: float = 0.99,
    epsilon: float = 0.001,
    center: bool = True,
    scale: bool = True,
    training: bool | torch.Tensor = False,
    trainable: bool = True,
    name: str | None = None,
    reuse: Any = None,
) -> torch.Tensor:
    """``tf.layers.batch_normalization`` over the last axis: ``gamma``, ``beta`` and the
    ``moving_mean`` / ``moving_variance`` (updated in place while ``training``, as TF's
    UPDATE_OPS would with ``decay = momentum``)."""
    context = active("batch_normalization")
    if axis not in (-1, inputs.dim() - 1):
        raise NotSupportedError("batch_normalization over an axis other than the last one.")
    scope = context.scoped(name) if name else context.unique("batch_normalization")
    width = (int(inputs.shape[-1]),)
    store = context.store
    mean = store.variable(f"{scope}/moving_mean", width, nn.init.zeros_, trainable=False)
    var = store.variable(f"{scope}/moving_variance", width, nn.init.ones_, trainable=False)
    gamma = store.variable(f"{scope}/gamma", width, nn.init.ones_, trainable) if scale else None
    beta = store.variable(f"{scope}/beta", width, nn.init.zeros_, trainable) if center else None
    flat = inputs.reshape(-1, width[0])
    if bool(training):
        batch_mean = flat.mean(dim=0)
        batch_var = flat.var(dim=0, unbiased=False)
        with torch.no_grad():
            mean.mul_(momentum).add_(batch_mean.detach(), alpha=1 - momentum)
            var.mul_(momentum).add_(batch_var.detach(), alpha=1 - momentum)
        normalised = (inputs - batch_mean) * torch.rsqrt(batch_var + epsilon)
    else:
        normalised = (inputs - mean) * torch.rsqrt(var + epsilon)
    if gamma is not None:
        normalised = normalised * gamma
    if beta is not None:
        normalised = normalised + beta
    return normalised


def input_layer(
    features: ModelFeatures, feature_columns: Sequence[FeatureColumn], name: str | None = None
) -> torch.Tensor:
    """``tf.feature_column.input_layer``: the columns' dense values and embeddings,
    concatenated (a :class:`DenseFeatures` named ``input_layer``, ``input_layer_1``, ...)."""
    context = active("input_layer")
    scope = context.scoped(name) if name else context.unique("input_layer")
    columns = list(feature_columns)
    layer = context.store.module(scope, lambda: DenseFeatures(columns))
    return layer(_features(features, "input_layer"))


def linear_model(
    features: ModelFeatures,
    feature_columns: Sequence[FeatureColumn],
    units: int = 1,
    sparse_combiner: str = "sum",
    name: str | None = None,
) -> torch.Tensor:
    """``tf.feature_column.linear_model``: a learned weight per sparse id (and per dense value)
    summed, plus a bias (a :class:`LinearModel` named ``linear_model``, ...)."""
    context = active("linear_model")
    scope = context.scoped(name) if name else context.unique("linear_model")
    columns = list(feature_columns)
    layer = context.store.module(scope, lambda: LinearModel(columns, units, sparse_combiner))
    return layer(_features(features, "linear_model"))


def _features(features: Any, owner: str) -> ModelFeatures:
    if not isinstance(features, ModelFeatures):
        raise InvalidParameterError(
            f"{owner} needs the features the model_fn was given. Got {type(features).__name__}."
        )
    return features


def get_global_step() -> torch.Tensor:
    """``tf.train.get_global_step()``: the global step (an int64 scalar tensor)."""
    return torch.tensor(active("get_global_step").global_step, dtype=torch.int64)


def scalar(name: str, tensor: Any, family: Any = None) -> None:
    """``tf.summary.scalar``: record a scalar; written to TensorBoard every
    ``save_summary_steps`` training steps, under ``name``. A streaming metric's op
    (``tf.summary.scalar("accuracy", accuracy[1])``) records its running value, as TF's
    update op gave."""
    context = active("summary.scalar")
    running = getattr(tensor, "result", None)  # a MetricValue (mlengine.estimator.metrics)
    if callable(running):
        tensor = running()
    value = tensor if isinstance(tensor, torch.Tensor) else torch.tensor(float(tensor))
    if value.numel() != 1 or not math.isfinite(float(value.detach())):
        raise InvalidParameterError(
            f"summary.scalar({name!r}) needs one finite number; got shape {list(value.shape)}."
        )
    context.scalars[context.scoped(name)] = value.detach()


__all__ = [
    "CallContext",
    "VariableStore",
    "batch_normalization",
    "calling",
    "dense",
    "dropout",
    "get_global_step",
    "get_variable",
    "input_layer",
    "linear_model",
    "not_supported",
    "scalar",
    "variable_scope",
]
