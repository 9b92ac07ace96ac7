"""From an ``input_fn`` to encoded batches, transforming large chunks at a time.

mlengine's own input functions (:class:`~mlengine.data.InputFn`) hand over chunks of tens of
thousands of rows: each is encoded once (vectorised) and sliced into ``batch_size`` batches,
so the per-step cost is a few tensor views. Any other input_fn (a callable returning an
iterable, or an iterable used once) is encoded batch by batch.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from mlengine.data.batches import rebatch
from mlengine.data.input_fns import InputFn
from mlengine.errors import DataError, FeatureError
from mlengine.model.encode import EncodedBatch, Encoder
from mlengine.training.prefetch import prefetch
from mlengine.tuning import INPUT_CHUNK_ROWS

logger = logging.getLogger("mlengine")


def _split(item: Any) -> tuple[Mapping[str, Any], Any]:
    if isinstance(item, tuple | list) and len(item) == 2 and isinstance(item[0], Mapping):
        return item[0], item[1]
    if isinstance(item, Mapping):
        return item, None
    raise DataError(
        "An input_fn must yield (features, labels) pairs or features dicts; got "
        f"{type(item).__name__}."
    )


def raw_batches(input_fn: Any) -> tuple[Iterable[Any], int | None]:
    """The raw items an input_fn gives, and the batch size when it is one of ours."""
    if isinstance(input_fn, InputFn):
        rows = math.ceil(INPUT_CHUNK_ROWS / input_fn.batch_size) * input_fn.batch_size
        # Chunks of a whole number of batches: batches never straddle two encoded chunks.
        return rebatch(input_fn.chunks(), rows), input_fn.batch_size
    source = input_fn() if callable(input_fn) else input_fn
    if isinstance(source, tuple) and len(source) == 2 and isinstance(source[0], Mapping):
        return [source], None  # an input_fn that returns one (features, labels) batch
    if isinstance(source, Mapping):
        return [source], None
    if not isinstance(source, Iterable):
        raise DataError(
            f"input_fn must return an iterable of (features, labels) batches; got "
            f"{type(source).__name__}."
        )
    return source, None


def encoded_chunks(
    input_fn: Any,
    encoder: Encoder,
    *,
    need_labels: bool,
    see_features: Callable[[Mapping[str, Any]], None] | None = None,
) -> Iterator[tuple[EncodedBatch, int | None]]:
    """Encoded chunks (or batches) of ``input_fn`` with the batch size to slice them by;
    ``see_features`` is shown each raw chunk's features first (evaluation's instances)."""
    items, batch_size = raw_batches(input_fn)
    warned = False
    for index, item in enumerate(items):
        features, labels = _split(item)
        if see_features is not None:
            see_features(features)
        if not warned:
            unused = sorted(set(features) - encoder.required_keys)
            if unused:
                logger.warning("Ignoring features the model does not use: %s", unused)
            warned = True
        if need_labels and labels is None:
            raise DataError("input_fn gave no labels; training and evaluation need them.")
        try:
            batch = encoder.encode(features, labels if need_labels else None)
        except FeatureError as exc:
            raise type(exc)(f"{exc} (input batch {index})") from None
        if batch.num_rows == 0:
            raise DataError(f"input_fn yielded an empty batch (input batch {index}).")
        yield batch, batch_size


def encoded_batches(
    input_fn: Any,
    encoder: Encoder,
    *,
    need_labels: bool,
    see_features: Callable[[Mapping[str, Any]], None] | None = None,
) -> Iterator[EncodedBatch]:
    """Encoded batches of ``input_fn``, each exactly as the input function batches rows."""
    chunks = encoded_chunks(input_fn, encoder, need_labels=need_labels, see_features=see_features)
    if encoder.device.type == "cuda":  # encode the next chunk while the GPU trains on this one
        chunks = prefetch(chunks)
    for chunk, batch_size in chunks:
        if batch_size is None or chunk.num_rows <= batch_size:
            yield chunk
            continue
        yield from chunk.split(batch_size)
