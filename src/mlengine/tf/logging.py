"""``tf.logging`` / ``tf.compat.v1.logging`` (and TF 2's ``tf.get_logger()``).

Messages go to the ``tensorflow`` Python logger, printed as TF 1.x printed them
(``INFO:tensorflow:...``) at the verbosity ``set_verbosity`` sets (WARN by default, as TF). The
estimators' progress lines (``loss = ..., step = ...``, ``Saving dict for global step ...``) come
through here once ``mlengine.tf`` is imported, so ``tf.logging.set_verbosity(tf.logging.INFO)``
shows them, as it did in TensorFlow.
"""

from __future__ import annotations

import logging as _logging
import sys
from typing import Any

from mlengine.tf._namespace import module_getattr
from mlengine.training import progress

DEBUG = _logging.DEBUG
INFO = _logging.INFO
WARN = _logging.WARNING
WARNING = _logging.WARNING
ERROR = _logging.ERROR
FATAL = _logging.CRITICAL

_logger = _logging.getLogger("tensorflow")


def get_logger() -> _logging.Logger:
    """The ``tensorflow`` logger (TF 2's ``tf.get_logger()``), with TF 1's line format."""
    if not any(getattr(h, "_mlengine_tf", False) for h in _logger.handlers):
        handler = _logging.StreamHandler(sys.stderr)
        handler.setFormatter(_logging.Formatter("%(levelname)s:tensorflow:%(message)s"))
        handler._mlengine_tf = True  # type: ignore[attr-defined]
        _logger.addHandler(handler)
        _logger.propagate = False
        if _logger.level == _logging.NOTSET:
            _logger.setLevel(WARN)
    return _logger


def set_verbosity(v: int) -> None:
    """Show messages of level ``v`` and above (``tf.logging.INFO`` shows training progress)."""
    get_logger().setLevel(v)


def get_verbosity() -> int:
    return get_logger().getEffectiveLevel()


def log(level: int, msg: Any, *args: Any, **kwargs: Any) -> None:
    get_logger().log(level, msg, *args, **kwargs)


def debug(msg: Any, *args: Any, **kwargs: Any) -> None:
    get_logger().debug(msg, *args, **kwargs)


def info(msg: Any, *args: Any, **kwargs: Any) -> None:
    get_logger().info(msg, *args, **kwargs)


def warning(msg: Any, *args: Any, **kwargs: Any) -> None:
    get_logger().warning(msg, *args, **kwargs)


warn = warning


def error(msg: Any, *args: Any, **kwargs: Any) -> None:
    get_logger().error(msg, *args, **kwargs)


def fatal(msg: Any, *args: Any, **kwargs: Any) -> None:
    get_logger().critical(msg, *args, **kwargs)


_counts: dict[Any, int] = {}


def log_every_n(level: int, msg: Any, n: int, *args: Any) -> None:
    """Log on the 1st, (n+1)th, ... call from the same place (here: the same message)."""
    count = _counts.get(msg, 0)
    _counts[msg] = count + 1
    if count % max(1, n) == 0:
        log(level, msg, *args)


def log_first_n(level: int, msg: Any, n: int, *args: Any) -> None:
    count = _counts.get(("first", msg), 0)
    _counts[("first", msg)] = count + 1
    if count < n:
        log(level, msg, *args)


def vlog(level: int, msg: Any, *args: Any) -> None:
    get_logger().log(DEBUG, msg, *args)


def _progress(message: str) -> None:
    get_logger().info(message)


def install() -> None:
    """Route the estimators' progress lines through the ``tensorflow`` logger."""
    get_logger()
    progress.set_sink(_progress)


__getattr__ = module_getattr("tf.logging")

__all__ = [
    "DEBUG",
    "ERROR",
    "FATAL",
    "INFO",
    "WARN",
    "WARNING",
    "debug",
    "error",
    "fatal",
    "get_logger",
    "get_verbosity",
    "info",
    "install",
    "log",
    "log_every_n",
    "log_first_n",
    "set_verbosity",
    "vlog",
    "warn",
    "warning",
]
