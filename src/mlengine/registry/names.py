"""Name, label and version-reference rules of the registry.

Every name is checked here before it reaches a file path or a query, so a name such as
``../etc`` or ``a; DROP TABLE`` is refused with a message that names it, and never used.
The rule is ML Engine's: a letter, then letters, digits and underscores, at most 128 in all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from mlengine.errors import InvalidParameterError, NotFoundError

NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,127}$"
_NAME_RE = re.compile(NAME_PATTERN)
# ML Engine's label rule: lowercase letters, digits, '_' and '-', at most 63; keys start with a
# letter.
_LABEL_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")
_MAX_LABELS = 64
# TF Serving's version labels ("stable", "canary") name a path segment: /labels/{label}.
VERSION_LABEL_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,62}$"
_VERSION_LABEL_RE = re.compile(VERSION_LABEL_PATTERN)
# The largest version number a version can have: the registry's number columns are SQL INTEGER,
# 32-bit in PostgreSQL. A bigger number names no version (404), never a database error.
MAX_VERSION_NUMBER = 2**31 - 1


def _show(value: object) -> str:
    """A short, one-line rendering of a bad value for an error message."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def validate_name(name: object, kind: str = "model") -> str:
    """Return ``name`` if it is a valid model or version name, else raise.

    Args:
        name: the name to check.
        kind: what is named (``"model"`` or ``"version"``), used in the message.

    Raises:
        InvalidParameterError: the name breaks the rule; the message names it and the rule.
    """
    if not isinstance(name, str) or _NAME_RE.fullmatch(name) is None:
        raise InvalidParameterError(
            f"Invalid {kind} name {_show(name)}: a {kind} name must start with a letter and "
            "contain only letters, digits and underscores, at most 128 characters."
        )
    return name


def validate_labels(labels: Mapping[str, str] | None, owner: str) -> dict[str, str]:
    """Return a copy of ``labels`` after checking ML Engine's label rules.

    Keys start with a lowercase letter; keys and values use lowercase letters, digits, ``_`` and
    ``-``, at most 63 characters; at most 64 labels.

    Raises:
        InvalidParameterError: a key or value breaks the rule; the message names it.
    """
    if labels is None:
        return {}
    if not isinstance(labels, Mapping):
        raise InvalidParameterError(
            f"The labels of {owner} must be a mapping, got {_show(labels)}."
        )
    if len(labels) > _MAX_LABELS:
        raise InvalidParameterError(f"{owner} has {len(labels)} labels; at most 64 are allowed.")
    for key, value in labels.items():
        if not isinstance(key, str) or _LABEL_KEY_RE.fullmatch(key) is None:
            raise InvalidParameterError(
                f"Invalid label key {_show(key)} on {owner}: keys start with a lowercase letter "
                "and contain lowercase letters, digits, '_' and '-', at most 63 characters."
            )
        if not isinstance(value, str) or _LABEL_VALUE_RE.fullmatch(value) is None:
            raise InvalidParameterError(
                f"Invalid value {_show(value)} for label {key!r} on {owner}: values contain "
                "lowercase letters, digits, '_' and '-', at most 63 characters."
            )
    return dict(labels)


def validate_version_label(label: object) -> str:
    """Return ``label`` if it is a valid TF Serving version label (``stable``), else raise.

    Raises:
        InvalidParameterError: the label breaks the rule; the message names it and the rule.
    """
    if not isinstance(label, str) or _VERSION_LABEL_RE.fullmatch(label) is None:
        raise InvalidParameterError(
            f"Invalid version label {_show(label)}: a label starts with a letter and contains "
            "only letters, digits, '_' and '-', at most 63 characters."
        )
    return label


def parse_version_ref(version: str | int) -> str | int:
    """Turn a version reference into a number (``int``) or a validated name (``str``).

    ``versions/{v}`` takes either the version number or its name, as TF Serving and ML Engine
    address versions. Names start with a letter, so an all-digit string is a number.

    Raises:
        InvalidParameterError: neither a positive number nor a valid name.
        NotFoundError: a number above :data:`MAX_VERSION_NUMBER` (no version has it).
    """
    if isinstance(version, bool):
        raise InvalidParameterError(f"Invalid version {_show(version)}: expected a name or number.")
    if isinstance(version, int):
        if version < 1:
            raise InvalidParameterError(
                f"Invalid version number {version}: version numbers start at 1."
            )
        if version > MAX_VERSION_NUMBER:
            raise NotFoundError(
                f"Version {_show(version)} not found: version numbers go up to "
                f"{MAX_VERSION_NUMBER}."
            )
        return version
    if isinstance(version, str) and version.isascii() and version.isdigit():
        digits = version.lstrip("0") or "0"
        if len(digits) > len(str(MAX_VERSION_NUMBER)):  # never convert a huge number
            raise NotFoundError(
                f"Version {_show(version)} not found: version numbers go up to "
                f"{MAX_VERSION_NUMBER}."
            )
        return parse_version_ref(int(digits))
    return validate_name(version, "version")


__all__ = [
    "MAX_VERSION_NUMBER",
    "NAME_PATTERN",
    "VERSION_LABEL_PATTERN",
    "parse_version_ref",
    "validate_labels",
    "validate_name",
    "validate_version_label",
]
