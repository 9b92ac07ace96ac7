"""The façade's ops on torch tensors: what a ``model_fn`` applies to the tensors its layers
give (``tf.argmax(logits, 1)``, ``tf.nn.softmax(logits)``, ``tf.nn.relu``, ``tf.cast``...).

A custom estimator's ``model_fn`` runs eagerly on torch (:mod:`mlengine.estimator.custom`), so
inside it a ``tf`` op receives torch tensors, and :mod:`mlengine.tf._ops` hands those to the
functions here: the same TF semantics computed by torch (gradients flow through them). Outside
a model_fn the façade's tensors are numpy arrays and these are not used. An op without a torch
form here raises :class:`~mlengine.errors.NotSupportedError` naming it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from mlengine.estimator.layers import not_supported

UNARY: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "abs": torch.abs, "negative": torch.neg, "log": torch.log, "exp": torch.exp,
    "sqrt": torch.sqrt, "rsqrt": torch.rsqrt, "square": torch.square, "sigmoid": torch.sigmoid,
    "tanh": torch.tanh, "round": torch.round, "floor": torch.floor, "ceil": torch.ceil,
    "sign": torch.sign, "log1p": torch.log1p, "logical_not": torch.logical_not,
    "relu": torch.relu, "elu": F.elu, "selu": F.selu, "softplus": F.softplus,
    "leaky_relu": lambda x: F.leaky_relu(x, 0.2), "swish": F.silu, "silu": F.silu,
    "gelu": lambda x: F.gelu(x, approximate="tanh"),
}  # fmt: skip
BINARY: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "add": torch.add, "subtract": torch.sub, "multiply": torch.mul, "divide": torch.true_divide,
    "truediv": torch.true_divide, "floordiv": torch.floor_divide, "pow": torch.pow,
    "maximum": torch.maximum, "minimum": torch.minimum, "equal": torch.eq,
    "not_equal": torch.ne, "less": torch.lt, "less_equal": torch.le, "greater": torch.gt,
    "greater_equal": torch.ge, "logical_and": torch.logical_and, "logical_or": torch.logical_or,
}  # fmt: skip
DTYPES = {
    "float16": torch.float16, "float32": torch.float32, "float64": torch.float64,
    "int8": torch.int8, "int16": torch.int16, "int32": torch.int32, "int64": torch.int64,
    "uint8": torch.uint8, "bool": torch.bool,
}  # fmt: skip


def is_torch(*values: Any) -> bool:
    """Whether any value is a torch tensor (the op then runs here)."""
    return any(isinstance(v, torch.Tensor) for v in values)


def _tensor(value: Any, like: torch.Tensor) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value
    return torch.as_tensor(value, dtype=like.dtype, device=like.device)


def unary(name: str, x: torch.Tensor) -> torch.Tensor:
    function = UNARY.get(name)
    if function is None:
        raise not_supported(f"tf.{name} on a model_fn's tensors")
    return function(x)


def binary(name: str, x: Any, y: Any) -> torch.Tensor:
    function = BINARY.get(name)
    if function is None:
        raise not_supported(f"tf.{name} on a model_fn's tensors")
    like = x if isinstance(x, torch.Tensor) else y
    return function(_tensor(x, like), _tensor(y, like))


def cast(x: torch.Tensor, dtype_name: str) -> torch.Tensor:
    target = DTYPES.get(dtype_name)
    if target is None:
        raise not_supported(f"tf.cast to {dtype_name} on a model_fn's tensors")
    return x.to(target)


def model_fn_only(symbol: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` for a model_fn's torch tensors; on the façade's own tensors (input
    functions, receivers) it is not covered, and says so naming ``symbol``."""

    def op(*args: Any, **kwargs: Any) -> Any:
        if not args or not is_torch(args[0]):
            raise not_supported(f"{symbol} outside a model_fn (on input or receiver tensors)")
        return function(*args, **kwargs)

    op.__name__ = symbol.rsplit(".", 1)[-1]
    op.__doc__ = function.__doc__
    return op


def _axis(axis: Any, dimension: Any = None) -> Any:
    chosen = axis if axis is not None else dimension
    return tuple(chosen) if isinstance(chosen, list | tuple) else chosen


def argmax(
    input: Any, axis: Any = None, name: Any = None, dimension: Any = None, output_type: Any = None
) -> torch.Tensor:
    """``tf.argmax`` (int64; axis 0 by default, as TF)."""
    chosen = _axis(axis, dimension)
    return torch.argmax(input, dim=0 if chosen is None else chosen)


def argmin(
    input: Any, axis: Any = None, name: Any = None, dimension: Any = None, output_type: Any = None
) -> torch.Tensor:
    """``tf.argmin`` (int64; axis 0 by default, as TF)."""
    chosen = _axis(axis, dimension)
    return torch.argmin(input, dim=0 if chosen is None else chosen)


def softmax(logits: Any, axis: Any = None, name: Any = None, dim: Any = None) -> torch.Tensor:
    """``tf.nn.softmax`` (the last axis by default)."""
    chosen = _axis(axis, dim)
    return torch.softmax(logits, dim=-1 if chosen is None else chosen)


def log_softmax(logits: Any, axis: Any = None, name: Any = None, dim: Any = None) -> torch.Tensor:
    """``tf.nn.log_softmax`` (the last axis by default)."""
    chosen = _axis(axis, dim)
    return torch.log_softmax(logits, dim=-1 if chosen is None else chosen)


def _reduce(function: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    def reduce(
        input_tensor: Any,
        axis: Any = None,
        keepdims: Any = None,
        name: Any = None,
        reduction_indices: Any = None,
        keep_dims: Any = None,
    ) -> torch.Tensor:
        chosen = _axis(axis, reduction_indices)
        keep = bool(keepdims if keepdims is not None else keep_dims)
        x = input_tensor
        if not x.dtype.is_floating_point and function in (torch.mean,):
            x = x.to(torch.float32)
        if chosen is None:
            result = function(x)
            return result.reshape([1] * x.dim()) if keep else result
        return function(x, dim=chosen, keepdim=keep)

    return reduce


reduce_mean = _reduce(torch.mean)
reduce_sum = _reduce(torch.sum)
reduce_prod = _reduce(torch.prod)
reduce_max = _reduce(torch.amax)
reduce_min = _reduce(torch.amin)


def one_hot(
    indices: Any, depth: int, on_value: Any = None, off_value: Any = None, **kwargs: Any
) -> torch.Tensor:
    """``tf.one_hot`` (float32 ones and zeros unless given other values)."""
    hot = F.one_hot(torch.as_tensor(indices, dtype=torch.int64), int(depth)).to(torch.float32)
    if on_value is not None or off_value is not None:
        on = 1.0 if on_value is None else float(on_value)
        off = 0.0 if off_value is None else float(off_value)
        hot = hot * (on - off) + off
    return hot


__all__ = [
    "BINARY",
    "DTYPES",
    "UNARY",
    "argmax",
    "argmin",
    "binary",
    "cast",
    "is_torch",
    "log_softmax",
    "model_fn_only",
    "one_hot",
    "reduce_max",
    "reduce_mean",
    "reduce_min",
    "reduce_prod",
    "reduce_sum",
    "softmax",
    "unary",
]
