"""TensorBoard event files with tf.estimator's tags, written with the tensorboard package.

Training writes ``loss``, ``global_step/sec`` and ``learning_rate`` into ``model_dir``;
evaluation writes every metric at its checkpoint's global step into ``model_dir/eval`` (or
``model_dir/eval_<name>``), as ``tf.estimator`` does, so ``tensorboard --logdir model_dir`` shows
training and evaluation side by side and a ``BestExporter``-style reader finds the eval events.

Scalars are stored as TF1's ``Summary.Value.simple_value`` (a float32), which is what
``tf.estimator`` wrote and what every TensorBoard version reads.

The writer has no thread of its own: tensorboard's ``EventFileWriter`` hands every event to a
background thread, whose wake-ups and pure-Python CRC32C competed with the training loop for
the interpreter (11% of the census tutorial's time in one profile). Here an event is
serialized where it is written and kept; the kept events are framed (TFRecord: length, masked
CRC32C of the length, data, masked CRC32C of the data) and appended to the file every
``max_queue_size`` events, every ``flush_secs`` seconds, at :meth:`SummaryWriter.flush`
(the loop calls it when it saves a checkpoint) and at close. Nothing is fsynced: event files
are not checkpoints.
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
import time
from collections.abc import Mapping
from types import TracebackType
from typing import BinaryIO, Self

from tensorboard.compat.proto.event_pb2 import Event, SourceMetadata
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c
from torch import Tensor

from mlengine.errors import InvalidParameterError

ScalarValue = float | int | Tensor


class SummaryTags:
    """The tags tf.estimator's training loop writes (evaluation uses the metric keys)."""

    LOSS = "loss"
    GLOBAL_STEP_PER_SEC = "global_step/sec"
    LEARNING_RATE = "learning_rate"
    GLOBAL_STEP = "global_step"


def eval_dir(model_dir: str | os.PathLike[str], name: str | None = None) -> str:
    """``model_dir/eval``, or ``model_dir/eval_<name>`` for a named evaluation (TF's layout)."""
    return os.path.join(os.fspath(model_dir), "eval" if not name else f"eval_{name}")


def _as_float(tag: str, value: ScalarValue) -> float:
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise InvalidParameterError(
                f"Summary '{tag}' needs a scalar. Got a tensor of shape {list(value.shape)}."
            )
        return float(value.detach().cpu().item())
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParameterError(f"Summary '{tag}' needs a number. Got {value!r} instead.")
    return float(value)


_FILE_UIDS = itertools.count()  # as tensorboard's _global_uid: one per file of a process


def _record(data: bytes) -> bytes:
    """One TFRecord: length, its masked CRC32C, the data, its masked CRC32C."""
    header = struct.pack("<Q", len(data))
    return b"".join(
        (
            header,
            struct.pack("<I", masked_crc32c(header)),
            data,
            struct.pack("<I", masked_crc32c(data)),
        )
    )


class SummaryWriter:
    """Appends scalar summaries to a new TensorBoard event file in ``logdir``.

    Events are kept and appended to the file every ``max_queue_size`` events, every
    ``flush_secs`` seconds, at :meth:`flush` and at :meth:`close` (see the module docstring:
    no background thread). Use as a context manager to close on exit.

    Example::

        with SummaryWriter(model_dir) as writer:
            writer.scalars({"loss": 0.69, "global_step/sec": 812.0}, step=100)
    """

    def __init__(
        self,
        logdir: str | os.PathLike[str],
        *,
        max_queue_size: int = 100,
        flush_secs: float = 120,
        filename_suffix: str = "",
    ) -> None:
        self.logdir = os.fspath(logdir)
        os.makedirs(self.logdir, exist_ok=True)
        # tensorboard's EventFileWriter's name, which TensorBoard's loaders expect
        stamp, host, pid, uid = (
            int(time.time()),
            socket.gethostname(),
            os.getpid(),
            next(_FILE_UIDS),
        )
        name = f"events.out.tfevents.{stamp:010d}.{host}.{pid}.{uid}"
        self.path = os.path.join(self.logdir, name + filename_suffix)
        self._file: BinaryIO | None = open(self.path, "wb")
        self._pending: list[bytes] = []
        self._max_pending = max(1, max_queue_size)
        self._flush_secs = flush_secs
        self._next_write = time.monotonic() + flush_secs
        self._add(
            Event(
                wall_time=time.time(),
                file_version="brain.Event:2",
                source_metadata=SourceMetadata(writer="mlengine.training.summaries"),
            )
        )
        self.flush()

    @property
    def closed(self) -> bool:
        return self._file is None

    def _add(self, event: Event) -> None:
        self._pending.append(event.SerializeToString())
        if len(self._pending) >= self._max_pending or time.monotonic() >= self._next_write:
            self._write_pending()

    def _write_pending(self) -> None:
        if self._file is not None and self._pending:
            self._file.write(b"".join(_record(data) for data in self._pending))
            self._file.flush()  # to the OS (TensorBoard reads it live); not fsynced
        self._pending.clear()
        self._next_write = time.monotonic() + self._flush_secs

    def scalars(self, values: Mapping[str, ScalarValue], step: int) -> None:
        """Writes every ``tag: value`` of ``values`` as one event at ``step``.

        Tensors are copied to the host here (one sync per tensor value).
        """
        if self._file is None:
            raise InvalidParameterError(f"SummaryWriter({self.logdir!r}) is closed.")
        if isinstance(step, bool) or not isinstance(step, int):
            raise InvalidParameterError(f"Summary step must be an int. Got {step!r} instead.")
        summary = Summary(
            value=[
                Summary.Value(tag=tag, simple_value=_as_float(tag, value))
                for tag, value in values.items()
            ]
        )
        self._add(Event(wall_time=time.time(), step=step, summary=summary))

    def scalar(self, tag: str, value: ScalarValue, step: int) -> None:
        """Writes one scalar ``tag`` at ``step``."""
        self.scalars({tag: value}, step)

    def flush(self) -> None:
        """Writes every kept event to the file."""
        self._write_pending()

    def close(self) -> None:
        """Flushes and closes the event file; further calls do nothing."""
        if self._file is not None:
            self._write_pending()
            self._file.close()
            self._file = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def write_eval_summaries(
    model_dir: str | os.PathLike[str],
    metrics: Mapping[str, ScalarValue],
    global_step: int,
    name: str | None = None,
) -> str:
    """Writes an evaluation's metrics at ``global_step`` into ``eval_dir(model_dir, name)``.

    As ``tf.estimator``'s ``_write_dict_to_summary``: every scalar metric (``loss`` included)
    except ``global_step`` itself, in one event; non-finite values are written as they are.
    Returns the eval directory.
    """
    directory = eval_dir(model_dir, name)
    values = {
        tag: value
        for tag, value in metrics.items()
        if tag != SummaryTags.GLOBAL_STEP and not isinstance(value, str)
    }
    with SummaryWriter(directory) as writer:
        writer.scalars(values, global_step)
    return directory


__all__ = [
    "SummaryTags",
    "SummaryWriter",
    "eval_dir",
    "write_eval_summaries",
]
