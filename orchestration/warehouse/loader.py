"""The raw loader: replaces one partition of one raw table with a stream of records.

Every collector table has the same shape: load metadata columns and the vendor's record as
`jsonb`, untouched. A load is one transaction that takes an advisory lock on (table, partition),
deletes the partition's rows and its earlier rejections, and `COPY`s the new rows in as they are
produced. So a load either replaces the partition whole or leaves the previous rows in place,
re-running it never duplicates a row, two runs of the same partition cannot interleave, and
memory stays flat however many records the window holds.

A record that cannot be stored (not JSON-serialisable, NaN or infinity, a NUL character or a
lone surrogate that Postgres `jsonb` refuses, no natural key) goes to `raw._rejected` with the
reason and its text, in the same transaction: nothing is dropped silently.
"""

import json
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

RAW_SCHEMA = "raw"
REJECTED_TABLE = "_rejected"
STATE_TABLE = "_collector_state"
_TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_MAX_REJECTED_TEXT = 1_000_000
# A NUL character as json.dumps writes it: \u0000 after an even number of backslashes (an odd
# number makes it the text "\u0000", a backslash and five characters, which jsonb stores).
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")

NaturalKey = Sequence[str] | Callable[[Mapping[str, Any]], str]


@dataclass(frozen=True)
class Rejected:
    """A record a collector could not parse, kept with the reason and its raw text."""

    reason: str
    raw: Any


@dataclass(frozen=True)
class LoadResult:
    rows: int
    rejected: int
    seconds: float


class RawTableError(ValueError):
    """A raw table name or natural key definition is unusable."""


def key_function(natural_key: NaturalKey) -> Callable[[Mapping[str, Any]], str]:
    """Turn a natural key definition into a function of a record.

    A sequence names fields, dotted for nesting (`message.id`); their values are joined with
    `|`, a missing or null field giving an empty part. A callable is used as it is.
    """
    if callable(natural_key):
        return natural_key
    if not natural_key:
        raise RawTableError("a natural key needs at least one field")
    paths = [tuple(field.split(".")) for field in natural_key]

    def extract(record: Mapping[str, Any]) -> str:
        parts = []
        for path in paths:
            value: Any = record
            for step in path:
                value = value.get(step) if isinstance(value, Mapping) else None
            parts.append("" if value is None else str(value))
        return "|".join(parts)

    return extract


def _check_table(table: str) -> None:
    if not _TABLE_NAME.match(table):
        raise RawTableError(
            f"raw table name {table!r} must be lowercase letters, digits and underscores, "
            "starting with a letter, at most 63 characters"
        )


def ensure_raw_tables(conn: psycopg.Connection, table: str) -> None:
    """Create schema `raw`, the collector's table and the shared tables if they are missing."""
    _check_table(table)
    with conn.transaction():
        # Concurrent `create ... if not exists` can still collide in the catalog.
        conn.execute("select pg_advisory_xact_lock(hashtext('vault.raw.ddl'))")
        conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(RAW_SCHEMA)))
        conn.execute(
            sql.SQL(
                """
                create table if not exists {table} (
                    partition_key text not null,
                    natural_key text not null,
                    load_seq bigint not null,
                    run_id text not null,
                    loaded_at timestamptz not null default now(),
                    record jsonb not null
                )
                """
            ).format(table=sql.Identifier(RAW_SCHEMA, table))
        )
        conn.execute(
            sql.SQL("create index if not exists {index} on {table} (partition_key)").format(
                index=sql.Identifier(f"{table}__partition_key"),
                table=sql.Identifier(RAW_SCHEMA, table),
            )
        )
        conn.execute(
            sql.SQL(
                """
                create table if not exists {table} (
                    source text not null,
                    table_name text not null,
                    partition_key text not null,
                    run_id text not null,
                    rejected_at timestamptz not null default now(),
                    reason text not null,
                    raw_text text
                )
                """
            ).format(table=sql.Identifier(RAW_SCHEMA, REJECTED_TABLE))
        )
        conn.execute(
            sql.SQL(
                "create index if not exists {index} on {table} (table_name, partition_key)"
            ).format(
                index=sql.Identifier(f"{REJECTED_TABLE}__table_partition"),
                table=sql.Identifier(RAW_SCHEMA, REJECTED_TABLE),
            )
        )
        conn.execute(
            sql.SQL(
                """
                create table if not exists {table} (
                    table_name text not null,
                    state_key text not null,
                    value jsonb not null,
                    updated_at timestamptz not null default now(),
                    primary key (table_name, state_key)
                )
                """
            ).format(table=sql.Identifier(RAW_SCHEMA, STATE_TABLE))
        )


def encode_record(record: Any) -> str:
    """The record as JSON text Postgres `jsonb` accepts, or ValueError saying why not."""
    if not isinstance(record, Mapping):
        raise ValueError(f"a record must be a JSON object, got {type(record).__name__}")
    try:
        text = json.dumps(record, allow_nan=False, ensure_ascii=False, separators=(",", ":"))
    except ValueError as error:
        if "float" in str(error):  # allow_nan=False refusing NaN or infinity
            raise ValueError("contains NaN or infinity, which JSON cannot represent") from None
        # An integer with more digits than Python converts to text (sys.get_int_max_str_digits).
        raise ValueError(f"not JSON-serialisable: {error}") from None
    except (TypeError, RecursionError) as error:
        raise ValueError(f"not JSON-serialisable: {error}") from None
    if "\\u0000" in text and _NUL_ESCAPE.search(text):
        raise ValueError("contains a NUL character, which Postgres jsonb cannot store")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("contains a lone surrogate, which is not valid UTF-8") from None
    return text


def rejected_text(raw: Any) -> str:
    """A storable text form of anything a collector could not take."""
    if isinstance(raw, bytes):
        text = raw.decode("utf-8", errors="backslashreplace")
    elif isinstance(raw, str):
        text = raw
    else:
        try:
            text = json.dumps(raw, ensure_ascii=True, default=repr)
        except (ValueError, TypeError, RecursionError):
            text = repr(raw)
    text = text.encode("utf-8", errors="backslashreplace").decode("utf-8")
    text = text.replace("\x00", "\\x00")
    return text[:_MAX_REJECTED_TEXT]


class _RejectSpool:
    """Rejections buffered on disk until the main COPY is done (one COPY at a time)."""

    def __init__(self) -> None:
        # Closed by `close()`, which `replace_partition` calls in a `finally`.
        self._file = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024, mode="w+")  # noqa: SIM115
        self.count = 0

    def add(self, reason: str, raw: Any) -> None:
        self._file.write(json.dumps([reason, rejected_text(raw)], ensure_ascii=True) + "\n")
        self.count += 1

    def __iter__(self):
        self._file.seek(0)
        for line in self._file:
            yield json.loads(line)

    def close(self) -> None:
        self._file.close()


def replace_partition(
    conn: psycopg.Connection,
    *,
    source: str,
    table: str,
    partition_key: str,
    run_id: str,
    records: Iterable[Any],
    natural_key: NaturalKey,
    state: Mapping[str, Any] | None = None,
) -> LoadResult:
    """Replace `partition_key` of `raw.<table>` with `records`, all or nothing.

    `records` may yield `Rejected` items beside records; they and every record that cannot be
    stored land in `raw._rejected`. `state` (key -> JSON value) is written to
    `raw._collector_state` in the same transaction, so a collector's bookmark moves only when
    its rows land. The connection must be in autocommit mode: the function owns the transaction.
    """
    if not conn.autocommit:
        raise ValueError(
            "replace_partition needs an autocommit connection: it owns its transaction"
        )
    ensure_raw_tables(conn, table)
    key_of = key_function(natural_key)
    target = sql.Identifier(RAW_SCHEMA, table)
    rejects = _RejectSpool()
    started = time.perf_counter()
    rows = 0
    try:
        with conn.transaction():
            conn.execute(
                "select pg_advisory_xact_lock(hashtext(%s))",
                (f"vault.raw.{table}.{partition_key}",),
            )
            conn.execute(
                sql.SQL("delete from {} where partition_key = %s").format(target),
                (partition_key,),
            )
            conn.execute(
                sql.SQL("delete from {} where table_name = %s and partition_key = %s").format(
                    sql.Identifier(RAW_SCHEMA, REJECTED_TABLE)
                ),
                (table, partition_key),
            )
            copy_sql = sql.SQL(
                "copy {} (partition_key, natural_key, load_seq, run_id, record) from stdin"
            ).format(target)
            with conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
                for item in records:
                    if isinstance(item, Rejected):
                        rejects.add(item.reason, item.raw)
                        continue
                    try:
                        text = encode_record(item)
                        key = key_of(item)
                    except Exception as error:  # any bad record is kept, not fatal
                        rejects.add(str(error), item)
                        continue
                    copy.write_row((partition_key, key, rows, run_id, text))
                    rows += 1
            if rejects.count:
                _write_rejects(conn, rejects, source, table, partition_key, run_id)
            if state:
                write_state(conn, table, state)
    finally:
        rejects.close()
    return LoadResult(rows=rows, rejected=rejects.count, seconds=time.perf_counter() - started)


def _write_rejects(
    conn: psycopg.Connection,
    rejects: _RejectSpool,
    source: str,
    table: str,
    partition_key: str,
    run_id: str,
) -> None:
    copy_sql = sql.SQL(
        "copy {} (source, table_name, partition_key, run_id, reason, raw_text) from stdin"
    ).format(sql.Identifier(RAW_SCHEMA, REJECTED_TABLE))
    with conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
        for reason, text in rejects:
            copy.write_row((source, table, partition_key, run_id, reason, text))


def read_state(conn: psycopg.Connection, table: str) -> dict[str, Any]:
    """A collector's saved state (key -> JSON value); empty before its first load."""
    ensure_raw_tables(conn, table)
    rows = conn.execute(
        sql.SQL("select state_key, value from {} where table_name = %s").format(
            sql.Identifier(RAW_SCHEMA, STATE_TABLE)
        ),
        (table,),
    ).fetchall()
    return dict(rows)


def write_state(conn: psycopg.Connection, table: str, state: Mapping[str, Any]) -> None:
    statement = sql.SQL(
        """
        insert into {} (table_name, state_key, value) values (%s, %s, %s)
        on conflict (table_name, state_key)
        do update set value = excluded.value, updated_at = now()
        """
    ).format(sql.Identifier(RAW_SCHEMA, STATE_TABLE))
    with conn.cursor() as cursor:
        cursor.executemany(
            statement,
            [(table, key, json.dumps(value)) for key, value in state.items()],
        )
