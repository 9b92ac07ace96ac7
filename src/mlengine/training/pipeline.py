"""From a resolved ``input_fn`` to encoded batches, transforming large chunks at a time.

:func:`~mlengine.data.contract.resolve_input` says what an input_fn gives. Chunked inputs
(mlengine's own input functions, datasets of the ``mlengine.tf`` façade) hand over chunks of tens
of thousands of rows: each is encoded once (vectorised) and sliced into ``batch_size`` batches,
so the per-step cost is a few tensor views. A constant batch is encoded once; with
``repeat=True`` (training) the same encoded batch is fed at every step. Any other iterable is
encoded batch by batch.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from mlengine.data.batches import ORIGIN, rebatch
from mlengine.data.contract import ChunkedInput, ConstantBatch, Resolved
from mlengine.data.input_fns import InputFn
from mlengine.errors import DataError, FeatureError, MLEngineError
from mlengine.model.encode import BatchView, EncodedBatch, Encoder
from mlengine.model.heads import LABEL
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


def raw_batches(source: Resolved, origins: bool = False) -> tuple[Iterable[Any], int | None]:
    """The raw items of a resolved input, and the batch size to cut chunks by (None: the
    items are the batches). With ``origins``, mlengine's own input functions' chunks also
    carry each row's origin (:meth:`~mlengine.data.InputFn.with_origins`), so a bad value is
    named by file and row."""
    if isinstance(source, ConstantBatch):
        return [(source.features, source.labels)], None
    if isinstance(source, ChunkedInput):
        if origins and isinstance(source, InputFn):
            chunks = source.with_origins().chunks()
        else:
            chunks = source.chunks()
        if getattr(source, "chunks_are_cut", False):  # whole batches already (contract.py)
            return chunks, source.batch_size
        rows = math.ceil(INPUT_CHUNK_ROWS / source.batch_size) * source.batch_size
        # Chunks of a whole number of batches: batches never straddle two encoded chunks.
        return rebatch(chunks, rows), source.batch_size
    return source, None


def encoded_chunks(
    source: Resolved,
    encoder: Encoder,
    *,
    need_labels: bool,
    see_features: Callable[[Mapping[str, Any]], None] | None = None,
) -> Iterator[tuple[EncodedBatch, int | None]]:
    """Encoded chunks (or batches) of a resolved input with the batch size to slice them by;
    ``see_features`` is shown each raw chunk's features first (evaluation's instances)."""
    items, batch_size = raw_batches(source, origins=True)
    warned = False
    for index, item in enumerate(items):
        features, labels = _split(item)
        origins = features.get(ORIGIN)
        if origins is not None:
            features = {key: value for key, value in features.items() if key != ORIGIN}
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
        except (FeatureError, DataError) as exc:
            raise _where(exc, source, origins, index) from None
        if batch.num_rows == 0:
            raise DataError(f"input_fn yielded an empty batch (input batch {index}).")
        yield batch, batch_size


def _where(error: FeatureError | DataError, source: Any, origins: Any, index: int) -> MLEngineError:
    """``error`` said again with where its bad value came from: the file (or input) and row as
    the user counts them, the column and the value, when the error located it
    (:func:`mlengine.errors.located`) and the input function gave the rows' origins; else
    with the input batch's number."""
    if error.row is None or origins is None or not isinstance(source, InputFn):
        return type(error)(f"{error} (input batch {index})")
    column = error.column
    if column == LABEL:
        column = source.label_key or "the label"
    value = "missing" if error.value is None else repr(error.value)
    where = source.describe_origin(int(origins[error.row]))
    return type(error)(f"{where}: column {column!r}, value {value}: {error.reason}.")


def encoded_batches(
    source: Resolved,
    encoder: Encoder,
    *,
    need_labels: bool,
    repeat: bool = False,
    see_features: Callable[[Mapping[str, Any]], None] | None = None,
) -> Iterator[EncodedBatch | BatchView]:
    """Encoded batches of a resolved input, each exactly as the input batches rows (on the CPU
    as views of their chunk, whose tensors are sliced only if torch reads them); a constant
    batch is encoded once and, with ``repeat``, yielded for ever. ``see_features`` is shown
    each raw chunk's features first (evaluation's instances)."""
    if isinstance(source, ConstantBatch):
        (batch, _), *_ = encoded_chunks(
            source, encoder, need_labels=need_labels, see_features=see_features
        )
        yield from itertools.repeat(batch) if repeat else (batch,)
        return
    chunks = encoded_chunks(source, encoder, need_labels=need_labels, see_features=see_features)
    if encoder.device.type == "cuda":  # encode the next chunk while the GPU trains on this one
        chunks = prefetch(chunks)
    for chunk, batch_size in chunks:
        if batch_size is None or chunk.num_rows <= batch_size:
            yield chunk
            continue
        if encoder.device.type == "cpu":
            yield from chunk.views(batch_size)
        else:
            yield from chunk.split(batch_size)
