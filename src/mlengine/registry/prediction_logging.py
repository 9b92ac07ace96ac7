"""Online prediction logging settings: ML Engine's ``onlinePredictionLogging`` (a model's switch)
and ``requestLoggingConfig`` (how many requests, and where their records go).

ML Engine samples a fraction of requests into a BigQuery table; mlengine writes them to files
under an fsspec URL instead (JSON lines or Parquet, rolled by time and size), so the config takes
``destination`` where ML Engine has ``bigqueryTableName``::

    {"samplingPercentage": 0.1, "destination": "s3://bucket/census-requests/",
     "format": "JSONL", "rollIntervalSeconds": 300, "rollBytes": 67108864}

A model holds the switch and a config for its versions; a version may hold its own config,
which then wins (ML Engine sets it on the version). Logging is off unless the model's switch is
on and the version's config (its own or the model's) samples more than 0 to a destination. The
server's writer is :mod:`mlengine.serving.prediction_log`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mlengine.errors import InvalidParameterError

FORMATS = ("JSONL", "PARQUET")
DEFAULT_ROLL_SECONDS = 300.0  # a new file every 5 minutes at least...
DEFAULT_ROLL_BYTES = 64 * 2**20  # ...or once a file holds 64 MiB
MAX_DESTINATION = 1000
_FIELDS = ("samplingPercentage", "destination", "format", "rollIntervalSeconds", "rollBytes")


@dataclass(frozen=True)
class RequestLoggingConfig:
    """Which requests are logged and where (see the module docstring).

    Attributes:
        sampling: the fraction of requests logged, 0 to 1 (ML Engine's ``samplingPercentage``).
        destination: an fsspec URL of a folder; None: nowhere (nothing is logged).
        format: ``JSONL`` or ``PARQUET``.
        roll_seconds, roll_bytes: a file is closed and a new one begun after this long or
            once it holds this many bytes, whichever comes first.
    """

    sampling: float = 0.0
    destination: str | None = None
    format: str = "JSONL"
    roll_seconds: float = DEFAULT_ROLL_SECONDS
    roll_bytes: int = DEFAULT_ROLL_BYTES

    @property
    def active(self) -> bool:
        """Whether it logs anything (some sampling, somewhere to write)."""
        return self.sampling > 0 and self.destination is not None

    def to_json(self) -> dict[str, Any]:
        """ML Engine's ``requestLoggingConfig`` (camelCase), with mlengine's fields."""
        data: dict[str, Any] = {"samplingPercentage": self.sampling, "format": self.format}
        if self.destination is not None:
            data["destination"] = self.destination
        data["rollIntervalSeconds"] = self.roll_seconds
        data["rollBytes"] = self.roll_bytes
        return data

    @classmethod
    def from_json(cls, data: Any, owner: str) -> RequestLoggingConfig:
        """A config from its JSON (as :meth:`to_json` writes it, or as a client sends it).

        Raises:
            InvalidParameterError: an unknown field (``bigqueryTableName`` among them), or a
                value out of range; the message names the field, the owner and the value.
        """
        if not isinstance(data, Mapping):
            raise InvalidParameterError(
                f"The requestLoggingConfig of {owner} must be an object; got {data!r}."
            )
        if "bigqueryTableName" in data:
            raise InvalidParameterError(
                f"The requestLoggingConfig of {owner} names a BigQuery table, which is Google "
                "Cloud's: mlengine writes request logs to files; give 'destination' (an fsspec "
                "URL of a folder) instead."
            )
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise InvalidParameterError(
                f"Unknown field(s) {unknown} in the requestLoggingConfig of {owner}; the fields "
                f"are {list(_FIELDS)}."
            )
        sampling = data.get("samplingPercentage", 0.0)
        if isinstance(sampling, bool) or not isinstance(sampling, int | float):
            raise _bad(owner, "samplingPercentage", sampling, "a number from 0 to 1")
        if not 0.0 <= float(sampling) <= 1.0:
            raise _bad(owner, "samplingPercentage", sampling, "a fraction from 0 to 1")
        destination = data.get("destination")
        if destination is not None and (
            not isinstance(destination, str)
            or not destination.strip()
            or len(destination) > MAX_DESTINATION
        ):
            raise _bad(owner, "destination", destination, "a non-empty fsspec URL")
        form = data.get("format", "JSONL")
        if not isinstance(form, str) or form.upper() not in FORMATS:
            raise _bad(owner, "format", form, f"one of {list(FORMATS)}")
        roll_seconds = data.get("rollIntervalSeconds", DEFAULT_ROLL_SECONDS)
        if isinstance(roll_seconds, bool) or not isinstance(roll_seconds, int | float):
            raise _bad(owner, "rollIntervalSeconds", roll_seconds, "a number of seconds")
        if not 1.0 <= float(roll_seconds) <= 86_400.0:
            raise _bad(owner, "rollIntervalSeconds", roll_seconds, "from 1 to 86400 seconds")
        roll_bytes = data.get("rollBytes", DEFAULT_ROLL_BYTES)
        if type(roll_bytes) is not int or not 1024 <= roll_bytes <= 2**34:
            raise _bad(owner, "rollBytes", roll_bytes, "a whole number from 1024 to 2**34")
        return cls(
            float(sampling),
            None if destination is None else destination.strip(),
            form.upper(),
            float(roll_seconds),
            roll_bytes,
        )


def _bad(owner: str, field: str, value: Any, rule: str) -> InvalidParameterError:
    return InvalidParameterError(
        f"The {field!r} of the requestLoggingConfig of {owner} must be {rule}. Got {value!r}."
    )


__all__ = [
    "DEFAULT_ROLL_BYTES",
    "DEFAULT_ROLL_SECONDS",
    "FORMATS",
    "RequestLoggingConfig",
]
