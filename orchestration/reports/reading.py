"""Reading the marts: one read-only connection per run, and errors a reader can act on."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg.rows import dict_row

from orchestration.reports.errors import MissingMart, WarehouseError
from orchestration.warehouse.connection import redact

SCHEMA = "marts"
BUILD_HINT = "build the warehouse first: `make demo`, or `dbt build` against it"


class Marts:
    """The `marts` schema of one warehouse, read inside one read-only transaction."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self._conn = conn

    def require(self, *names: str) -> None:
        """Fail with every missing mart named at once, before any figure is read."""
        missing = [
            name
            for name in names
            if self.rows("select to_regclass(%s) as found", (f"{SCHEMA}.{name}",))[0]["found"]
            is None
        ]
        if missing:
            listed = ", ".join(f"{SCHEMA}.{name}" for name in missing)
            raise MissingMart(f"the warehouse has no {listed} yet; {BUILD_HINT}")

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        try:
            with self._conn.cursor(row_factory=dict_row) as cursor:
                return cursor.execute(sql, params).fetchall()
        except psycopg.errors.UndefinedColumn as error:
            raise WarehouseError(
                f"a mart lacks a column this report reads ({_first_line(error)}); "
                f"rebuild the marts with `dbt build`"
            ) from error
        except psycopg.Error as error:
            raise WarehouseError(f"reading the marts failed: {_first_line(error)}") from error


@contextmanager
def open_marts(url: str) -> Iterator[Marts]:
    """A read-only view of the warehouse at `url`; an unreachable one is a `WarehouseError`."""
    try:
        conn = psycopg.connect(url, connect_timeout=10)
    except psycopg.Error as error:
        raise WarehouseError(
            f"cannot reach the warehouse at {redact(url)}: {_first_line(error)}"
        ) from error
    with conn:
        conn.read_only = True
        yield Marts(conn)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
