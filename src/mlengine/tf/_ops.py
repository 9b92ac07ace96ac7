"""The element ops input functions apply to features, over numpy and pyarrow, batched or not.

Each op builds a tensor with :func:`~mlengine.tf._tensor.make_op`: concrete inputs compute at
once, symbolic ones later. Kernels follow TF's element semantics; when their arguments carry
the extra leading axis of a batched evaluation (see :mod:`mlengine.tf._tensor`), positive axes
move by one and unbatched arguments are broadcast over the rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlengine.errors import FeatureError, InvalidParameterError, NotSupportedError
from mlengine.tf import _torch_ops as torch_ops
from mlengine.tf import dtypes
from mlengine.tf._tensor import Arg, SparseTensor, Tensor, convert, kernel, make_op
from mlengine.tf._values import Strings, equal_strings

# -- helpers ------------------------------------------------------------------------------


def _numeric(arg: Arg) -> np.ndarray:
    value = arg.value
    if isinstance(value, Strings):
        raise NotSupportedError("A numeric op got strings; use tf.strings.to_number first.")
    return np.asarray(value)


def align(args: Sequence[Arg]) -> tuple[list[np.ndarray], bool]:
    """numpy arrays that broadcast as their element semantics ask: batched arrays get
    singleton axes after the row axis when another argument has a higher element rank."""
    arrays = [_numeric(a) for a in args]
    if not any(a.batched for a in args):
        return arrays, False
    ranks = [x.ndim - (1 if a.batched else 0) for x, a in zip(arrays, args, strict=True)]
    top = max(ranks)
    out = []
    for x, arg, rank in zip(arrays, args, ranks, strict=True):
        if arg.batched and rank < top:
            x = x.reshape((x.shape[0],) + (1,) * (top - rank) + x.shape[1:])
        out.append(x)
    return out, True


def _axis(axis: int, batched: bool) -> int:
    return axis + 1 if batched and axis >= 0 else axis


def _dtype_of(*values: Any) -> dtypes.DType:
    """Result dtype of a numeric op: the first tensor's (TF requires equal dtypes)."""
    for value in values:
        if isinstance(value, Tensor):
            return value.dtype
    return convert(values[0]).dtype


def _unary(name: str, function: Callable[[np.ndarray], np.ndarray]) -> None:
    @kernel(name)
    def compute(args: list[Arg], attrs: dict[str, Any]) -> Arg:
        with np.errstate(all="ignore"):
            return Arg(function(_numeric(args[0])), args[0].batched)


def _binary(name: str, function: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
    @kernel(name)
    def compute(args: list[Arg], attrs: dict[str, Any]) -> Arg:
        (a, b), batched = align(args)
        with np.errstate(all="ignore"):
            return Arg(function(a, b), batched)


UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "negative": np.negative,
    "abs": np.abs,
    "square": np.square,
    "sqrt": np.sqrt,
    "rsqrt": lambda x: 1 / np.sqrt(x),
    "exp": np.exp,
    "log": np.log,
    "log1p": np.log1p,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "tanh": np.tanh,
    "floor": np.floor,
    "ceil": np.ceil,
    "round": np.rint,
    "sign": np.sign,
    "reciprocal": lambda x: 1 / x,
    "logical_not": np.logical_not,
}
BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "add": np.add,
    "subtract": np.subtract,
    "multiply": np.multiply,
    "divide": np.true_divide,
    "floordiv": np.floor_divide,
    "mod": np.mod,
    "pow": np.power,
    "maximum": np.maximum,
    "minimum": np.minimum,
    "less": np.less,
    "less_equal": np.less_equal,
    "greater": np.greater,
    "greater_equal": np.greater_equal,
    "logical_and": np.logical_and,
    "logical_or": np.logical_or,
}
for _name, _one in UNARY.items():
    _unary(_name, _one)
for _name, _two in BINARY.items():
    _binary(_name, _two)
_BOOL_RESULT = {"less", "less_equal", "greater", "greater_equal", "logical_and", "logical_or"}


def _expression_or(name: str, x: Any, *others: Any) -> Any:
    """A recorded ``normalizer_fn`` value (an expression Symbol) takes numpy's ufunc, so that
    ``tf.math`` functions inside a normalizer are recorded too; None otherwise."""
    from mlengine.feature_column.columns.expression import Symbol

    if isinstance(x, Symbol) or any(isinstance(o, Symbol) for o in others):
        numpy_name = {"divide": "true_divide", "pow": "power", "round": "rint"}.get(name, name)
        function = getattr(np, numpy_name, None)
        if name == "sigmoid":
            return 1 / (1 + np.exp(-x))
        if name == "rsqrt":
            return 1 / np.sqrt(x)
        if function is None:
            raise NotSupportedError(f"tf.math.{name} cannot be recorded in a normalizer_fn.")
        return function(x, *others)
    return None


def unary_op(name: str) -> Callable[..., Any]:
    def op(x: Any, name_: str | None = None, **kwargs: Any) -> Any:
        recorded = _expression_or(name, x)
        if recorded is not None:
            return recorded
        if torch_ops.is_torch(x):  # inside a model_fn
            return torch_ops.unary(name, x)
        tensor = convert(x)
        dtype = dtypes.bool_ if name == "logical_not" else tensor.dtype
        return make_op(name, [tensor], dtype)

    op.__name__ = name
    op.__doc__ = f"``tf.math.{name}``, elementwise."
    return op


def binary_op(name: str) -> Callable[..., Any]:
    def op(x: Any, y: Any, name_: str | None = None, **kwargs: Any) -> Any:
        recorded = _expression_or(name, x, y)
        if recorded is not None:
            return recorded
        if torch_ops.is_torch(x, y):  # inside a model_fn
            return torch_ops.binary(name, x, y)
        base = _dtype_of(x, y)
        # Python numbers take the tensor's dtype, as TF converts them.
        operands = [
            v if isinstance(v, Tensor) else convert(v, None if base.is_string else base)
            for v in (x, y)
        ]
        dtype = dtypes.bool_ if name in _BOOL_RESULT else base
        if name == "divide" and dtype.is_integer:
            dtype = dtypes.float64
        return make_op(name, operands, dtype)

    op.__name__ = name
    op.__doc__ = f"``tf.math.{name}``, elementwise, with broadcasting."
    return op


# -- equality on numbers and strings ---------------------------------------------------------


def _equal(args: list[Arg]) -> Arg:
    a, b = args
    if isinstance(a.value, Strings) or isinstance(b.value, Strings):
        strings, other = (a, b) if isinstance(a.value, Strings) else (b, a)
        value = other.value
        if isinstance(value, Strings) and value.shape == ():
            value = value.flat[0].as_py()
        if isinstance(value, str | bytes):
            return Arg(equal_strings(strings.value, value), strings.batched)
        if isinstance(value, Strings) and value.shape == strings.value.shape:
            return Arg(equal_strings(strings.value, value), strings.batched or other.batched)
        left = Arg(_objects(a.value), a.batched)
        right = Arg(_objects(b.value), b.batched)
        (x, y), batched = _align_objects([left, right])
        return Arg(np.equal(x, y), batched)
    (x, y), batched = align(args)
    return Arg(np.equal(x, y), batched)


def _objects(value: Any) -> np.ndarray:
    return value.to_numpy() if isinstance(value, Strings) else np.asarray(value)


def _align_objects(args: list[Arg]) -> tuple[list[np.ndarray], bool]:
    return align([Arg(np.asarray(a.value, dtype=object), a.batched) for a in args])


@kernel("equal")
def _equal_kernel(args: list[Arg], attrs: dict[str, Any]) -> Arg:
    return _equal(args)


@kernel("not_equal")
def _not_equal_kernel(args: list[Arg], attrs: dict[str, Any]) -> Arg:
    result = _equal(args)
    return Arg(np.logical_not(result.value), result.batched)


def equal(x: Any, y: Any, name: str | None = None) -> Any:
    """``tf.equal``: elementwise equality (strings compare as they are, spaces included)."""
    if torch_ops.is_torch(x, y):
        return torch_ops.binary("equal", x, y)
    return make_op("equal", [x, y], dtypes.bool_)


def not_equal(x: Any, y: Any, name: str | None = None) -> Any:
    """``tf.not_equal``."""
    if torch_ops.is_torch(x, y):
        return torch_ops.binary("not_equal", x, y)
    return make_op("not_equal", [x, y], dtypes.bool_)


# -- casts and conversions ---------------------------------------------------------------


@kernel("cast")
def _cast(args: list[Arg], attrs: dict[str, Any]) -> Arg:
    target: dtypes.DType = attrs["dtype"]
    value = args[0].value
    if isinstance(value, Strings):
        if target.is_string:
            return args[0]
        raise NotSupportedError(
            "tf.cast cannot turn strings into numbers (nor can TensorFlow's): use "
            "tf.strings.to_number (tf.string_to_number)."
        )
    if target.is_string:
        raise NotSupportedError("tf.cast cannot turn numbers into strings: use tf.as_string.")
    return Arg(np.asarray(value).astype(target.as_numpy_dtype), args[0].batched)


def cast(x: Any, dtype: Any, name: str | None = None) -> Any:
    """``tf.cast``: numbers and booleans to another numeric dtype."""
    from mlengine.feature_column.columns.expression import Symbol

    if isinstance(x, Symbol):  # inside a recorded normalizer_fn: values are float64 anyway
        return x
    if isinstance(x, SparseTensor):
        return SparseTensor(x.indices, cast(x.values, dtype), x.dense_shape)
    target = dtypes.as_dtype(dtype)
    if torch_ops.is_torch(x):
        return torch_ops.cast(x, target.name)
    tensor = convert(x)
    if tensor.dtype == target:
        return tensor
    return make_op("cast", [tensor], target, {"dtype": target})


@kernel("to_number")
def _to_number(args: list[Arg], attrs: dict[str, Any]) -> Arg:
    value = args[0].value
    target: dtypes.DType = attrs["dtype"]
    if not isinstance(value, Strings):
        return Arg(np.asarray(value).astype(target.as_numpy_dtype), args[0].batched)
    flat = pc.utf8_trim_whitespace(value.flat.cast(pa.string()))
    try:
        numbers = pc.cast(flat, pa.float64() if target.is_floating else pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        bad = next(v for v in flat.to_pylist() if not _is_number(v, target))
        raise FeatureError(
            f"StringToNumberOp could not correctly convert string: {bad!r}"
        ) from None
    array = np.asarray(numbers.to_numpy(zero_copy_only=False), dtype=target.as_numpy_dtype)
    return Arg(array.reshape(value.shape), args[0].batched)


def _is_number(text: Any, target: dtypes.DType) -> bool:
    try:
        float(text) if target.is_floating else int(text)
    except (TypeError, ValueError):
        return False
    return True


def string_to_number(
    string_tensor: Any, out_type: Any = dtypes.float32, name: str | None = None
) -> Tensor:
    """``tf.strings.to_number`` (v1 ``tf.string_to_number``)."""
    target = dtypes.as_dtype(out_type)
    return make_op("to_number", [string_tensor], target, {"dtype": target})


@kernel("as_string")
def _as_string(args: list[Arg], attrs: dict[str, Any]) -> Arg:
    value = args[0].value
    if isinstance(value, Strings):
        return args[0]
    array = np.asarray(value)
    texts = [
        str(v).lower()
        if array.dtype == bool
        else repr(v.item())
        if array.dtype.kind == "f"
        else str(v)
        for v in array.reshape(-1)
    ]
    return Arg(Strings(pa.array(texts, pa.string()), array.shape), args[0].batched)


def as_string(input: Any, name: str | None = None, **kwargs: Any) -> Tensor:  # noqa: A002
    """``tf.as_string``: numbers as text."""
    return make_op("as_string", [input], dtypes.string)


def _strings_op(op_name: str, function: Callable[[pa.Array], pa.Array]) -> Callable[..., Tensor]:
    @kernel(op_name)
    def compute(args: list[Arg], attrs: dict[str, Any]) -> Arg:
        value = args[0].value
        if not isinstance(value, Strings):
            raise NotSupportedError(f"tf.strings.{op_name} takes strings.")
        return Arg(value.map_flat(function), args[0].batched)

    def op(input: Any, name: str | None = None, **kwargs: Any) -> Tensor:  # noqa: A002
        return make_op(op_name, [input], dtypes.string)

    op.__name__ = op_name
    op.__doc__ = f"``tf.strings.{op_name}``."
    return op


strip = _strings_op("strip", pc.utf8_trim_whitespace)
lower = _strings_op("lower", pc.utf8_lower)
upper = _strings_op("upper", pc.utf8_upper)


@kernel("regex_replace")
def _regex_replace(args: list[Arg], attrs: dict[str, Any]) -> Arg:
    value = args[0].value
    if not isinstance(value, Strings):
        raise NotSupportedError("tf.strings.regex_replace takes strings.")
    replace = pc.replace_substring_regex(
        value.flat,
        pattern=attrs["pattern"],
        replacement=attrs["rewrite"],
        max_replacements=None if attrs["replace_global"] else 1,
    )
    return Arg(Strings(replace, value.shape), args[0].batched)


def regex_replace(
    input: Any,
    pattern: str,
    rewrite: str,
    replace_global: bool = True,
    name: str | None = None,  # noqa: A002
) -> Tensor:
    """``tf.strings.regex_replace`` (RE2 syntax ≈ Python's for the usual patterns)."""
    rewrite = rewrite.replace("\\\\", "\\")
    attrs = {"pattern": str(pattern), "rewrite": rewrite, "replace_global": bool(replace_global)}
    return make_op("regex_replace", [input], dtypes.string, attrs)


@kernel("length")
def _length(args: list[Arg], attrs: dict[str, Any]) -> Arg:
    value = args[0].value
    assert isinstance(value, Strings)
    lengths = np.asarray(pc.utf8_length(value.flat.cast(pa.string())), dtype=np.int32)
    return Arg(lengths.reshape(value.shape), args[0].batched)


def length(input: Any, name: str | None = None, unit: str = "BYTE") -> Tensor:  # noqa: A002
    """``tf.strings.length`` (characters; TF's default unit counts UTF-8 bytes, the same for
    ASCII)."""
    return make_op("length", [input], dtypes.int32)


# -- shapes ---------------------------------------------------------------------------------


def _reshape_value(value: Any, shape: Sequence[int]) -> Any:
    if isinstance(value, Strings):
        return value.reshape(shape)
    return np.asarray(value).reshape(shape)


def _shape(value: Any) -> tuple[int, ...]:
    return value.shape if isinstance(value, Strings) else np.shape(value)


@kernel("expand_dims", rowwise=lambda attrs: attrs["axis"] > 0 or attrs["axis"] == -1)
def _expand_dims(args: list[Arg], attrs: dict[str, Any]) -> Arg:
    arg = args[0]
    shape = list(_shape(arg.value))
    axis = _axis(attrs["axis"], arg.batched)
    position = axis if axis >= 0 else len(shape) + axis + 1
    shape.insert(position, 1)
    return Arg(_reshape_value(arg.value, shape), arg.batched)


def expand_dims(
    input: Any, axis: int = -1, name: str | None = None, dim: int | None = None
) -> Tensor:  # noqa: A002
    """``tf.expand_dims``."""
    if torch_ops.is_torch(input):
        return input.unsqueeze(axis if dim is None else dim)
    axis = dim if dim is not None else axis
    tensor = convert(input)
    return make_op("expand_dims", [tensor], tensor.dtype, {"axis": int(axis)})


@kernel(
    "reshape",
    rowwise=lambda attrs: list(attrs["shape"])[:1] == [-1] and list(attrs["shape"]).count(-1) == 1,
)
def _reshape(args: list[Arg], attrs: dict[str, Any]) -> Arg:
    arg = args[0]
    shape = list(attrs["shape"])
    if arg.batched:
        shape = [_shape(arg.value)[0], *shape]
    return Arg(_reshape_value(arg.value, shape), arg.batched)


def reshape(tensor: Any, shape: Any, name: str | None = None) -> Tensor:
    """``tf.reshape`` to a static shape (``-1`` for one inferred dimension)."""
    if torch_ops.is_torch(tensor):
        return tensor.reshape([int(d) for d in shape])
    target = convert(tensor)
    dims = [
        int(d)
        for d in np.asarray(shape.numpy() if isinstance(shape, Tensor) else shape).reshape(-1)
    ]
    return make_op("reshape", [target], target.dtype, {"shape": tuple(dims)})


@kernel("squeeze", rowwise=lambda attrs: attrs["axis"] is not None and 0 not in attrs["axis"])
def _squeeze(args: list[Arg], attrs: dict[str, Any]) -> Arg:
    arg = args[0]
    shape = list(_shape(arg.value))
    offset = 1 if arg.batched else 0
    if attrs["axis"] is None:
        keep = [d for i, d in enumerate(shape) if i < offset or d != 1]
    else:
        axes = {(a + offset) if a >= 0 else len(shape) + a for a in attrs["axis"]}
        for a in axes:
            if shape[a] != 1:
                raise InvalidParameterError(
                    f"tf.squeeze: dimension {a - offset} is {shape[a]}, not 1."
                )
        keep = [d for i, d in enumerate(shape) if i not in axes]
    return Arg(_reshape_value(arg.value, keep), arg.batched)


def squeeze(
    input: Any, axis: Any = None, name: str | None = None, squeeze_dims: Any = None
) -> Tensor:  # noqa: A002
    """``tf.squeeze``."""
    if torch_ops.is_torch(input):
        chosen = axis if axis is not None else squeeze_dims
        if chosen is None:
            return input.squeeze()
        for a in sorted([chosen] if isinstance(chosen, int) else chosen, reverse=True):
            input = input.squeeze(a)
        return input
    axis = squeeze_dims if axis is None else axis
    axes = None if axis is None else tuple(int(a) for a in np.atleast_1d(axis))
    tensor = convert(input)
    return make_op("squeeze", [tensor], tensor.dtype, {"axis": axes})


@kernel("identity")
def _identity(args: list[Arg], attrs: dict[str, Any]) -> Arg:
    return args[0]


def identity(input: Any, name: str | None = None) -> Any:  # noqa: A002
    """``tf.identity``."""
    if torch_ops.is_torch(input):
        return input
    if isinstance(input, SparseTensor):
        return input
    tensor = convert(input)
    return make_op("identity", [tensor], tensor.dtype)


def _stacked(args: list[Arg]) -> tuple[list[Any], bool]:
    if any(isinstance(a.value, Strings) for a in args):
        arrays = [Arg(_objects(a.value), a.batched) for a in args]
    else:
        arrays = list(args)
    values, batched = (
        align(arrays)
        if any(a.batched for a in args)
        else ([np.asarray(a.value) for a in arrays], False)
    )
    if batched:
        rows = max(v.shape[0] for v, a in zip(values, args, strict=True) if a.batched)
        values = [
            v if a.batched else np.broadcast_to(v, (rows, *v.shape))
            for v, a in zip(values, args, strict=True)
        ]
    return values, batched


def _back_to_strings(array: np.ndarray) -> Any:
    return Strings.of(array) if array.dtype == object else array


@kernel("stack", rowwise=lambda attrs: attrs["axis"] != 0)
def _stack(args: list[Arg], attrs: dict[str, Any]) -> Arg:
    values, batched = _stacked(args)
    return Arg(_back_to_strings(np.stack(values, axis=_axis(attrs["axis"], batched))), batched)


@kernel("concat", rowwise=lambda attrs: attrs["axis"] != 0)
def _concat(args: list[Arg], attrs: dict[str, Any]) -> Arg:
    values, batched = _stacked(args)
    return Arg(
        _back_to_strings(np.concatenate(values, axis=_axis(attrs["axis"], batched))), batched
    )


def stack(values: Sequence[Any], axis: int = 0, name: str | None = None) -> Tensor:
    """``tf.stack``."""
    tensors = [convert(v) for v in values]
    return make_op("stack", tensors, tensors[0].dtype, {"axis": int(axis)})


def concat(values: Sequence[Any], axis: int, name: str | None = None) -> Tensor:
    """``tf.concat``."""
    tensors = [convert(v) for v in values]
    return make_op("concat", tensors, tensors[0].dtype, {"axis": int(axis)})


@kernel("where")
def _where(args: list[Arg], attrs: dict[str, Any]) -> Arg:
    (condition, x, y), batched = align(args)
    return Arg(np.where(condition, x, y), batched)


def where(condition: Any, x: Any = None, y: Any = None, name: str | None = None) -> Tensor:
    """``tf.where(condition, x, y)`` (the three-argument form)."""
    if x is None or y is None:
        raise NotSupportedError("tf.where(condition) without x and y is not supported.")
    return make_op("where", [condition, x, y], _dtype_of(x, y))


@kernel("getitem", rowwise=lambda attrs: bool(attrs["index"]) and attrs["index"][0] == slice(None))
def _getitem(args: list[Arg], attrs: dict[str, Any]) -> Arg:
    arg = args[0]
    index = attrs["index"]
    if arg.batched:
        index = (slice(None), *index)
    value = arg.value
    if isinstance(value, Strings):
        positions = np.arange(len(value.flat)).reshape(value.shape)[index]
        return Arg(
            Strings(value.flat.take(pa.array(positions.reshape(-1))), positions.shape), arg.batched
        )
    return Arg(np.asarray(value)[index], arg.batched)


def getitem(tensor: Tensor, index: Any) -> Tensor:
    """``tensor[...]`` with ints, slices, ``...`` and ``None`` (static indices only)."""
    items = index if isinstance(index, tuple) else (index,)
    for item in items:
        if isinstance(item, Tensor):
            raise NotSupportedError("Indexing a tensor with a tensor is not supported.")
    return make_op("getitem", [tensor], tensor.dtype, {"index": items})


def fill_like(tensor: Any, value: float, dtype: Any = None) -> Tensor:
    target = convert(tensor)
    out = dtypes.as_dtype(dtype) if dtype is not None else target.dtype
    return make_op("fill_like", [target], out, {"value": value, "dtype": out})


@kernel("fill_like")
def _fill_like(args: list[Arg], attrs: dict[str, Any]) -> Arg:
    shape = _shape(args[0].value)
    return Arg(np.full(shape, attrs["value"], dtype=attrs["dtype"].as_numpy_dtype), args[0].batched)


def zeros_like(tensor: Any, dtype: Any = None, name: str | None = None) -> Tensor:
    """``tf.zeros_like``."""
    return fill_like(tensor, 0, dtype)


def ones_like(tensor: Any, dtype: Any = None, name: str | None = None) -> Tensor:
    """``tf.ones_like``."""
    return fill_like(tensor, 1, dtype)


def clip_by_value(t: Any, clip_value_min: Any, clip_value_max: Any, name: str | None = None) -> Any:
    """``tf.clip_by_value``."""
    return binary_op("minimum")(binary_op("maximum")(t, clip_value_min), clip_value_max)


# -- Python operators on tensors ------------------------------------------------------------


def _install_operators() -> None:
    def forward(op: str) -> Callable[[Tensor, Any], Tensor]:
        return lambda self, other: binary_op(op)(self, other)

    def reflected(op: str) -> Callable[[Tensor, Any], Tensor]:
        return lambda self, other: binary_op(op)(other, self)

    pairs = {
        "add": "add",
        "sub": "subtract",
        "mul": "multiply",
        "truediv": "divide",
        "floordiv": "floordiv",
        "mod": "mod",
        "pow": "pow",
    }
    for dunder, op in pairs.items():
        setattr(Tensor, f"__{dunder}__", forward(op))
        setattr(Tensor, f"__r{dunder}__", reflected(op))
    for dunder, op in (
        ("lt", "less"),
        ("le", "less_equal"),
        ("gt", "greater"),
        ("ge", "greater_equal"),
    ):
        setattr(Tensor, f"__{dunder}__", forward(op))
    others: dict[str, Callable[..., Any]] = {
        "__and__": forward("logical_and"),
        "__or__": forward("logical_or"),
        "__neg__": lambda self: unary_op("negative")(self),
        "__abs__": lambda self: unary_op("abs")(self),
        "__invert__": lambda self: unary_op("logical_not")(self),
        "__getitem__": getitem,
    }
    for dunder_name, method in others.items():
        setattr(Tensor, dunder_name, method)


_install_operators()

MATH = {name: unary_op(name) for name in UNARY}
MATH.update({name: binary_op(name) for name in BINARY})


__all__ = [
    "MATH",
    "align",
    "as_string",
    "binary_op",
    "cast",
    "clip_by_value",
    "concat",
    "equal",
    "expand_dims",
    "identity",
    "length",
    "lower",
    "not_equal",
    "ones_like",
    "regex_replace",
    "reshape",
    "squeeze",
    "stack",
    "string_to_number",
    "strip",
    "unary_op",
    "upper",
    "where",
    "zeros_like",
]
