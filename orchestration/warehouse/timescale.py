"""TimescaleDB for the warehouse, when the server offers it.

The dbt project checks pg_extension at run time and builds hypertables, compression,
continuous aggregates and their policies only when the extension is installed in the
warehouse database (dbt_project/macros/timescale.sql). `vault db init` installs it when the
server has it available, so a TimescaleDB server is used as one without further setup; on any
other server nothing changes.
"""

import psycopg
from psycopg import errors

EXTENSION = "timescaledb"


def enable_timescaledb(conn: psycopg.Connection) -> str | None:
    """Create the extension if the server offers it; a line for the operator, or None when
    the server has no TimescaleDB. Lacking the privilege is reported, not raised: the
    warehouse then stays plain PostgreSQL."""
    available = conn.execute(
        "select installed_version from pg_available_extensions where name = %s", (EXTENSION,)
    ).fetchone()
    if available is None:
        return None
    if available[0] is not None:
        return f"TimescaleDB {available[0]} is installed: fact tables become hypertables"
    try:
        conn.execute(f"create extension if not exists {EXTENSION}")
    except errors.InsufficientPrivilege:
        return (
            "TimescaleDB is available but this role may not create extensions; run "
            f"`create extension {EXTENSION}` as a superuser to use it"
        )
    version = conn.execute(
        "select extversion from pg_extension where extname = %s", (EXTENSION,)
    ).fetchone()[0]
    return f"TimescaleDB {version} installed: fact tables become hypertables"
