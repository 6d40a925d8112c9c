"""Google Cloud billing: the collectors through the real Google clients, and the ledger dbt makes.

Seams. No BigQuery emulator exists here, so google-cloud-bigquery 3.x talks real HTTP to the
project's loopback `SandboxServer`, which plays exactly the BigQuery v2 REST endpoints the
client calls for a query (tables.get, jobs.query, jobs.get, jobs.getQueryResults) with
`orchestration.sandbox.gcp_billing`: it evaluates the collector's SQL with its bound
parameters over the sandbox estate's Google Cloud lines (`cloud.py`) and answers in BigQuery's
wire format (schema plus `{"f": [{"v": ...}]}` rows, paged by pageToken). google-cloud-billing's
`CloudCatalogClient` and `CloudBillingClient` use their REST transport against the same server
(services.skus.list, billingAccounts.get). Nothing in the Google libraries is patched; the
clients run with anonymous credentials because the endpoint is loopback. Failures (403, 429,
503) are injected by the sandbox server in Google's error envelope.
"""

import json
import logging
import os
import subprocess
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import httpx
import psycopg
import pytest

from assets.gcp import (
    EXPORT_TABLE,
    export_row_key,
    gcp_billing_export,
    gcp_catalog_prices,
    pending_partitions,
)
from orchestration.clients.gcp import GcpBillingClient
from orchestration.collectors.framework import run_collector
from orchestration.collectors.http import SourceError
from orchestration.config import ConfigError, load_config
from orchestration.dbt.assets import ensure_sources_exist
from orchestration.dbt.project import DBT_PROJECT_DIR, dbt_executable
from orchestration.demo import prepare_sandbox
from orchestration.resources import build_resources
from orchestration.sandbox import gcp_billing
from orchestration.sandbox.cloud import GCP, cloud_costs_for_day, cloud_services
from orchestration.sandbox.company import build_company
from orchestration.sandbox.routing import Response, Route
from orchestration.sandbox.server import DEFAULT_ROUTES, SandboxServer
from orchestration.warehouse.connection import WarehouseResource, dbt_env

DAY = date(2026, 11, 3)  # a Tuesday
LOG = logging.getLogger("test")
QUERIES_PATH = f"/bigquery/v2/projects/{gcp_billing.PROJECT}/queries"
ROWS_PER_LINE = 4  # six-hour rows; the search project's compute also has a correction


def _at(day: date, hour: int = 0) -> datetime:
    return datetime.combine(day, time(hour), UTC)


@pytest.fixture(autouse=True)
def no_google_setup(monkeypatch, tmp_path):
    """Nothing of the machine's own Google setup (ADC, gcloud, metadata server) takes part."""
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("NO_GCE_CHECK", "True")


@pytest.fixture(scope="module")
def company():
    return build_company(7)


@pytest.fixture
def export():
    """The export as it stands long after DAY: every row of DAY's week exported."""
    return gcp_billing.BillingExport(now=_at(DAY + timedelta(days=20)))


@pytest.fixture
def sandbox(company, export):
    with SandboxServer(company, routes={**DEFAULT_ROUTES, **export.routes()}) as server:
        yield server


def _client(server, table=gcp_billing.DETAILED_TABLE_ID, **overrides) -> GcpBillingClient:
    settings = {
        "billing_export_table": table,
        "api_endpoint": server.url,
        "location": gcp_billing.LOCATION,
        "retry_initial_s": 0.01,
        "max_retries": 3,
        **overrides,
    }
    return GcpBillingClient(**settings)


def _collect(spec, database_url, client, day=DAY, run_id="r1"):
    result, _ = run_collector(
        spec,
        WarehouseResource(url=database_url),
        start=_at(day),
        end=_at(day + timedelta(days=1)),
        partition_key=day.isoformat(),
        run_id=run_id,
        log=LOG,
        resources={"gcp": client},
    )
    return result


def _lines(company, day=DAY):
    return cloud_costs_for_day(company, GCP, day)


def _expected_rows(company, day=DAY) -> int:
    return len(gcp_billing.export_rows_for_day(company, day))


def _raw_totals(conn, day=DAY) -> tuple[int, int, Decimal, Decimal]:
    """Rows, distinct keys, cost and credits of one raw partition, summed in Postgres."""
    return conn.execute(
        """
        select
            count(*),
            count(distinct natural_key),
            sum((record ->> 'cost')::numeric),
            coalesce(sum((
                select sum((credit ->> 'amount')::numeric)
                from jsonb_array_elements(record -> 'credits') as credit
            )), 0)
        from raw.gcp_billing_export
        where partition_key = %s
        """,
        (day.isoformat(),),
    ).fetchone()


def _endpoint(request) -> str:
    """The Google API method a sandbox request called."""
    parts = request.path.strip("/").split("/")
    if parts[0] == "v1":
        return "billingAccounts.get" if parts[1] == "billingAccounts" else "services.skus.list"
    if parts[4] == "datasets":
        return "tables.get"
    if parts[4] == "jobs":
        return "jobs.get"
    return "jobs.query" if request.method == "POST" else "jobs.getQueryResults"


# ---------- one day through the client


def test_one_usage_day_lands_row_by_row_and_adds_up_to_what_the_company_spent(
    conn, database_url, sandbox, company
):
    result = _collect(gcp_billing_export, database_url, _client(sandbox))
    lines = _lines(company)
    assert result.rows == _expected_rows(company) == len(lines) * ROWS_PER_LINE + 1
    rows, keys, cost, credits = _raw_totals(conn)
    assert rows == keys == result.rows, "every row has its own natural key"
    assert cost == sum(line.cost for line in lines)
    assert credits == sum(line.credits for line in lines) < 0, "the agent lab's credits"
    assert cost + credits == sum(line.net_cost for line in lines)

    record = conn.execute(
        "select record from raw.gcp_billing_export "
        "where record -> 'project' ->> 'id' = 'nwl-search-prod' "
        "and record -> 'service' ->> 'description' = 'Compute Engine' "
        "and record ->> 'cost_type' = 'regular' order by natural_key limit 1"
    ).fetchone()[0]
    assert record["usage_start_time"].endswith("+00:00")
    assert datetime.fromisoformat(record["usage_start_time"]).date() == DAY
    assert isinstance(record["cost"], str) and isinstance(record["usage"]["amount"], str)
    assert record["billing_account_name"] == gcp_billing.BILLING_ACCOUNT_NAME
    assert record["resource"]["global_name"].startswith("//compute.googleapis.com/projects/")
    assert record["price"]["effective_price"] == "0.031611"
    assert {"key": "goog-k8s-cluster-name", "value": "search-cluster"} in record["labels"]
    assert record["project"]["labels"] == [{"key": "environment", "value": "production"}]
    assert record["occurrence"] == 0


def test_the_query_binds_its_values_and_results_are_read_page_after_page(sandbox, company):
    rows = list(_client(sandbox).export_rows(_at(DAY), _at(DAY + timedelta(days=1))))
    assert len(rows) == _expected_rows(company) > gcp_billing.ROWS_PER_PAGE
    calls = [_endpoint(r) for r in sandbox.requests]
    assert [call for call in calls if call != "billingAccounts.get"] == [
        "tables.get",
        "jobs.query",
        "jobs.get",
        "jobs.getQueryResults",
    ]
    (page,) = [r for r in sandbox.requests if _endpoint(r) == "jobs.getQueryResults"]
    assert page.query["pageToken"], "the second page, asked for by its token"
    body = json.loads(next(r.body for r in sandbox.requests if r.method == "POST"))
    assert "@usage_start" in body["query"] and DAY.isoformat() not in body["query"]
    assert {p["name"]: p["parameterType"]["type"] for p in body["queryParameters"]} == {
        "usage_start": "TIMESTAMP",
        "usage_end": "TIMESTAMP",
    }


def test_a_standard_export_is_read_without_the_columns_it_does_not_have(sandbox, company):
    client = _client(sandbox, table=gcp_billing.STANDARD_TABLE_ID)
    rows = list(client.export_rows(_at(DAY), _at(DAY + timedelta(days=1))))
    assert len(rows) == _expected_rows(company)
    assert not {"resource", "price", "cost_at_list"} & set(rows[0])
    query = json.loads(next(r.body for r in sandbox.requests if r.method == "POST"))["query"]
    assert "resource" not in query and "cost_at_list" not in query


def test_identical_rows_are_both_kept_under_keys_of_their_own(conn, database_url, company):
    class Doubled(gcp_billing.BillingExport):
        """An export that, as exports sometimes do, holds one row twice."""

        def _rows(self, company, day, detailed):
            rows = super()._rows(company, day, detailed)
            return [rows[0], *rows]

    doubled = Doubled(now=_at(DAY + timedelta(days=20)))
    with SandboxServer(company, routes={**DEFAULT_ROUTES, **doubled.routes()}) as server:
        result = _collect(gcp_billing_export, database_url, _client(server))
        again = _collect(gcp_billing_export, database_url, _client(server), run_id="r2")
    assert result.rows == again.rows == _expected_rows(company) + 1
    rows, keys, _, _ = _raw_totals(conn)
    assert rows == keys == result.rows
    twins = conn.execute(
        "select natural_key from raw.gcp_billing_export "
        "where natural_key like '%:1' order by natural_key"
    ).fetchall()
    assert len(twins) == 1
    first = {"cost": "1.5", "occurrence": 0}
    assert export_row_key(first) != export_row_key({**first, "occurrence": 1})


# ---------- late and restated rows


def test_late_rows_are_found_and_only_their_day_is_reloaded_without_duplicates(
    conn, database_url, sandbox, export, company
):
    client = _client(sandbox)
    export.now = _at(DAY + timedelta(days=1), 6)  # the next morning
    early = _collect(gcp_billing_export, database_url, client)
    expected = _expected_rows(company)
    assert early.rows == expected - ROWS_PER_LINE - 1, "the lab's Vertex AI rows and the correction"
    _, _, cost, credits = _raw_totals(conn)
    assert cost + credits < sum(line.net_cost for line in _lines(company))
    assert pending_partitions(conn) == []

    export.now = _at(DAY + timedelta(days=5), 2)
    later_day = DAY + timedelta(days=4)
    _collect(gcp_billing_export, database_url, client, day=later_day, run_id="r2")
    assert pending_partitions(conn) == [DAY.isoformat()], "only DAY was loaded and has grown"
    scans = [
        json.loads(r.body)
        for r in sandbox.requests
        if r.method == "POST" and "MAX(export_time)" in json.loads(r.body)["query"]
    ]
    assert [p["name"] for p in scans[0]["queryParameters"]] == ["since"]

    reload = _collect(gcp_billing_export, database_url, client, run_id="r3")
    assert reload.rows == expected
    rows, keys, cost, credits = _raw_totals(conn)
    assert rows == keys == expected, "replaced, not appended to"
    assert cost + credits == sum(line.net_cost for line in _lines(company))
    assert pending_partitions(conn) == []


def test_a_correction_exported_days_later_lands_as_an_adjustment_of_its_usage_day(
    conn, database_url, sandbox, export, company
):
    client = _client(sandbox)
    export.now = _at(DAY + timedelta(days=2), 6)
    _collect(gcp_billing_export, database_url, client)
    assert conn.execute(
        "select count(*) from raw.gcp_billing_export where record ->> 'cost_type' = 'adjustment'"
    ).fetchone() == (0,)
    export.now = _at(DAY + timedelta(days=4))
    _collect(gcp_billing_export, database_url, client, run_id="r2")
    adjustment = conn.execute(
        "select record from raw.gcp_billing_export where record ->> 'cost_type' = 'adjustment'"
    ).fetchone()[0]
    assert adjustment["adjustment_info"]["type"] == "USAGE_CORRECTION"
    assert datetime.fromisoformat(adjustment["usage_start_time"]).date() == DAY
    assert datetime.fromisoformat(adjustment["export_time"]) > _at(DAY + timedelta(days=3))
    _, _, cost, _ = _raw_totals(conn)
    assert cost == sum(line.cost for line in _lines(company)), "short billing plus correction"


# ---------- errors


def test_a_table_id_that_could_reach_beyond_a_name_is_refused_before_any_request(sandbox):
    client = _client(sandbox, table="nwl-billing.billing_export.gcp`; DROP TABLE x; --")
    with pytest.raises(SourceError, match=r"billing_export_table table .* may hold only letters"):
        list(client.export_rows(_at(DAY), _at(DAY + timedelta(days=1))))
    assert sandbox.requests == []


@pytest.mark.parametrize(
    ("section", "reason"),
    [
        ("billing_export_table: just_a_table", "must be a full table id, project.dataset.table"),
        ("billing_export_table: 'p.d.t'", "is not a Google Cloud project id"),
        (
            "billing_export_table: nwl-billing.billing_export.my_view",
            "set detailed: true or false",
        ),
        (
            f"billing_export_table: {gcp_billing.STANDARD_TABLE_ID}\n    location: 'US; x'",
            "sources.gcp.location: Value error, must be a BigQuery location",
        ),
        (
            f"billing_export_table: {gcp_billing.STANDARD_TABLE_ID}\n    catalog_services: [compute]",
            "are not service ids such as 6F81-5844-456A",
        ),
        (
            f"billing_export_table: {gcp_billing.STANDARD_TABLE_ID}\n    api_endpoint: 127.0.0.1:9",
            "sources.gcp.api_endpoint: Value error, must start with http:// or https://",
        ),
        ("location: US", "sources.gcp.billing_export_table: Field required"),
    ],
)
def test_bad_gcp_settings_are_refused_with_the_key_and_reason(tmp_path, section, reason):
    path = tmp_path / "vault.yaml"
    path.write_text(f"sources:\n  gcp:\n    {section}\n")
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert reason in str(refused.value) and str(path) in str(refused.value)


def test_a_refused_query_fails_only_its_partition_and_names_the_permissions(
    conn, database_url, sandbox, company
):
    client = _client(sandbox)
    loaded = _collect(gcp_billing_export, database_url, client)
    state = conn.execute("select state_key, value from raw._collector_state").fetchall()
    sandbox.faults[QUERIES_PATH] = [403]
    with pytest.raises(SourceError) as refused:
        _collect(gcp_billing_export, database_url, client, day=DAY + timedelta(days=1))
    message = str(refused.value)
    assert "HTTP 403 accessDenied" in message
    assert "bigquery.jobs.create on project nwl-billing (roles/bigquery.jobUser)" in message
    assert f"bigquery.tables.getData on {gcp_billing.DETAILED_TABLE_ID}" in message
    assert conn.execute(
        "select partition_key, count(*) from raw.gcp_billing_export group by 1"
    ).fetchall() == [(DAY.isoformat(), loaded.rows)]
    assert conn.execute("select state_key, value from raw._collector_state").fetchall() == state


def test_rate_limits_and_unavailable_answers_are_retried(database_url, conn, sandbox, company):
    sandbox.faults[QUERIES_PATH] = [429, 503]
    result = _collect(gcp_billing_export, database_url, _client(sandbox))
    assert result.rows == _expected_rows(company)
    _, _, cost, credits = _raw_totals(conn)
    assert cost + credits == sum(line.net_cost for line in _lines(company))
    queries = [r for r in sandbox.requests if _endpoint(r) == "jobs.query"]
    assert len(queries) == 3, "one query, and each fault cost exactly one more request"
    assert len({json.loads(r.body)["requestId"] for r in queries}) == 1, "retried, not resent"


def test_retries_stop_at_max_retries_and_say_how_often_they_tried(database_url, conn, sandbox):
    sandbox.faults[QUERIES_PATH] = [503] * 5
    with pytest.raises(SourceError, match=r"HTTP 503 backendError: .*gave up after 3 attempts"):
        _collect(gcp_billing_export, database_url, _client(sandbox, max_retries=2))
    assert len(sandbox.faults[QUERIES_PATH]) == 2


def test_without_the_billing_viewer_role_costs_still_load_without_the_account_name(
    conn, database_url, sandbox, company, caplog
):
    sandbox.faults[f"/v1/billingAccounts/{gcp_billing.BILLING_ACCOUNT}"] = [403]
    result = _collect(gcp_billing_export, database_url, _client(sandbox))
    assert result.rows == _expected_rows(company)
    names = conn.execute(
        "select distinct record -> 'billing_account_name' from raw.gcp_billing_export"
    ).fetchall()
    assert names == [(None,)]
    assert "roles/billing.viewer" in caplog.text


def test_without_credentials_the_error_names_google_application_credentials(monkeypatch, tmp_path):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing-key.json"))
    client = GcpBillingClient(billing_export_table=gcp_billing.DETAILED_TABLE_ID)
    with pytest.raises(SourceError, match="Set GOOGLE_APPLICATION_CREDENTIALS") as failure:
        list(client.export_rows(_at(DAY), _at(DAY + timedelta(days=1))))
    assert "missing-key.json" in str(failure.value)


def test_the_sandbox_evaluates_the_sql_so_a_literal_or_unknown_column_is_refused(sandbox):
    from google.api_core.exceptions import BadRequest

    bigquery = _client(sandbox)._bigquery()
    table = f"`{gcp_billing.STANDARD_TABLE_ID}`"
    with pytest.raises(BadRequest, match="only `<timestamp column> <op> @parameter`"):
        bigquery.query_and_wait(
            f"SELECT cost FROM {table} WHERE usage_start_time >= TIMESTAMP '2026-11-03'"
        )
    with pytest.raises(BadRequest, match="Unrecognized name: resource"):
        bigquery.query_and_wait(
            f"SELECT resource FROM {table} WHERE usage_start_time >= @s",
            job_config=_timestamp_parameter("s", _at(DAY)),
        )


def _timestamp_parameter(name, value):
    from google.cloud import bigquery

    return bigquery.QueryJobConfig(
        query_parameters=[bigquery.ScalarQueryParameter(name, "TIMESTAMP", value)]
    )


# ---------- the catalog


def test_the_catalog_snapshot_lists_every_sku_of_the_services_in_use(conn, database_url, sandbox):
    result = _collect(gcp_catalog_prices, database_url, _client(sandbox))
    services = {name: gcp_billing.SERVICE_IDS[name] for name in gcp_billing.SERVICE_IDS}
    expected = sum(len(gcp_billing.catalog(name)) for name in services)
    assert result.rows == expected
    pages = [r for r in sandbox.requests if r.path.endswith("/skus")]
    assert len(pages) > len(services), "each service's SKUs take more than one page"
    record = conn.execute(
        "select record from raw.gcp_catalog_prices where record ->> 'skuId' = 'CP-N2-CORE'"
    ).fetchone()[0]
    assert record["service_id"] == services["Compute Engine"]
    rate = record["pricingInfo"][0]["pricingExpression"]["tieredRates"][0]
    assert rate["unitPrice"] == {"currencyCode": "USD", "nanos": 31611000}


def test_configured_catalog_services_are_listed_without_asking_bigquery(
    conn, database_url, sandbox
):
    client = _client(sandbox, catalog_services=[gcp_billing.SERVICE_IDS["Vertex AI"]])
    result = _collect(gcp_catalog_prices, database_url, client)
    assert result.rows == len(gcp_billing.catalog("Vertex AI"))
    assert not [r for r in sandbox.requests if r.path.startswith("/bigquery/")]


# ---------- the wiring


def test_the_export_collector_reloads_its_pending_days_through_the_schedule():
    assert gcp_billing_export.stale_partitions is pending_partitions
    assert gcp_billing_export.table == EXPORT_TABLE


def test_the_demo_sandbox_config_collects_google_cloud_with_the_vaults_resources(
    tmp_path, database_url, conn, company
):
    day = datetime.now(UTC).date() - timedelta(days=10)
    with SandboxServer(company) as sandbox:
        workspace = prepare_sandbox(tmp_path, sandbox.url, day, day + timedelta(days=1))
        config = load_config(workspace.config_path)
        client = build_resources(config)["gcp"]
        assert client.api_endpoint == sandbox.url and client.is_detailed()
        exported = _collect(gcp_billing_export, database_url, client, day=day)
        listed = _collect(gcp_catalog_prices, database_url, client, day=day)
    assert exported.rows == _expected_rows(company, day)
    assert listed.rows == sum(len(gcp_billing.catalog(name)) for name in gcp_billing.SERVICE_IDS)


def test_sandbox_route_templates_match_one_segment_each_and_exact_routes_win(company):
    def echo(_company, request):
        return Response(200, {"thing": request.path_params["thing"]})

    def fault(status):
        return Response(status, {})

    routes = {
        ("GET", "/v1/things/{thing}"): Route(echo, fault),
        ("GET", "/v1/things/special"): Route(lambda _c, _r: Response(200, {"exact": True}), fault),
    }
    with SandboxServer(company, routes=routes) as server, httpx.Client(base_url=server.url) as api:
        assert api.get("/v1/things/a%3Ab").json() == {"thing": "a:b"}
        assert api.get("/v1/things/special").json() == {"exact": True}
        assert api.get("/v1/things/a/b").status_code == 404
        assert api.post("/v1/things/a").status_code == 405


# ---------- the ledger


DBT_DAYS = (DAY, DAY + timedelta(days=1), DAY + timedelta(days=2))


@pytest.fixture(scope="module")
def ledger(module_database, company, tmp_path_factory):
    """Three days of the standard export (no cost_at_list) and the catalog, then
    `dbt build --select +fct_costs`; yields the database URL."""
    export = gcp_billing.BillingExport(now=_at(DBT_DAYS[-1] + timedelta(days=10)))
    with SandboxServer(company, routes={**DEFAULT_ROUTES, **export.routes()}) as server:
        client = _client(server, table=gcp_billing.STANDARD_TABLE_ID)
        for day in DBT_DAYS:
            _collect(gcp_billing_export, module_database, client, day=day)
            _collect(gcp_catalog_prices, module_database, client, day=day)
    ensure_sources_exist(WarehouseResource(url=module_database))
    target = tmp_path_factory.mktemp("dbt")
    build = subprocess.run(
        [
            dbt_executable(),
            "build",
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
            "--select",
            "+fct_costs",
        ],
        env={
            **os.environ,
            **dbt_env(module_database),
            "DBT_TARGET_PATH": str(target / "target"),
            "DBT_LOG_PATH": str(target / "logs"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        },
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-4000:]
    assert "assert_gcp_cost_in_fct_costs_matches_raw" in build.stdout
    return module_database


def _ledger(url, sql, *params):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params or None).fetchall()


def test_the_ledger_bills_each_days_net_cost_to_the_cent(ledger, company):
    billed = dict(
        _ledger(
            ledger,
            "select (charge_period_start at time zone 'UTC')::date, sum(billed_cost) "
            "from marts.fct_costs where x_source_system = 'gcp' group by 1",
        )
    )
    for day in DBT_DAYS:
        expected = sum(line.net_cost for line in _lines(company, day))
        assert abs(billed[day] - expected) < Decimal("0.005"), day
        assert billed[day] == expected, "exactly, not just to the cent"
    assert set(billed) == set(DBT_DAYS)


def test_ledger_lines_follow_focus_for_google_cloud(ledger, company):
    rows = _ledger(
        ledger,
        "select charge_category, charge_class, count(*), bool_and(provider_name = 'Google Cloud'"
        " and publisher_name = 'Google Cloud' and invoice_issuer_name = 'Google Cloud'"
        " and sub_account_type = 'Project' and billing_period_start = '2026-11-01T00:00Z'"
        " and billing_account_name = %s and x_estimated) "
        "from marts.fct_costs where x_source_system = 'gcp' group by 1, 2 order by 1",
        gcp_billing.BILLING_ACCOUNT_NAME,
    )
    lines_per_day = len(_lines(company))
    assert rows == [
        ("Adjustment", "Correction", len(DBT_DAYS), True),
        ("Usage", None, len(DBT_DAYS) * lines_per_day * ROWS_PER_LINE, True),
    ]
    credited = _ledger(
        ledger,
        "select sum(contracted_cost - billed_cost) from marts.fct_costs "
        "where x_source_system = 'gcp' and sub_account_id = 'nwl-agent-lab'",
    )[0][0]
    assert credited == -sum(line.credits for day in DBT_DAYS for line in _lines(company, day))


def test_labels_and_project_labels_become_the_ledgers_tags(ledger, company):
    found = {
        (project, service, json.dumps(tags, sort_keys=True))
        for project, service, tags in _ledger(
            ledger,
            "select sub_account_id, service_name, tags from marts.fct_costs "
            "where x_source_system = 'gcp' and charge_category = 'Usage' "
            "and charge_period_start = %s",
            _at(DAY),
        )
    }
    expected = set()
    for line in _lines(company):
        environment = "production" if line.account.id == "nwl-search-prod" else "development"
        tags = {"environment": environment, **line.tags}
        if line.service.name == "Compute Engine" and line.account.id == "nwl-search-prod":
            tags["goog-k8s-cluster-name"] = "search-cluster"
        expected.add((line.account.id, line.service.name, json.dumps(tags, sort_keys=True)))
    assert found == expected
    attributed = _ledger(
        ledger,
        "select distinct sub_account_id, x_team, x_project from marts.fct_costs "
        "where x_source_system = 'gcp' order by 1",
    )
    assert attributed == [
        ("nwl-agent-lab", "ml", "agent-lab"),
        ("nwl-search-prod", "ml", "knowledge-search"),
    ]


def test_catalog_prices_fill_list_cost_where_the_export_has_no_cost_at_list(ledger, company):
    prices = {service.sku: service.unit_price for service in cloud_services(GCP)}
    rows = _ledger(
        ledger,
        "select sku_id, list_unit_price, sum(list_cost), sum(pricing_quantity) "
        "from marts.fct_costs where x_source_system = 'gcp' group by 1, 2",
    )
    assert {sku: price for sku, price, _, _ in rows} == prices
    for sku, price, list_cost, quantity in rows:
        assert list_cost == price * quantity, sku
    expected_list = defaultdict(Decimal)
    for day in DBT_DAYS:
        for line in _lines(company, day):
            expected_list[line.service.sku] += line.list_cost
    for sku, _, list_cost, _ in rows:
        assert abs(list_cost - expected_list[sku]) < Decimal("0.00001"), sku


def test_staging_sums_each_rows_credits_into_its_net_cost(ledger, company):
    ((cost, credits, net),) = _ledger(
        ledger,
        "select sum(cost), sum(credits_total), sum(net_cost) from staging.stg_gcp__billing_export",
    )
    lines = [line for day in DBT_DAYS for line in _lines(company, day)]
    assert (cost, credits, net) == (
        sum(line.cost for line in lines),
        sum(line.credits for line in lines),
        sum(line.net_cost for line in lines),
    )
