"""``tf.keras.layers`` as TF 2 era ``model_fn``\\ s use them: ``DenseFeatures``, ``Dense`` and
``Dropout`` objects, each called on a model_fn's tensors.

A layer object is one call of :mod:`mlengine.estimator.layers`' function of the same kind
(``input_layer``, ``dense``, ``dropout``), named as Keras names layers (``dense``,
``dense_1``, ... in the order they are called; ``dense_features`` for ``DenseFeatures``). A
layer object called twice in one model_fn call would share its weights in Keras; that is not
supported and says so. Arguments outside the documented set are errors naming them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlengine.errors import NotSupportedError
from mlengine.estimator import layers as _layers
from mlengine.tf.nn import ACTIVATIONS, Activation


def _refused(what: str) -> NotSupportedError:
    return NotSupportedError(
        f"{what} is not supported by mlengine.tf. (see the 'TensorFlow coverage' table of "
        "mlengine's README.)"
    )


def _activation(value: Any) -> Any:
    """A Keras ``activation``: None / ``"linear"``, a ``tf.nn`` activation or its name."""
    if value is None or value == "linear":
        return None
    if isinstance(value, Activation):
        return value
    if isinstance(value, str) and value in ACTIVATIONS:
        return ACTIVATIONS[value]
    raise _refused(f"tf.keras.layers.Dense(activation={value!r})")


class _Layer:
    """What the layers share: a name, unset until the first call, and one call per model_fn
    call."""

    kind = "layer"

    def __init__(self, name: str | None, kwargs: dict[str, Any]) -> None:
        for key, value in kwargs.items():
            if key not in ("trainable", "dtype", "input_shape") and value is not None:
                raise _refused(f"tf.keras.layers.{type(self).__name__}({key}=...)")
        self.name = name
        self._called_in: Any = None

    def _enter(self) -> _layers.CallContext:
        context = _layers.active(f"tf.keras.layers.{type(self).__name__}")
        if self._called_in is context:
            raise _refused(
                f"calling one tf.keras.layers.{type(self).__name__} twice in a model_fn "
                "(shared weights)"
            )
        self._called_in = context
        return context


class DenseFeatures(_Layer):
    """``tf.keras.layers.DenseFeatures(feature_columns)``: the columns' dense values and
    embeddings, concatenated (``tf.feature_column.input_layer``'s)."""

    def __init__(
        self, feature_columns: Sequence[Any], name: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(name, kwargs)
        self.feature_columns = list(feature_columns)

    def __call__(self, features: Any, training: Any = None) -> Any:
        context = self._enter()
        scope = self.name or context.unique("dense_features").rsplit("/", 1)[-1]
        return _layers.input_layer(features, self.feature_columns, name=scope)


class Dense(_Layer):
    """``tf.keras.layers.Dense(units, activation=None, use_bias=True)``: ``tf.layers.dense``
    (Glorot-uniform kernel, zero bias: Keras' defaults too)."""

    def __init__(
        self,
        units: int,
        activation: Any = None,
        use_bias: bool = True,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(name, kwargs)
        if kernel_initializer not in ("glorot_uniform", None):
            raise _refused(f"tf.keras.layers.Dense(kernel_initializer={kernel_initializer!r})")
        if bias_initializer not in ("zeros", None):
            raise _refused(f"tf.keras.layers.Dense(bias_initializer={bias_initializer!r})")
        self.units = units
        self.activation = _activation(activation)
        self.use_bias = use_bias

    def __call__(self, inputs: Any) -> Any:
        self._enter()
        return _layers.dense(
            inputs, self.units, activation=self.activation, use_bias=self.use_bias, name=self.name
        )


class Dropout(_Layer):
    """``tf.keras.layers.Dropout(rate)``: drops units only when called with ``training=True``
    (as Keras outside ``fit``)."""

    def __init__(
        self, rate: float, noise_shape: Any = None, seed: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(kwargs.pop("name", None), kwargs)
        if noise_shape is not None:
            raise _refused("tf.keras.layers.Dropout(noise_shape=...)")
        self.rate = rate

    def __call__(self, inputs: Any, training: Any = None) -> Any:
        self._enter()
        return _layers.dropout(inputs, self.rate, training=bool(training))


LAYERS = {"DenseFeatures": DenseFeatures, "Dense": Dense, "Dropout": Dropout}

__all__ = ["LAYERS", "Dense", "DenseFeatures", "Dropout"]
