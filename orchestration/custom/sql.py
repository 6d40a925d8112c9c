"""A read-only SQL query described in vault.yaml, run for each partition's window.

The database URL comes from the environment variable the entry names, read when the collector
runs, and is never logged (errors show the driver's message, not the URL). The window reaches
the query only as bound parameters (`:window_start`, `:window_end`), like the entry's own
`params`; nothing is ever formatted into the SQL text.

Read-only, twice over: the text must be a single SELECT or WITH (`sqltext.check_select`, when
vault.yaml loads), and it runs where the database itself refuses writes: `SET TRANSACTION READ
ONLY` on PostgreSQL, `START TRANSACTION READ ONLY` on MySQL and MariaDB, a connection opened
read-only (`mode=ro`, plus `PRAGMA query_only`) on SQLite. Other dialects get a transaction that
is rolled back, and a warning; give such a database a read-only user. Rows are streamed
(`yield_per`: a server-side cursor where the driver has one), so memory stays flat however many
rows a window holds.
"""

import base64
import math
import os
import uuid
from collections.abc import Iterator, Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from orchestration.collectors.framework import Window
from orchestration.collectors.http import MissingCredentialError, SourceError
from orchestration.custom.entries import SqlQueryEntry
from orchestration.custom.mapping import compile_column_mapping
from orchestration.warehouse.loader import Rejected


def vendor(entry: SqlQueryEntry) -> str:
    """How errors name the entry."""
    return f"sql {entry.name}"


def read_only_url(url: str | URL) -> URL:
    """`url`, and for a SQLite file the same file opened read-only (never created)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database:
        return parsed
    database = parsed.database
    if database == ":memory:" or database.startswith("file:"):
        return parsed
    path = Path(database).expanduser().resolve()
    return parsed.set(database=f"{path.as_uri()}?mode=ro", query={**parsed.query, "uri": "true"})


def window_params(
    start: datetime, end: datetime, window_format: str, backend: str
) -> dict[str, Any]:
    """`window_start` and `window_end` as the entry binds them."""

    def bound(moment: datetime) -> Any:
        if window_format == "date":
            return moment.date()
        if window_format == "iso":
            return moment.isoformat()
        if window_format == "unix_s":
            return int(moment.timestamp())
        if window_format == "unix_ms":
            return int(moment.timestamp() * 1000)
        # MySQL's DATETIME has no zone: the drivers send an aware value's text with its
        # offset, which MySQL refuses, so it gets UTC wall-clock time.
        return moment.replace(tzinfo=None) if backend in ("mysql", "mariadb") else moment

    return {"window_start": bound(start), "window_end": bound(end)}


def _begin_read_only(conn: sa.Connection, entry: SqlQueryEntry, log: Any) -> None:
    backend = conn.dialect.name
    if backend == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
    elif backend in ("mysql", "mariadb"):
        conn.exec_driver_sql("START TRANSACTION READ ONLY")
    elif backend == "sqlite":
        conn.exec_driver_sql("PRAGMA query_only = ON")
    else:
        log.warning(
            f"{vendor(entry)}: {backend} has no read-only transaction here; the query runs "
            "in a transaction that is rolled back. Give the vault a read-only database user."
        )


def collect(entry: SqlQueryEntry, window: Window) -> Iterator[dict[str, Any] | Rejected]:
    """Every observation of the query's rows for the window."""
    url = os.environ.get(entry.url_env)
    if not url:
        raise MissingCredentialError(vendor(entry), entry.url_env)
    try:
        engine = sa.create_engine(read_only_url(url), poolclass=NullPool)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ValueError) as error:
        raise SourceError(
            f"{vendor(entry)}: {entry.url_env} is not a usable database URL ({error})"
        ) from None
    mapping = compile_column_mapping(entry.mapping, entry=entry.name, source_system=entry.system)
    params = {
        **entry.params,
        **window_params(window.start, window.end, entry.window_format, engine.dialect.name),
    }
    outside = 0
    try:
        with engine.connect() as conn:
            _begin_read_only(conn, entry, window.log)
            # A server-side cursor where the driver has one, fetched fetch_size rows a time.
            result = (
                conn.execution_options(stream_results=True)
                .execute(sa.text(entry.query), params)
                .yield_per(entry.fetch_size)
            )
            for number, row in enumerate(result.mappings(), start=1):
                source = {str(name): jsonable(value) for name, value in row.items()}
                try:
                    observed_at = mapping.observed_at(row)
                except ValueError as error:
                    yield Rejected(f"{entry.name}: row {number}: {error}", source)
                    continue
                if not entry.keep_outside_window and not window.start <= observed_at < window.end:
                    outside += 1
                    continue
                yield from mapping.observations(
                    row, observed_at, {"row": number}, source=source, where=f"row {number}"
                )
            conn.rollback()
    except sa.exc.DBAPIError as error:
        reason = error.orig if error.orig is not None else error
        raise SourceError(
            f"{vendor(entry)}: the query failed: {type(reason).__name__}: {str(reason).strip()}"
        ) from None
    finally:
        engine.dispose()
    if outside:
        window.log.info(
            f"{vendor(entry)}: {outside} row(s) outside {window.partition_key} were left out; "
            "filter on :window_start and :window_end in the query"
        )


def jsonable(value: Any) -> Any:
    """A result value as JSON can hold it: times as ISO text, decimals as exact text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return str(value)
