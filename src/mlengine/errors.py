"""The exception tree of mlengine.

Every error raised on purpose by mlengine derives from :class:`MLEngineError`, and also from the
builtin that fits, so ``except ValueError`` keeps working::

    MLEngineError
     ├── InvalidParameterError (ValueError, TypeError)   a bad constructor or call argument
     ├── NotFittedError (ValueError, AttributeError)     predict/export before any training
     ├── FeatureError (ValueError)                       bad feature data: missing column, bad value
     ├── DataError (ValueError)                          bad input files or labels
     ├── CheckpointError (ValueError)                    a model_dir that cannot be resumed
     ├── ExportFormatError (ValueError)                  an export that cannot be loaded safely
     ├── NotSupportedError (NotImplementedError)         a TensorFlow feature mlengine does not have
     └── RegistryError                                   models and versions
          ├── NotFoundError (LookupError)
          ├── AlreadyExistsError (ValueError)
          ├── FailedPreconditionError (ValueError)
          └── UnavailableError (ConnectionError)        the registry database cannot be reached

Each class carries a ``code`` (as ML Engine's canonical codes) that the server maps to an HTTP
status in one table. :func:`scrub` is how a message leaves the machine (a server's answer, a
reason stored in the registry, which the server shows): one line, without local paths.
"""

from __future__ import annotations

import re
from typing import TypeVar

MAX_MESSAGE = 2000

# Absolute paths (two segments or more), home-relative paths and URLs with a path.
_PATH_RE = re.compile(
    r"""[A-Za-z][A-Za-z0-9+.-]*://[^\s'",;()\[\]{}<>]*"""
    r"""|(?<![\w.~-])~?(?:[A-Za-z]:)?(?:[/\\][^\s'"/\\,;:()\[\]{}<>]+){2,}[/\\]?"""
)


def scrub(message: str) -> str:
    """One line, without file paths or URLs (each becomes ``<path>``), at most
    :data:`MAX_MESSAGE` characters: a message fit to leave the machine."""
    text = " ".join(_PATH_RE.sub("<path>", message).split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


class MLEngineError(Exception):
    """Base class of every error mlengine raises on purpose.

    An error about one bad value of a batch may say where it is (:func:`located`): ``row`` (in
    the batch the raiser saw), ``column``, ``value`` and ``reason``, so that whoever knows which
    file and row that batch came from can name them (the training pipeline does).
    """

    code = "INTERNAL"
    row: int | None = None
    column: str | None = None
    value: object = None
    reason: str = ""


class InvalidParameterError(MLEngineError, ValueError, TypeError):
    """A parameter has a value outside its rule; the message names parameter, rule and value."""

    code = "INVALID_ARGUMENT"


class NotFittedError(MLEngineError, ValueError, AttributeError):
    """The estimator has no checkpoint yet: train it first."""

    code = "FAILED_PRECONDITION"


class FeatureError(MLEngineError, ValueError):
    """Feature data does not fit the feature columns (missing column, wrong type, bad value)."""

    code = "INVALID_ARGUMENT"


class DataError(MLEngineError, ValueError):
    """Input data (files, rows, labels) cannot be read or does not fit the model."""

    code = "INVALID_ARGUMENT"


class CheckpointError(MLEngineError, ValueError):
    """A checkpoint or model_dir cannot be used (another model's, corrupt, missing)."""

    code = "FAILED_PRECONDITION"


class ExportFormatError(MLEngineError, ValueError):
    """An export directory is missing, malformed, or of an unknown format version."""

    code = "INVALID_ARGUMENT"


class NotSupportedError(MLEngineError, NotImplementedError):
    """Something TensorFlow offers that mlengine does not (yet); the message says what to use."""

    code = "UNIMPLEMENTED"


class RegistryError(MLEngineError):
    """Base class of model registry errors."""

    code = "INTERNAL"


class NotFoundError(RegistryError, LookupError):
    """A model, version or job does not exist."""

    code = "NOT_FOUND"


class AlreadyExistsError(RegistryError, ValueError):
    """A model or version of that name exists already."""

    code = "ALREADY_EXISTS"


class FailedPreconditionError(RegistryError, ValueError):
    """The operation is refused in the current state (e.g. deleting the default version)."""

    code = "FAILED_PRECONDITION"


class UnavailableError(RegistryError, ConnectionError):
    """The registry database cannot be reached (down, wrong address, refused credentials)."""

    code = "UNAVAILABLE"


_E = TypeVar("_E", bound=MLEngineError)


def located(error: _E, row: int, column: str, value: object, reason: str) -> _E:
    """``error`` carrying where its bad value is (see :class:`MLEngineError`): the ``row`` of
    the batch the raiser saw, the ``column`` (feature or label), the ``value`` and the
    ``reason`` ("is not a finite float32 number")."""
    error.row, error.column, error.value, error.reason = row, column, value, reason
    return error


__all__ = [
    "AlreadyExistsError",
    "CheckpointError",
    "DataError",
    "ExportFormatError",
    "FailedPreconditionError",
    "FeatureError",
    "InvalidParameterError",
    "MLEngineError",
    "NotFittedError",
    "NotFoundError",
    "NotSupportedError",
    "RegistryError",
    "UnavailableError",
    "located",
    "scrub",
]
