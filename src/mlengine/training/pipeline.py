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
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from mlengine.data.batches import rebatch
from mlengine.data.contract import ChunkedInput, ConstantBatch, Resolved
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


def raw_batches(source: Resolved) -> tuple[Iterable[Any], int | None]:
    """The raw items of a resolved input, and the batch size to cut chunks by (None: the
    items are the batches)."""
    if isinstance(source, ConstantBatch):
        return [(source.features, source.labels)], None
    if isinstance(source, ChunkedInput):
        if getattr(source, "chunks_are_cut", False):  # whole batches already (contract.py)
            return source.chunks(), source.batch_size
        rows = math.ceil(INPUT_CHUNK_ROWS / source.batch_size) * source.batch_size
        # Chunks of a whole number of batches: batches never straddle two encoded chunks.
        return rebatch(source.chunks(), rows), source.batch_size
    return source, None


def encoded_chunks(
    source: Resolved, encoder: Encoder, *, need_labels: bool
) -> Iterator[tuple[EncodedBatch, int | None]]:
    """Encoded chunks (or batches) of a resolved input with the batch size to slice them by."""
    items, batch_size = raw_batches(source)
    warned = False
    for index, item in enumerate(items):
        features, labels = _split(item)
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
    source: Resolved, encoder: Encoder, *, need_labels: bool, repeat: bool = False
) -> Iterator[EncodedBatch]:
    """Encoded batches of a resolved input, each exactly as the input batches rows; a
    constant batch is encoded once and, with ``repeat``, yielded for ever."""
    if isinstance(source, ConstantBatch):
        (batch, _), *_ = encoded_chunks(source, encoder, need_labels=need_labels)
        yield from itertools.repeat(batch) if repeat else (batch,)
        return
    chunks = encoded_chunks(source, encoder, need_labels=need_labels)
    if encoder.device.type == "cuda":  # encode the next chunk while the GPU trains on this one
        chunks = prefetch(chunks)
    for chunk, batch_size in chunks:
        if batch_size is None or chunk.num_rows <= batch_size:
            yield chunk
            continue
        yield from chunk.split(batch_size)
