"""The Datadog collectors through the real client code, against the sandbox over HTTP.

The seam is the Datadog API itself: `orchestration/sandbox/datadog_api.py` answers
`GET /api/v1/query` and `GET /api/v2/usage/estimated_cost` on the shared sandbox server, with
Datadog's key headers, error bodies and `X-RateLimit-*` headers; everything from the client's
HTTP requests to fct_metrics is the production code. Neither endpoint pages: a day is one
request per query, so there is no paging to test.
"""

import json
import logging
import os
import subprocess
import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from assets.datadog import datadog_estimated_cost, datadog_metric_series
from orchestration.clients.datadog import (
    DatadogClient,
    DatadogQuerySpec,
    api_base_url,
)
from orchestration.collectors.framework import run_collector
from orchestration.collectors.http import MissingCredentialError, SourceError
from orchestration.config import ConfigError, DatadogConfig, load_config
from orchestration.dbt.assets import ensure_sources_exist
from orchestration.dbt.project import DBT_PROJECT_DIR, dbt_executable, ensure_manifest
from orchestration.sandbox import datadog_api
from orchestration.sandbox.company import build_company
from orchestration.sandbox.infrastructure import workloads
from orchestration.sandbox.server import SandboxServer
from orchestration.warehouse.connection import WarehouseResource, dbt_env

LOG = logging.getLogger("test")
API_KEY = "0123456789abcdef0123456789abcdef"
APP_KEY = "fedcba9876543210fedcba9876543210fedcba98"
DAY = datetime(2026, 11, 3, tzinfo=UTC)
REQUESTS = DatadogQuerySpec(
    name="apm.http.requests",
    query="sum:trace.http.request.hits{env:production} by {service,team}.rollup(sum, 3600)",
    unit="requests",
)
LATENCY = DatadogQuerySpec(
    name="apm.http.latency_seconds",
    query="avg:trace.http.request.duration{*} by {service}",
    unit="seconds",
    tags=["service"],
)


@pytest.fixture(scope="module")
def company():
    return build_company(7)


@pytest.fixture
def sandbox(company):
    with SandboxServer(company, routes=datadog_api.ROUTES) as server:
        yield server


def _client(url, **overrides):
    settings = {"base_url": url, "api_key": API_KEY, "app_key": APP_KEY, "queries": [REQUESTS]}
    return DatadogClient(**{**settings, **overrides})


def _collect(spec, database_url, client, *, day=DAY, run_id="r1"):
    result, _ = run_collector(
        spec,
        WarehouseResource(url=database_url),
        start=day,
        end=day + timedelta(days=1),
        partition_key=day.date().isoformat(),
        run_id=run_id,
        log=LOG,
        resources={"datadog": client},
    )
    return result


def _served(company, spec, day=DAY):
    start = int(day.timestamp())
    return datadog_api.series_for(company, spec.query, start, start + 86_399)


def test_each_series_of_the_day_lands_untouched_with_its_query(
    conn, database_url, sandbox, company
):
    result = _collect(datadog_metric_series, database_url, _client(sandbox.url))
    served = _served(company, REQUESTS)
    production = [w for w in workloads(company) if w.environment == "production"]
    assert result.rows == len(served) == len(production)
    records = [row[0] for row in conn.execute("select record from raw.datadog_metric_series")]
    by_scope = {record["scope"]: record for record in records}
    for series in served:
        record = by_scope[series["scope"]]
        assert {key: record[key] for key in series} == json.loads(json.dumps(series))
        assert len(record["pointlist"]) == 24, "one point per hour of the day"
    record = records[0]
    assert (record["query_name"], record["query"], record["unit_configured"]) == (
        REQUESTS.name,
        REQUESTS.query,
        "requests",
    )
    assert (record["from_date"], record["to_date"]) == (
        int(DAY.timestamp()) * 1000,
        (int(DAY.timestamp()) + 86_399) * 1000,
    ), "to is the second before the next day"
    [request] = sandbox.requests
    assert (request.headers["dd-api-key"], request.headers["dd-application-key"]) == (
        API_KEY,
        APP_KEY,
    )


def test_a_rate_limit_waits_the_seconds_x_ratelimit_reset_names(conn, database_url, sandbox):
    sandbox.faults[datadog_api.QUERY_PATH] = [429]
    started = time.monotonic()
    result = _collect(datadog_metric_series, database_url, _client(sandbox.url))
    waited = time.monotonic() - started
    assert result.rows > 0
    assert len(sandbox.requests) == 2
    # Without the header the first retry would wait at most a second (exponential backoff).
    assert waited >= datadog_api.RATE_LIMIT_RESET_S


def test_server_errors_are_retried(conn, database_url, sandbox):
    sandbox.faults[datadog_api.QUERY_PATH] = [500, 503]
    result = _collect(datadog_metric_series, database_url, _client(sandbox.url))
    assert result.rows > 0 and len(sandbox.requests) == 3


def test_an_invalid_key_is_refused_naming_variables_and_permission_and_keeps_rows(
    conn, database_url, sandbox
):
    loaded = _collect(datadog_metric_series, database_url, _client(sandbox.url))
    bad_key = "not-a-key-RECOGNISABLE"
    with pytest.raises(SourceError) as failure:
        _collect(
            datadog_metric_series, database_url, _client(sandbox.url, api_key=bad_key), run_id="x"
        )
    message = str(failure.value)
    assert "HTTP 403" in message and "Forbidden" in message
    assert "DD_API_KEY" in message and "DD_APP_KEY" in message
    assert "timeseries_query" in message
    assert "RECOGNISABLE" not in message and APP_KEY not in message
    assert conn.execute(
        "select count(*), min(run_id), max(run_id) from raw.datadog_metric_series"
    ).fetchone() == (loaded.rows, "r1", "r1")


def test_a_refused_estimated_cost_names_the_usage_permissions(conn, database_url, sandbox):
    client = _client(sandbox.url, app_key="0" * 39, queries=[])
    with pytest.raises(SourceError) as failure:
        _collect(datadog_estimated_cost, database_url, client)
    assert "HTTP 403" in str(failure.value)
    assert "usage_read and billing_read permissions" in str(failure.value)


def test_missing_keys_are_named_before_any_request(conn, database_url, sandbox):
    with pytest.raises(MissingCredentialError, match="DD_APP_KEY is not set"):
        _collect(datadog_metric_series, database_url, _client(sandbox.url, app_key=None))
    assert sandbox.requests == []


def test_a_query_datadog_cannot_parse_fails_naming_the_query(conn, database_url, sandbox):
    broken = DatadogQuerySpec(name="apm.broken", query="avg:trace.http.request.hits{", unit="x")
    with pytest.raises(SourceError) as failure:
        _collect(datadog_metric_series, database_url, _client(sandbox.url, queries=[broken]))
    message = str(failure.value)
    assert "'apm.broken'" in message and "HTTP 400" in message
    assert "Error parsing query" in message and "query: avg:trace.http.request.hits{" in message


def test_the_estimated_cost_of_a_day_comes_with_the_day_before(
    conn, database_url, sandbox, company
):
    result = _collect(datadog_estimated_cost, database_url, _client(sandbox.url, queries=[]))
    products, charge_types = len(datadog_api.PRODUCTS), 3
    assert result.rows == 2 * products * charge_types
    [request] = sandbox.requests
    assert request.query["start_date"] == ("2026-11-02",)
    assert request.query["end_date"] == ("2026-11-03",)
    rows = conn.execute(
        "select record ->> 'date', record ->> 'product_name', (record ->> 'cost')::numeric "
        "from raw.datadog_estimated_cost where record ->> 'charge_type' = 'total'"
    ).fetchall()
    expected = {
        (f"{day}T00:00:00Z", product, sum(datadog_api.month_to_date(product, day)))
        for day in (date(2026, 11, 2), date(2026, 11, 3))
        for product in datadog_api.PRODUCTS
    }
    assert set(rows) == expected


def test_the_first_of_the_month_asks_for_that_day_alone(conn, database_url, sandbox):
    first = datetime(2026, 11, 1, tzinfo=UTC)
    _collect(datadog_estimated_cost, database_url, _client(sandbox.url, queries=[]), day=first)
    [request] = sandbox.requests
    assert request.query["start_date"] == request.query["end_date"] == ("2026-11-01",)


def _dbt(url: str, target: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            dbt_executable(),
            *args,
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
        ],
        env={
            **os.environ,
            **dbt_env(url),
            "DBT_TARGET_PATH": str(target / "target"),
            "DBT_LOG_PATH": str(target / "logs"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        },
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _dbt_build(url: str, target: Path) -> subprocess.CompletedProcess:
    """fct_metrics, fct_costs and everything under them, then the tests of this source's
    models and the unit check on fct_metrics (every source's tests would take minutes; they
    have their own modules)."""
    marts = ("+fct_metrics", "+fct_costs")
    build = _dbt(url, target, "build", "--select", *marts, "--indirect-selection", "empty")
    if build.returncode:
        return build
    own = (
        "stg_datadog__points",
        "stg_datadog__estimated_costs",
        "int_metrics__datadog",
        "int_costs__datadog",
        "assert_metric_units_match_metric_types",
    )
    return _dbt(url, target, "test", "--select", *own)


COST_DAYS = [datetime(2026, 11, 3, tzinfo=UTC), datetime(2026, 11, 4, tzinfo=UTC)]


@pytest.fixture(scope="module")
def built(module_database, company, tmp_path_factory) -> str:
    """Two days of metrics and of estimated cost collected, then one dbt build."""
    with SandboxServer(company, routes=datadog_api.ROUTES) as server:
        client = _client(server.url, queries=[REQUESTS, LATENCY])
        for day in COST_DAYS:
            _collect(datadog_metric_series, module_database, client, day=day)
            _collect(datadog_estimated_cost, module_database, client, day=day)
    ensure_sources_exist(WarehouseResource(url=module_database))
    build = _dbt_build(module_database, tmp_path_factory.mktemp("dbt"))
    assert build.returncode == 0, build.stdout[-4000:]
    return module_database


def test_dbt_build_puts_every_point_served_in_fct_metrics(built, company):
    expected: dict[tuple, Decimal] = {}
    for day in COST_DAYS:
        for spec in (REQUESTS, LATENCY):
            for series in _served(company, spec, day):
                service = dict(tag.split(":", 1) for tag in series["scope"].split(","))["service"]
                for at_ms, value in series["pointlist"]:
                    key = (spec.name, service, datetime.fromtimestamp(at_ms / 1000, UTC))
                    expected[key] = Decimal(str(value))
    with psycopg.connect(built) as conn:
        rows = conn.execute(
            """
            select metric_type, service, observed_at, value, unit, tags, team, department,
                project, environment
            from marts.fct_metrics where source_system = 'datadog'
            """
        ).fetchall()
    assert {(row[0], row[1], row[2]): row[3] for row in rows} == expected
    assert len(rows) == len(expected)
    assert {row[4] for row in rows} == {"requests", "seconds"}
    taxonomy = defaultdict(set)
    for row in rows:
        taxonomy[row[1]].add(row[6:10])
    assert taxonomy["checkout-api"] == {
        ("checkout", "engineering", "checkout-assistant", "production")
    }
    assert taxonomy["ingress-gateway"] == {("platform", "engineering", "unallocated", "production")}
    latency = next(row for row in rows if row[0] == LATENCY.name)
    assert set(latency[5]) == {"service"}, "only the tag keys the query keeps"
    requests = next(row for row in rows if row[0] == REQUESTS.name)
    assert set(requests[5]) == {"env", "service", "team"}


def _config(tmp_path, body: str) -> Path:
    path = tmp_path / "vault.yaml"
    path.write_text("sources:\n  datadog:\n" + body)
    return path


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("    site: datadoghq.org\n    estimated_cost: true\n", "is not a Datadog site"),
        ("    enabled: true\n", "name at least one query, or set estimated_cost: true"),
        (
            "    queries: [{name: APM, query: 'avg:x{*}', unit: ms}]\n",
            "'APM' is not a metric type",
        ),
        (
            "    queries: [{name: apm.x, query: 'avg:x{*}', unit: 'milli seconds'}]\n",
            "unit 'milli seconds' must be",
        ),
    ],
)
def test_a_bad_datadog_section_is_refused_with_the_key_and_reason(tmp_path, body, reason):
    with pytest.raises(ConfigError, match="datadog") as failure:
        load_config(_config(tmp_path, body))
    assert reason in str(failure.value)


def test_the_site_gives_the_api_root_and_dd_site_is_the_fallback():
    assert api_base_url("us5.datadoghq.com") == "https://api.us5.datadoghq.com"
    assert api_base_url("app.datadoghq.eu") == "https://api.datadoghq.eu"
    section = DatadogConfig(estimated_cost=True)
    client = DatadogClient.from_config(
        section, api_key=None, app_key=None, site_env="ap1.datadoghq.com"
    )
    assert client.site == "ap1.datadoghq.com"
    configured = DatadogConfig(site="datadoghq.eu", estimated_cost=True)
    assert DatadogClient.from_config(configured, api_key=None, app_key=None, site_env="x").site == (
        "datadoghq.eu"
    )
    with pytest.raises(SourceError, match="DD_SITE"):
        DatadogClient.from_config(section, api_key=None, app_key=None, site_env="example.com")


@pytest.mark.parametrize(
    ("body", "tables"),
    [
        (
            "    queries: [{name: apm.x, query: 'avg:x{*}', unit: ms}]\n",
            {"raw/datadog_metric_series"},
        ),
        ("    estimated_cost: true\n", {"raw/datadog_estimated_cost"}),
    ],
)
def test_only_what_the_section_asks_for_becomes_an_asset(tmp_path, body, tables):
    ensure_manifest()
    # Imported here: importing the definitions module loads the project's own vault.yaml.
    from orchestration.definitions import build_definitions

    graph = build_definitions(load_config(_config(tmp_path, body))).resolve_asset_graph()
    datadog = {
        key.to_user_string()
        for key in graph.get_all_asset_keys()
        if graph.get(key).is_materializable and graph.get(key).group_name == "datadog"
    }
    assert datadog == tables
    for key in datadog:
        partitions = graph.get(dg.AssetKey.from_user_string(key)).partitions_def
        assert isinstance(partitions, dg.DailyPartitionsDefinition)


def test_the_estimated_cost_lands_in_fct_costs_one_line_per_day_and_charge(built):
    with psycopg.connect(built) as conn:
        rows = conn.execute(
            """
            select sku_id, pricing_category, charge_period_start, charge_period_end,
                billed_cost, effective_cost, provider_name, service_category, x_estimated,
                x_team, x_department, billing_currency
            from marts.fct_costs where x_source_system = 'datadog'
            """
        ).fetchall()
    expected = {}
    for product in datadog_api.PRODUCTS:
        # The first day fetched (the 2nd, the day before the first partition) carries the
        # month so far; each later day its own cost.
        periods = [
            (
                date(2026, 11, 1),
                date(2026, 11, 3),
                datadog_api.month_to_date(product, date(2026, 11, 2)),
            ),
            (
                date(2026, 11, 3),
                date(2026, 11, 4),
                datadog_api.daily_cost(product, date(2026, 11, 3)),
            ),
            (
                date(2026, 11, 4),
                date(2026, 11, 5),
                datadog_api.daily_cost(product, date(2026, 11, 4)),
            ),
        ]
        for first, last, (committed, on_demand) in periods:
            for category, cost in (("Committed", committed), ("Standard", on_demand)):
                if cost:
                    moments = (_midnight(first), _midnight(last))
                    expected[(product, category, *moments)] = cost
    assert {row[:4]: row[4] for row in rows} == expected
    assert len(rows) == len(expected)
    assert {row[5] == row[4] for row in rows} == {True}
    assert {row[6:] for row in rows} == {
        ("Datadog", "Management and Governance", True, "platform", "engineering", "USD")
    }
    month = sum(
        sum(datadog_api.month_to_date(product, date(2026, 11, 4)))
        for product in datadog_api.PRODUCTS
    )
    assert sum(row[4] for row in rows) == month, "the lines add up to the month so far"


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC)
