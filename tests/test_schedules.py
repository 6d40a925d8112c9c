"""Schedules: provisional partitions reloaded beyond the lookback, and a transform window that
reaches back to whatever the night's loads touched. Real Postgres, a real Dagster instance."""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import psycopg
import pytest

from orchestration.collectors.framework import build_collector_asset, collector, partitions_for
from orchestration.schedules import (
    CHARGE_PERIOD_END_KEY,
    CHARGE_PERIOD_START_KEY,
    build_source_schedule,
    transform_window,
)
from orchestration.warehouse.connection import WarehouseResource

START = date(2026, 1, 1)
DAILY = partitions_for("daily", START)


def _provisional_days(conn: psycopg.Connection) -> list[str]:
    """The days a test table marks provisional (the shape of a real collector's query)."""
    return [row[0] for row in conn.execute("select day from provisional_days").fetchall()]


@collector(
    source="cloud", table="cloud_lines", natural_key=("id",), stale_partitions=_provisional_days
)
def cloud_lines(window):
    yield from ()


@collector(source="cloud", table="cloud_other", natural_key=("id",))
def cloud_other(window):
    yield from ()


def _tick(at: datetime, lookback: int = 2) -> list[dg.RunRequest]:
    specs = [cloud_lines, cloud_other]
    job, schedule = build_source_schedule("cloud", specs, DAILY, hour_utc=1, lookback=lookback)
    defs = dg.Definitions(
        assets=[build_collector_asset(spec, start_date=START) for spec in specs],
        jobs=[job],
        schedules=[schedule],
        resources={"warehouse": WarehouseResource(url="")},
    )
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=at,
            repository_def=defs.get_repository_def(),
        )
        return list(schedule.evaluate_tick(context).run_requests or [])


def test_a_tick_also_reloads_the_collectors_provisional_days_and_only_its_asset(
    database_url, monkeypatch
):
    monkeypatch.setenv("VAULT_DATABASE_URL", database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("drop table if exists provisional_days")
        conn.execute("create table provisional_days (day text)")
        conn.execute(
            "insert into provisional_days values "
            # an old estimated day, one inside the lookback (already reloaded), one in the
            # future and one that is no partition at all: only the first is a new request
            "('2026-10-20'), ('2026-11-29'), ('2027-01-01'), ('not-a-day')"
        )
    requests = _tick(datetime(2026, 12, 1, 1, tzinfo=UTC))

    regular = [r for r in requests if r.asset_selection is None]
    stale = [r for r in requests if r.asset_selection is not None]
    assert [r.partition_key for r in regular] == ["2026-11-28", "2026-11-29", "2026-11-30"]
    assert [(r.partition_key, r.asset_selection) for r in stale] == [
        ("2026-10-20", [dg.AssetKey(["raw", "cloud_lines"])])
    ]
    assert len({r.run_key for r in requests}) == len(requests)


def test_an_unreachable_warehouse_leaves_the_regular_lookback(monkeypatch):
    monkeypatch.setenv("VAULT_DATABASE_URL", "postgresql://nobody@127.0.0.1:9/none")
    requests = _tick(datetime(2026, 12, 1, 1, tzinfo=UTC), lookback=0)
    assert [(r.partition_key, r.asset_selection) for r in requests] == [("2026-11-30", None)]


@dg.asset(key=["raw", "daily_loads"], partitions_def=DAILY)
def daily_loads() -> None:
    return None


@dg.asset(key=["raw", "file_loads"])
def file_loads(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata={
            CHARGE_PERIOD_START_KEY: "2026-09-03T00:00:00+00:00",
            CHARGE_PERIOD_END_KEY: "2026-09-05T00:00:00+00:00",
        }
    )


def test_the_transform_window_reaches_back_to_the_oldest_day_a_load_touched():
    now = datetime.now(UTC)
    keys = [dg.AssetKey(["raw", "daily_loads"]), dg.AssetKey(["raw", "file_loads"])]
    yesterday = (now - timedelta(days=1)).date().isoformat()
    with dg.DagsterInstance.ephemeral() as instance:
        assert transform_window(instance, DAILY, now, lookback=1, raw_asset_keys=keys)[-1] == (
            yesterday
        )
        before = transform_window(instance, DAILY, now, lookback=1, raw_asset_keys=keys)

        dg.materialize([daily_loads], instance=instance, partition_key="2026-10-07")
        after_daily = transform_window(instance, DAILY, now, lookback=1, raw_asset_keys=keys)

        dg.materialize([file_loads], instance=instance)
        after_file = transform_window(instance, DAILY, now, lookback=1, raw_asset_keys=keys)

    assert before == [(now - timedelta(days=2)).date().isoformat(), yesterday]
    assert after_daily == ["2026-10-07", yesterday]
    assert after_file == ["2026-09-03", yesterday]


def test_loads_older_than_the_previous_tick_do_not_widen_the_window():
    keys = [dg.AssetKey(["raw", "daily_loads"])]
    with dg.DagsterInstance.ephemeral() as instance:
        dg.materialize([daily_loads], instance=instance, partition_key="2026-10-07")
        two_days_later = datetime.now(UTC) + timedelta(days=2)
        window = transform_window(instance, DAILY, two_days_later, lookback=0, raw_asset_keys=keys)
    assert window == [(two_days_later - timedelta(days=1)).date().isoformat()] * 2


@pytest.mark.parametrize(
    ("start", "end", "days"),
    [
        ("2026-09-03T00:00:00+00:00", "2026-09-05T00:00:00+00:00", ["2026-09-03", "2026-09-04"]),
        ("2026-09-03T10:00:00Z", "2026-09-03T11:00:00Z", ["2026-09-03"]),
        ("2026-09-03", "2026-09-03", ["2026-09-03"]),
    ],
)
def test_a_files_charge_periods_become_days_with_the_end_exclusive(start, end, days, monkeypatch):
    from orchestration.schedules import _days_between

    assert _days_between(start, end) == days
