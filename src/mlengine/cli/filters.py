"""gcloud's ``--filter`` expressions over resources (``name:census*``, ``state=READY AND
createTime>2024-01-01``, ``NOT labels.team:ml``, ``jobId~^census_``).

Terms are ``KEY OP VALUE`` with gcloud's operators:

- ``:`` has: case-insensitive; the value's words contain the pattern's words (``*`` is a
  wildcard, ``KEY:*`` means the key has a value); on a list, any item; on a mapping, any key.
- ``=`` / ``!=``: equal, case-insensitive for text, numerically for numbers, ``*`` wildcards.
- ``<`` ``<=`` ``>`` ``>=``: numerically when both sides are numbers, else as text (RFC 3339
  times compare correctly as text).
- ``~`` / ``!~``: a Python regular expression searched in the value.

``KEY:(a b)`` and ``KEY=(a b)`` match any of the values. Terms combine with ``AND``, ``OR``,
``NOT`` (or a leading ``-``) and parentheses; two terms side by side mean ``AND``. A bare word
matches a resource having it in any field.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mlengine.cli.projection import Key, ProjectionError, lookup, parse_key

Predicate = Callable[[Any], bool]

_OPERATOR = re.compile(r"!=|!~|<=|>=|[:=<>~]")
_KEY = re.compile(r"[^\s()<>=!~:]+")
_WORD = re.compile(r"[^\s()]+")


class FilterError(ProjectionError):
    """A ``--filter`` that cannot be parsed (the message says where)."""


def _words(text: str) -> list[str]:
    return [word for word in re.split(r"[^0-9a-z]+", text.lower()) if word]


def _has(value: Any, pattern: str) -> bool:
    if value is None:
        return False
    if isinstance(value, Mapping):
        return any(_has(key, pattern) for key in value)
    if isinstance(value, list):
        return any(_has(item, pattern) for item in value)
    text = str(value).lower()
    wanted = pattern.lower()
    if "*" in wanted or "?" in wanted:
        return fnmatch.fnmatchcase(text, wanted) or any(
            fnmatch.fnmatchcase(word, wanted) for word in _words(text)
        )
    if text == wanted:
        return True
    have, need = _words(text), _words(wanted)
    return bool(need) and any(
        have[i : i + len(need)] == need for i in range(len(have) - len(need) + 1)
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def _equal(value: Any, operand: str) -> bool:
    if value is None:
        return False
    if isinstance(value, list):
        return any(_equal(item, operand) for item in value)
    left, right = _number(value), _number(operand)
    if left is not None and right is not None:
        return left == right
    text = str(value).lower()
    if "*" in operand:
        return fnmatch.fnmatchcase(text, operand.lower())
    return text == operand.lower()


def _compare(value: Any, operand: str, op: str) -> bool:
    if value is None:
        return False
    if isinstance(value, list):
        return any(_compare(item, operand, op) for item in value)
    left, right = _number(value), _number(operand)
    a: Any = left if left is not None and right is not None else str(value)
    b: Any = right if left is not None and right is not None else operand
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _regex(value: Any, pattern: re.Pattern[str]) -> bool:
    if value is None:
        return False
    if isinstance(value, list):
        return any(_regex(item, pattern) for item in value)
    return pattern.search(str(value)) is not None


@dataclass(frozen=True)
class _Term:
    key: Key | None  # None: a bare word, searched in every field
    op: str
    operands: tuple[str, ...]

    def __call__(self, resource: Any) -> bool:
        if self.key is None:
            return any(_has(leaf, self.operands[0]) for leaf in _all_leaves(resource))
        value = lookup(resource, self.key)
        if self.op == ":":
            if self.operands == ("*",):
                return value not in (None, "", [], {})
            return any(_has(value, operand) for operand in self.operands)
        if self.op in ("=", "!="):
            equal = any(_equal(value, operand) for operand in self.operands)
            return equal if self.op == "=" else not equal
        if self.op in ("~", "!~"):
            found = _regex(value, re.compile(self.operands[0]))
            return found if self.op == "~" else not found
        return _compare(value, self.operands[0], self.op)


def _all_leaves(value: Any) -> list[Any]:
    if isinstance(value, Mapping):
        return [leaf for item in value.values() for leaf in _all_leaves(item)]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _all_leaves(item)]
    return [value]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text, self.pos = text, 0

    def error(self, message: str) -> FilterError:
        return FilterError(f"{message} in --filter [{self.text}] at position {self.pos}.")

    def peek(self) -> str:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def keyword(self, word: str) -> bool:
        self.peek()
        end = self.pos + len(word)
        if self.text.startswith(word, self.pos) and (
            end == len(self.text) or self.text[end].isspace() or self.text[end] == "("
        ):
            self.pos = end
            return True
        return False

    def value(self) -> str:
        char = self.peek()
        if char in ("'", '"'):
            end = self.text.find(char, self.pos + 1)
            if end < 0:
                raise self.error("Unterminated string")
            text = self.text[self.pos + 1 : end]
            self.pos = end + 1
            return text
        match = _WORD.match(self.text, self.pos)
        if match is None:
            raise self.error("Expected a value")
        self.pos = match.end()
        return match.group()

    def operands(self) -> tuple[str, ...]:
        if self.peek() != "(":
            return (self.value(),)
        self.pos += 1
        items = []
        while self.peek() != ")":
            if not self.peek():
                raise self.error("Expected ')'")
            if not self.keyword("OR"):
                items.append(self.value())
        self.pos += 1
        if not items:
            raise self.error("Expected values inside ( )")
        return tuple(items)

    def term(self) -> Predicate:
        if self.keyword("NOT"):
            inner = self.term()
            return lambda r: not inner(r)
        char = self.peek()
        if char == "-" and self.pos + 1 < len(self.text) and not self.text[self.pos + 1].isspace():
            self.pos += 1
            inner = self.term()
            return lambda r: not inner(r)
        if char == "(":
            self.pos += 1
            inner = self.disjunction()
            if self.peek() != ")":
                raise self.error("Expected ')'")
            self.pos += 1
            return inner
        if not char:
            raise self.error("Expected a term")
        quoted = char in ("'", '"')
        match = None if quoted else _KEY.match(self.text, self.pos)
        if match is None:
            return _Term(None, ":", (self.value(),))
        start = self.pos
        self.pos = match.end()
        operator = _OPERATOR.match(self.text, self.pos)
        if operator is None:
            return _Term(None, ":", (self.text[start : self.pos],))
        try:
            key = parse_key(match.group(), "--filter key")
        except ProjectionError as error:
            raise FilterError(str(error)) from None
        self.pos = operator.end()
        op = operator.group()
        operands = self.operands()
        if op in ("~", "!~"):
            try:
                re.compile(operands[0])
            except re.error as error:
                raise self.error(f"Bad regular expression {operands[0]!r} ({error})") from None
        elif op not in (":", "=", "!=") and len(operands) != 1:
            raise self.error(f"{op} takes one value")
        return _Term(key, op, operands)

    def conjunction(self) -> Predicate:
        parts = [self.term()]
        while True:
            if self.keyword("AND"):
                parts.append(self.term())
            elif self.peek() not in ("", ")") and not self._at("OR"):
                parts.append(self.term())  # juxtaposition means AND
            else:
                break
        return parts[0] if len(parts) == 1 else lambda r: all(part(r) for part in parts)

    def _at(self, word: str) -> bool:
        start = self.pos
        found = self.keyword(word)
        self.pos = start
        return found

    def disjunction(self) -> Predicate:
        parts = [self.conjunction()]
        while self.keyword("OR"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else lambda r: any(part(r) for part in parts)


def parse_filter(text: str) -> Predicate:
    """A predicate over resources for a ``--filter`` expression.

    Raises:
        FilterError: a syntax error (with the position) or a bad regular expression.
    """
    parser = _Parser(text)
    if not parser.peek():
        return lambda _: True
    predicate = parser.disjunction()
    if parser.peek():
        raise parser.error("Unexpected text")
    return predicate


__all__ = ["FilterError", "Predicate", "parse_filter"]
