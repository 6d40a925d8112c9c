"""Push sources: events that clients send to the warehouse themselves.

The Claude Code hook and the product usage tracker do not wait for a collector to fetch their
data; they insert events into raw tables of the same shape as every collector's
(`orchestration.warehouse.loader`), through the insert-only role `vault_ingest`. That role can
`COPY` into these tables and nothing else: it cannot read them, so an engineer's laptop holding
its credentials exposes no one's data.

Events are appended, never replaced: the partition key is the event's UTC date and the natural
key its id, so a client that resends an event after a failure (it cannot know whether the first
attempt committed) creates a duplicate that staging removes by natural key.
"""

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from orchestration.warehouse.loader import RAW_SCHEMA, encode_record, ensure_raw_tables

INGEST_ROLE = "vault_ingest"

# Raw table -> the source it belongs to (its Dagster group).
PUSH_TABLES: dict[str, str] = {
    "claude_code_hook_events": "claude_code",
    "product_usage_events": "product",
}


def ensure_push_tables(conn: psycopg.Connection) -> None:
    """Create the push tables (the raw layer's shape) if they are missing."""
    for table in PUSH_TABLES:
        ensure_raw_tables(conn, table)


def grant_ingest(conn: psycopg.Connection, role: str = INGEST_ROLE) -> None:
    """Let `role` insert into the push tables, and do nothing else in schema `raw`.

    The role is created without a password when it does not exist (trust or peer
    authentication on a local server); on a shared server, give it one with
    `alter role vault_ingest password '...'`.
    """
    ensure_push_tables(conn)
    with conn.transaction():
        exists = conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone()
        if not exists:
            # Roles belong to the server, not the database: an init in another database may
            # create it between the check and here, which is as good.
            try:
                with conn.transaction():
                    conn.execute(sql.SQL("create role {} login").format(sql.Identifier(role)))
            except (psycopg.errors.DuplicateObject, psycopg.errors.UniqueViolation):
                pass
        conn.execute(
            sql.SQL("grant usage on schema {} to {}").format(
                sql.Identifier(RAW_SCHEMA), sql.Identifier(role)
            )
        )
        for table in PUSH_TABLES:
            conn.execute(
                sql.SQL("grant insert on {} to {}").format(
                    sql.Identifier(RAW_SCHEMA, table), sql.Identifier(role)
                )
            )


def event_partition(occurred_at: str | datetime) -> str:
    """The partition key of an event: its UTC date."""
    if isinstance(occurred_at, str):
        occurred_at = datetime.fromisoformat(occurred_at.replace("Z", "+00:00"))
    if occurred_at.tzinfo is None:
        occurred_at = occurred_at.replace(tzinfo=UTC)
    return occurred_at.astimezone(UTC).date().isoformat()


def copy_events(
    conn: psycopg.Connection,
    table: str,
    events: Iterable[Mapping[str, Any]],
    *,
    client_id: str,
) -> int:
    """Append `events` to `raw.<table>` in one transaction with COPY; returns how many.

    Every event needs `event_id` (its natural key) and `occurred_at` (ISO 8601); a client
    checks that before it queues an event, so one that fails here is a programming error and
    the whole batch is refused (the caller keeps it and retries).
    """
    if table not in PUSH_TABLES:
        raise ValueError(f"{table} is not a push table ({', '.join(PUSH_TABLES)})")
    target = sql.Identifier(RAW_SCHEMA, table)
    count = 0
    with conn.transaction(), conn.cursor() as cursor:
        statement = sql.SQL(
            "copy {} (partition_key, natural_key, load_seq, run_id, record) from stdin"
        ).format(target)
        with cursor.copy(statement) as copy:
            for event in events:
                copy.write_row(
                    (
                        event_partition(event["occurred_at"]),
                        str(event["event_id"]),
                        count,
                        client_id,
                        encode_record(event),
                    )
                )
                count += 1
    return count


def dumps_event(event: Mapping[str, Any]) -> str:
    """One event as a line of a local spool file (JSON, no newline inside)."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
