"""End to end: the three vault.yaml-only sources of the sandbox company, collected for two
days, built by dbt, and compared in fct_metrics with what each served.

The entries are the demo's (`sandbox/custom_sources.py`): the internal service-metrics API over
loopback HTTP, the support desk's SQLite file and the gateway's JSON-lines log, all real; the
collectors run through `run_collector` into a PostgreSQL database of this module's own, and dbt
builds every model fct_metrics needs there.
"""

import logging
import os
import subprocess
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest

from orchestration.collectors.framework import run_collector
from orchestration.config import VaultConfig
from orchestration.custom.collectors import custom_collectors
from orchestration.dbt.assets import ensure_sources_exist
from orchestration.dbt.project import DBT_PROJECT_DIR, dbt_executable
from orchestration.sandbox import gateway_logs, internal_metrics, support_desk
from orchestration.sandbox.company import build_company
from orchestration.sandbox.custom_sources import custom_sources
from orchestration.sandbox.server import SandboxServer
from orchestration.warehouse.connection import WarehouseResource, dbt_env

DAYS = (date(2026, 3, 2), date(2026, 3, 4))  # Monday and Tuesday


@pytest.fixture(scope="module")
def company():
    return build_company(7)


def _run(spec, database_url: str, day: date):
    warehouse = WarehouseResource(url=database_url)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    result, _ = run_collector(
        spec,
        warehouse,
        start=start,
        end=start + timedelta(days=1),
        partition_key=day.isoformat(),
        run_id="e2e",
        log=logging.getLogger("test"),
        resources={key: warehouse for key in spec.resource_keys},
    )
    return result


def _served(company, day: date) -> set[tuple[str, str, str, Decimal]]:
    """(time, service, metric, value) of every point the sandbox serves for `day`."""
    served = set()
    for point in internal_metrics.points_for_day(company, day):
        moment = datetime.fromisoformat(point["ts"]).isoformat()
        stats = point["stats"]
        for metric, value in (
            ("service.requests", stats["requests"]),
            ("service.requests_failed", stats["errors"]),
            ("service.latency_p95", stats["latency_ms"]["p95"]),
        ):
            served.add((moment, point["service"], metric, Decimal(str(value))))
    return served


@pytest.fixture(scope="module")
def built(module_database, company, tmp_path_factory):
    """The three sandbox entries collected for two days, then dbt built up to fct_metrics."""
    root = tmp_path_factory.mktemp("custom")
    warehouse = WarehouseResource(url=module_database)
    with SandboxServer(company) as sandbox:
        sections, source_env = custom_sources(company, root, sandbox.url, *DAYS)
        saved = {key: os.environ.get(key) for key in source_env}
        os.environ.update(source_env)
        try:
            config = VaultConfig.model_validate({"sources": sections})
            for spec in custom_collectors(config):
                day = DAYS[0]
                while day < DAYS[1]:
                    result = _run(spec, module_database, day)
                    assert result.rows and not result.rejected, (spec.asset_key, day)
                    day += timedelta(days=1)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    ensure_sources_exist(warehouse)
    target = tmp_path_factory.mktemp("dbt")
    env = {
        **os.environ,
        **dbt_env(module_database),
        "DBT_TARGET_PATH": str(target / "target"),
        "DBT_LOG_PATH": str(target / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    # Every source's models feed fct_metrics, so all of them are built (with the seeds); the
    # tests run are this source's, fct_metrics's and the units check: other sources' tests
    # are their own modules' business.
    selection = [
        "+fct_metrics,resource_type:model",
        "+fct_metrics,resource_type:seed",
        "path:models/staging/custom",
        "path:models/intermediate/metrics/_int_metrics__custom.yml",
        "path:models/marts/core/_core__models.yml,resource_type:test",
        "assert_metric_units_match_metric_types",
    ]
    build = subprocess.run(
        [
            dbt_executable(),
            "build",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--indirect-selection",
            "empty",
            "--select",
            *selection,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-4000:]
    assert "custom" in build.stdout and "assert_metric_units_match_metric_types" in build.stdout
    return module_database


def _metrics(url, collector_kind):
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select observed_at, metric_type, value, unit, tags, department, team, project, "
            "customer, feature, service, region, source_system from marts.fct_metrics "
            "where tags ->> 'collector' = %s",
            (collector_kind,),
        ).fetchall()


def _days():
    day = DAYS[0]
    while day < DAYS[1]:
        yield day
        day += timedelta(days=1)


def test_fct_metrics_holds_every_service_metric_the_api_served(built, company):
    rows = _metrics(built, "http_api")
    got = {(r[0].isoformat(), r[4]["service"], r[1], r[2]) for r in rows}
    expected = set().union(*(_served(company, day) for day in _days()))
    assert got == expected and len(rows) == len(expected) == 720
    owners = {s.name: s for s in internal_metrics.services(company)}
    for row in rows:
        service = owners[row[4]["service"]]
        assert (row[6], row[7], row[10], row[11]) == (
            service.team,
            service.project,
            service.name,
            service.region,
        )
        assert row[5] == "engineering", "the team's department, from teams.csv"
        assert row[12] == "northwind_internal" and row[4]["entry"] == "service_metrics"
    assert {(r[1], r[3]) for r in rows} == {
        ("service.requests", "requests"),
        ("service.requests_failed", "requests"),
        ("service.latency_p95", "ms"),
    }


def test_fct_metrics_holds_every_ticket_row_the_database_held(built, company):
    rows = _metrics(built, "sql")
    got = {(r[0].date().isoformat(), r[4]["queue"], r[8], r[1], r[2]) for r in rows}
    expected = set()
    for day in _days():
        for ticket in support_desk.ticket_days(company, day):
            for metric, value in (
                ("support.tickets_opened", ticket.opened),
                ("support.tickets_closed", ticket.closed),
                ("support.first_response", ticket.first_response_minutes),
            ):
                expected.add(
                    (ticket.day, ticket.queue, ticket.customer_id, metric, Decimal(str(value)))
                )
    assert got == expected and len(rows) == len(expected)
    assert {(r[5], r[6]) for r in rows} == {("customer-success", "support")}


def test_fct_metrics_holds_every_gateway_line_of_the_log(built, company):
    rows = _metrics(built, "log_files")
    got = {(r[0], r[8], r[9], r[10], r[1], r[2]) for r in rows}
    expected = set()
    for day in _days():
        for line in gateway_logs.lines_for_day(company, day):
            moment = datetime.fromisoformat(line["ts"])
            for metric, value in (("gateway.latency", line["latency_ms"]),
                                  ("gateway.response_size", line["bytes_sent"])):  # fmt: skip
                expected.add(
                    (moment, line["customer_id"], line["feature"], line["service"], metric,
                     Decimal(str(value)))
                )  # fmt: skip
    assert got == expected and len(rows) == len(expected)
    assert all(r[4]["status"] in {"200", "400", "429", "500"} for r in rows)
    # The lines name no team or project: custom_source_mappings.csv gives them by route.
    by_route = {(r[4]["route"], r[6], r[7], r[5]) for r in rows}
    assert by_route == {
        (route, company.project(feature).team, feature, "engineering")
        for route, _, _, feature in gateway_logs.ROUTES
    }


def test_the_staging_models_keep_the_source_record_beside_each_observation(built, company):
    with psycopg.connect(built) as conn:
        source, origin = conn.execute(
            "select source_record, origin from staging.stg_custom__log_metrics "
            "where record_key = %s and metric_type = 'gateway.latency'",
            (gateway_logs.lines_for_day(company, DAYS[0])[0]["request_id"],),
        ).fetchone()
    assert source == gateway_logs.lines_for_day(company, DAYS[0])[0]
    assert origin["line"] == 1 and origin["file"].endswith("access-2026-03-02.jsonl")
