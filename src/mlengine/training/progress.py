"""Progress lines of training and evaluation, in TensorFlow's words, and where they go.

The loop reports ``loss = 0.6931472, step = 0`` and ``global_step/sec: 312.3`` every
``log_step_count_steps``; evaluation reports ``Saving dict for global step N: accuracy = ...``.
They go to stderr unless ``RunConfig(quiet=True)``; a program may send them elsewhere with
:func:`set_sink` (the ``mlengine.tf`` façade routes them through ``tf.logging``, so they show
as ``INFO:tensorflow:...`` lines at its INFO verbosity, as TensorFlow's did).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

Sink = Callable[[str], None]
_sink: Sink | None = None


def set_sink(sink: Sink | None) -> Sink | None:
    """Send progress lines to ``sink`` (None: stderr); returns the previous sink."""
    global _sink
    previous, _sink = _sink, sink
    return previous


def report(quiet: bool, message: str) -> None:
    """Write one progress line, unless ``quiet``."""
    if quiet:
        return
    if _sink is not None:
        _sink(message)
    else:
        print(message, file=sys.stderr, flush=True)


def number(value: Any) -> str:
    """A metric as TensorFlow printed it: a float32's shortest repr, ints as they are."""
    if isinstance(value, bool | int):
        return str(value)
    try:
        import numpy as np

        return str(np.float32(value))
    except (TypeError, ValueError):
        return str(value)


def eval_line(metrics: Mapping[str, Any], global_step: int) -> str:
    """``Saving dict for global step N: k = v, ...`` (sorted keys, strings skipped), as TF."""
    pairs = ", ".join(
        f"{key} = {number(value)}"
        for key, value in sorted(metrics.items())
        if not isinstance(value, str | bytes)
    )
    return f"Saving dict for global step {global_step}: {pairs}"


__all__ = ["Sink", "eval_line", "number", "report", "set_sink"]
