"""The fact tables and their daily rollups, on plain PostgreSQL and, where one is given, on
TimescaleDB: the same dbt project decides at run time which it is building.

Rows reach the facts the way collectors put them there: metric-shaped records in
raw.custom_http (a vault.yaml http_api source) and FOCUS 1.2 rows in raw.focus_rows, loaded by
the real raw loader, then `dbt build` builds everything up to both rollups.

The plain path runs on the test server. The TimescaleDB path needs a server with the extension
available: set VAULT_TIMESCALE_URL to a superuser URL of one (the docker-compose warehouse,
`timescale/timescaledb:2.17.2-pg16`); each run works in a database of its own there.
"""

import json
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from conftest import run_dbt, scratch_database

from orchestration.dbt.assets import ensure_sources_exist
from orchestration.warehouse.connection import WarehouseResource
from orchestration.warehouse.loader import replace_partition
from orchestration.warehouse.timescale import enable_timescaledb

DAYS = [date(2026, 2, 9) + timedelta(days=offset) for offset in range(3)]
ROLLUPS = ["fct_metrics_daily", "fct_costs_daily"]
FACTS = ["fct_metrics", "fct_costs"]
ROLLUP_TESTS = [
    "assert_fct_metrics_daily_totals_fct_metrics",
    "assert_fct_costs_daily_totals_fct_costs",
]


def _metric_records(day: date, scale: int) -> list[dict]:
    """Hourly request counts of two services on `day`; `scale` multiplies every value."""
    records = []
    for hour in range(0, 24, 3):
        moment = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
        for service, base in (("search", 40), ("billing", 7)):
            records.append(
                {
                    "entry": "service_metrics",
                    "source_system": "northwind_internal",
                    "observed_at": moment.isoformat(),
                    "metric": "service.requests",
                    "value": (base + hour) * scale,
                    "unit": "requests",
                    "tags": {"service": service},
                    "taxonomy": {"team": "platform"},
                    "key": f"{service}|{moment.isoformat()}",
                    "origin": {"collector": "http_api"},
                    "source": {"service": service},
                }
            )
    return records


def _focus_records(day: date, amount: str) -> list[dict]:
    """Two FOCUS 1.2 usage charges of `day`, each of `amount`."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    rows = []
    for row, service in enumerate(("Virtual Machines", "Storage Accounts"), start=1):
        rows.append(
            {
                "BilledCost": amount,
                "EffectiveCost": amount,
                "ListCost": amount,
                "ContractedCost": amount,
                "BillingAccountId": "8a1f3c52",
                "BillingAccountName": "Northwind EA",
                "BillingCurrency": "USD",
                "BillingPeriodStart": "2026-02-01T00:00:00Z",
                "BillingPeriodEnd": "2026-03-01T00:00:00Z",
                "ChargeCategory": "Usage",
                "ChargeDescription": f"{service} usage",
                "ChargePeriodStart": start.isoformat(),
                "ChargePeriodEnd": (start + timedelta(days=1)).isoformat(),
                "InvoiceIssuerName": "Microsoft",
                "ProviderName": "Microsoft",
                "PublisherName": "Microsoft",
                "ServiceCategory": "Compute" if row == 1 else "Storage",
                "ServiceName": service,
                "SubAccountId": "6f1c2d3e",
                "_import": {
                    "file": f"file:///exports/{day.isoformat()}.csv",
                    "row": row,
                    "focus_version": "1.2",
                },
            }
        )
    return rows


def _load(url: str, day: date, *, scale: int, amount: str) -> None:
    """Replace `day` in both raw tables."""
    with psycopg.connect(url, autocommit=True) as conn:
        replace_partition(
            conn,
            source="custom",
            table="custom_http",
            partition_key=day.isoformat(),
            run_id="timescale-test",
            records=_metric_records(day, scale),
            natural_key=("entry", "metric", "key"),
        )
        replace_partition(
            conn,
            source="focus",
            table="focus_rows",
            partition_key=f"file:///exports/{day.isoformat()}.csv",
            run_id="timescale-test",
            records=_focus_records(day, amount),
            natural_key=("_import.file", "_import.row"),
        )


def _dbt(url: str, target: Path, *args: str) -> str:
    done = run_dbt(url, target, *args)
    assert done.returncode == 0, done.stdout[-4000:]
    return done.stdout


def _build(url: str, target: Path, *extra: str) -> None:
    """Seeds and every model up to both rollups, then the facts' and rollups' own tests (the
    upstream models' tests belong to their sources' modules)."""
    selection = [
        *(f"+{rollup},resource_type:{kind}" for rollup in ROLLUPS for kind in ("model", "seed")),
        *(f"{model},resource_type:test" for model in (*FACTS, *ROLLUPS)),
        *ROLLUP_TESTS,
    ]
    _dbt(url, target, "build", "--indirect-selection", "empty", "--select", *selection, *extra)


def _totals(url: str) -> dict[str, tuple]:
    """Per table: (sum, rows) of fct_metrics and fct_costs and what their rollups say."""
    queries = {
        "fct_metrics": "select sum(value), count(*) from marts.fct_metrics",
        "fct_metrics_daily": (
            "select sum(value_sum), sum(observation_count) from marts.fct_metrics_daily"
        ),
        "fct_costs": "select sum(billed_cost), count(*) from marts.fct_costs",
        "fct_costs_daily": "select sum(billed_cost), sum(charge_count) from marts.fct_costs_daily",
    }
    with psycopg.connect(url) as conn:
        return {name: conn.execute(query).fetchone() for name, query in queries.items()}


def _expected(scales: list[int], amounts: list[str]) -> dict[str, tuple]:
    metric_sum = sum(
        record["value"]
        for day, scale in zip(DAYS, scales, strict=True)
        for record in _metric_records(day, scale)
    )
    cost_sum = sum(Decimal(amount) * 2 for amount in amounts)
    return {
        "fct_metrics": (Decimal(metric_sum), 16 * len(DAYS)),
        "fct_costs": (cost_sum, 2 * len(DAYS)),
    }


def _assert_totals(url: str, scales: list[int], amounts: list[str]) -> None:
    totals = _totals(url)
    expected = _expected(scales, amounts)
    assert totals["fct_metrics"] == expected["fct_metrics"], totals
    assert totals["fct_costs"] == expected["fct_costs"], totals
    assert totals["fct_metrics_daily"] == totals["fct_metrics"], totals
    assert totals["fct_costs_daily"] == totals["fct_costs"], totals


def _rerun_middle_day(url: str, target: Path) -> None:
    """Restate the middle day in raw, then rebuild only its window."""
    _load(url, DAYS[1], scale=3, amount="5.25")
    window = json.dumps(
        {"min_date": DAYS[1].isoformat(), "max_date": (DAYS[1] + timedelta(days=1)).isoformat()}
    )
    _dbt(url, target, "build", "--select", *FACTS, *ROLLUPS, *ROLLUP_TESTS, "--vars", window)


def _prepare(url: str) -> None:
    ensure_sources_exist(WarehouseResource(url=url))
    for day in DAYS:
        _load(url, day, scale=1, amount="1.10")


# -- plain PostgreSQL ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def plain(module_database: str, tmp_path_factory) -> tuple[str, Path]:
    _prepare(module_database)
    target = tmp_path_factory.mktemp("dbt_plain")
    _build(module_database, target)
    return module_database, target


def _relkind(conn: psycopg.Connection, name: str) -> str:
    return conn.execute(
        "select relkind from pg_class where oid = %s::regclass", (f"marts.{name}",)
    ).fetchone()[0]


def _indexes(conn: psycopg.Connection, name: str) -> set[tuple[str, bool]]:
    """(indexed columns, is unique) of every index of marts.<name>."""
    rows = conn.execute(
        """
        select
            string_agg(attributes.attname, ',' order by keys.position),
            index_info.indisunique
        from pg_index as index_info
        cross join lateral unnest(index_info.indkey::int2[])
            with ordinality as keys (attnum, position)
        inner join pg_attribute as attributes
            on attributes.attrelid = index_info.indrelid and attributes.attnum = keys.attnum
        where index_info.indrelid = %s::regclass
        group by index_info.indexrelid, index_info.indisunique
        """,
        (f"marts.{name}",),
    ).fetchall()
    return {(columns, unique) for columns, unique in rows}


def test_plain_postgres_keeps_ordinary_tables_and_their_indexes(plain):
    url, _ = plain
    with psycopg.connect(url) as conn:
        assert conn.execute(
            "select count(*) from pg_extension where extname = 'timescaledb'"
        ).fetchone() == (0,)
        for name in (*FACTS, *ROLLUPS):
            assert _relkind(conn, name) == "r", name
        assert _indexes(conn, "fct_metrics") == {
            ("metric_id", True),
            ("observed_at", False),
            ("metric_type,observed_at", False),
        }
        assert _indexes(conn, "fct_costs") == {
            ("x_cost_id", True),
            ("charge_period_start", False),
            ("x_source_system,charge_period_start", False),
        }


def test_plain_rollups_total_the_facts_per_day(plain):
    url, _ = plain
    _assert_totals(url, [1, 1, 1], ["1.10"] * 3)
    with psycopg.connect(url) as conn:
        conn.execute("set time zone 'America/Los_Angeles'")
        days = conn.execute(
            "select observed_day, sum(observation_count)::int from marts.fct_metrics_daily "
            "group by 1 order by 1"
        ).fetchall()
        cost_days = conn.execute(
            "select charge_day, sum(billed_cost) from marts.fct_costs_daily group by 1 order by 1"
        ).fetchall()
    midnights = [datetime(day.year, day.month, day.day, tzinfo=UTC) for day in DAYS]
    assert days == [(midnight, 16) for midnight in midnights]
    assert cost_days == [(midnight, Decimal("2.20")) for midnight in midnights]


def test_plain_incremental_rerun_of_a_window_keeps_totals(plain):
    url, target = plain
    _rerun_middle_day(url, target)
    _assert_totals(url, [1, 3, 1], ["1.10", "5.25", "1.10"])


# -- TimescaleDB ---------------------------------------------------------------------------

TIMESCALE_URL = os.environ.get("VAULT_TIMESCALE_URL")
needs_timescale = pytest.mark.skipif(
    not TIMESCALE_URL,
    reason="VAULT_TIMESCALE_URL is not set: no TimescaleDB server to build on",
)


@pytest.fixture(scope="module")
def timescale(tmp_path_factory) -> Iterator[tuple[str, Path]]:
    assert TIMESCALE_URL
    with scratch_database(TIMESCALE_URL) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("create extension if not exists timescaledb")
        _prepare(url)
        target = tmp_path_factory.mktemp("dbt_timescale")
        _build(url, target)
        yield url, target


def _refresh_rollups(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for rollup in ROLLUPS:
            conn.execute(f"call refresh_continuous_aggregate('marts.{rollup}', null, null)")


def _jobs(conn: psycopg.Connection) -> set[tuple[str, str]]:
    """(proc_name, table or rollup name) of every policy job in the database."""
    rows = conn.execute(
        """
        select jobs.proc_name, coalesce(aggregates.view_name, jobs.hypertable_name)
        from timescaledb_information.jobs as jobs
        left join timescaledb_information.continuous_aggregates as aggregates
            on jobs.hypertable_name = aggregates.materialization_hypertable_name
        where jobs.proc_name like 'policy_%'
        """
    ).fetchall()
    return set(rows)


@needs_timescale
def test_timescale_builds_hypertables_compression_and_continuous_aggregates(timescale):
    url, _ = timescale
    with psycopg.connect(url) as conn:
        hypertables = conn.execute(
            "select hypertable_name, compression_enabled from timescaledb_information.hypertables "
            "where hypertable_schema = 'marts'"
        ).fetchall()
        assert set(hypertables) == {("fct_metrics", True), ("fct_costs", True)}
        dimensions = conn.execute(
            "select hypertable_name, column_name, time_interval "
            "from timescaledb_information.dimensions where hypertable_schema = 'marts'"
        ).fetchall()
        assert set(dimensions) == {
            ("fct_metrics", "observed_at", timedelta(days=7)),
            ("fct_costs", "charge_period_start", timedelta(days=30)),
        }
        settings = conn.execute(
            "select hypertable_name, attname, segmentby_column_index, orderby_column_index "
            "from timescaledb_information.compression_settings "
            "where hypertable_schema = 'marts'"
        ).fetchall()
        assert ("fct_metrics", "metric_type", 1, None) in settings
        assert ("fct_metrics", "observed_at", None, 1) in settings
        assert ("fct_costs", "x_source_system", 1, None) in settings
        assert ("fct_costs", "charge_period_start", None, 1) in settings
        aggregates = conn.execute(
            "select view_name, materialized_only, hypertable_name "
            "from timescaledb_information.continuous_aggregates where view_schema = 'marts'"
        ).fetchall()
        assert set(aggregates) == {
            ("fct_metrics_daily", False, "fct_metrics"),
            ("fct_costs_daily", False, "fct_costs"),
        }
        assert _jobs(conn) == {
            ("policy_compression", "fct_metrics"),
            ("policy_compression", "fct_costs"),
            ("policy_refresh_continuous_aggregate", "fct_metrics_daily"),
            ("policy_refresh_continuous_aggregate", "fct_costs_daily"),
        }
        assert ("metric_id,observed_at", True) in _indexes(conn, "fct_metrics")
        assert ("x_cost_id,charge_period_start", True) in _indexes(conn, "fct_costs")
        assert ("metric_id", True) not in _indexes(conn, "fct_metrics")
    _refresh_rollups(url)
    _assert_totals(url, [1, 1, 1], ["1.10"] * 3)


@needs_timescale
def test_timescale_incremental_rerun_and_retention(timescale):
    url, target = timescale
    _rerun_middle_day(url, target)
    _refresh_rollups(url)
    _assert_totals(url, [1, 3, 1], ["1.10", "5.25", "1.10"])
    _dbt(url, target, "run", "--select", *FACTS, "--vars", '{"fact_retention_days": 400}')
    with psycopg.connect(url) as conn:
        jobs = _jobs(conn)
        drop_after = conn.execute(
            "select config ->> 'drop_after' from timescaledb_information.jobs "
            "where proc_name = 'policy_retention' and hypertable_name = 'fct_metrics'"
        ).fetchone()
    assert {("policy_retention", "fct_metrics"), ("policy_retention", "fct_costs")} <= jobs
    assert drop_after is not None and "400" in drop_after[0]
    _dbt(url, target, "run", "--select", *FACTS)
    with psycopg.connect(url) as conn:
        assert not {job for job in _jobs(conn) if job[0] == "policy_retention"}


@needs_timescale
def test_timescale_full_refresh_recreates_the_continuous_aggregates(timescale):
    url, target = timescale
    _build(url, target, "--full-refresh")
    with psycopg.connect(url) as conn:
        names = conn.execute(
            "select view_name from timescaledb_information.continuous_aggregates "
            "where view_schema = 'marts'"
        ).fetchall()
        assert {name for (name,) in names} == set(ROLLUPS)
        assert _relkind(conn, "fct_metrics") == "r"
    _refresh_rollups(url)
    _assert_totals(url, [1, 3, 1], ["1.10", "5.25", "1.10"])


def test_db_init_leaves_a_server_without_timescaledb_plain(plain):
    url, _ = plain
    with psycopg.connect(url, autocommit=True) as conn:
        assert enable_timescaledb(conn) is None
        assert conn.execute(
            "select count(*) from pg_extension where extname = 'timescaledb'"
        ).fetchone() == (0,)


@needs_timescale
def test_db_init_installs_timescaledb_where_the_server_has_it():
    assert TIMESCALE_URL
    with scratch_database(TIMESCALE_URL) as url, psycopg.connect(url, autocommit=True) as conn:
        assert "installed" in (enable_timescaledb(conn) or "")
        assert conn.execute(
            "select count(*) from pg_extension where extname = 'timescaledb'"
        ).fetchone() == (1,)
