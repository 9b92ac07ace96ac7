"""``normalizer_fn`` callables, recorded once as data: the :class:`Expression` normaliser.

TensorFlow programs pass ``numeric_column(normalizer_fn=lambda x: (x - 38.6) / 13.6)``. A
callable cannot go into an export (serving never runs user code), so :func:`record` runs it
once on a :class:`Symbol` that records what is done to it: arithmetic (``+ - * / ** //``,
unary minus, ``abs``), numpy's ufuncs (``np.log``, ``np.sqrt``, ``np.maximum``, ``np.clip``...)
and, through the ``mlengine.tf`` façade, ``tf.math``'s functions of the same names. The result is
an :class:`Expression`: a postfix program of those operations, stored in the export's JSON and
evaluated with numpy at training and serving time alike. A callable that does anything else
(``math.log``, an ``if`` on the value, a TensorFlow op the recorder lacks) cannot be recorded,
and :func:`record` says so naming the column.

Example:
    >>> e = record(lambda x: (x - 38.6) / 13.6, "age")
    >>> e.program
    ('x', 38.6, 'subtract', 13.6, 'divide')
    >>> float(e(np.array([52.2]))[0])
    1.0
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlengine.errors import InvalidParameterError, NotSupportedError
from mlengine.feature_column.columns.base import serializable

if TYPE_CHECKING:
    from mlengine.feature_column.onnx_graph import OnnxGraph

UNARY: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "negative": np.negative,
    "absolute": np.absolute,
    "log": np.log,
    "log1p": np.log1p,
    "log2": np.log2,
    "log10": np.log10,
    "exp": np.exp,
    "expm1": np.expm1,
    "sqrt": np.sqrt,
    "square": np.square,
    "reciprocal": lambda x: 1.0 / x,
    "tanh": np.tanh,
    "sin": np.sin,
    "cos": np.cos,
    "floor": np.floor,
    "ceil": np.ceil,
    "rint": np.rint,
    "sign": np.sign,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
}
BINARY: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "add": np.add,
    "subtract": np.subtract,
    "multiply": np.multiply,
    "divide": np.true_divide,
    "floor_divide": np.floor_divide,
    "power": np.power,
    "maximum": np.maximum,
    "minimum": np.minimum,
}
_UFUNC_NAMES = {"true_divide": "divide", "abs": "absolute"}
Program = tuple[str | float, ...]


class UnrecordableError(NotSupportedError):
    """A normalizer_fn did something the recorder cannot store (see the module docstring)."""


class Symbol:
    """The value a recorded callable receives: every supported operation on it returns a new
    Symbol holding the longer program; anything else raises :class:`UnrecordableError`."""

    __array_priority__ = 1000  # numpy defers to our operators: np.float64(2) * x records

    def __init__(self, program: Program = ("x",)) -> None:
        self.program = program

    # -- building programs
    @staticmethod
    def _operand(value: Any) -> Program:
        if isinstance(value, Symbol):
            return value.program
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise UnrecordableError(f"operand {value!r} is neither the value nor a number")
        number = float(value)
        if not math.isfinite(number):
            raise UnrecordableError(f"operand {value!r} is not finite")
        return (number,)

    def _binary(self, name: str, other: Any, reflected: bool = False) -> Symbol:
        left, right = (
            (self._operand(other), self.program)
            if reflected
            else (
                self.program,
                self._operand(other),
            )
        )
        return Symbol((*left, *right, name))

    def unary(self, name: str) -> Symbol:
        if name not in UNARY:
            raise UnrecordableError(f"{name} is not a recordable function")
        return Symbol((*self.program, name))

    def binary(self, name: str, other: Any, reflected: bool = False) -> Symbol:
        if name not in BINARY:
            raise UnrecordableError(f"{name} is not a recordable function")
        return self._binary(name, other, reflected)

    # -- Python operators
    def __add__(self, other: Any) -> Symbol:
        return self._binary("add", other)

    def __radd__(self, other: Any) -> Symbol:
        return self._binary("add", other, reflected=True)

    def __sub__(self, other: Any) -> Symbol:
        return self._binary("subtract", other)

    def __rsub__(self, other: Any) -> Symbol:
        return self._binary("subtract", other, reflected=True)

    def __mul__(self, other: Any) -> Symbol:
        return self._binary("multiply", other)

    def __rmul__(self, other: Any) -> Symbol:
        return self._binary("multiply", other, reflected=True)

    def __truediv__(self, other: Any) -> Symbol:
        return self._binary("divide", other)

    def __rtruediv__(self, other: Any) -> Symbol:
        return self._binary("divide", other, reflected=True)

    def __floordiv__(self, other: Any) -> Symbol:
        return self._binary("floor_divide", other)

    def __rfloordiv__(self, other: Any) -> Symbol:
        return self._binary("floor_divide", other, reflected=True)

    def __pow__(self, other: Any) -> Symbol:
        return self._binary("power", other)

    def __rpow__(self, other: Any) -> Symbol:
        return self._binary("power", other, reflected=True)

    def __neg__(self) -> Symbol:
        return self.unary("negative")

    def __pos__(self) -> Symbol:
        return self

    def __abs__(self) -> Symbol:
        return self.unary("absolute")

    def clip(self, low: Any = None, high: Any = None, **kwargs: Any) -> Symbol:
        """``np.clip(x, low, high)`` (numpy calls this method) as maximum, then minimum."""
        value = self if low is None else self.binary("maximum", low)
        return value if high is None else value.binary("minimum", high)

    # -- numpy ufuncs (np.log(x), np.maximum(x, 0), np.clip(x, 0, 1)...)
    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        name = _UFUNC_NAMES.get(ufunc.__name__, ufunc.__name__)
        if method != "__call__" or kwargs.get("out") is not None:
            raise UnrecordableError(f"numpy's {ufunc.__name__}.{method} is not recordable")
        if name == "clip" and len(inputs) == 3:
            low, high = inputs[1], inputs[2]
            value = inputs[0] if isinstance(inputs[0], Symbol) else Symbol(self._operand(inputs[0]))
            if low is not None:
                value = value.binary("maximum", low)
            return value if high is None else value.binary("minimum", high)
        if len(inputs) == 1:
            return self.unary(name)
        if len(inputs) == 2:
            first, second = inputs
            if isinstance(first, Symbol):
                return first.binary(name, second)
            assert isinstance(second, Symbol)
            return second.binary(name, first, reflected=True)
        raise UnrecordableError(f"numpy's {ufunc.__name__} is not recordable")

    # -- what cannot be recorded: the value itself
    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise UnrecordableError(
            "the function needs the value itself (a comparison, an if, a Python math call)"
        )

    __float__ = __int__ = __bool__ = __index__ = _refuse
    __lt__ = __le__ = __gt__ = __ge__ = _refuse
    __iter__ = __len__ = __getitem__ = _refuse


def evaluate(program: Program, values: np.ndarray) -> np.ndarray:
    """Run a postfix program on ``values`` (float64 arrays in, float64 out)."""
    stack: list[Any] = []
    for token in program:
        if token == "x":
            stack.append(values)
        elif isinstance(token, float | int):
            stack.append(np.float64(token))
        elif token in UNARY:
            stack.append(UNARY[token](stack.pop()))
        else:
            right, left = stack.pop(), stack.pop()
            stack.append(BINARY[token](left, right))
    result = stack.pop()
    return np.broadcast_to(np.asarray(result, dtype=np.float64), np.shape(values))


def check_program(program: Any) -> Program:
    """A program as stored in an export, checked: known tokens, a well-formed stack."""
    if not isinstance(program, tuple | list) or not program:
        raise InvalidParameterError(f"An expression program must be a list; got {program!r}.")
    depth = 0
    for token in program:
        if token == "x" or (isinstance(token, float | int) and not isinstance(token, bool)):
            depth += 1
        elif token in UNARY:
            if depth < 1:
                raise InvalidParameterError(f"Malformed expression program {list(program)!r}.")
        elif token in BINARY:
            if depth < 2:
                raise InvalidParameterError(f"Malformed expression program {list(program)!r}.")
            depth -= 1
        else:
            raise InvalidParameterError(f"Unknown expression token {token!r}.")
    if depth != 1:
        raise InvalidParameterError(f"Malformed expression program {list(program)!r}.")
    return tuple(program)


@serializable
@dataclass(frozen=True)
class Expression:
    """A recorded ``normalizer_fn``: a postfix program over the value ``x`` (see
    :func:`record`), applied elementwise to a numeric column's values."""

    program: Program

    def __post_init__(self) -> None:
        object.__setattr__(self, "program", check_program(self.program))

    def __call__(self, values: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):  # as TF: log(0) is -inf, not an error
            return evaluate(self.program, values)

    def one(self, value: float) -> float:
        """One value through the same numpy loop as a batch (the same last bit)."""
        return float(self(np.array([value], dtype=np.float64))[0])

    def each(self, values: list[float]) -> list[float]:
        """:meth:`__call__` of each value (the row path's few values), through numpy: the same
        last bit as a batch."""
        result: list[float] = self(np.array(values, dtype=np.float64)).tolist()
        return result

    def onnx(self, graph: OnnxGraph, values: str) -> str:
        """The same program on a float64 graph tensor (portable ONNX exports)."""
        stack: list[tuple[str, bool]] = []  # (tensor, whether it depends on x)
        for token in self.program:
            if token == "x":
                stack.append((values, True))
            elif isinstance(token, float | int):
                stack.append((graph.const(float(token), "c", np.float64), False))
            elif token in UNARY:
                operand, has_x = stack.pop()
                stack.append((_onnx_unary(graph, str(token), operand), has_x))
            else:
                (right, right_x), (left, left_x) = stack.pop(), stack.pop()
                stack.append((_onnx_binary(graph, str(token), left, right), left_x or right_x))
        result, has_x = stack.pop()
        if not has_x:  # a constant: one value per row, as numpy broadcasts it
            result = graph.op("Expand", result, graph.op("Shape", values))
        return str(result)


_ONNX_UNARY = {
    "negative": "Neg", "absolute": "Abs", "log": "Log", "exp": "Exp", "sqrt": "Sqrt",
    "reciprocal": "Reciprocal", "tanh": "Tanh", "sin": "Sin", "cos": "Cos", "floor": "Floor",
    "ceil": "Ceil", "rint": "Round", "sign": "Sign", "sigmoid": "Sigmoid",
}  # fmt: skip
_ONNX_BINARY = {
    "add": "Add", "subtract": "Sub", "multiply": "Mul", "divide": "Div", "power": "Pow",
    "maximum": "Max", "minimum": "Min",
}  # fmt: skip


def _onnx_unary(graph: OnnxGraph, name: str, x: str) -> str:
    if name in _ONNX_UNARY:
        return str(graph.op(_ONNX_UNARY[name], x))
    one = graph.const(1.0, "one", np.float64)
    if name == "log1p":  # ONNX has no log1p: log(1 + x), as Log1p's graph
        return str(graph.op("Log", graph.op("Add", one, x)))
    if name == "expm1":
        return str(graph.op("Sub", graph.op("Exp", x), one))
    if name == "square":
        return str(graph.op("Mul", x, x))
    base = {"log2": 2.0, "log10": 10.0}[name]
    return str(graph.op("Div", graph.op("Log", x), graph.const(math.log(base), "ln", np.float64)))


def _onnx_binary(graph: OnnxGraph, name: str, left: str, right: str) -> str:
    if name == "floor_divide":
        return str(graph.op("Floor", graph.op("Div", left, right)))
    return str(graph.op(_ONNX_BINARY[name], left, right))


def record(function: Callable[[Any], Any], column: str) -> Expression:
    """Record ``function`` (a ``normalizer_fn``) as an :class:`Expression`.

    Raises:
        NotSupportedError: naming ``column``, when the function does something that cannot be
            recorded or returns something other than an expression of its argument.
    """
    try:
        result = function(Symbol())
    except UnrecordableError as exc:
        raise NotSupportedError(
            f"numeric_column {column!r}: normalizer_fn cannot be recorded ({exc}). Exports "
            "store what it computes, so it may only use arithmetic and numpy/tf.math "
            "functions of its argument."
        ) from None
    except Exception as exc:  # anything the function itself raises on a symbolic value
        raise NotSupportedError(
            f"numeric_column {column!r}: normalizer_fn cannot be recorded: calling it on a "
            f"recorded value raised {type(exc).__name__}: {exc}"
        ) from None
    if isinstance(result, int | float | np.number) and not isinstance(result, bool):
        result = Symbol((float(result),))
    if not isinstance(result, Symbol):
        raise NotSupportedError(
            f"numeric_column {column!r}: normalizer_fn returned {type(result).__name__}, not a "
            "value computed from its argument; it cannot be recorded."
        )
    return Expression(result.program)


__all__ = ["BINARY", "UNARY", "Expression", "Symbol", "UnrecordableError", "evaluate", "record"]
