"""TensorFlow-named optimizer specs, the name table, and the canned estimators' learning rates.

Users of ``tf.estimator`` pass an optimizer as a name (``'Ftrl'``), as an instance
(``tf.train.FtrlOptimizer(0.1, l1_regularization_strength=0.01)``) or as a zero-argument
callable. mlengine accepts the same three forms, but an "instance" here is a *spec*: a frozen
dataclass with TensorFlow's class and argument names that knows how to ``build`` the matching
torch optimizer once the estimator has created its parameters. A spec is plain data, so it can be
stored in a checkpoint manifest (``to_config`` / ``optimizer_from_config``) without pickle.

Where the torch optimizer differs from TensorFlow's, the spec says so in its docstring.
"""

from __future__ import annotations

import abc
import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import KW_ONLY, dataclass
from typing import Any, ClassVar

import torch

from mlengine.errors import InvalidParameterError
from mlengine.training.ftrl import Ftrl
from mlengine.training.lazy_adam import LazyAdam

__all__ = [
    "BASELINE_LEARNING_RATE",
    "COMBINED_DNN_LEARNING_RATE",
    "COMBINED_LINEAR_LEARNING_RATE",
    "DNN_LEARNING_RATE",
    "EXTRA_OPTIMIZER_NAMES",
    "LINEAR_LEARNING_RATE",
    "OPTIMIZER_NAMES",
    "AdagradOptimizer",
    "AdamOptimizer",
    "FtrlOptimizer",
    "GradientDescentOptimizer",
    "LazyAdamOptimizer",
    "OptimizerSpec",
    "RMSPropOptimizer",
    "TrainOp",
    "combined_linear_learning_rate",
    "get_optimizer",
    "linear_default_learning_rate",
    "optimizer_from_config",
]

# ----------------------------------------------------------------------------------------------
# Default learning rates of the canned estimators. TensorFlow's comments call them "a historical
# artifact of the initial implementation, but a reasonable choice"; we keep them for parity.

# tensorflow_estimator/python/estimator/canned/dnn.py: _LEARNING_RATE = 0.05, given to an
# optimizer passed by name (DNNClassifier/DNNRegressor, default 'Adagrad').
DNN_LEARNING_RATE = 0.05

# canned/linear.py: _LEARNING_RATE = 0.2. An optimizer passed by *name* (the default is the
# string 'Ftrl') gets exactly this rate: get_optimizer_instance_v2(optimizer or default,
# learning_rate=_LEARNING_RATE). Only optimizer=None falls back to _get_default_optimizer_v2,
# whose rate is min(0.2, 1/sqrt(len(feature_columns))) (linear_default_learning_rate below).
LINEAR_LEARNING_RATE = 0.2

# canned/dnn_linear_combined.py: _DNN_LEARNING_RATE = 0.001 (the dnn part, default 'Adagrad')
# and _LINEAR_LEARNING_RATE = 0.005, the cap of _linear_learning_rate(n) for the linear part.
COMBINED_DNN_LEARNING_RATE = 0.001
COMBINED_LINEAR_LEARNING_RATE = 0.005

# canned/baseline.py: _LEARNING_RATE = 0.3 (default optimizer 'Ftrl').
BASELINE_LEARNING_RATE = 0.3


def _check_n_columns(n_columns: int, owner: str) -> None:
    if isinstance(n_columns, bool) or not isinstance(n_columns, int) or n_columns < 1:
        raise InvalidParameterError(
            f"The 'n_columns' parameter of {owner} must be an int >= 1. Got {n_columns!r} instead."
        )


def linear_default_learning_rate(n_columns: int) -> float:
    """``min(0.2, 1/sqrt(n_columns))``: linear.py's ``_get_default_optimizer_v2`` rate.

    TensorFlow uses it when a Linear* estimator gets ``optimizer=None``; a name such as the
    default ``'Ftrl'`` gets :data:`LINEAR_LEARNING_RATE` instead.
    """
    _check_n_columns(n_columns, "linear_default_learning_rate")
    return min(LINEAR_LEARNING_RATE, 1.0 / math.sqrt(n_columns))


def combined_linear_learning_rate(n_columns: int) -> float:
    """``min(0.005, 1/sqrt(n_columns))``: dnn_linear_combined.py's ``_linear_learning_rate``.

    The rate of the linear part of DNNLinearCombined* when its optimizer is given by name.
    """
    _check_n_columns(n_columns, "combined_linear_learning_rate")
    return min(COMBINED_LINEAR_LEARNING_RATE, 1.0 / math.sqrt(n_columns))


# ----------------------------------------------------------------------------------------------
# Argument checks, worded as the rest of mlengine: parameter, owner, rule, value.


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _require(spec: OptimizerSpec, name: str, ok: Callable[[float], bool], rule: str) -> None:
    """Check field ``name`` of ``spec`` against ``ok``; store it as a float when it passes."""
    value = getattr(spec, name)
    if not (_is_real(value) and ok(value)):
        raise InvalidParameterError(
            f"The {name!r} parameter of {type(spec).__name__} must be {rule}. "
            f"Got {value!r} instead."
        )
    object.__setattr__(spec, name, float(value))


def _positive(spec: OptimizerSpec, name: str) -> None:
    _require(spec, name, lambda v: v > 0, "a positive float")


def _non_negative(spec: OptimizerSpec, name: str) -> None:
    _require(spec, name, lambda v: v >= 0, "a float >= 0")


def _unit_interval(spec: OptimizerSpec, name: str) -> None:
    _require(spec, name, lambda v: 0 <= v < 1, "a float in [0, 1)")


def _params_list(params: Iterable[torch.nn.Parameter]) -> list[torch.nn.Parameter]:
    params = list(params)
    if not params:
        raise InvalidParameterError("An optimizer needs at least one parameter; got none.")
    return params


def _fused_ok(params: list[torch.nn.Parameter]) -> bool:
    """torch's fused kernels take floating-point CPU or CUDA tensors (and no sparse grads)."""
    return all(p.dtype.is_floating_point and p.device.type in ("cpu", "cuda") for p in params)


# ----------------------------------------------------------------------------------------------
# The specs.


class OptimizerSpec(abc.ABC):
    """Base of the TF-named optimizer specs: validated, immutable data plus ``build``.

    Subclasses are frozen dataclasses whose fields are TensorFlow's argument names.
    """

    #: The name this spec has in TensorFlow's optimizer table ('Adagrad', 'Ftrl', ...).
    tf_name: ClassVar[str]

    #: Whether TensorFlow updates only the looked-up rows of a lookup table (the linear
    #: part's weights, an embedding table) with this optimizer: it has a sparse kernel
    #: (SparseApplyFtrl, SparseApplyAdagrad, sparse SGD, LazyAdam's), so the tables get
    #: row-sparse gradients. Adam's and RMSProp's updates move rows without a gradient too
    #: (their moments decay), so those stay dense, as in TensorFlow.
    sparse_updates: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "tf_name" in cls.__dict__:
            _SPEC_CLASSES[cls.__name__] = cls

    @abc.abstractmethod
    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        """Create the torch optimizer for ``params`` (called once the model exists)."""

    def minimize(
        self,
        loss: torch.Tensor,
        global_step: Any = None,
        var_list: Iterable[torch.nn.Parameter] | None = None,
        name: str | None = None,
    ) -> TrainOp:
        """TF's ``optimizer.minimize(loss, global_step=...)`` in a ``model_fn``: a
        :class:`TrainOp` the estimator runs when the ``model_fn`` returns (backward, this
        optimizer's update of ``var_list`` or of every trainable variable, one global step).
        The torch optimizer is built once, on the first step, and kept (and checkpointed)."""
        return TrainOp(loss, self, None if var_list is None else tuple(var_list))

    def to_config(self) -> dict[str, Any]:
        """``{"name": <class name>, "args": {<TF argument>: value}}``, JSON-ready."""
        args = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]
        return {"name": type(self).__name__, "args": args}


_SPEC_CLASSES: dict[str, type[OptimizerSpec]] = {}


@dataclass(frozen=True)
class TrainOp:
    """A deferred update (what :meth:`OptimizerSpec.minimize` returns): ``optimizer``
    minimising ``loss`` over ``var_list`` (None: every trainable variable)."""

    loss: torch.Tensor
    optimizer: OptimizerSpec
    var_list: tuple[torch.nn.Parameter, ...] | None = None


@dataclass(frozen=True)
class FtrlOptimizer(OptimizerSpec):
    """``tf.compat.v1.train.FtrlOptimizer``; builds :class:`mlengine.training.ftrl.Ftrl`.

    The update is TensorFlow's ``ApplyFtrlV2`` exactly (see ``ftrl.py``). The first five
    arguments may be positional, as in TensorFlow; the two that TensorFlow lists after
    ``use_locking``/``name`` are keyword-only here.
    """

    tf_name: ClassVar[str] = "Ftrl"
    sparse_updates: ClassVar[bool] = True

    learning_rate: float
    learning_rate_power: float = -0.5
    initial_accumulator_value: float = 0.1
    l1_regularization_strength: float = 0.0
    l2_regularization_strength: float = 0.0
    _: KW_ONLY
    l2_shrinkage_regularization_strength: float = 0.0
    beta: float = 0.0

    def __post_init__(self) -> None:
        _positive(self, "learning_rate")
        _require(self, "learning_rate_power", lambda v: v <= 0, "a float <= 0")
        _non_negative(self, "initial_accumulator_value")
        _non_negative(self, "l1_regularization_strength")
        _non_negative(self, "l2_regularization_strength")
        _non_negative(self, "l2_shrinkage_regularization_strength")
        _non_negative(self, "beta")

    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        """An :class:`Ftrl` over ``params`` with this spec's arguments."""
        return Ftrl(
            _params_list(params),
            lr=self.learning_rate,
            lr_power=self.learning_rate_power,
            initial_accumulator_value=self.initial_accumulator_value,
            l1=self.l1_regularization_strength,
            l2=self.l2_regularization_strength,
            l2_shrinkage=self.l2_shrinkage_regularization_strength,
            beta=self.beta,
        )


@dataclass(frozen=True)
class AdagradOptimizer(OptimizerSpec):
    """``tf.compat.v1.train.AdagradOptimizer`` with the TF2 class's ``epsilon`` (1e-7).

    ``var -= lr * g / (sqrt(accum) + epsilon)`` with ``accum`` starting at 0.1, which is what
    the v2 canned estimators run (TF1's kernel has no epsilon; at 1e-7 the two agree closely).
    Builds ``torch.optim.Adagrad`` with the fused kernel, faster than foreach on CPU for a
    Wide & Deep parameter set (``benchmarks/optimizer_step.py``). The fused kernel refuses
    sparse gradients: a model with ``sparse=True`` embeddings must build its own foreach
    Adagrad.
    """

    tf_name: ClassVar[str] = "Adagrad"
    sparse_updates: ClassVar[bool] = True

    learning_rate: float
    initial_accumulator_value: float = 0.1
    _: KW_ONLY
    epsilon: float = 1e-7

    def __post_init__(self) -> None:
        _positive(self, "learning_rate")
        _non_negative(self, "initial_accumulator_value")
        _non_negative(self, "epsilon")

    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        """A ``torch.optim.Adagrad`` (fused where the parameters allow it)."""
        plist = _params_list(params)
        fused = _fused_ok(plist)
        return torch.optim.Adagrad(
            plist,
            lr=self.learning_rate,
            initial_accumulator_value=self.initial_accumulator_value,
            eps=self.epsilon,
            foreach=None if fused else True,
            fused=True if fused else None,
        )


@dataclass(frozen=True)
class AdamOptimizer(OptimizerSpec):
    """``tf.compat.v1.train.AdamOptimizer``; builds ``torch.optim.Adam``.

    One difference: TensorFlow adds ``epsilon`` after folding the bias correction into the
    learning rate ("epsilon hat"), torch before, so TF's effective epsilon is
    ``epsilon / sqrt(1 - beta2**t)``. It only matters while ``sqrt(v)`` is near ``epsilon``.
    Uses the fused kernel where it can (faster than foreach on CPU:
    ``benchmarks/optimizer_step.py``).
    """

    tf_name: ClassVar[str] = "Adam"

    learning_rate: float = 0.001
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8

    def __post_init__(self) -> None:
        _positive(self, "learning_rate")
        _unit_interval(self, "beta1")
        _unit_interval(self, "beta2")
        _non_negative(self, "epsilon")

    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        """A ``torch.optim.Adam`` (fused where the parameters allow it)."""
        plist = _params_list(params)
        fused = _fused_ok(plist)
        return torch.optim.Adam(
            plist,
            lr=self.learning_rate,
            betas=(self.beta1, self.beta2),
            eps=self.epsilon,
            foreach=None if fused else True,
            fused=True if fused else None,
        )


@dataclass(frozen=True)
class LazyAdamOptimizer(AdamOptimizer):
    """TensorFlow's lazy Adam (``tf.contrib.opt.LazyAdamOptimizer``, Addons' ``LazyAdam``);
    builds :class:`mlengine.training.lazy_adam.LazyAdam`. Adam's arguments and defaults.

    Adam whose lookup tables are updated on the rows a batch looked up only: their moments
    and weights stay as they are where a batch has no example, where :class:`AdamOptimizer`
    decays every row's moments and moves every row at every step. Much cheaper for big
    tables, and not the same optimizer: an explicit choice, under the name ``'LazyAdam'``.
    The update is TensorFlow's, epsilon added after the bias correction is folded into the
    learning rate (see :class:`AdamOptimizer` for how torch's Adam differs).
    """

    tf_name: ClassVar[str] = "LazyAdam"
    sparse_updates: ClassVar[bool] = True

    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        """A :class:`~mlengine.training.lazy_adam.LazyAdam` over ``params``."""
        return LazyAdam(
            _params_list(params),
            lr=self.learning_rate,
            betas=(self.beta1, self.beta2),
            eps=self.epsilon,
        )


@dataclass(frozen=True)
class GradientDescentOptimizer(OptimizerSpec):
    """``tf.compat.v1.train.GradientDescentOptimizer``: ``var -= lr * g`` (``torch.optim.SGD``)."""

    tf_name: ClassVar[str] = "SGD"
    sparse_updates: ClassVar[bool] = True

    learning_rate: float

    def __post_init__(self) -> None:
        _positive(self, "learning_rate")

    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        """A plain ``torch.optim.SGD`` (foreach; fused was no faster on CPU)."""
        return torch.optim.SGD(_params_list(params), lr=self.learning_rate, foreach=True)


@dataclass(frozen=True)
class RMSPropOptimizer(OptimizerSpec):
    """``tf.compat.v1.train.RMSPropOptimizer``; builds ``torch.optim.RMSprop(alpha=decay)``.

    TensorFlow starts the mean square ``rms`` at **1**, torch at 0 (which makes torch's first
    steps about ``1/sqrt(1 - decay)`` times larger); ``build`` therefore fills torch's
    ``square_avg`` with ones. Left as is: TF adds ``epsilon`` inside the square root, torch
    outside, a difference of order ``epsilon`` (1e-10) once the mean square is near 1.
    """

    tf_name: ClassVar[str] = "RMSProp"

    learning_rate: float
    decay: float = 0.9
    momentum: float = 0.0
    epsilon: float = 1e-10
    _: KW_ONLY
    centered: bool = False

    def __post_init__(self) -> None:
        _positive(self, "learning_rate")
        _require(self, "decay", lambda v: 0 <= v <= 1, "a float in [0, 1]")
        _non_negative(self, "momentum")
        _non_negative(self, "epsilon")
        if not isinstance(self.centered, bool):
            raise InvalidParameterError(
                "The 'centered' parameter of RMSPropOptimizer must be a bool. "
                f"Got {self.centered!r} instead."
            )

    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        """A ``torch.optim.RMSprop`` whose mean-square slots start at 1, as TensorFlow's."""
        plist = _params_list(params)
        optimizer = torch.optim.RMSprop(
            plist,
            lr=self.learning_rate,
            alpha=self.decay,
            eps=self.epsilon,
            momentum=self.momentum,
            centered=self.centered,
            foreach=True,
        )
        # torch creates its state lazily only when a parameter's state is empty, so state
        # written here (the keys of torch's RMSprop._init_group) is used as is.
        for p in plist:
            state = optimizer.state[p]
            state["step"] = torch.tensor(0.0)  # torch's scalar dtype: the default float dtype
            state["square_avg"] = torch.ones_like(p, memory_format=torch.preserve_format)
            if self.momentum > 0:
                state["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            if self.centered:
                state["grad_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        return optimizer


# ----------------------------------------------------------------------------------------------
# Names, configs and resolution.

#: TensorFlow's optimizer table (canned/optimizers.py, _OPTIMIZER_CLS_NAMES): case-sensitive.
OPTIMIZER_NAMES: Mapping[str, type[OptimizerSpec]] = {
    "Adagrad": AdagradOptimizer,
    "Adam": AdamOptimizer,
    "Ftrl": FtrlOptimizer,
    "RMSProp": RMSPropOptimizer,
    "SGD": GradientDescentOptimizer,
}
#: Names mlengine accepts beyond TensorFlow's table: TensorFlow's lazy Adam lived in contrib
#: and Addons, where programs named its class; here it may also be named.
EXTRA_OPTIMIZER_NAMES: Mapping[str, type[OptimizerSpec]] = {"LazyAdam": LazyAdamOptimizer}
_SUPPORTED_NAMES = tuple(sorted({**OPTIMIZER_NAMES, **EXTRA_OPTIMIZER_NAMES}))


def optimizer_from_config(config: Mapping[str, Any]) -> OptimizerSpec:
    """Rebuild a spec from :meth:`OptimizerSpec.to_config` output (e.g. read back from JSON).

    Only the spec classes of this module are accepted, and their arguments are validated again.

    Raises:
        InvalidParameterError: If the config is malformed, names an unknown class, or carries
            unknown or invalid arguments.
    """
    if not isinstance(config, Mapping) or set(config) != {"name", "args"}:
        raise InvalidParameterError(
            "An optimizer config must be a mapping with exactly the keys 'name' and 'args'. "
            f"Got {config!r} instead."
        )
    name, args = config["name"], config["args"]
    cls = _SPEC_CLASSES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise InvalidParameterError(
            f"Unknown optimizer config name: {name!r}. "
            f"Known names are: {tuple(sorted(_SPEC_CLASSES))}."
        )
    if not isinstance(args, Mapping):
        raise InvalidParameterError(
            f"The 'args' of an optimizer config must be a mapping. Got {args!r} instead."
        )
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(args) - fields)
    if unknown:
        raise InvalidParameterError(
            f"Unknown arguments for {name}: {unknown}. Known arguments are: {sorted(fields)}."
        )
    try:
        return cls(**args)
    except TypeError as exc:  # a missing required argument such as learning_rate
        raise InvalidParameterError(f"Cannot build {name} from {dict(args)!r}: {exc}") from exc


def _is_torch_optimizer(obj: object) -> bool:
    return isinstance(obj, torch.optim.Optimizer) or (
        isinstance(obj, type) and issubclass(obj, torch.optim.Optimizer)
    )


def get_optimizer(
    spec: str | OptimizerSpec | Callable[[], OptimizerSpec],
    *,
    default_learning_rate: float,
    owner: str,
    param: str,
) -> OptimizerSpec:
    """Resolve an estimator's optimizer argument as ``canned/optimizers.get_optimizer_instance``.

    Args:
        spec: A name from :data:`OPTIMIZER_NAMES` (built with ``default_learning_rate`` and the
            class's other defaults), an :class:`OptimizerSpec` (returned as is), or a
            zero-argument callable returning one.
        default_learning_rate: The rate a name gets (e.g. :data:`DNN_LEARNING_RATE`).
        owner: The estimator's class name, for error messages.
        param: The argument's name (``'optimizer'``, ``'linear_optimizer'``, ...).

    Returns:
        The spec to ``build`` once the parameters exist.

    Raises:
        InvalidParameterError: For an unknown name, a torch optimizer, or anything else.
    """
    where = f"(the {param!r} parameter of {owner})"
    if isinstance(spec, str):
        cls = OPTIMIZER_NAMES.get(spec) or EXTRA_OPTIMIZER_NAMES.get(spec)
        if cls is None:
            raise InvalidParameterError(
                f"Unsupported optimizer name: {spec}. Supported names are: {_SUPPORTED_NAMES} "
                f"{where}."
            )
        return cls(default_learning_rate)  # type: ignore[call-arg]
    if isinstance(spec, OptimizerSpec):
        return spec
    if _is_torch_optimizer(spec):
        raise _torch_optimizer_error(spec, owner, param)
    if callable(spec):
        try:
            result = spec()
        except TypeError as exc:
            if isinstance(spec, type) and issubclass(spec, OptimizerSpec):
                raise InvalidParameterError(
                    f"The {param!r} parameter of {owner} got the class {spec.__name__} without "
                    f"arguments ({exc}). Pass {spec.__name__}(learning_rate=...) or the name "
                    f"{spec.tf_name!r}."
                ) from exc
            raise
        if isinstance(result, OptimizerSpec):
            return result
        if _is_torch_optimizer(result):
            raise _torch_optimizer_error(result, owner, param)
        raise InvalidParameterError(
            f"The {param!r} parameter of {owner} is a callable, which must return an "
            f"optimizer spec such as FtrlOptimizer(...). It returned {result!r} instead."
        )
    raise InvalidParameterError(
        f"The {param!r} parameter of {owner} must be an optimizer name in {_SUPPORTED_NAMES}, "
        f"an optimizer spec such as AdagradOptimizer(learning_rate=0.05), or a zero-argument "
        f"callable returning one. Got {spec!r} instead."
    )


def _torch_optimizer_error(obj: object, owner: str, param: str) -> InvalidParameterError:
    what = obj.__name__ if isinstance(obj, type) else f"an instance of {type(obj).__name__}"
    return InvalidParameterError(
        f"The {param!r} parameter of {owner} got a torch optimizer ({what}). The estimator "
        "creates its parameters itself, so it takes a TensorFlow-named spec and builds the "
        "torch optimizer from it: pass a name in "
        f"{_SUPPORTED_NAMES} or a spec such as FtrlOptimizer(learning_rate=0.1), "
        "AdagradOptimizer(learning_rate=0.05), AdamOptimizer(learning_rate=0.001), "
        "GradientDescentOptimizer(learning_rate=0.1) or RMSPropOptimizer(learning_rate=0.001)."
    )
