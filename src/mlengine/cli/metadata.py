"""gcloud's resource metadata flags: ``--description``; ``--labels`` on create and
``--update-labels``/``--remove-labels``/``--clear-labels`` on update, read into the mapping the
registry stores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import typer

DescriptionOption = Annotated[str | None, typer.Option("--description", help="Free text.")]
LabelsOption = Annotated[
    list[str] | None,
    typer.Option("--labels", help="Labels as KEY=VALUE[,KEY=VALUE...] (repeatable)."),
]
UpdateLabelsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--update-labels", help="Labels to add or change, KEY=VALUE[,KEY=VALUE...] (repeatable)."
    ),
]
RemoveLabelsOption = Annotated[
    list[str] | None,
    typer.Option("--remove-labels", help="Label keys to remove, KEY[,KEY...] (repeatable)."),
]
ClearLabelsOption = Annotated[
    bool, typer.Option("--clear-labels", help="Remove every label (before --update-labels).")
]


def parse_labels(values: Sequence[str] | None, flag: str = "--labels") -> dict[str, str]:
    """``k=v,k2=v2`` (repeatable) as a mapping; the registry checks the rule.

    Raises:
        typer.BadParameter: an item without ``=``.
    """
    labels: dict[str, str] = {}
    for value in values or ():
        for item in value.split(","):
            if not item.strip():
                continue
            key, sep, text = item.partition("=")
            if not sep:
                raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint=flag)
            labels[key.strip()] = text.strip()
    return labels


def config_labels(value: Any, path: str) -> dict[str, str]:
    """The ``labels`` mapping of a ``--config`` file.

    Raises:
        typer.BadParameter: not a mapping of texts.
    """
    if not isinstance(value, Mapping):
        raise typer.BadParameter(f"'labels' in {path} must be a mapping", param_hint="--config")
    return {str(key): str(text) for key, text in value.items()}


def updated_labels(
    current: Mapping[str, str],
    update: Sequence[str] | None,
    remove: Sequence[str] | None,
    clear: bool,
) -> dict[str, str] | None:
    """The labels after an update's flags, or ``None`` when no label flag was given."""
    if not update and not remove and not clear:
        return None
    labels = {} if clear else dict(current)
    for value in remove or ():
        for key in value.split(","):
            labels.pop(key.strip(), None)
    labels.update(parse_labels(update, "--update-labels"))
    return labels


__all__ = [
    "ClearLabelsOption",
    "DescriptionOption",
    "LabelsOption",
    "RemoveLabelsOption",
    "UpdateLabelsOption",
    "config_labels",
    "parse_labels",
    "updated_labels",
]
