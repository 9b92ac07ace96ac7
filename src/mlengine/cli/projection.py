"""gcloud's resource keys, transforms and ``--format`` expressions, parsed and evaluated.

A format is ``PRINTER[ATTRIBUTES](KEY, KEY, ...)``, for example
``table(name.basename(), defaultVersion.name.basename():label=DEFAULT)``,
``value(name)``, ``csv[no-heading](jobId,state)`` or ``json``. A key is a dotted path into a
resource (``defaultVersion.name``, ``labels.team``, ``predictions[0].classes``) followed by
transforms (``.basename()``, ``.date("%Y-%m-%d", tz=LOCAL)``) and ``:attribute`` suffixes
(``:label=HEADING``, ``:sort=1``, ``:reverse``). The printers live in
:mod:`mlengine.cli.printers`, the ``--filter`` language in :mod:`mlengine.cli.filters`; both
use the keys parsed here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Key = tuple[str | int, ...]

PRINTERS = ("csv", "default", "flattened", "get", "json", "none", "table", "text", "value", "yaml")


class ProjectionError(ValueError):
    """A ``--format`` or key expression that cannot be parsed (the message says where)."""


# -- keys ---------------------------------------------------------------------------------------


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def lookup(resource: Any, key: Key) -> Any:
    """The value at ``key`` in ``resource`` (``None`` where the path does not exist).

    A name part reads a mapping (``snake_case`` also finds the ``camelCase`` field, as gcloud
    scripts sometimes spell them); an integer reads a list (negative from the end); a name
    applied to a list reads it from every item.
    """
    value = resource
    for part in key:
        if value is None:
            return None
        if isinstance(part, int):
            if not isinstance(value, list) or not -len(value) <= part < len(value):
                return None
            value = value[part]
        elif isinstance(value, Mapping):
            value = value[part] if part in value else value.get(_camel(part))
        elif isinstance(value, list):
            value = [lookup(item, (part,)) for item in value]
        else:
            return None
    return value


def key_name(key: Key) -> str:
    """``a.b[0].c`` for a parsed key."""
    text = ""
    for part in key:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


# -- transforms ---------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _basename(value: Any) -> Any:
    if value is None:
        return None
    return str(value).rstrip("/").rpartition("/")[2]


def _timezone(name: str | None) -> tzinfo | None:
    if name is None or name == "":
        return None
    if name.upper() == "LOCAL":
        return datetime.now().astimezone().tzinfo
    if name.upper() in ("UTC", "Z"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ProjectionError(f"Unknown time zone {name!r} in date().") from None


def parse_time(value: Any) -> datetime | None:
    """A datetime from an RFC 3339 string or a number of seconds since the epoch."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    return None


def _date(
    value: Any,
    format: str = "%Y-%m-%dT%H:%M:%S",
    unit: str = "1",
    undefined: str = "",
    tz: str | None = None,
    tz_default: str | None = None,
) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = value / float(unit)
    when = parse_time(value)
    if when is None:
        return undefined
    if when.tzinfo is None:
        when = when.replace(tzinfo=_timezone(tz_default) or UTC)
    zone = _timezone(tz)
    if zone is not None:
        when = when.astimezone(zone)
    return when.strftime(format)


def _duration(value: Any, undefined: str = "") -> Any:
    if not isinstance(value, int | float) or isinstance(value, bool):
        text = str(value).strip() if value is not None else ""
        if not text.endswith("s"):
            return undefined
        try:
            value = float(text[:-1])
        except ValueError:
            return undefined
    return str(timedelta(seconds=float(value)))


def _yesno(value: Any, yes: str | None = None, no: str = "No") -> Any:
    if value:
        return value if yes is None else yes
    return no


def _len(value: Any) -> int:
    try:
        return len(value)
    except TypeError:
        return 0


def _join(value: Any, sep: str = "/", undefined: str = "") -> Any:
    if isinstance(value, list):
        return sep.join(_text(item) for item in value)
    return undefined if value is None else value


def _list(value: Any, show: str = "", undefined: str = "", separator: str = ",") -> Any:
    del show
    if isinstance(value, Mapping):
        return separator.join(f"{k}={_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return separator.join(_text(item) for item in value)
    return undefined if value is None else value


def _segment(value: Any, index: str = "-1", undefined: str = "") -> Any:
    if value is None:
        return undefined
    parts = str(value).split("/")
    try:
        return parts[int(index)]
    except (IndexError, ValueError):
        return undefined


def _split(value: Any, sep: str = "/", undefined: str = "") -> Any:
    return undefined if value is None else str(value).split(sep)


def _sort(value: Any, attr: str = "") -> Any:
    if not isinstance(value, list):
        return value
    if attr:
        return sorted(value, key=lambda item: _text(lookup(item, parse_key(attr))))
    return sorted(value, key=_text)


def _firstof(value: Any, *_: str) -> Any:
    return value


TRANSFORMS: dict[str, Callable[..., Any]] = {
    "basename": _basename,
    "date": _date,
    "duration": _duration,
    "firstof": _firstof,
    "iso": lambda value: value,
    "join": _join,
    "json": lambda value: json.dumps(value, sort_keys=True),
    "len": _len,
    "list": _list,
    "lower": lambda value: None if value is None else str(value).lower(),
    "segment": _segment,
    "size": _len,
    "sort": _sort,
    "split": _split,
    "upper": lambda value: None if value is None else str(value).upper(),
    "yesno": _yesno,
}


@dataclass(frozen=True)
class Transform:
    """One ``.name(args)`` call on a key's value; ``each`` applies it to every list item
    (gcloud's ``map().name()``)."""

    name: str
    args: tuple[str, ...] = ()
    kwargs: tuple[tuple[str, str], ...] = ()
    each: bool = False

    def apply(self, value: Any) -> Any:
        function = TRANSFORMS[self.name]
        if self.each and isinstance(value, list):
            return [function(item, *self.args, **dict(self.kwargs)) for item in value]
        try:
            return function(value, *self.args, **dict(self.kwargs))
        except TypeError as error:
            raise ProjectionError(f"Bad arguments for transform {self.name}(): {error}") from None


# -- columns and formats ------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One key of a projection, with its transforms and ``:attributes``."""

    key: Key
    transforms: tuple[Transform, ...] = ()
    label: str | None = None
    sort: int | None = None
    reverse: bool = False

    def value(self, resource: Any) -> Any:
        value = lookup(resource, self.key)
        for transform in self.transforms:
            value = transform.apply(value)
        return value


@dataclass(frozen=True)
class Format:
    """A parsed ``--format``: printer name, ``[attributes]`` and the projection's columns
    (``None`` when the format names none, e.g. plain ``json``)."""

    printer: str
    attrs: Mapping[str, str | bool] = field(default_factory=dict)
    columns: tuple[Column, ...] | None = None

    def flag(self, name: str) -> bool:
        return bool(self.attrs.get(name))


# -- the parser ---------------------------------------------------------------------------------

_IDENT = re.compile(r"[A-Za-z_@][A-Za-z0-9_\-@]*")


class _Scanner:
    """A cursor over an expression, with the few token kinds --format and --filter need."""

    def __init__(self, text: str, what: str) -> None:
        self.text, self.pos, self.what = text, 0, what

    def error(self, message: str) -> ProjectionError:
        return ProjectionError(f"{message} in {self.what} [{self.text}] at position {self.pos}.")

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self, char: str) -> bool:
        if self.peek() == char:
            self.pos += 1
            return True
        return False

    def expect(self, char: str) -> None:
        if not self.take(char):
            found = self.peek() or "the end"
            raise self.error(f"Expected {char!r}, found {found!r}")

    def ident(self) -> str:
        self.skip_space()
        match = _IDENT.match(self.text, self.pos)
        if match is None:
            raise self.error("Expected a name")
        self.pos = match.end()
        return match.group()

    def quoted(self) -> str:
        quote = self.text[self.pos]
        end = self.pos + 1
        out = []
        while end < len(self.text) and self.text[end] != quote:
            if self.text[end] == "\\" and end + 1 < len(self.text):
                end += 1
            out.append(self.text[end])
            end += 1
        if end >= len(self.text):
            raise self.error("Unterminated string")
        self.pos = end + 1
        return "".join(out)

    def word(self, stops: str) -> str:
        """A quoted string, or the text up to one of ``stops`` (white space trimmed)."""
        if self.peek() in ("'", '"'):
            return self.quoted()
        start = self.pos
        depth = 0
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "(":
                depth += 1
            elif char == ")" and depth:
                depth -= 1
            elif char in stops and not depth:
                break
            self.pos += 1
        return self.text[start : self.pos].strip()


def _key_and_transforms(scan: _Scanner) -> tuple[Key, tuple[Transform, ...]]:
    key: list[str | int] = []
    transforms: list[Transform] = []
    each = False
    while True:
        name = scan.ident()
        if scan.take("("):
            args: list[str] = []
            kwargs: list[tuple[str, str]] = []
            while not scan.take(")"):
                start = scan.pos
                arg = scan.word(",)=")
                if scan.take("="):
                    kwargs.append((arg, scan.word(",)")))
                elif arg or scan.text[start:].lstrip()[:1] in ("'", '"'):
                    args.append(arg)
                if not scan.take(","):
                    scan.expect(")")
                    break
            if name == "map":
                each = True
            elif name not in TRANSFORMS:
                known = ", ".join(sorted(TRANSFORMS))
                raise ProjectionError(
                    f"Unknown transform {name}() in {scan.what} [{scan.text}]; known: {known}."
                )
            else:
                transforms.append(Transform(name, tuple(args), tuple(kwargs), each))
                each = False
        elif transforms:
            raise scan.error(f"Key part {name!r} after a transform")
        else:
            key.append(name)
            while scan.take("["):
                index = scan.word("]")
                scan.expect("]")
                if index:
                    try:
                        key.append(int(index))
                    except ValueError:
                        raise scan.error(f"Bad index [{index}]") from None
        if not scan.take("."):
            break
    return tuple(key), tuple(transforms)


def parse_key(text: str, what: str = "key") -> Key:
    """A dotted key (``defaultVersion.name``, ``predictions[0].classes``) without transforms."""
    scan = _Scanner(text, what)
    key, transforms = _key_and_transforms(scan)
    if transforms or scan.peek():
        raise scan.error("Expected a plain key")
    return key


def _column(scan: _Scanner) -> Column:
    key, transforms = _key_and_transforms(scan)
    label: str | None = None
    sort: int | None = None
    reverse = False
    while scan.take(":"):
        name = scan.ident()
        value = scan.word(":,)") if scan.take("=") else ""
        if name == "label":
            label = value
        elif name == "sort":
            try:
                sort = int(value or "1")
            except ValueError:
                raise scan.error(f"Bad sort order {value!r}") from None
        elif name == "reverse":
            reverse = True
        # align, optional, wrap, format and the rest only change how a box looks: accepted.
    return Column(key, transforms, label, sort, reverse)


def parse_format(text: str) -> Format:
    """Parse a ``--format`` value.

    Raises:
        ProjectionError: an unknown printer or transform, or a syntax error (with position).
    """
    scan = _Scanner(text, "--format")
    if not text.strip():
        raise ProjectionError("Empty --format.")
    printer = scan.ident()
    if printer not in PRINTERS:
        raise ProjectionError(
            f"Unknown format name [{printer}] in --format; known: {', '.join(PRINTERS)}."
        )
    attrs: dict[str, str | bool] = {}
    if scan.take("["):
        while not scan.take("]"):
            name = scan.word("=,]")
            attrs[name] = scan.word(",]") if scan.take("=") else True
            if not scan.take(","):
                scan.expect("]")
                break
    columns: list[Column] | None = None
    if scan.take("("):
        columns = []
        while not scan.take(")"):
            columns.append(_column(scan))
            if not scan.take(","):
                scan.expect(")")
                break
    if scan.peek():
        raise scan.error("Unexpected text")
    return Format(printer, attrs, None if columns is None else tuple(columns))


# -- headings -----------------------------------------------------------------------------------

_SNAKE = re.compile(r"((?<=[a-z0-9])[A-Z]+|(?!^)[A-Z](?=[a-z]))")


def headings(columns: Sequence[Column]) -> list[str]:
    """Table headings as gcloud makes them: the label, else the key's last name in
    ANGRY_SNAKE_CASE, with earlier names added until it differs from the headings before it
    (``name``, ``defaultVersion.name`` → ``NAME``, ``DEFAULT_VERSION_NAME``)."""
    seen: set[str] = set()
    result = []
    for column in columns:
        if column.label is not None:
            result.append(column.label)
            continue
        label = ""
        for part in reversed(column.key):
            if isinstance(part, int):
                continue
            snake = _SNAKE.sub(r"_\1", part).upper()
            label = f"{snake}_{label}" if label else snake
            if label not in seen:
                break
        seen.add(label)
        result.append(label)
    return result


__all__ = [
    "PRINTERS",
    "TRANSFORMS",
    "Column",
    "Format",
    "Key",
    "ProjectionError",
    "Transform",
    "headings",
    "key_name",
    "lookup",
    "parse_format",
    "parse_key",
    "parse_time",
]
