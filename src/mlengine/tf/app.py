"""``tf.app`` (``tf.compat.v1.app``) and ``tf.flags``: absl's flags and ``app.run``, as TF's were.

``tf.app.run(main)`` parses the defined flags from ``sys.argv`` (tolerating flags it does not
know, as TensorFlow's did, so programs that also use argparse keep working), then calls
``main(argv)`` and exits with its return value.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from absl import app as _absl_app
from absl import flags

from mlengine.tf._namespace import module_getattr

FLAGS = flags.FLAGS


def _parse_tolerant(argv: list[str]) -> list[str]:
    return list(flags.FLAGS(argv, known_only=True))


def run(main: Callable[..., Any] | None = None, argv: Sequence[str] | None = None) -> NoReturn:
    """``tf.app.run``: parse flags, call ``main(argv)`` (``__main__.main`` when None), exit."""
    function = main if main is not None else sys.modules["__main__"].main
    _absl_app.run(function, argv=None if argv is None else list(argv), flags_parser=_parse_tolerant)
    raise SystemExit(0)  # absl's run exits; this line only satisfies the type


__getattr__ = module_getattr("tf.app")

__all__ = ["FLAGS", "flags", "run"]
