"""Cost forecasts: the quarter totals, intervals and backtests of the pure functions, and the
asset run through Dagster against a real PostgreSQL."""

from datetime import date, timedelta

import dagster as dg
import numpy as np
import pandas as pd
import psycopg
import pytest
from psycopg.rows import dict_row

from orchestration.collectors.framework import partitions_for
from orchestration.dbt.assets import build_dbt_assets
from orchestration.forecast.asset import (
    COST_FORECASTS_KEY,
    build_cost_forecast_asset,
    read_history,
)
from orchestration.forecast.model import (
    CONSTANT_MODEL,
    LEVEL_MODEL,
    MEAN_MODEL,
    SEASONAL_MODEL,
    backtest,
    daily_series,
    forecast_quarter,
    forecast_series,
    last_full_quarter,
    mape,
    next_quarter,
)
from orchestration.warehouse.connection import WarehouseResource

Q3_2026 = date(2026, 7, 1)
Q3_2026_DAYS = 92


def _daily(values, last: date) -> pd.Series:
    """`values` as the daily costs of the days ending on `last`."""
    days = pd.date_range(end=last, periods=len(values), freq="D")
    return pd.Series(np.asarray(values, dtype=float), index=days)


def _weekday_costs(days: pd.DatetimeIndex) -> np.ndarray:
    """120 USD on weekdays, 40 on Saturdays and Sundays."""
    return np.where(days.day_of_week >= 5, 40.0, 120.0)


# ---------- calendar


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 6, 30), date(2026, 7, 1)),
        (date(2026, 5, 15), date(2026, 7, 1)),
        (date(2026, 12, 2), date(2027, 1, 1)),
        (date(2026, 1, 1), date(2026, 4, 1)),
    ],
)
def test_the_forecast_quarter_is_the_calendar_quarter_after_the_last_day(day, expected):
    assert next_quarter(day) == expected


@pytest.mark.parametrize(
    ("first", "last", "expected"),
    [
        (date(2026, 1, 1), date(2026, 3, 31), date(2026, 1, 1)),
        (date(2025, 12, 1), date(2026, 12, 2), date(2026, 7, 1)),
        (date(2026, 1, 2), date(2026, 3, 31), None),
        (date(2025, 11, 1), date(2026, 2, 10), None),
    ],
)
def test_the_held_out_quarter_is_the_last_one_wholly_in_the_history(first, last, expected):
    assert last_full_quarter(first, last) == expected


# ---------- mape


def test_mape_is_the_mean_percentage_error_of_the_months():
    # |1000 - 1100| / 1000 = 0.10, |2000 - 1500| / 2000 = 0.25, |4000 - 4000| / 4000 = 0.
    assert mape([1000, 2000, 4000], [1100, 1500, 4000]) == pytest.approx(0.35 / 3, rel=1e-12)


def test_mape_leaves_out_months_without_cost():
    # The first month spent nothing: (|200 - 150| / 200 + |100 - 100| / 100) / 2 = 0.125.
    assert mape([0, 200, 100], [50, 150, 100]) == pytest.approx(0.125, rel=1e-12)
    assert mape([0, 0, 0], [10, 20, 30]) is None
    with pytest.raises(ValueError, match="3 actual values but 2 forecast"):
        mape([1, 2, 3], [1, 2])


# ---------- the history


def test_each_series_runs_from_its_first_day_to_the_last_day_of_all_history():
    history = pd.DataFrame(
        [
            (date(2026, 6, 1), "R&D", "aws", 10.0),
            (date(2026, 6, 1), "R&D", "aws", 5.0),
            (date(2026, 6, 3), "R&D", "aws", 7.0),
            (date(2026, 6, 2), "COGS", "openai", 3.0),
            (date(2026, 6, 5), "COGS", "openai", 4.0),
        ],
        columns=["charge_day", "cost_category", "x_source_system", "cost_usd"],
    )
    series = daily_series(history)
    assert list(series) == [("COGS", "openai"), ("R&D", "aws")]
    assert series[("R&D", "aws")].tolist() == [15.0, 0.0, 7.0, 0.0, 0.0]
    assert series[("R&D", "aws")].index[0] == pd.Timestamp("2026-06-01")
    assert series[("COGS", "openai")].tolist() == [3.0, 0.0, 0.0, 4.0]
    assert series[("COGS", "openai")].index[-1] == pd.Timestamp("2026-06-05")


# ---------- forecasts


def test_a_constant_daily_cost_forecasts_that_cost_for_every_day_of_the_quarter():
    result = forecast_series(
        _daily([100.0] * 200, date(2026, 6, 30)), cost_category="R&D", source_system="aws"
    )
    forecast = result.forecast
    assert forecast.quarter == Q3_2026
    assert forecast.model == CONSTANT_MODEL
    assert forecast.total_usd == pytest.approx(100 * Q3_2026_DAYS, rel=0.01)
    assert forecast.lower_usd <= forecast.total_usd <= forecast.upper_usd
    assert forecast.monthly_usd == pytest.approx((3100, 3100, 3000))
    assert result.backtest.quarter == date(2026, 4, 1)
    assert result.backtest.actual_usd == pytest.approx(9100)
    assert result.backtest.mape == pytest.approx(0, abs=1e-9)
    assert (result.history_from, result.history_days) == (date(2025, 12, 13), 200)


def test_a_flat_cost_with_daily_noise_gets_an_interval_for_the_quarter_total():
    noise = np.random.default_rng(1).normal(0, 3, 200)
    result = forecast_series(
        _daily(100 + noise, date(2026, 6, 30)), cost_category="R&D", source_system="aws"
    )
    forecast = result.forecast
    assert forecast.model == SEASONAL_MODEL
    assert forecast.total_usd == pytest.approx(100 * Q3_2026_DAYS, rel=0.01)
    assert forecast.lower_usd < forecast.total_usd < forecast.upper_usd
    # Days of 100 +- 3 USD: adding up each day's own 10th and 90th percentiles would give an
    # interval about 92 x 2 x 1.28 x 3 = 707 USD wide; the quarter total's is far narrower.
    assert forecast.upper_usd - forecast.lower_usd < 300
    assert result.backtest.mape < 0.02


def test_a_weekly_pattern_with_a_rising_trend():
    # From 2026-01-01 to 2026-06-30: 120 USD on weekdays and 40 at weekends, plus 0.20 USD a
    # day more every day (day 0 is 2026-01-01). Q3 2026 has 66 weekdays and 26 weekend days
    # (8,960 USD) and runs from day 181 to day 272. Carried on in a straight line its trend adds
    # 0.20 x (181 + ... + 272) = 0.20 x 20,838 = 4,167.60: 13,127.60 in all. Stopped on the last
    # day (0.20 x 180 = 36 a day) it adds 3,312: 12,272.00. The damped trend forecasts in
    # between, within 5 % of the straight line.
    days = pd.date_range("2026-01-01", "2026-06-30", freq="D")
    history = pd.Series(_weekday_costs(days) + 0.2 * np.arange(len(days)), index=days)
    forecast = forecast_quarter(history, Q3_2026)
    assert forecast.model == SEASONAL_MODEL
    assert 12_272.00 < forecast.total_usd < 13_127.60
    assert forecast.total_usd == pytest.approx(13_127.60, rel=0.05)
    # August has 10 weekend days, July and September 8: the weekly pattern outweighs the trend.
    july, august, september = forecast.monthly_usd
    assert august < july and august < september
    assert sum(forecast.monthly_usd) == pytest.approx(forecast.total_usd)


def test_a_history_ending_inside_a_quarter_is_bridged_but_only_the_next_quarter_is_added():
    result = forecast_series(
        _daily([50.0] * 200, date(2026, 5, 15)), cost_category="OpEx", source_system="datadog"
    )
    assert result.forecast.quarter == Q3_2026
    assert result.forecast.total_usd == pytest.approx(50 * Q3_2026_DAYS)
    assert result.backtest.quarter == date(2026, 1, 1)


def test_under_two_weeks_of_history_is_forecast_by_the_mean_day():
    history = _daily([100, 104, 96, 102, 98, 106, 94, 100, 103, 97], date(2026, 6, 30))
    result = forecast_series(history, cost_category="COGS", source_system="openai")
    forecast = result.forecast
    assert forecast.model == MEAN_MODEL
    assert forecast.total_usd == pytest.approx(100.0 * Q3_2026_DAYS, rel=1e-9)
    assert forecast.lower_usd < forecast.total_usd < forecast.upper_usd
    assert result.backtest.quarter is None
    assert result.backtest.note == "no full calendar quarter in the history"

    single = forecast_quarter(_daily([25.0], date(2026, 6, 30)), Q3_2026)
    assert single.total_usd == pytest.approx(25.0 * Q3_2026_DAYS)
    assert (single.lower_usd, single.upper_usd) == (None, None)


@pytest.mark.parametrize(
    ("days", "model"),
    [(13, MEAN_MODEL), (14, LEVEL_MODEL), (20, LEVEL_MODEL), (21, SEASONAL_MODEL)],
)
def test_the_model_follows_the_length_of_the_history(days, model):
    noisy = 100 + np.random.default_rng(days).normal(0, 5, days)
    assert forecast_quarter(_daily(noisy, date(2026, 6, 30)), Q3_2026).model == model


def test_a_series_that_never_cost_anything_is_left_out():
    zeros = _daily([0.0] * 120, date(2026, 6, 30))
    assert forecast_series(zeros, cost_category="R&D", source_system="aws") is None


def test_a_backtest_fitted_on_days_without_cost_misses_by_the_whole_quarter():
    # Nothing in Q1, 50 USD a day in Q2: the held-out Q2 is forecast at 0 from Q1's days.
    days = pd.date_range("2026-01-01", "2026-06-30", freq="D")
    history = pd.Series(np.where(days < "2026-04-01", 0.0, 50.0), index=days)
    held_out = backtest(history)
    assert held_out.quarter == date(2026, 4, 1)
    assert held_out.actual_usd == pytest.approx(50 * 91)
    assert held_out.forecast_usd == 0
    assert held_out.mape == pytest.approx(1.0)


def test_too_little_history_before_the_held_out_quarter_leaves_the_backtest_empty():
    held_out = backtest(_daily([20.0] * 113, date(2026, 6, 30)))
    assert (held_out.quarter, held_out.actual_usd, held_out.mape) == (None, None, None)
    assert held_out.note == "22 days of history before 2026-04-01, 28 needed to hold it out"


def test_no_forecast_or_bound_goes_below_zero():
    # A cost falling to nothing by mid-May, with noise around zero after: the trend points
    # below zero, but no day can cost less than nothing.
    days = pd.date_range("2026-01-01", "2026-06-30", freq="D")
    falling = np.maximum(200 - 1.2 * np.arange(len(days)), 0)
    history = pd.Series(falling + np.random.default_rng(5).normal(0, 8, len(days)), index=days)
    forecast = forecast_quarter(history, Q3_2026)
    assert forecast.lower_usd >= 0
    assert min(forecast.monthly_usd) >= 0
    assert forecast.lower_usd <= forecast.total_usd <= forecast.upper_usd


# ---------- the asset, through Dagster, on a real PostgreSQL

COST_ATTRIBUTION_DDL = """
create schema marts;
create table marts.cost_attribution (
    x_cost_id text primary key,
    x_source_system text not null,
    provider_name text,
    service_category text,
    service_name text,
    charge_period_start timestamptz,
    charge_day date not null,
    charge_month date,
    charge_quarter date,
    billing_currency text,
    billed_cost numeric,
    billed_cost_usd numeric not null,
    effective_cost_usd numeric,
    cost_kind text,
    counts_in_totals boolean not null,
    department text,
    team text,
    project text,
    root_project text,
    project_phase text,
    environment text,
    customer text,
    feature text,
    task_class text,
    user_email text,
    cost_category text not null,
    cost_category_rule text,
    x_estimated boolean
)
"""

HISTORY_START = date(2026, 3, 1)
HISTORY_END = date(2026, 6, 30)


def _ledger_lines() -> list[tuple]:
    """Three series as ledger lines of marts.cost_attribution, one of them without cost:

    - R&D from anthropic, 2026-03-01 to 2026-06-30: two lines a day, the weekday pattern plus
      noise; and a line a day that re-divides money already counted (counts_in_totals false);
    - COGS from aws, the last 11 days only;
    - OpEx from datadog, lines of 0 USD only.
    """
    rng = np.random.default_rng(11)
    days = pd.date_range(HISTORY_START, HISTORY_END, freq="D")
    lines = []
    for day, cost in zip(days, _weekday_costs(days) + rng.normal(0, 6, len(days)), strict=True):
        day = day.date()
        lines += [
            (f"a-{day}-1", "anthropic", day, 0.75 * cost, True, "R&D"),
            (f"a-{day}-2", "anthropic", day, 0.25 * cost, True, "R&D"),
            (f"a-{day}-alloc", "anthropic", day, 5000.0, False, "R&D"),
            (f"d-{day}", "datadog", day, 0.0, True, "OpEx"),
        ]
    for offset in range(11):
        day = HISTORY_END - timedelta(days=offset)
        lines.append((f"w-{day}", "aws", day, 30.0 + offset, True, "COGS"))
    return lines


def _daily_cost(lines, source: str) -> pd.Series:
    """What the forecast must read: a source's counted cost per day."""
    counted = [
        (day, usd) for _, system, day, usd, counts, _ in lines if system == source and counts
    ]
    frame = pd.DataFrame(counted, columns=["day", "usd"])
    by_day = frame.groupby(pd.to_datetime(frame["day"]))["usd"].sum()
    return by_day.reindex(pd.date_range(by_day.index.min(), HISTORY_END), fill_value=0.0)


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    """The code location as Dagster loads it: importing it parses the dbt project when the
    manifest is stale, which the tests of the pure functions above do without."""
    from orchestration.definitions import defs

    return defs


@pytest.fixture(scope="module")
def warehouse(module_database) -> str:
    lines = _ledger_lines()
    with psycopg.connect(module_database) as conn:
        conn.execute(COST_ATTRIBUTION_DDL)
        with conn.cursor() as cursor:
            cursor.executemany(
                "insert into marts.cost_attribution (x_cost_id, x_source_system, charge_day,"
                " billed_cost_usd, counts_in_totals, cost_category) values (%s, %s, %s, %s, %s, %s)",
                lines,
            )
    return module_database


@pytest.fixture(scope="module")
def forecast_asset(defs) -> dg.AssetsDefinition:
    """The asset as the definitions build it, before they bind their own resources to it."""
    return build_cost_forecast_asset(build_dbt_assets(partitions_for("daily", HISTORY_START)))


def _materialize(asset: dg.AssetsDefinition, url: str, **config) -> None:
    result = dg.materialize(
        [asset],
        resources={"warehouse": WarehouseResource(url=url)},
        run_config={"ops": {"marts__cost_forecasts": {"config": config}}},
    )
    assert result.success


def _forecast_rows(url: str) -> dict[str, dict]:
    with psycopg.connect(url) as conn, conn.cursor(row_factory=dict_row) as cursor:
        rows = cursor.execute("select * from marts.cost_forecasts").fetchall()
    return {row["x_source_system"]: row for row in rows}


def test_the_forecasts_follow_cost_attribution_in_the_nightly_transform(defs):
    graph = defs.resolve_asset_graph()
    upstream = dg.AssetKey(["marts", "cost_attribution"])
    node = graph.get(COST_FORECASTS_KEY)
    assert node.parent_keys == {upstream}
    assert graph.get(upstream).is_materializable
    assert node.group_name == graph.get(upstream).group_name == "marts_finance"
    transform = defs.resolve_job_def("transform")
    assert {COST_FORECASTS_KEY, upstream} <= transform.asset_layer.selected_asset_keys


def _history(url: str) -> dict[tuple[str, str], pd.Series]:
    with psycopg.connect(url) as conn:
        return daily_series(read_history(conn))


def test_the_history_is_each_days_cost_that_counts_in_totals(warehouse):
    lines = _ledger_lines()
    history = _history(warehouse)
    assert set(history) == {("R&D", "anthropic"), ("COGS", "aws"), ("OpEx", "datadog")}
    for key in [("R&D", "anthropic"), ("COGS", "aws")]:
        expected = _daily_cost(lines, key[1])
        assert history[key].index.equals(expected.index)
        assert history[key].to_numpy() == pytest.approx(expected.to_numpy(), rel=1e-12)
    assert not history[("OpEx", "datadog")].any()


def test_the_asset_writes_one_row_per_series_with_its_backtest(forecast_asset, warehouse):
    # What the pure functions give for the history the asset reads (the warehouse's numeric
    # sums differ from Python's float sums in the last digits, and the fit follows them).
    history = _history(warehouse)
    _materialize(forecast_asset, warehouse, interval_level=0.9, simulations=400)
    rows = _forecast_rows(warehouse)
    assert set(rows) == {"anthropic", "aws"}
    options = {"interval_level": 0.9, "simulations": 400}

    research = rows["anthropic"]
    expected = forecast_series(
        history[("R&D", "anthropic")], cost_category="R&D", source_system="anthropic", **options
    )
    assert (research["cost_category"], research["forecast_quarter"]) == ("R&D", Q3_2026)
    assert research["model"] == SEASONAL_MODEL
    assert (research["history_from"], research["history_to"]) == (HISTORY_START, HISTORY_END)
    assert research["history_days"] == 122
    assert float(research["interval_level"]) == 0.9
    assert research["lower_usd"] <= research["forecast_usd"] <= research["upper_usd"]
    assert float(research["forecast_usd"]) == pytest.approx(expected.forecast.total_usd, abs=0.006)
    assert research["backtest_quarter"] == date(2026, 4, 1)
    assert float(research["backtest_actual_usd"]) == pytest.approx(
        expected.backtest.actual_usd, abs=0.006
    )
    assert float(research["backtest_forecast_usd"]) == pytest.approx(
        expected.backtest.forecast_usd, abs=0.006
    )
    assert research["backtest_mape"] == pytest.approx(expected.backtest.mape, rel=1e-9)
    assert research["backtest_note"] is None
    # The allocation lines (5,000 USD a day, not counted in totals) are not in the history.
    assert float(research["backtest_actual_usd"]) < 10_000

    production = rows["aws"]
    assert (production["cost_category"], production["model"]) == ("COGS", MEAN_MODEL)
    assert production["history_days"] == 11
    assert float(production["forecast_usd"]) == pytest.approx(35.0 * Q3_2026_DAYS, abs=0.006)
    assert production["lower_usd"] <= production["forecast_usd"] <= production["upper_usd"]
    assert production["backtest_quarter"] is None
    assert production["backtest_mape"] is None
    assert production["backtest_note"] == "no full calendar quarter in the history"


def test_a_second_run_replaces_the_rows(forecast_asset, warehouse):
    with psycopg.connect(warehouse) as conn:
        conn.execute("delete from marts.cost_attribution where x_source_system = 'anthropic'")
    _materialize(forecast_asset, warehouse, simulations=200)
    rows = _forecast_rows(warehouse)
    assert set(rows) == {"aws"}
    assert float(rows["aws"]["interval_level"]) == 0.8
