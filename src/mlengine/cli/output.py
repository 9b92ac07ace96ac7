"""How the ``mlengine`` commands print and fail, as gcloud does.

Resources print with ML Engine's camelCase fields (``defaultVersion``, ``createTime``,
``lastUseTime``, ``isDefault``), as gcloud prints them, so a script can switch between the CLI
and the REST API. :func:`show` prints them in the command's default format or the one
``--format`` names, after ``--flatten``, ``--filter``, ``--sort-by`` and ``--limit`` on lists.
Progress lines go to standard error (:func:`status`). Errors print as one line on standard
error, ``ERROR: (mlengine.models.create) ...``, with exit code 1 and no traceback (usage errors
exit 2: :mod:`mlengine.cli.gcloud`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import typer

from mlengine.cli.gcloud import Invocation, flush_ignored, invocation, one_line
from mlengine.cli.printers import render, sort_key
from mlengine.cli.projection import Format, Key, lookup, parse_format
from mlengine.errors import MLEngineError
from mlengine.registry import Registry


def fail(command: str, message: str) -> typer.Exit:
    """Print ``ERROR: (command) message`` on standard error; returns the Exit to raise."""
    flush_ignored()
    typer.echo(f"ERROR: ({command}) {one_line(message)}", err=True)
    return typer.Exit(code=1)


@contextmanager
def handle_errors(command: str) -> Iterator[None]:
    """Turn mlengine and OS errors into a one-line message and exit code 1."""
    try:
        yield
    except MLEngineError as error:
        raise fail(command, str(error)) from None
    except OSError as error:
        raise fail(command, f"{type(error).__name__}: {error}") from None


@contextmanager
def open_registry(command: str) -> Iterator[Registry]:
    """The registry named by the environment (``MLENGINE_HOME``, ``MLENGINE_DATABASE_URL``,
    ``MLENGINE_ARTIFACT_ROOT``), with errors handled as :func:`handle_errors` does."""
    with handle_errors(command):
        registry = Registry()
        try:
            yield registry
        finally:
            registry.close()


def status(message: str) -> None:
    """A progress or confirmation line, on standard error as gcloud prints it (none with
    ``--no-user-output-enabled``)."""
    flush_ignored()
    if invocation().user_output:
        typer.echo(message, err=True)


def stdin_is_tty() -> bool:
    """Whether standard input is a terminal (a seam for the tests)."""
    return sys.stdin.isatty()


def confirm(message: str) -> None:
    """gcloud's "Do you want to continue (Y/n)?" before a deletion.

    With ``--quiet``, or when standard input is not a terminal (a script), the answer is the
    default, yes, as gcloud answers when it cannot prompt. Empty input or end of file means yes.

    Raises:
        typer.Abort: the user answered no (printed as "Aborted by user.", exit 1).
    """
    if invocation().quiet or not stdin_is_tty():
        return
    flush_ignored()
    typer.echo(f"{message}\n\nDo you want to continue (Y/n)?  ", err=True, nl=False)
    while True:
        answer = sys.stdin.readline()
        choice = answer.strip().lower()
        if not answer or choice in ("", "y", "yes"):
            typer.echo("", err=True)
            return
        if choice in ("n", "no"):
            typer.echo("", err=True)
            raise typer.Abort()
        typer.echo("Please enter 'y' or 'n':  ", err=True, nl=False)


def _flatten(records: list[Any], state: Invocation) -> list[Any]:
    for key in state.flatten:
        flat = []
        for record in records:
            items = lookup(record, key)
            if not isinstance(items, list) or not items or not isinstance(record, dict):
                flat.append(record)
                continue
            for item in items:
                copy: dict[Any, Any] = dict(record)
                node = copy
                for part in key[:-1]:
                    node[part] = dict(node.get(part) or {})
                    node = node[part]
                node[key[-1]] = item
                flat.append(copy)
        records = flat
    return records


def _at(key: Key) -> Callable[[Any], tuple[int, Any]]:
    return lambda record: sort_key(lookup(record, key))


def select(records: Sequence[Any]) -> list[Any]:
    """A list command's resources after ``--flatten``, ``--filter``, ``--sort-by``, ``--limit``."""
    state = invocation()
    chosen = _flatten(list(records), state)
    if state.filter is not None:
        chosen = [record for record in chosen if state.filter(record)]
    for key, descending in reversed(state.sort_by):
        chosen = sorted(chosen, key=_at(key), reverse=descending)
    return chosen if state.limit is None else chosen[: state.limit]


def _effective(default: str | Format) -> Format:
    """``--format``, borrowing the default format's keys when it names a printer only."""
    fmt = invocation().format
    base = parse_format(default) if isinstance(default, str) else default
    if fmt is None:
        return base
    if fmt.columns is None and fmt.printer in ("table", "csv", "value", "get"):
        return Format(fmt.printer, fmt.attrs, base.columns)
    return fmt


def show(
    data: Any,
    default: str | Format,
    *,
    single: bool = False,
    uri: Callable[[Any], str] | None = None,
) -> None:
    """Print one resource (``single``) or a list command's resources as gcloud does.

    Args:
        data: a resource (JSON-like dict) or a list of them.
        default: the command's format when there is no ``--format`` (gcloud's syntax, or
            a parsed :class:`Format`).
        single: one resource (describe, create): no list flags, json prints an object.
        uri: the resource name printed for each resource with ``--uri``.
    """
    state = invocation()
    records = [data] if single else select(data)
    flush_ignored()
    if state.uri and uri is not None and not single:
        for record in records:
            typer.echo(uri(record))
        return
    text = render(records, _effective(default), single=single)
    if text:
        typer.echo(text)
    if not single and not records and state.format is None:
        status("Listed 0 items.")


def show_if_asked(resource: Any) -> None:
    """A created or changed resource, printed only when ``--format`` asks (gcloud prints
    nothing on standard output then)."""
    if invocation().format is not None:
        show(resource, "yaml", single=True)


__all__ = [
    "confirm",
    "fail",
    "handle_errors",
    "open_registry",
    "select",
    "show",
    "show_if_asked",
    "status",
    "stdin_is_tty",
]
