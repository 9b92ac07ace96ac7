"""TF-shaped namespaces: modules whose attributes are TensorFlow's names, loud for the rest.

A :class:`Namespace` is a module (registered in ``sys.modules``, so ``import
mlengine.tf.compat.v1 as tf`` and ``from mlengine.tf.compat.v1.contrib import layers`` work)
holding the names the façade covers. Any other public name raises
:class:`~mlengine.errors.NotSupportedError` naming the TensorFlow symbol and pointing at the
README's coverage table, instead of an AttributeError from deep inside a program.

:data:`CUSTOM_ESTIMATOR_SYMBOLS` lists the names of custom estimators that the façade wires to
mlengine's (``Estimator(model_fn=...)``, ``EstimatorSpec``, ``ModeKeys``, the heads,
``tf.layers`` / ``tf.losses`` / ``tf.metrics`` from :mod:`mlengine.estimator.layers`,
``losses``, ``metrics``, ``tf.train.get_global_step``, ``Optimizer.minimize``): a name of that
family the façade lacks (``tf.layers.conv2d``, ``tf.estimator.MultiHead``...) is refused saying
which set of model_fn operations mlengine runs.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Mapping
from typing import Any

from mlengine.errors import NotSupportedError

COVERAGE = "see the 'TensorFlow coverage' table of mlengine's README"

#: The families of custom estimators' names (as the v1 and v2 namespaces spell them, without
#: ``tf.``): wired by the façade (mlengine.tf._api: CUSTOM, HEAD_CLASSES, HEAD_FUNCTIONS, LAYERS,
#: LOSSES, METRICS, GLOBAL_STEP; Optimizer.minimize is OptimizerSpec.minimize). A name under one
#: of these that the façade does not hold is refused as outside the model_fn set.
CUSTOM_ESTIMATOR_SYMBOLS = frozenset(
    {
        "estimator.Estimator",
        "estimator.EstimatorSpec",
        "estimator.ModeKeys",
        "estimator.Head",
        "estimator.BinaryClassHead",
        "estimator.MultiClassHead",
        "estimator.RegressionHead",
        "estimator.MultiLabelHead",
        "estimator.PoissonRegressionHead",
        "estimator.LogisticRegressionHead",
        "estimator.MultiHead",
        "estimator.LinearEstimator",
        "estimator.DNNEstimator",
        "estimator.DNNLinearCombinedEstimator",
        "estimator.BaselineEstimator",
        "estimator.export.PredictOutput",
        "estimator.export.ClassificationOutput",
        "estimator.export.RegressionOutput",
        "layers",
        "losses",
        "metrics",
        "summary",
        "train.get_global_step",
        "train.get_or_create_global_step",
        "train.Optimizer.minimize",
        "keras.optimizers.Optimizer.minimize",
        "contrib.learn.Estimator",
        "contrib.learn.ModelFnOps",
        "contrib.layers.fully_connected",
        "contrib.layers.optimize_loss",
        "contrib.estimator",
    }
)


def _custom(symbol: str) -> bool:
    short = symbol.removeprefix("tf.").removeprefix("compat.v1.").removeprefix("compat.v2.")
    return short in CUSTOM_ESTIMATOR_SYMBOLS or short.split(".", 1)[0] in CUSTOM_ESTIMATOR_SYMBOLS


def unsupported(symbol: str, detail: str = "") -> NotSupportedError:
    """The error for a TensorFlow symbol mlengine.tf does not cover (``symbol`` as TF spells
    it, e.g. ``"tf.compat.v1.layers.dense"``)."""
    if _custom(symbol):
        return NotSupportedError(
            f"{symbol} is not in the custom estimators' set mlengine.tf covers (a model_fn runs "
            f"mlengine.estimator's layers, losses, metrics and heads); {COVERAGE}."
        )
    extra = f" {detail}" if detail else ""
    return NotSupportedError(f"{symbol} is not supported by mlengine.tf.{extra} ({COVERAGE}.)")


class Namespace(types.ModuleType):
    """A module of TF names (see the module docstring). ``tf_name`` is how TF spells it."""

    def __init__(
        self, module_name: str, tf_name: str, members: Mapping[str, Any], doc: str = ""
    ) -> None:
        super().__init__(module_name, doc or f"``{tf_name}`` of mlengine's TensorFlow façade.")
        self.__dict__["_tf_name"] = tf_name
        self.__dict__["__path__"] = []  # a package: sub-namespaces import as modules
        self.__dict__["__all__"] = sorted(k for k in members if not k.startswith("_"))
        for key, value in members.items():
            setattr(self, key, value)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise unsupported(f"{self.__dict__['_tf_name']}.{name}")

    def __dir__(self) -> list[str]:
        return list(self.__dict__["__all__"])


def register(namespace: Namespace) -> Namespace:
    """Make ``namespace`` importable by its module name (and its sub-namespaces too)."""
    sys.modules[namespace.__name__] = namespace
    for value in list(namespace.__dict__.values()):
        if isinstance(value, Namespace) and value.__name__.startswith(namespace.__name__ + "."):
            register(value)
    return namespace


def module_getattr(tf_name: str) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for a real module that is a TF namespace (``tf.data``)."""

    def __getattr__(name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise unsupported(f"{tf_name}.{name}")

    return __getattr__


def stub(symbol: str) -> Callable[..., Any]:
    """A callable that raises :func:`unsupported` for ``symbol`` when called (for names a
    program may mention at import time but must not use)."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise unsupported(symbol)

    refuse.__name__ = symbol.rsplit(".", 1)[-1]
    refuse.__doc__ = f"{symbol}: not supported by mlengine.tf ({COVERAGE})."
    return refuse


__all__ = [
    "COVERAGE",
    "CUSTOM_ESTIMATOR_SYMBOLS",
    "Namespace",
    "module_getattr",
    "register",
    "stub",
    "unsupported",
]
