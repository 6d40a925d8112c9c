"""The cross-system marts, daily_metric_series and metric_correlations, built by dbt.

The seam: a database of the module's own on the real test server, every collector's raw table
created empty and every model the two marts need built over them by dbt (`--empty`). Then a
month of rows goes into the two tables the marts read, fct_metrics and cost_attribution, for
every series the shipped pairs name, and one `dbt build` of the marts and their seeds runs
their unit tests (hand-computed coefficients, weighted latency, levels, currencies), builds
them and runs their data tests on those rows. The first test checks that build; the second
compares every coefficient with one computed in Python from the same days under the
documented rule for missing days.
"""

import csv
import json
import random
import subprocess
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from statistics import StatisticsError, correlation

import psycopg
import pytest
import yaml
from conftest import run_dbt

from orchestration.dbt.assets import ensure_sources_exist
from orchestration.dbt.project import DBT_PROJECT_DIR
from orchestration.warehouse.connection import WarehouseResource

MARTS = ("daily_metric_series", "metric_correlations")
OWN_NODES = (
    *MARTS,
    "metric_aggregations",
    "metric_correlation_pairs",
    "assert_daily_metric_series_adds_up_to_its_sources",
    "assert_metric_correlation_pairs_name_existing_series",
)
PAIRS_CSV = DBT_PROJECT_DIR / "seeds" / "metric_correlation_pairs.csv"
MODELS_YML = DBT_PROJECT_DIR / "models" / "marts" / "cross_system" / "_cross_system__models.yml"
FIRST_DAY = date(2026, 10, 1)
DAYS = 30
GAP = FIRST_DAY + timedelta(days=10)  # no row for any loaded series on this day


def _shipped_pairs() -> list[dict[str, str]]:
    with PAIRS_CSV.open(newline="") as file:
        return list(csv.DictReader(file))


def _daily_values(series: str) -> dict[date, float]:
    """A month of made-up values for one series, the same on every run, none on GAP."""
    rng = random.Random(series)
    days = (FIRST_DAY + timedelta(days=offset) for offset in range(DAYS))
    return {day: rng.randint(1, 40) for day in days if day != GAP}


def _load(url: str, series_names: set[str]) -> dict[str, dict[date, float]]:
    """One row per day for each series into fct_metrics or cost_attribution; what was loaded."""
    loaded = {}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("truncate marts.fct_metrics, marts.cost_attribution")
        for series in sorted(series_names):
            source_system, metric_type = series.split(":", 1)
            if series == "cost:all":
                continue  # the sum of the other cost series, never a source of its own
            loaded[series] = values = _daily_values(series)
            for day, value in values.items():
                row_id = f"{series}|{day.isoformat()}"
                if source_system == "cost":
                    # Beside each counted line, an allocation of money already counted:
                    # no series may include it.
                    conn.execute(
                        "insert into marts.cost_attribution (x_cost_id, x_source_system,"
                        " charge_day, billed_cost_usd, counts_in_totals)"
                        " values (%s, %s, %s, %s, true), (%s, %s, %s, 1000, false)",
                        (row_id, metric_type, day, value, f"{row_id}|allocated", metric_type, day),
                    )
                else:
                    conn.execute(
                        "insert into marts.fct_metrics (metric_id, observed_at, source_system,"
                        " metric_type, value, unit, tags)"
                        " values (%s, (%s::date + time '12:00') at time zone 'UTC', %s, %s,"
                        " %s, 'events', %s)",
                        (row_id, day, source_system, metric_type, value, json.dumps({})),
                    )
    return loaded


def _filled(rows: dict[date, float], aggregation: str) -> dict[date, float]:
    """The documented rule: a summed series is zero on missing days between its first and
    last; a mean or a level is unknown there."""
    if aggregation != "sum":
        return rows
    first, last = min(rows), max(rows)
    span = ((first + timedelta(days=offset)) for offset in range((last - first).days + 1))
    return {day: rows.get(day, 0.0) for day in span}


def _expected(x: dict[date, float], y: dict[date, float], lag: int) -> tuple[int, float | None]:
    days = [day for day in sorted(x) if day + timedelta(days=lag) in y]
    try:
        coefficient = correlation([x[d] for d in days], [y[d + timedelta(days=lag)] for d in days])
    except StatisticsError:
        return len(days), None
    return len(days), round(coefficient, 4)


def _strength(days: int, coefficient: float | None) -> str | None:
    if days < 14 or coefficient is None:
        return None
    if abs(coefficient) >= 0.7:
        return "strong"
    return "moderate" if abs(coefficient) >= 0.4 else "weak"


@dataclass(repr=False)
class Built:
    url: str
    loaded: dict[str, dict[date, float]]
    build: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def built(module_database, tmp_path_factory) -> Built:
    """Every model up to the marts built over empty raw tables; then a month of rows for the
    series the shipped pairs name, and the marts built again with their unit and data tests.
    """
    url = module_database
    ensure_sources_exist(WarehouseResource(url=url))
    target = tmp_path_factory.mktemp("dbt")
    upstream = run_dbt(
        url,
        target,
        "build",
        "--select",
        "+metric_correlations",
        "--resource-type",
        "seed",
        "--resource-type",
        "model",
        "--empty",
    )
    assert upstream.returncode == 0, upstream.stdout[-4000:]
    named = {pair[column] for pair in _shipped_pairs() for column in ("series_x", "series_y")}
    loaded = _load(url, named)
    return Built(url, loaded, run_dbt(url, target, "build", "--select", *OWN_NODES))


def _unit_tests() -> list[dict]:
    return yaml.safe_load(MODELS_YML.read_text())["unit_tests"]


def test_unit_and_data_tests_pass(built):
    assert built.build.returncode == 0, built.build.stdout[-4000:]
    assert "WARN=0" in built.build.stdout, "every series a shipped pair names has days"
    unit_tests = _unit_tests()
    assert len(unit_tests) >= 7
    for test in unit_tests:
        assert f"PASS {test['model']}::{test['name']}" in built.build.stdout, test["name"]


def test_correlations_of_loaded_series_match_python(built):
    assert built.build.returncode == 0, built.build.stdout[-4000:]
    pairs = _shipped_pairs()
    assert len(pairs) >= 4
    with psycopg.connect(built.url) as conn:
        series_rows = conn.execute(
            "select series, day, value::float8, aggregation from marts.daily_metric_series"
        ).fetchall()
        correlation_rows = conn.execute(
            "select pair_name, lag_days, days, coefficient::float8, strength"
            " from marts.metric_correlations"
        ).fetchall()

    days_by_series: dict[str, dict[date, float]] = defaultdict(dict)
    aggregations = {}
    for series, day, value, aggregation in series_rows:
        days_by_series[series][day] = value
        aggregations[series] = aggregation
    for series, values in built.loaded.items():
        assert days_by_series[series] == values, f"{series} passes through day by day"

    actual = {(row[0], row[1]): row[2:] for row in correlation_rows}
    assert len(actual) == len(pairs) * 8
    for pair in pairs:
        x_series, y_series = pair["series_x"], pair["series_y"]
        x = _filled(days_by_series[x_series], aggregations[x_series])
        y = _filled(days_by_series[y_series], aggregations[y_series])
        for lag in range(8):
            days, coefficient = _expected(x, y, lag)
            got_days, got_coefficient, got_strength = actual[(pair["pair_name"], lag)]
            where = f"{pair['pair_name']} at lag {lag}"
            assert got_days == days, where
            if coefficient is None:
                assert got_coefficient is None, where
            else:
                assert got_coefficient == pytest.approx(coefficient, abs=1e-4), where
            assert got_strength == _strength(days, coefficient), where
