"""``tf.nn`` activations: callable on the façade's tensors, and named for the estimators.

``DNNClassifier(activation_fn=tf.nn.relu)`` stores the activation by name in the export (as
mlengine does for ``"relu"``); calling ``tf.nn.relu(x)`` on a tensor computes it elementwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlengine.tf import _ops as ops
from mlengine.tf import _torch_ops as torch_ops
from mlengine.tf._namespace import module_getattr


class Activation:
    """A ``tf.nn`` activation: ``name`` is what estimators store."""

    def __init__(self, name: str, function: Callable[[Any], Any]) -> None:
        self.name = name
        self.__name__ = name
        self._function = function

    def __call__(self, features: Any, name: str | None = None, **kwargs: Any) -> Any:
        if torch_ops.is_torch(features):  # inside a model_fn: torch's, with TF's constants
            return torch_ops.unary(self.name, features)
        return self._function(features)

    def __repr__(self) -> str:
        return f"tf.nn.{self.name}"


def _maximum0(x: Any) -> Any:
    return ops.binary_op("maximum")(x, 0.0)


def _sigmoid(x: Any) -> Any:
    return ops.unary_op("sigmoid")(x)


relu = Activation("relu", _maximum0)
sigmoid = Activation("sigmoid", _sigmoid)
tanh = Activation("tanh", ops.unary_op("tanh"))
elu = Activation(
    "elu", lambda x: ops.where(ops.binary_op("greater")(x, 0.0), x, ops.unary_op("exp")(x) - 1.0)
)
selu = Activation(
    "selu",
    lambda x: ops.where(
        ops.binary_op("greater")(x, 0.0),
        x * 1.0507009873554805,
        (ops.unary_op("exp")(x) - 1.0) * (1.0507009873554805 * 1.6732632423543772),
    ),
)
leaky_relu = Activation(
    "leaky_relu", lambda x: ops.where(ops.binary_op("greater")(x, 0.0), x, x * 0.2)
)
swish = Activation("swish", lambda x: x * _sigmoid(x))
silu = Activation("silu", lambda x: x * _sigmoid(x))
gelu = Activation(
    "gelu",
    lambda x: x * 0.5 * (1.0 + ops.unary_op("tanh")(x * 0.7978845608 * (1.0 + x * x * 0.044715))),
)

softmax = torch_ops.model_fn_only("tf.nn.softmax", torch_ops.softmax)
log_softmax = torch_ops.model_fn_only("tf.nn.log_softmax", torch_ops.log_softmax)

ACTIVATIONS = {a.name: a for a in (relu, sigmoid, tanh, elu, selu, leaky_relu, swish, silu, gelu)}


def activation_name(value: Any) -> Any:
    """An estimator's ``activation_fn`` as mlengine takes it (a name for tf.nn's)."""
    if isinstance(value, Activation):
        return value.name
    return value


__getattr__ = module_getattr("tf.nn")

__all__ = ["ACTIVATIONS", "Activation", "activation_name"]
