"""The sql source: a read-only query per window, against real databases.

The same entry runs against three real databases: a SQLite file, the PostgreSQL test server (a
scratch database of its own) and MariaDB at 127.0.0.1:3306 (root, no password, database
`test`) through PyMySQL; the MariaDB cases are skipped, saying so, when nothing answers there.
Nothing is faked: the collector opens the database through SQLAlchemy from the URL in the
environment, as it does in production.
"""

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from conftest import scratch_database

from orchestration.collectors.framework import Window, run_collector
from orchestration.collectors.http import MissingCredentialError, SourceError
from orchestration.config import ConfigError, load_config
from orchestration.custom import sql
from orchestration.custom.collectors import sql_collector
from orchestration.custom.entries import SqlQueryEntry
from orchestration.warehouse.connection import WarehouseResource

LOG = logging.getLogger("test")
URL_ENV = "TICKETS_DB_URL"
DAY = date(2026, 3, 3)
MARIADB = ("127.0.0.1", 3306)
# A queue name that would end the statement and drop the table if it were formatted into SQL.
HOSTILE = "x'); drop table tickets; --"
ROWS = [
    (datetime(2026, 3, day, hour, tzinfo=UTC), queue, opened, Decimal(minutes))
    for day in (2, 3, 4)
    for hour, queue, opened, minutes in (
        (5, "billing", day, "12.5"),
        (17, "technical", day * 2, "40.0"),
        (23, HOSTILE, 1, "3.3"),
    )
]
IN_WINDOW = [row for row in ROWS if row[0].date() == DAY]


def _mariadb_answers() -> bool:
    try:
        with socket.create_connection(MARIADB, timeout=1):
            return True
    except OSError:
        return False


def _sqlite(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    path = tmp_path / "tickets.sqlite"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "create table tickets (at text, queue text, opened integer, minutes real)"
        )
        conn.execute(
            sa.text("insert into tickets values (:at, :queue, :opened, :minutes)"),
            [
                {"at": at.isoformat(), "queue": q, "opened": n, "minutes": float(m)}
                for at, q, n, m in ROWS
            ],
        )
    engine.dispose()
    yield f"sqlite:///{path}", "tickets", "iso"


def _postgres(server_url: str) -> Iterator[tuple[str, str, str]]:
    with scratch_database(server_url) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "create table tickets (at timestamptz, queue text, opened int, minutes numeric(6, 1))"
            )
            with conn.cursor() as cursor:
                cursor.executemany("insert into tickets values (%s, %s, %s, %s)", ROWS)
        yield url, "tickets", "timestamp"


def _mariadb() -> Iterator[tuple[str, str, str]]:
    if not _mariadb_answers():
        pytest.skip("no MariaDB answers on 127.0.0.1:3306 (root, database test)")
    table = f"tickets_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine("mysql+pymysql://root@127.0.0.1:3306/test")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"create table {table} (at datetime, queue varchar(80), opened int, "
            "minutes decimal(6, 1))"
        )
        conn.execute(
            sa.text(f"insert into {table} values (:at, :queue, :opened, :minutes)"),
            [
                {"at": at.replace(tzinfo=None), "queue": q, "opened": n, "minutes": m}
                for at, q, n, m in ROWS
            ],
        )
    try:
        yield "mysql+pymysql://root@127.0.0.1:3306/test", table, "timestamp"
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"drop table if exists {table}")
            conn.exec_driver_sql(f"drop function if exists {table}_bump")
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def database(request, tmp_path, server_url, monkeypatch):
    """(backend, table, window_format) of a database holding ROWS, its URL in URL_ENV."""
    if request.param == "sqlite":
        source = _sqlite(tmp_path)
    elif request.param == "postgresql":
        source = _postgres(server_url)
    else:
        source = _mariadb()
    url, table, window_format = next(source)
    monkeypatch.setenv(URL_ENV, url)
    yield request.param, table, window_format
    next(source, None)


def _entry(table: str = "tickets", window_format: str = "timestamp", **changes) -> SqlQueryEntry:
    query = (
        f"select at, queue, opened, minutes from {table} "
        "where at >= :window_start and at < :window_end order by at"
    )
    return SqlQueryEntry.model_validate(
        {
            "name": "tickets",
            "url_env": URL_ENV,
            "query": query,
            "window_format": window_format,
            "fetch_size": 2,
            "mapping": {
                "time": "at",
                "metrics": [
                    {"name": "support.tickets_opened", "value": "opened", "unit": "tickets"},
                    {"name": "support.first_response", "value": "minutes", "unit": "minutes"},
                ],
                "tags": {"queue": "queue"},
                "key": ["at", "queue"],
            },
            **changes,
        }
    )


def _run(entry: SqlQueryEntry, database_url: str, run_id: str = "r1"):
    start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=UTC)
    result, _ = run_collector(
        sql_collector(entry),
        WarehouseResource(url=database_url),
        start=start,
        end=start + timedelta(days=1),
        partition_key=DAY.isoformat(),
        run_id=run_id,
        log=LOG,
        resources={},
    )
    return result


def _loaded(conn) -> list[tuple]:
    return conn.execute(
        "select (record ->> 'observed_at')::timestamptz, record -> 'tags' ->> 'queue', "
        "record ->> 'metric', (record ->> 'value')::numeric from raw.custom_sql "
        "order by 1, 3"
    ).fetchall()


def _expected(rows) -> list[tuple]:
    out = []
    for at, queue, opened, minutes in rows:
        out += [
            (at, queue, "support.first_response", minutes),
            (at, queue, "support.tickets_opened", Decimal(opened)),
        ]
    return out


def test_each_database_gives_exactly_the_windows_rows(conn, database_url, database):
    backend, table, window_format = database
    result = _run(_entry(table, window_format), database_url)
    assert (result.rows, result.rejected) == (6, 0)
    assert _loaded(conn) == _expected(IN_WINDOW), backend
    partitions = conn.execute("select distinct partition_key from raw.custom_sql").fetchall()
    assert partitions == [("tickets:2026-03-03",)]
    source = conn.execute(
        "select record -> 'source' from raw.custom_sql where record -> 'tags' ->> 'queue' = "
        "'billing' limit 1"
    ).fetchone()[0]
    assert source["queue"] == "billing" and source["opened"] == 3
    assert Decimal(str(source["minutes"])) == Decimal("12.5")


def test_window_and_params_are_bound_as_data_never_as_sql(conn, database_url, database):
    _, table, window_format = database
    query = (
        f"select at, queue, opened, minutes from {table} where at >= :window_start "
        "and at < :window_end and queue = :queue"
    )
    hostile = _entry(table, window_format, query=query, params={"queue": HOSTILE})
    result = _run(hostile, database_url)
    assert result.rows == 2, "only the row whose queue is that very text"
    assert {row[1] for row in _loaded(conn)} == {HOSTILE}
    # A value that would widen the filter if pasted into the text matches nothing.
    widened = _entry(table, window_format, query=query, params={"queue": "billing' or '1'='1"})
    assert _run(widened, database_url, run_id="r2").rows == 0
    url = sql.read_only_url(os.environ[URL_ENV])
    with sa.create_engine(url).connect() as source:
        assert source.execute(sa.text(f"select count(*) from {table}")).scalar() == len(ROWS)


def test_a_query_that_writes_is_stopped_by_the_database_and_previous_rows_stay(
    conn, database_url, database
):
    backend, table, window_format = database
    assert _run(_entry(table, window_format), database_url, run_id="good").rows == 6
    if backend == "postgresql":
        # A SELECT calling a function that deletes: the text check cannot see it, so only the
        # read-only transaction stops it.
        with psycopg.connect(os.environ[URL_ENV], autocommit=True) as source:
            source.execute(
                f"create function {table}_bump() returns bigint language sql "
                f"as 'delete from {table}; select 1::bigint'"
            )
        query = (
            f"select at, queue, opened, minutes, {table}_bump() as n from {table} "
            "where at >= :window_start and at < :window_end"
        )
        refusal = "cannot execute DELETE in a read-only transaction"
    elif backend == "mariadb":
        engine = sa.create_engine("mysql+pymysql://root@127.0.0.1:3306/test")
        with engine.begin() as source:
            source.exec_driver_sql(
                f"create function {table}_bump() returns int modifies sql data "
                f"begin delete from {table}; return 1; end"
            )
        engine.dispose()
        query = (
            f"select at, queue, opened, minutes, {table}_bump() as n from {table} "
            "where at >= :window_start and at < :window_end"
        )
        refusal = "Cannot execute statement in a READ ONLY transaction"
    else:
        # SQLite has no writing SELECT; its connection is read-only, so a write through
        # the same URL is refused by SQLite itself.
        engine = sa.create_engine(sql.read_only_url(os.environ[URL_ENV]))
        with engine.connect() as source, pytest.raises(sa.exc.OperationalError) as caught:
            source.exec_driver_sql(f"delete from {table}")
        engine.dispose()
        assert "attempt to write a readonly database" in str(caught.value)
        return
    with pytest.raises(SourceError) as caught:
        _run(_entry(table, window_format, query=query), database_url, run_id="bad")
    assert caught.value.args[0].startswith("sql tickets: the query failed: ")
    assert refusal in str(caught.value)
    url = sql.read_only_url(os.environ[URL_ENV])
    with sa.create_engine(url).connect() as source:
        assert source.execute(sa.text(f"select count(*) from {table}")).scalar() == len(ROWS)
    assert conn.execute("select distinct run_id from raw.custom_sql").fetchall() == [("good",)]


def test_postgres_rows_stream_from_a_server_side_cursor(server_url, monkeypatch):
    with scratch_database(server_url) as url:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(
                "create table tickets as select timestamptz '2026-03-03' + n * interval '1 s' "
                "as at, 'q' || n as queue, n as opened, 1.5 as minutes "
                "from generate_series(0, 999) as n"
            )
        monkeypatch.setenv(URL_ENV, url)
        start = datetime(2026, 3, 3, tzinfo=UTC)
        window = Window(start, start + timedelta(days=1), "2026-03-03", LOG)
        rows = sql.collect(_entry(fetch_size=10), window)
        # The driver reads one row to learn the columns, then fetch_size rows at a time.
        first = [next(rows) for _ in range(6)]
        with psycopg.connect(url) as watcher:
            running = watcher.execute(
                "select query from pg_stat_activity where datname = current_database() "
                "and pid <> pg_backend_pid() and query ilike 'fetch%'"
            ).fetchall()
        rest = list(rows)
    assert running and "FETCH FORWARD 10" in running[0][0].upper()
    assert first[0]["metric"] == "support.tickets_opened"
    assert len(first) + len(rest) == 2000


def test_unreadable_values_are_rejected_and_the_rest_of_the_row_loads(
    conn, database_url, tmp_path, monkeypatch
):
    path = tmp_path / "odd.sqlite"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as source:
        source.exec_driver_sql("create table tickets (at text, queue text, opened, minutes)")
        source.exec_driver_sql(
            "insert into tickets values "
            "('2026-03-03T01:00:00Z', 'a', 4, null), "
            "('2026-03-03T02:00:00Z', 'b', 'many', 7.5), "
            "('not a time', 'c', 1, 1.0)"
        )
    engine.dispose()
    monkeypatch.setenv(URL_ENV, f"sqlite:///{path}")
    entry = _entry(
        query="select * from tickets where :window_start < :window_end",
        window_format="iso",
        keep_outside_window=True,
    )
    result = _run(entry, database_url)
    assert (result.rows, result.rejected) == (2, 3)
    assert {(r[1], r[2]) for r in _loaded(conn)} == {
        ("a", "support.tickets_opened"),
        ("b", "support.first_response"),
    }
    reasons = [r[0] for r in conn.execute("select reason from raw._rejected order by 1")]
    assert reasons == [
        "tickets: row 1: metric support.first_response: the value is null",
        "tickets: row 2: metric support.tickets_opened: 'many' is not a number",
        "tickets: row 3: time at 'at': 'not a time' is not an ISO 8601 time",
    ]


def test_a_sqlite_file_that_does_not_exist_fails_and_is_not_created(
    database_url, tmp_path, monkeypatch
):
    missing = tmp_path / "nowhere.sqlite"
    monkeypatch.setenv(URL_ENV, f"sqlite:///{missing}")
    with pytest.raises(SourceError, match="unable to open database file"):
        _run(_entry(window_format="iso"), database_url)
    assert not missing.exists()


def test_a_missing_url_variable_is_named(database_url, monkeypatch):
    monkeypatch.delenv(URL_ENV, raising=False)
    with pytest.raises(MissingCredentialError, match=f"variable {URL_ENV} is not set"):
        _run(_entry(), database_url)


def test_a_database_that_refuses_fails_without_showing_the_password(database_url, monkeypatch):
    monkeypatch.setenv(URL_ENV, "postgresql://vault:s3cret-RECOGNISABLE@127.0.0.1:1/tickets")
    with pytest.raises(SourceError) as caught:
        _run(_entry(), database_url)
    assert "sql tickets: the query failed: OperationalError" in str(caught.value)
    assert "RECOGNISABLE" not in str(caught.value)
    monkeypatch.setenv(URL_ENV, "not a url")
    with pytest.raises(SourceError, match=f"sql tickets: {URL_ENV} is not a usable database URL"):
        _run(_entry(), database_url)


def test_a_database_url_in_vault_yaml_is_refused(tmp_path):
    path = tmp_path / "vault.yaml"
    path.write_text(
        "sources:\n  sql:\n    queries:\n      - name: t\n"
        "        url: postgresql://u:pw@db/x\n        url_env: DB\n"
        "        query: select 1 where :window_start < :window_end\n"
        "        mapping: {time: a, metrics: [{name: a.b, value: b, unit: c}]}\n"
    )
    with pytest.raises(ConfigError, match=r"sources\.sql\.queries\.0\.url: unknown key"):
        load_config(path)
