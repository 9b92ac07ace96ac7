"""What an ``input_fn`` may be and return, and what each form means (the input contract).

``train``, ``evaluate`` and ``predict`` take an ``input_fn`` as TensorFlow's estimators do and
resolve it once per call with :func:`resolve_input`:

* an mlengine input function (:class:`~mlengine.data.InputFn`, or anything with ``chunks()`` and
  ``batch_size``: a :class:`ChunkedInput`) is read chunk by chunk;
* any other callable is called with no arguments, and what it returns is resolved in turn, so
  ``input_fn=lambda: make_input_fn(...)`` (a callable returning an input function) works;
* one ``(features, labels)`` pair of arrays, or a features dict alone, is a
  :class:`ConstantBatch`: TensorFlow fed such constant tensors at *every* step, so training
  repeats it until ``steps`` or ``max_steps`` (one of them is then required, or training would
  never end, as in TF), while evaluation and prediction read it once (TF would loop forever);
* an iterable of ``(features, labels)`` batches is read once, batch by batch.

Other shapes of returned value (a ``tf.data``-style dataset, tensors of the ``mlengine.tf``
façade) are turned into these forms by *input adapters* that the code defining them registers
with :func:`register_input_adapter`; this module does not know them. An adapter is given the
estimator's random seed (``RunConfig(tf_random_seed)``, or None) with the value: TF seeded a
dataset's shuffles from the graph seed, so a seeded program read its data in the same order on
every run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from mlengine.data.batches import InputBatch
from mlengine.data.input_fns import InputFn
from mlengine.errors import DataError


@runtime_checkable
class ChunkedInput(Protocol):
    """An input read in large chunks of whole rows, cut into batches of ``batch_size`` (the
    form mlengine's own input functions have: one transform per chunk, not per batch)."""

    batch_size: int

    def chunks(self) -> Iterator[InputBatch]:
        """The rows, in order, in chunks of any size (batches may straddle chunks), unless
        the input has a true ``chunks_are_cut`` attribute: its chunks are then whole batches
        but for their last, which ends a batch (TF's ``batch(n).repeat()``: each epoch ends
        with its own short batch) and is not merged with the next chunk."""
        ...


@dataclass(frozen=True)
class ConstantBatch:
    """One batch that an input_fn returned as arrays: fed at every training step."""

    features: Mapping[str, Any]
    labels: Any


Resolved = ChunkedInput | ConstantBatch | Iterable[Any]
InputAdapter = Callable[[Any, int | None], Any]
_ADAPTERS: list[InputAdapter] = []


def register_input_adapter(adapter: InputAdapter) -> None:
    """Register ``adapter(value, seed) -> replacement or None``: called on what an input_fn
    returns before the forms of the module docstring are recognised (None: not its kind of
    value); ``seed`` is the estimator's random seed or None (see the module docstring)."""
    if adapter not in _ADAPTERS:
        _ADAPTERS.append(adapter)


def _adapted(value: Any, seed: int | None) -> Any:
    for adapter in _ADAPTERS:
        replaced = adapter(value, seed)
        if replaced is not None:
            return replaced
    return value


def _is_chunked(value: Any) -> bool:
    return isinstance(value, ChunkedInput) and isinstance(getattr(value, "batch_size", None), int)


def _seeded(value: ChunkedInput, seed: int | None) -> ChunkedInput:
    """mlengine's own input functions that shuffle without a seed take the estimator's."""
    return value.seeded(seed) if isinstance(value, InputFn) else value


def resolve_input(input_fn: Any, seed: int | None = None) -> Resolved:
    """What ``input_fn`` gives, in one of the forms of the module docstring (``seed``: the
    estimator's random seed, handed to the input adapters).

    Raises:
        DataError: ``input_fn`` returns something that is none of them.
    """
    value = _adapted(input_fn, seed)
    for _ in range(8):  # a callable returning a callable... (bounded: no endless chains)
        if _is_chunked(value):
            return _seeded(value, seed)
        if not callable(value):
            break
        value = _adapted(value(), seed)
    if _is_chunked(value):
        return _seeded(value, seed)
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], Mapping):
        return ConstantBatch(value[0], value[1])
    if isinstance(value, Mapping):
        return ConstantBatch(value, None)
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return value
    raise DataError(
        "input_fn must return (features, labels) arrays, a features dict, an iterable of "
        f"(features, labels) batches, a dataset or an mlengine input function; got "
        f"{type(value).__name__}."
    )


__all__ = [
    "ChunkedInput",
    "ConstantBatch",
    "InputAdapter",
    "Resolved",
    "register_input_adapter",
    "resolve_input",
]
