"""The `vault.yaml` entries of the generic sources: HTTP JSON APIs, SQL queries, log files.

Each entry of `sources.http_api.apis`, `sources.sql.queries` and `sources.log_files.sources` is
one collector (asset `raw/<kind>_<name>`). Every entry has a `mapping` that turns a source record
(a JSON object, a result row, a log line) into metric observations:

    mapping:
      time: ts                      # where the observation's time is
      time_format: auto             # auto, iso, unix_s or unix_ms
      metrics:                      # one record may give several metrics
        - {name: service.requests, value: stats.requests, unit: requests}
      tags: {service: service}      # tag name -> where its value is
      taxonomy: {team: owner.team}  # department, team, project, ... (wins over seed mappings)
      key: [id]                     # optional: what identifies a record (default: its content)

HTTP and log-file mappings use JSON paths (`orchestration.custom.jsonpath`); SQL mappings name
result columns. Credentials never live here: headers and the database URL name environment
variables, and a literal value for a credential-like header is refused.
"""

import re
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from orchestration.custom.jsonpath import JsonPathError, parse
from orchestration.custom.sqltext import WINDOW_BINDS, bind_names, check_select

ENTRY_NAME = r"^[a-z][a-z0-9_]{0,39}$"
METRIC_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
UNIT = re.compile(r"^[A-Za-z0-9_%/.\-]{1,32}$")
TAG_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
TAXONOMY_FIELDS = (
    "department",
    "team",
    "user_email",
    "project",
    "customer",
    "feature",
    "cost_category",
    "environment",
    "service",
    "region",
)
# Tags the vault adds itself: a mapping may not set them.
RESERVED_TAGS = ("entry", "collector")
# Header and parameter names that carry credentials: their values must come from the environment.
_SECRET_HINTS = (
    "authorization",
    "auth",
    "token",
    "key",
    "secret",
    "password",
    "cookie",
    "signature",
)


def _is_secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(hint in lowered for hint in _SECRET_HINTS)


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MetricSpec(_Entry):
    """One metric a record yields."""

    name: str
    """Dotted lower-case metric type, e.g. service.requests."""
    value: str
    """Where the number is (a JSON path, or a column for SQL)."""
    unit: str
    """Unit of the value, e.g. requests, ms, USD; one metric always has one unit."""

    @field_validator("name")
    @classmethod
    def _metric_name(cls, value: str) -> str:
        if not METRIC_NAME.match(value):
            raise ValueError(
                f"metric name {value!r} must be dotted lower-case words, e.g. service.requests"
            )
        return value

    @field_validator("unit")
    @classmethod
    def _unit(cls, value: str) -> str:
        if not UNIT.match(value):
            raise ValueError(f"unit {value!r} must be 1-32 letters, digits or _%/.-")
        return value


class _Mapping(_Entry):
    """How a source record becomes metric observations; paths are checked by the subclass."""

    time: str
    """Where the observation's time is."""
    time_format: Literal["auto", "iso", "unix_s", "unix_ms"] = "auto"
    """iso (ISO 8601 text; a date alone is midnight UTC, no zone is UTC), unix_s, unix_ms, or
    auto: numbers (and digit strings) are unix seconds, or milliseconds when above 1e11."""
    metrics: Annotated[list[MetricSpec], Field(min_length=1)]
    """The metrics of each record: name, where the value is, unit."""
    tags: dict[str, str] = {}
    """Tag name -> where its value is; a missing value leaves the tag out."""
    taxonomy: dict[Literal[TAXONOMY_FIELDS], str] = {}
    """Taxonomy column -> where its value is; a value found wins over seed mappings."""
    key: list[str] | None = None
    """Where the fields that identify a record are; default: the record's whole content."""

    @classmethod
    def _check_path(cls, path: str) -> str:
        raise NotImplementedError

    @field_validator("time")
    @classmethod
    def _time_path(cls, value: str) -> str:
        return cls._check_path(value)

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: dict[str, str]) -> dict[str, str]:
        for tag, path in value.items():
            if not TAG_NAME.match(tag):
                raise ValueError(f"tag name {tag!r} must be lower-case letters, digits and _")
            if tag in RESERVED_TAGS:
                raise ValueError(f"tag {tag!r} is set by the vault itself; choose another name")
            cls._check_path(path)
        return value

    @field_validator("taxonomy")
    @classmethod
    def _taxonomy(cls, value: dict[str, str]) -> dict[str, str]:
        for path in value.values():
            cls._check_path(path)
        return value

    @field_validator("key")
    @classmethod
    def _key(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if not value:
                raise ValueError("key: name at least one field, or leave key out")
            for path in value:
                cls._check_path(path)
        return value

    @model_validator(mode="after")
    def _metric_paths(self) -> "_Mapping":
        names = [metric.name for metric in self.metrics]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"metric(s) {', '.join(repeated)} listed twice")
        for metric in self.metrics:
            try:
                self._check_path(metric.value)
            except ValueError as error:
                raise ValueError(f"metric {metric.name}: {error}") from None
        return self


class JsonMapping(_Mapping):
    """A mapping whose paths are JSON paths into the record (HTTP answers, log lines)."""

    @classmethod
    def _check_path(cls, path: str) -> str:
        check_single_path(path)
        return path


class ColumnMapping(_Mapping):
    """A mapping whose paths are column names of the query's result."""

    @classmethod
    def _check_path(cls, path: str) -> str:
        if not isinstance(path, str) or not path.strip():
            raise ValueError("a column name must be non-empty text")
        return path


def check_single_path(path: str) -> None:
    """Refuse a path that is not valid or that reaches more than one value (has `[*]`)."""
    try:
        parsed = parse(path)
    except JsonPathError as error:
        raise ValueError(str(error)) from None
    if not parsed.is_single:
        raise ValueError(f"JSON path {path!r} must reach one value; [*] belongs in `records`")


class EnvValue(_Entry):
    """A value read from an environment variable when the collector runs."""

    env: Annotated[str, Field(pattern=ENV_NAME)]
    """The variable's name."""
    prefix: str = ""
    """Text put before the variable's value, e.g. "Bearer "."""


class _Source(_Entry):
    name: Annotated[str, Field(pattern=ENTRY_NAME)]
    """Lower-case letters, digits and _ (at most 40): the asset is raw/<kind>_<name>."""
    source_system: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]{0,62}$")] | None = None
    """fct_metrics.source_system of the observations; default: the entry's name."""
    keep_outside_window: bool = False
    """Keep records whose time lies outside the partition's window (an API or query that
    ignores the window); by default they are left to the partition they belong to."""

    @property
    def system(self) -> str:
        return self.source_system or self.name


class NoPaging(_Entry):
    """One request answers everything."""

    style: Literal["none"]


class CursorPaging(_Entry):
    """The answer names the next page's cursor; the next request sends it back."""

    style: Literal["cursor"]
    cursor_path: str
    """Where the next cursor is in the answer; an absent, null or empty cursor ends paging."""
    cursor_param: Annotated[str, Field(min_length=1)] = "cursor"
    """The parameter that carries the cursor (query for GET, body field for POST)."""
    has_more_path: str | None = None
    """Optional: a field whose false value ends paging even when a cursor is given."""

    @field_validator("cursor_path", "has_more_path")
    @classmethod
    def _paths(cls, value: str | None) -> str | None:
        if value is not None:
            check_single_path(value)
        return value


class PagePaging(_Entry):
    """Pages by number; an empty page (or a short one, when `size` is set) is the last."""

    style: Literal["page"]
    page_param: Annotated[str, Field(min_length=1)] = "page"
    first_page: Annotated[int, Field(ge=0)] = 1
    size_param: Annotated[str, Field(min_length=1)] | None = None
    """The page-size parameter, sent with `size`."""
    size: Annotated[int, Field(ge=1, le=100_000)] | None = None

    @model_validator(mode="after")
    def _size_together(self) -> "PagePaging":
        if (self.size_param is None) != (self.size is None):
            raise ValueError("size_param and size go together: give both or neither")
        return self


class OffsetPaging(_Entry):
    """Pages by offset and limit; a page shorter than `limit` is the last."""

    style: Literal["offset"]
    offset_param: Annotated[str, Field(min_length=1)] = "offset"
    limit_param: Annotated[str, Field(min_length=1)] = "limit"
    limit: Annotated[int, Field(ge=1, le=100_000)]


class LinkPaging(_Entry):
    """The next page is the `Link` header's rel="next" URL (RFC 8288), on the same origin."""

    style: Literal["link"]


Pagination = Annotated[
    NoPaging | CursorPaging | PagePaging | OffsetPaging | LinkPaging,
    Field(discriminator="style"),
]
ParamValue = str | int | float | bool | EnvValue


class HttpApiEntry(_Source):
    """One JSON HTTP API: a request per page for each partition's window."""

    url: str
    """The endpoint; `{start}` and `{end}` in it are replaced by the window's bounds."""
    method: Literal["GET", "POST"] = "GET"
    params: dict[str, ParamValue] = {}
    """Query parameters; `{start}`/`{end}` in a value are replaced by the window's bounds."""
    body: Any = None
    """JSON body of a POST; `{start}`/`{end}` in its strings are replaced the same way."""
    window_format: Literal["iso", "date", "unix_s", "unix_ms"] = "iso"
    """How `{start}` and `{end}` are written: ISO 8601 UTC, a date, unix seconds or ms."""
    headers: dict[str, str | EnvValue] = {}
    """Request headers; credentials as {env: VARIABLE, prefix: "Bearer "}, never literal."""
    pagination: Pagination = NoPaging(style="none")
    """none, cursor, page, offset or link."""
    records: str = "$"
    """Where the records are in each answer (a JSON path, usually with [*])."""
    mapping: JsonMapping
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    max_retries: Annotated[int, Field(ge=0, le=20)] = 5
    backoff_s: Annotated[float, Field(ge=0, le=60)] = 1.0
    """The first retry's wait when the API names none (`Retry-After`); it doubles each time."""
    max_pages: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    """A partition asking for more pages than this fails rather than looping for ever."""

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("records")
    @classmethod
    def _records_path(cls, value: str) -> str:
        try:
            parse(value)
        except JsonPathError as error:
            raise ValueError(str(error)) from None
        return value

    @field_validator("headers")
    @classmethod
    def _no_literal_credentials(cls, value: dict[str, str | EnvValue]) -> dict[str, str | EnvValue]:
        for name, header in value.items():
            if isinstance(header, str) and _is_secret_name(name):
                raise ValueError(
                    f"header {name} looks like a credential: a literal value is refused; "
                    "write {env: VARIABLE, prefix: ...} so the secret stays in the environment"
                )
        return value

    @field_validator("params")
    @classmethod
    def _no_literal_secret_params(cls, value: dict[str, ParamValue]) -> dict[str, ParamValue]:
        for name, param in value.items():
            if not isinstance(param, EnvValue) and _is_secret_name(name):
                raise ValueError(
                    f"parameter {name} looks like a credential: a literal value is refused; "
                    "write {env: VARIABLE} so the secret stays in the environment"
                )
        return value

    @model_validator(mode="after")
    def _body_fits(self) -> "HttpApiEntry":
        if self.body is not None and self.method != "POST":
            raise ValueError("body is sent with POST only; set method: POST or drop body")
        pages_in_body = self.method == "POST" and self.pagination.style in (
            "cursor",
            "page",
            "offset",
        )
        if pages_in_body and not isinstance(self.body, dict | None):
            raise ValueError(
                f"{self.pagination.style} paging of a POST puts its parameters in the body, "
                "which must then be a JSON object"
            )
        return self


class SqlQueryEntry(_Source):
    """One read-only query, run for each partition's window."""

    url_env: Annotated[str, Field(pattern=ENV_NAME)]
    """The environment variable holding the SQLAlchemy database URL (never the URL itself)."""
    query: str
    """A single SELECT (or WITH ... SELECT) binding :window_start and :window_end."""
    params: dict[str, str | int | float | bool] = {}
    """More values the query binds by name (:name), always as parameters."""
    window_format: Literal["timestamp", "date", "iso", "unix_s", "unix_ms"] = "timestamp"
    """How :window_start and :window_end are bound: a UTC timestamp (without zone for MySQL),
    a date, ISO 8601 text, or unix seconds or milliseconds."""
    fetch_size: Annotated[int, Field(ge=1, le=100_000)] = 1000
    """Rows fetched per round trip from a server-side cursor."""
    mapping: ColumnMapping

    @field_validator("query")
    @classmethod
    def _single_select(cls, value: str) -> str:
        check_select(value)
        return value

    @model_validator(mode="after")
    def _binds_known(self) -> "SqlQueryEntry":
        names = bind_names(self.query)
        missing = [name for name in WINDOW_BINDS if name not in names]
        if missing:
            raise ValueError(
                f"query must bind {' and '.join(':' + name for name in missing)}, so each "
                "partition reads its own window"
            )
        unknown = sorted(names - set(WINDOW_BINDS) - set(self.params))
        if unknown:
            raise ValueError(
                f"query binds {', '.join(':' + name for name in unknown)}, which params does "
                "not give (write \\: for a literal colon)"
            )
        clash = sorted(set(self.params) & set(WINDOW_BINDS))
        if clash:
            raise ValueError(f"params may not set {', '.join(clash)}: the window binds it")
        return self


class LogSourceEntry(_Source):
    """JSON-lines or CSV files under a folder or glob, read by file and byte offset."""

    path: str
    """A folder (every file directly in it) or a glob (`**` reaches into subfolders)."""
    format: Literal["jsonl", "csv"] = "jsonl"
    """jsonl: one JSON object per line; csv: a header line, then one record per line."""
    delimiter: Annotated[str, Field(min_length=1, max_length=1)] = ","
    """CSV only: the field separator."""
    encoding: str = "utf-8"
    """Text encoding of the files."""
    mapping: JsonMapping

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith(("/", "~")):
            raise ValueError(f"{value!r} must be an absolute path (or start with ~)")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        import codecs

        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(f"unknown text encoding {value!r}") from None
        return value

    @model_validator(mode="after")
    def _csv_only(self) -> "LogSourceEntry":
        if self.format != "csv" and self.delimiter != ",":
            raise ValueError("delimiter applies to format: csv only")
        return self


def check_unique_names(entries: Sequence[_Source]) -> None:
    """Refuse two entries of one kind with the same name (they would be one asset)."""
    names = [entry.name for entry in entries]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"entry name(s) {', '.join(repeated)} used twice")
