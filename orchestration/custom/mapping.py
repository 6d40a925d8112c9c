"""A configured mapping applied to one source record: metric observations, or reasons why not.

Every generic collector stores records of one shape, so dbt needs one staging model per kind:

    {"entry": "status_page", "source_system": "status_page",
     "observed_at": "2026-03-01T05:00:00+00:00", "metric": "service.requests",
     "value": 1520, "unit": "requests", "tags": {"service": "checkout-api"},
     "taxonomy": {"team": "checkout"}, "key": "...", "origin": {...}, "source": {...}}

`source` is the record as the source gave it (a JSON object, a row with its values made JSON,
a parsed log line), kept beside the observation for lineage; `origin` says where it came from
(page, row number, file and line). A record whose time cannot be read is rejected whole; a
metric whose value is missing or not a number is rejected on its own, with the reason, and the
record's other metrics still load.
"""

import hashlib
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from orchestration.custom.entries import ColumnMapping, JsonMapping
from orchestration.custom.jsonpath import parse
from orchestration.warehouse.loader import Rejected

# Unix times above this are milliseconds (1e11 seconds is the year 5138).
_MILLISECONDS_ABOVE = 1e11
_NUMBER = re.compile(r"^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]{1,3})?$")

Getter = Callable[[Any], tuple[bool, Any]]
"""`getter(record)` -> (found, value)."""

# The fields of every stored record; "entry", "metric" and "key" form the natural key.
NATURAL_KEY = ("entry", "metric", "key")


@dataclass(frozen=True)
class _Metric:
    name: str
    path: str
    unit: str
    get: Getter


@dataclass(frozen=True)
class CompiledMapping:
    """A mapping with its paths parsed once, applied to record after record."""

    entry: str
    source_system: str
    time_path: str
    time_format: str
    get_time: Getter
    metrics: tuple[_Metric, ...]
    tags: tuple[tuple[str, Getter], ...]
    taxonomy: tuple[tuple[str, Getter], ...]
    key: tuple[tuple[str, Getter], ...] | None

    def observed_at(self, record: Any) -> datetime:
        """The record's time in UTC, or ValueError saying why it cannot be read."""
        found, value = self.get_time(record)
        if not found or value is None:
            raise ValueError(f"no time at {self.time_path!r}")
        try:
            return parse_time(value, self.time_format)
        except ValueError as error:
            raise ValueError(f"time at {self.time_path!r}: {error}") from None

    def observations(
        self,
        record: Any,
        observed_at: datetime,
        origin: Mapping[str, Any],
        *,
        source: Any = None,
        default_key: str | None = None,
        where: str | None = None,
    ) -> list[dict[str, Any] | Rejected]:
        """One stored record per metric of `record`, and a `Rejected` per unreadable metric.

        `source` is what is stored as the source record (default: `record` itself);
        `default_key` identifies the record when the mapping names no key fields (default: a
        hash of its content); `where` (page and record, row, file and line) starts the
        reasons of rejections.
        """
        stored_source = record if source is None else source
        prefix = f"{self.entry}: {where}: " if where else f"{self.entry}: "
        try:
            key = self._key(record, stored_source, default_key)
        except ValueError as error:
            return [Rejected(f"{prefix}{error}", stored_source)]
        tags = {name: text for name, get in self.tags if (text := _tag_text(get(record)))}
        taxonomy = {name: text for name, get in self.taxonomy if (text := _tag_text(get(record)))}
        out: list[dict[str, Any] | Rejected] = []
        for metric in self.metrics:
            found, raw = metric.get(record)
            try:
                if not found:
                    raise ValueError(f"no value at {metric.path!r}")
                value = metric_value(raw)
            except ValueError as error:
                out.append(Rejected(f"{prefix}metric {metric.name}: {error}", stored_source))
                continue
            out.append(
                {
                    "entry": self.entry,
                    "source_system": self.source_system,
                    "observed_at": observed_at.isoformat(),
                    "metric": metric.name,
                    "value": value,
                    "unit": metric.unit,
                    "tags": tags,
                    "taxonomy": taxonomy,
                    "key": key,
                    "origin": dict(origin),
                    "source": stored_source,
                }
            )
        return out

    def _key(self, record: Any, stored_source: Any, default_key: str | None) -> str:
        if self.key is None:
            return default_key if default_key is not None else content_hash(stored_source)
        parts = []
        for path, get in self.key:
            found, value = get(record)
            if not found or value is None:
                raise ValueError(f"key field {path!r} is missing")
            parts.append(value if isinstance(value, str) else _json_text(value))
        return "|".join(parts)


def compile_json_mapping(
    mapping: JsonMapping, *, entry: str, source_system: str
) -> CompiledMapping:
    """The mapping of an HTTP or log-file entry: every path is a JSON path."""
    return _compile(mapping, entry, source_system, lambda path: parse(path).get)


def compile_column_mapping(
    mapping: ColumnMapping, *, entry: str, source_system: str
) -> CompiledMapping:
    """The mapping of a SQL entry: every path names a result column."""

    def column(name: str) -> Getter:
        return lambda row: (name in row, row.get(name))

    return _compile(mapping, entry, source_system, column)


def _compile(
    mapping: JsonMapping | ColumnMapping,
    entry: str,
    source_system: str,
    getter: Callable[[str], Getter],
) -> CompiledMapping:
    return CompiledMapping(
        entry=entry,
        source_system=source_system,
        time_path=mapping.time,
        time_format=mapping.time_format,
        get_time=getter(mapping.time),
        metrics=tuple(
            _Metric(metric.name, metric.value, metric.unit, getter(metric.value))
            for metric in mapping.metrics
        ),
        tags=tuple((name, getter(path)) for name, path in mapping.tags.items()),
        taxonomy=tuple((name, getter(path)) for name, path in mapping.taxonomy.items()),
        key=None if mapping.key is None else tuple((p, getter(p)) for p in mapping.key),
    )


def parse_time(value: Any, time_format: str = "auto") -> datetime:
    """`value` as an aware UTC datetime, read as `time_format`; ValueError says why not."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise ValueError(f"{_shown(value)} is not a time")
    if isinstance(value, str):
        text = value.strip()
        if time_format == "iso" or (time_format == "auto" and not _NUMBER.match(text)):
            return _parse_iso(text)
        if not _NUMBER.match(text):
            raise ValueError(f"{_shown(value)} is not a unix time")
        value = float(text)
    elif time_format == "iso":
        raise ValueError(f"{_shown(value)} is a number, not ISO 8601 text")
    try:
        seconds = float(value)
        if time_format == "unix_ms" or (
            time_format == "auto" and abs(seconds) > _MILLISECONDS_ABOVE
        ):
            seconds /= 1000
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"{_shown(value)} is out of range for a unix time") from None


def _parse_iso(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{_shown(text)} is not an ISO 8601 time") from None
    if len(text) <= 10 and "T" not in text:  # a date alone: midnight UTC
        return datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def metric_value(value: Any) -> int | float | str:
    """A stored metric value: a JSON number, or the exact decimal text of a numeric string or
    a SQL decimal; ValueError for null, booleans, non-numeric text and non-finite numbers."""
    if value is None:
        raise ValueError("the value is null")
    if isinstance(value, bool):
        raise ValueError(f"{_shown(value)} is a boolean, not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} is not a finite number")
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a finite number")
        return str(value)
    if isinstance(value, str):
        text = value.strip()
        if not _NUMBER.match(text):
            raise ValueError(f"{_shown(value)} is not a number")
        return text
    raise ValueError(f"{_shown(value)} is {type(value).__name__}, not a number")


def content_hash(value: Any) -> str:
    """A short stable hash of a JSON value's content (keys sorted)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8", "backslashreplace")).hexdigest()[:32]


def _tag_text(found_value: tuple[bool, Any]) -> str | None:
    found, value = found_value
    if not found or value is None:
        return None
    text = value.strip() if isinstance(value, str) else _json_text(value)
    return text or None


def _json_text(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value, separators=(",", ":"), default=str)


def _shown(value: Any) -> str:
    try:
        text = repr(value)
    except RecursionError:
        text = f"<{type(value).__name__} nested too deeply to show>"
    return text if len(text) <= 80 else text[:77] + "..."
