"""``tf.Tensor`` of the façade: a concrete value, or a node of a small graph computed later.

TensorFlow builds a graph when an ``input_fn`` or a ``Dataset.map`` function runs and computes
it at every step. The façade does the same with far fewer ops (:mod:`mlengine.tf._ops`): a
:class:`Tensor` is either *concrete* (it holds a value now; ops on concrete tensors compute at
once, as TF 2's eager mode) or *symbolic* (an op over other tensors, down to *sources*: an
element of a dataset, or a placeholder). :func:`evaluate` computes symbolic tensors for given
source values.

Sources may be **batched**: a ``Dataset.map`` function is traced once on one element, and then
computed on a whole chunk of elements at once (TF's map-and-batch fusion, taken further): every
value carries whether it has that extra leading axis, and each kernel maps its arguments'
element semantics onto it (axes shift by one, constants broadcast over the rows). Kernels also
say whether they are *row-wise* (row ``i`` of the output depends on row ``i`` of the inputs
only), which lets a function written for one batch run on many batches at once.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlengine.errors import InvalidParameterError, NotSupportedError
from mlengine.tf import dtypes
from mlengine.tf._values import SparseValue, Strings, Value, as_value, shape_of

_names = itertools.count()


@dataclass(frozen=True)
class Arg:
    """A kernel's argument: a value and whether it has the extra leading (batch) axis."""

    value: Any
    batched: bool


Compute = Callable[[list[Arg], dict[str, Any]], Any]


@dataclass(frozen=True)
class Kernel:
    """How an op computes (returning a value, or a list/dict of values for multi-output ops,
    and whether the result is batched) and whether it is row-wise."""

    compute: Callable[[list[Arg], dict[str, Any]], Arg | list[Arg] | dict[str, Arg]]
    rowwise: bool | Callable[[dict[str, Any]], bool] = True


KERNELS: dict[str, Kernel] = {}


def kernel(
    name: str, rowwise: bool | Callable[[dict[str, Any]], bool] = True
) -> Callable[
    [Callable[[list[Arg], dict[str, Any]], Any]], Callable[[list[Arg], dict[str, Any]], Any]
]:
    """Register an op's kernel (see :class:`Kernel`)."""

    def register(function: Callable[[list[Arg], dict[str, Any]], Any]) -> Any:
        KERNELS[name] = Kernel(function, rowwise)
        return function

    return register


class SymbolicValueError(NotSupportedError):
    """A symbolic tensor was used where its value is needed (``bool(t)``, ``np.array(t)``,
    ``t.numpy()``): TensorFlow's graph mode refuses the same; a ``Dataset.map`` function doing
    it runs per element instead (see :mod:`mlengine.tf.data`)."""


class Tensor:
    """A tensor of the façade (see the module docstring).

    Attributes:
        dtype: The :class:`~mlengine.tf.dtypes.DType` of the values.
        op: The op name (``"const"`` for a concrete tensor).
        inputs: The tensors the op reads.
        attrs: The op's attributes (axes, shapes, record defaults...).
    """

    __array_priority__ = 100

    def __init__(
        self,
        op: str,
        inputs: Sequence[Tensor] = (),
        attrs: dict[str, Any] | None = None,
        dtype: dtypes.DType | None = None,
        value: Value | None = None,
        name: str | None = None,
    ) -> None:
        self.op = op
        self.inputs = tuple(inputs)
        self.attrs = attrs or {}
        self._value = value
        if dtype is None:
            if value is None:
                raise InvalidParameterError(f"Tensor of op {op!r} needs a dtype.")
            dtype = value_dtype(value)
        self.dtype = dtype
        self.name = name or f"{op}_{next(_names)}:0"

    # -- concreteness ----------------------------------------------------------------------
    @property
    def concrete(self) -> bool:
        return self.op == "const"

    @property
    def value(self) -> Value:
        """The value of a concrete tensor; symbolic ones raise :class:`SymbolicValueError`."""
        if self.op != "const":
            raise SymbolicValueError(
                f"Tensor {self.name} ({self.op}) has no value until its input is read: it is "
                "computed from a dataset element or a placeholder at every step."
            )
        assert self._value is not None
        return self._value

    def numpy(self) -> Any:
        value = self.value
        if isinstance(value, Strings):
            return value.to_numpy()
        if isinstance(value, SparseValue):
            raise NotSupportedError("A SparseTensor has no numpy() value.")
        return value

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        array = np.asarray(self.numpy())
        return array if dtype is None else array.astype(dtype)

    def __bool__(self) -> bool:
        return bool(self.numpy())

    def __float__(self) -> float:
        return float(self.numpy())

    def __int__(self) -> int:
        return int(self.numpy())

    def __index__(self) -> int:
        return int(self.numpy())

    def __len__(self) -> int:
        shape = self.shape
        if not shape or shape[0] is None:
            raise SymbolicValueError(f"len() of {self.name}: its first dimension is unknown.")
        return int(shape[0])

    def __iter__(self) -> Any:
        return iter([Tensor("const", value=as_value(v)) for v in self.numpy()])

    @property
    def shape(self) -> tuple[int | None, ...] | None:
        """The shape of a concrete tensor; None (unknown) for a symbolic one."""
        if not self.concrete:
            return None
        return shape_of(self.value)

    def get_shape(self) -> Any:
        return self.shape

    def __repr__(self) -> str:
        if self.concrete:
            return (
                f"<tf.Tensor: shape={self.shape}, dtype={self.dtype.name}, numpy={self.numpy()!r}>"
            )
        return f"<tf.Tensor '{self.name}' dtype={self.dtype.name}>"

    # -- operators (the ops module installs them: it knows the kernels) ----------------------
    __hash__ = object.__hash__


class SparseTensor:
    """``tf.SparseTensor(indices, values, dense_shape)``: three tensors."""

    def __init__(self, indices: Any, values: Any, dense_shape: Any) -> None:
        self.indices = convert(indices, dtypes.int64)
        self.values = convert(values)
        self.dense_shape = convert(dense_shape, dtypes.int64)

    @property
    def dtype(self) -> dtypes.DType:
        return self.values.dtype

    @property
    def concrete(self) -> bool:
        return self.indices.concrete and self.values.concrete and self.dense_shape.concrete

    def value(self) -> SparseValue:
        values = self.values.value
        if isinstance(values, Strings):
            values = Strings(values.flat, (len(values.flat),))
        else:
            values = np.asarray(values).reshape(-1)
        indices = np.asarray(self.indices.value, dtype=np.int64).reshape(-1, _rank(self))
        return SparseValue(
            indices, values, tuple(int(d) for d in np.asarray(self.dense_shape.value))
        )

    def __repr__(self) -> str:
        return f"SparseTensor(dtype={self.dtype.name})"


def _rank(sparse: SparseTensor) -> int:
    return len(np.asarray(sparse.dense_shape.value).reshape(-1))


def value_dtype(value: Any) -> dtypes.DType:
    if isinstance(value, Strings):
        return dtypes.string
    if isinstance(value, SparseValue):
        return value_dtype(value.values)
    return dtypes.of_array(value)


def constant(value: Any, dtype: Any = None) -> Tensor:
    """A concrete tensor of ``value`` (cast to ``dtype`` when given)."""
    if isinstance(value, Tensor):
        return value if dtype is None else cast_value_tensor(value, dtypes.as_dtype(dtype))
    target = None if dtype is None else dtypes.as_dtype(dtype)
    data = as_value(value)
    if isinstance(data, np.ndarray):
        if target is not None and not target.is_string:
            data = data.astype(target.as_numpy_dtype)
        elif target is None:
            # TF's defaults: Python floats are float32, ints int32 (unless they need 64 bits).
            if data.dtype == np.float64 and not isinstance(value, np.ndarray):
                data = data.astype(np.float32)
            elif data.dtype == np.int64 and not isinstance(value, np.ndarray):
                if data.size == 0 or (np.abs(data).max() < 2**31):
                    data = data.astype(np.int32)
    return Tensor(
        "const", value=data, dtype=target if target is not None and target.is_string else None
    )


def cast_value_tensor(tensor: Tensor, dtype: dtypes.DType) -> Tensor:
    from mlengine.tf._ops import cast

    return cast(tensor, dtype)


def convert(value: Any, dtype: Any = None) -> Tensor:
    """``tf.convert_to_tensor``: tensors pass through, anything else becomes a constant."""
    if isinstance(value, Tensor):
        return value
    return constant(value, dtype)


def make_op(
    op: str,
    inputs: Sequence[Any],
    dtype: dtypes.DType,
    attrs: dict[str, Any] | None = None,
) -> Tensor:
    """A tensor of op ``op``: computed now when every input is concrete (eager), else symbolic."""
    tensors = [convert(x) for x in inputs]
    node = Tensor(op, tensors, attrs or {}, dtype)
    if all(t.concrete for t in tensors):
        result = KERNELS[op].compute([Arg(t.value, False) for t in tensors], node.attrs)
        assert isinstance(result, Arg)
        return Tensor("const", value=result.value, dtype=dtype)
    return node


def multi_op(op: str, inputs: Sequence[Any], attrs: dict[str, Any], outputs: Any) -> Any:
    """A multi-output op: ``outputs`` is a list (or dict) of dtypes; returns the same structure
    of tensors (concrete when every input is)."""
    tensors = [convert(x) for x in inputs]
    if all(t.concrete for t in tensors):
        result = KERNELS[op].compute([Arg(t.value, False) for t in tensors], attrs)
        if isinstance(result, dict):
            return {k: _const(result[k], outputs[k]) for k in outputs}
        assert isinstance(result, list)
        return [_const(r, d) for r, d in zip(result, outputs, strict=True)]
    node = Tensor(op, tensors, attrs, dtypes.string)
    if isinstance(outputs, dict):
        return {k: _output(node, k, d) for k, d in outputs.items()}
    return [_output(node, i, d) for i, d in enumerate(outputs)]


def _const(result: Arg, dtype: Any) -> Any:
    if isinstance(dtype, tuple):  # a sparse output: (kind, dtype)
        value = result.value
        assert isinstance(value, SparseValue)
        return SparseTensor(value.indices, value.values, np.asarray(value.dense_shape))
    return Tensor("const", value=result.value, dtype=dtype)


def _output(node: Tensor, key: Any, dtype: Any) -> Any:
    if isinstance(dtype, tuple):  # ("sparse", dtype): three outputs of one sparse value
        parts = [
            Tensor("output", [node], {"key": key, "part": part}, d)
            for part, d in (
                ("indices", dtypes.int64),
                ("values", dtype[1]),
                ("dense_shape", dtypes.int64),
            )
        ]
        sparse = SparseTensor.__new__(SparseTensor)
        sparse.indices, sparse.values, sparse.dense_shape = parts
        return sparse
    return Tensor("output", [node], {"key": key}, dtype)


@kernel("output")
def _pick_output(args: list[Arg], attrs: dict[str, Any]) -> Arg:
    raise AssertionError("outputs are picked by evaluate()")  # pragma: no cover


# -- evaluation -----------------------------------------------------------------------------


class Env:
    """Source values for one evaluation: ``sources[key] = (structure, batched)``; the memo
    holds every node computed in it."""

    def __init__(self, sources: dict[Any, tuple[Any, bool]]) -> None:
        self.sources = sources
        self.memo: dict[int, Any] = {}


def evaluate(tensor: Tensor, env: Env) -> Arg:
    """The value of ``tensor`` (and whether it is batched) for the sources of ``env``."""
    found = env.memo.get(id(tensor))
    if found is not None:
        assert isinstance(found, Arg)
        return found
    result: Any
    if tensor.op == "const":
        result = Arg(tensor.value, False)
    elif tensor.op == "element":
        structure, batched = env.sources[tensor.attrs["source"]]
        for key in tensor.attrs["path"]:
            structure = structure[key]
        part = tensor.attrs.get("part")
        if part is not None:  # one of a sparse component's three tensors
            structure = {
                "indices": structure.indices,
                "values": structure.values,
                "dense_shape": np.asarray(structure.dense_shape),
            }[part]
        result = Arg(structure, batched)
    elif tensor.op == "placeholder":
        if tensor.attrs["source"] not in env.sources:
            raise NotSupportedError(
                f"tf.placeholder {tensor.name} is fed only by a serving input receiver; "
                "session feed_dicts do not exist here."
            )
        value, batched = env.sources[tensor.attrs["source"]]
        result = Arg(value, batched)
    elif tensor.op == "output":
        node = tensor.inputs[0]
        outputs: Any = env.memo.get(id(node))
        if outputs is None:
            outputs = KERNELS[node.op].compute([evaluate(t, env) for t in node.inputs], node.attrs)
            env.memo[id(node)] = outputs
        picked = outputs[tensor.attrs["key"]]
        part = tensor.attrs.get("part")
        if part is not None:
            sparse = picked.value
            assert isinstance(sparse, SparseValue)
            inner = {"indices": sparse.indices, "values": sparse.values}
            picked = Arg(inner.get(part, np.asarray(sparse.dense_shape)), False)
        result = picked
    else:
        result = KERNELS[tensor.op].compute([evaluate(t, env) for t in tensor.inputs], tensor.attrs)
    env.memo[id(tensor)] = result
    assert isinstance(result, Arg)
    return result


def evaluate_sparse(sparse: SparseTensor, env: Env) -> Arg:
    """A SparseTensor's value: straight from its producing op when it has one."""
    indices = sparse.indices
    if indices.op == "element" and indices.attrs.get("part") == "indices":
        structure, batched = env.sources[indices.attrs["source"]]
        for key in indices.attrs["path"]:
            structure = structure[key]
        return Arg(structure, batched)
    if indices.op == "output" and indices.attrs.get("part") == "indices":
        node = indices.inputs[0]
        evaluate(Tensor("output", [node], {"key": indices.attrs["key"]}, dtypes.string), env)
        picked: Arg = env.memo[id(node)][indices.attrs["key"]]
        return picked
    parts = [evaluate(t, env) for t in (sparse.indices, sparse.values, sparse.dense_shape)]
    if any(p.batched for p in parts):
        raise NotSupportedError("A SparseTensor built inside a Dataset.map function.")
    value = SparseTensor(*(Tensor("const", value=p.value) for p in parts)).value()
    return Arg(value, False)


def walk(roots: Iterable[Any]) -> list[Tensor]:
    """Every tensor the roots depend on (SparseTensors count their three parts)."""
    seen: dict[int, Tensor] = {}
    stack: list[Tensor] = []
    for root in roots:
        if isinstance(root, SparseTensor):
            stack.extend([root.indices, root.values, root.dense_shape])
        elif isinstance(root, Tensor):
            stack.append(root)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen[id(node)] = node
        stack.extend(node.inputs)
    return list(seen.values())


def sources_of(roots: Iterable[Any]) -> set[Any]:
    """The sources (datasets' iterators, map inputs, placeholders) the roots depend on."""
    return {node.attrs["source"] for node in walk(roots) if node.op in ("element", "placeholder")}


def is_rowwise(roots: Iterable[Any]) -> bool:
    """Whether every op the roots depend on is row-wise (see the module docstring), and every
    root depends on a source (a constant output would not follow the rows)."""
    roots = list(roots)
    for node in walk(roots):
        if node.op in ("const", "element", "placeholder", "output"):
            continue
        rule = KERNELS[node.op].rowwise
        if not (rule(node.attrs) if callable(rule) else rule):
            return False
    return all(sources_of([root]) for root in roots)


__all__ = [
    "KERNELS",
    "Arg",
    "Env",
    "Kernel",
    "SparseTensor",
    "SymbolicValueError",
    "Tensor",
    "constant",
    "convert",
    "evaluate",
    "evaluate_sparse",
    "is_rowwise",
    "kernel",
    "make_op",
    "multi_op",
    "sources_of",
    "value_dtype",
    "walk",
]
