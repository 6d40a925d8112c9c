"""A small dotted-path syntax for reaching into JSON documents, parsed here and never evaluated.

The generic collectors name where things are in a vendor's answer with these paths:

    data[*]                    every item of the top-level `data` list
    meta.next_cursor           a nested field
    items[0].id                the first item's `id`; `[-1]` is the last item
    stats["p95-latency"]       a name that is not a plain word, quoted ('...' works too)
    $                          the whole document (also written as an empty path)

A path is an optional `$` (or `$.`), then names separated by dots, each name followed by any
number of brackets: `[N]` an index, `[*]` every item of a list (or every value of an object),
`["name"]` a quoted name (backslash escapes a quote or a backslash). A plain name is letters,
digits, `_` and `-`. Nothing else is accepted, and the parser reports the position of the
first character it cannot read, so a typo in vault.yaml fails when the configuration loads.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_NAME = re.compile(r"[A-Za-z0-9_-]+")
_INDEX = re.compile(r"-?[0-9]+")


class JsonPathError(ValueError):
    """A path that does not follow the syntax; the message names the position."""


@dataclass(frozen=True)
class _Key:
    name: str


@dataclass(frozen=True)
class _Index:
    index: int


@dataclass(frozen=True)
class _Every:
    pass


_Step = _Key | _Index | _Every


@dataclass(frozen=True)
class JsonPath:
    """A parsed path; `find` gives every value it reaches in a document."""

    text: str
    steps: tuple[_Step, ...]

    @property
    def is_single(self) -> bool:
        """Whether the path reaches at most one value (it has no `[*]`)."""
        return not any(isinstance(step, _Every) for step in self.steps)

    def find(self, document: Any) -> list[Any]:
        """Every value the path reaches, in document order; empty when nothing matches."""
        return list(_walk(document, self.steps))

    def get(self, document: Any) -> tuple[bool, Any]:
        """(found, value) for a single-valued path; a JSON null counts as found."""
        value = document
        for step in self.steps:
            if isinstance(step, _Key):
                if not isinstance(value, dict) or step.name not in value:
                    return False, None
                value = value[step.name]
            elif isinstance(step, _Index):
                if not isinstance(value, list) or not -len(value) <= step.index < len(value):
                    return False, None
                value = value[step.index]
            else:
                raise ValueError(f"path {self.text!r} has [*]; use find()")
        return True, value

    def prefix_before_every(self) -> "JsonPath":
        """The part of the path before its first `[*]` (the whole path if it has none)."""
        steps: list[_Step] = []
        for step in self.steps:
            if isinstance(step, _Every):
                break
            steps.append(step)
        return JsonPath(self.text, tuple(steps))

    def __str__(self) -> str:
        return self.text


def _walk(value: Any, steps: tuple[_Step, ...]) -> Iterator[Any]:
    if not steps:
        yield value
        return
    step, rest = steps[0], steps[1:]
    if isinstance(step, _Key):
        if isinstance(value, dict) and step.name in value:
            yield from _walk(value[step.name], rest)
    elif isinstance(step, _Index):
        if isinstance(value, list) and -len(value) <= step.index < len(value):
            yield from _walk(value[step.index], rest)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item, rest)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _walk(item, rest)


def parse(text: str) -> JsonPath:
    """Parse `text`, or raise JsonPathError saying what is wrong and where."""
    if not isinstance(text, str):
        raise JsonPathError(f"a JSON path must be text, got {type(text).__name__}")
    path = text.strip()
    position = 0
    if path.startswith("$"):
        position = 1
        if path[1:2] not in ("", ".", "["):
            raise JsonPathError(_where(text, path, 1, "'.' or '[' after '$'"))
        if path[1:2] == ".":
            position = 2
            if len(path) == 2:
                raise JsonPathError(_where(text, path, position, "a name after '$.'"))
    steps: list[_Step] = []
    expect_name = position < len(path) and path[position] != "["
    while position < len(path):
        if expect_name:
            match = _NAME.match(path, position)
            if not match:
                raise JsonPathError(_where(text, path, position, "a name"))
            steps.append(_Key(match.group()))
            position = match.end()
            expect_name = False
            continue
        char = path[position]
        if char == ".":
            position += 1
            expect_name = True
            if position == len(path):
                raise JsonPathError(_where(text, path, position, "a name after '.'"))
        elif char == "[":
            step, position = _bracket(text, path, position + 1)
            steps.append(step)
        else:
            raise JsonPathError(_where(text, path, position, "'.' or '['"))
    return JsonPath(text, tuple(steps))


def _bracket(text: str, path: str, position: int) -> tuple[_Step, int]:
    """The step inside `[...]` starting at `position` (after the `[`), and where it ends."""
    if path.startswith("*]", position):
        return _Every(), position + 2
    if position < len(path) and path[position] in "\"'":
        quote = path[position]
        name: list[str] = []
        position += 1
        while position < len(path):
            char = path[position]
            if char == "\\" and position + 1 < len(path) and path[position + 1] in (quote, "\\"):
                name.append(path[position + 1])
                position += 2
            elif char == quote:
                if not path.startswith("]", position + 1):
                    raise JsonPathError(_where(text, path, position + 1, "']'"))
                if not name:
                    raise JsonPathError(_where(text, path, position, "a non-empty name"))
                return _Key("".join(name)), position + 2
            else:
                name.append(char)
                position += 1
        raise JsonPathError(_where(text, path, position, f"a closing {quote}"))
    match = _INDEX.match(path, position)
    if not match:
        raise JsonPathError(_where(text, path, position, "an index, * or a quoted name"))
    if not path.startswith("]", match.end()):
        raise JsonPathError(_where(text, path, match.end(), "']'"))
    return _Index(int(match.group())), match.end() + 1


def _where(_text: str, path: str, position: int, expected: str) -> str:
    found = repr(path[position]) if position < len(path) else "the end"
    return f"bad JSON path {path!r}: expected {expected} at position {position}, found {found}"
