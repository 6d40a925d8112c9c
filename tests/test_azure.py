"""The Azure Cost Management collector through the real client and azure-identity, end to end.

Seams: Cost Management's Query API is the sandbox's fake (`orchestration/sandbox/azure_cost.py`)
served over loopback HTTP by `SandboxServer`. The token is real azure-identity: with
`IDENTITY_ENDPOINT` and `IDENTITY_HEADER` set, `ManagedIdentityCredential` (and so
`DefaultAzureCredential`, which tries it once the environment holds no service principal)
speaks App Service's managed identity protocol to that endpoint; azure-identity 1.27 accepts a
plain-HTTP loopback endpoint there, as App Service's own is. Nothing is mocked inside
azure-identity, msal or httpx, and no test lets a credential reach for the instance metadata
address: every test sets the identity endpoint first.
"""

import json
import logging
import os
import subprocess
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import dagster as dg
import httpx
import psycopg
import pytest

from assets.azure import azure_cost_query
from orchestration.clients.azure import AzureCostClient, is_mca_scope, usage_day
from orchestration.collectors.framework import run_collector
from orchestration.collectors.http import SourceError, retry_after_seconds
from orchestration.config import ConfigError, load_config
from orchestration.dbt.assets import ensure_sources_exist
from orchestration.dbt.project import DBT_PROJECT_DIR, dbt_executable, ensure_manifest
from orchestration.demo import prepare_sandbox
from orchestration.resources import build_resources
from orchestration.sandbox import azure_cost
from orchestration.sandbox.cloud import AZURE, cloud_accounts, cloud_costs_for_day
from orchestration.sandbox.company import build_company
from orchestration.sandbox.routing import Response, Route
from orchestration.sandbox.server import SandboxServer
from orchestration.warehouse.connection import WarehouseResource, dbt_env

DAY = datetime(2026, 11, 3, tzinfo=UTC)  # a Tuesday
LOG = logging.getLogger("test_azure")
ACCOUNTS = cloud_accounts(build_company(7), AZURE)
SUBSCRIPTION = azure_cost.subscription_scope(ACCOUNTS[0].parent_id or "")
BILLING = azure_cost.billing_account_scope(ACCOUNTS[0].billing_account_id)
QUERY = azure_cost.query_path(SUBSCRIPTION)
# Variables that would make azure-identity pick another credential than the sandbox's.
_OTHER_IDENTITY_VARIABLES = (
    "AZURE_CLIENT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_USERNAME",
    "AZURE_FEDERATED_TOKEN_FILE",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
)


@pytest.fixture(scope="module")
def company():
    return build_company(7)


def _identity(monkeypatch, url, header=azure_cost.IDENTITY_HEADER):
    for variable in _OTHER_IDENTITY_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("IDENTITY_ENDPOINT", url + azure_cost.TOKEN_PATH)
    monkeypatch.setenv("IDENTITY_HEADER", header)


@pytest.fixture
def sandbox(company, monkeypatch):
    with SandboxServer(company) as server:
        _identity(monkeypatch, server.url)
        yield server


def _client(server, **settings):
    settings.setdefault("scopes", [SUBSCRIPTION])
    return AzureCostClient(base_url=server.url, **settings)


def _collect(database_url, client, *, run_id="r1", day=DAY, days=1):
    result, _ = run_collector(
        azure_cost_query,
        WarehouseResource(url=database_url),
        start=day,
        end=day + timedelta(days=days),
        partition_key=day.date().isoformat(),
        run_id=run_id,
        log=LOG,
        resources={"azure": client},
    )
    return result


def _records(conn):
    rows = conn.execute("select record from raw.azure_cost_query order by load_seq").fetchall()
    return [row[0] for row in rows]


def _lines(company, day=DAY):
    return cloud_costs_for_day(company, AZURE, day.date())


def _queries(server, path=QUERY):
    return [request for request in server.requests if request.path == path]


def _amount(record):
    return Decimal(str(record.get("Cost", record.get("PreTaxCost"))))


def test_one_day_lands_a_row_per_resource_group_and_service_following_next_link(
    conn, database_url, sandbox, company
):
    result = _collect(database_url, _client(sandbox))
    lines = _lines(company)
    assert result.rows == len(lines) > azure_cost.MAX_ROWS_PER_PAGE
    pages = _queries(sandbox)
    assert len(pages) == 2 and "$skiptoken" in pages[1].query, "the second page came by nextLink"
    assert pages[1].body == pages[0].body, "a next link takes the same body"
    records = _records(conn)
    assert sum(_amount(r) for r in records) == sum(line.cost for line in lines)
    assert {(r["scope"], r["query_type"], r["UsageDate"]) for r in records} == {
        (SUBSCRIPTION, "ActualCost", 20261103)
    }
    distinct = conn.execute("select count(distinct natural_key) from raw.azure_cost_query")
    assert distinct.fetchone()[0] == result.rows


@pytest.mark.parametrize(
    ("scope", "cost_column", "columns"),
    [
        (SUBSCRIPTION, "PreTaxCost", {"PreTaxCost"}),
        (BILLING, "Cost", {"Cost", "CostUSD"}),
    ],
)
def test_positional_rows_are_mapped_by_column_name_for_ea_and_mca_costs(
    conn, database_url, sandbox, company, scope, cost_column, columns
):
    client = _client(sandbox, scopes=[scope], cost_column=cost_column)
    _collect(database_url, client)
    query = json.loads(_queries(sandbox, azure_cost.query_path(scope))[0].body)
    assert {clause["name"] for clause in query["dataset"]["aggregation"].values()} == columns
    expected = {(line.account.id, line.service.name): line.cost for line in _lines(company)}
    records = _records(conn)
    assert {(r["ResourceGroupName"], r["ServiceName"]): _amount(r) for r in records} == expected
    for record in records:
        assert columns <= set(record) and not ({"PreTaxCost", "Cost"} - columns) & set(record)
        assert record["Currency"] == "USD" and record["scope"] == scope
        if "CostUSD" in record:
            assert record["CostUSD"] == record["Cost"]


def test_auto_picks_cost_for_customer_agreement_scopes_and_pretax_cost_elsewhere():
    mca = "/providers/Microsoft.Billing/billingAccounts/1a2b3c4d-0000:5e6f7a8b-0000_2019-05-31"
    assert is_mca_scope(mca)
    assert is_mca_scope("/providers/Microsoft.Billing/billingAccounts/12345/billingProfiles/AB")
    assert not is_mca_scope("/providers/Microsoft.Billing/billingAccounts/12345678")
    assert not is_mca_scope(SUBSCRIPTION)


def test_a_three_way_grouping_splits_by_resource_group_and_counts_each_cost_once(
    conn, database_url, sandbox, company
):
    result = _collect(database_url, _client(sandbox, tag_key="team"))
    lines = _lines(company)
    records = _records(conn)
    assert result.rows == len(lines)
    assert sum(_amount(r) for r in records) == sum(line.cost for line in lines)
    by_group = {(r["filter"]["ResourceGroupName"], r["ServiceName"]): r for r in records}
    for line in lines:
        record = by_group[(line.account.id, line.service.name)]
        team = next((v for k, v in line.tags.items() if k.lower() == "team"), None)
        assert record["TagValue"] == team
        assert _amount(record) == line.cost
    bodies = [json.loads(request.body) for request in _queries(sandbox)]
    filters = [body["dataset"].get("filter") for body in bodies]
    assert all(len(body["dataset"]["grouping"]) <= 2 for body in bodies)
    assert sorted(f["dimensions"]["values"][0] for f in filters if f) == sorted(
        account.id for account in ACCOUNTS
    )


def test_usage_dates_are_read_as_yyyymmdd_integers():
    assert usage_day(20261103) == date(2026, 11, 3)
    assert usage_day("20261103") == date(2026, 11, 3)
    assert usage_day(20261103.0) == date(2026, 11, 3)
    for bad in (20260230, 2026113, "2026-11-03", True, None, 20261103.5):
        assert usage_day(bad) is None, bad


def _server_answering(company, monkeypatch, answer):
    """A sandbox whose subscription query answers `answer(request)`, with the real token route."""
    routes = {
        ("GET", azure_cost.TOKEN_PATH): azure_cost.ROUTES[("GET", azure_cost.TOKEN_PATH)],
        ("POST", QUERY): Route(
            lambda _company, request: answer(request), azure_cost.ROUTES[("POST", QUERY)].fault
        ),
    }
    server = SandboxServer(company, routes=routes)
    _identity(monkeypatch, server.url)
    return server


def _properties(rows, next_link=None):
    columns = [
        {"name": "UsageDate", "type": "Number"},
        {"name": "PreTaxCost", "type": "Number"},
        {"name": "ResourceGroupName", "type": "String"},
        {"name": "ServiceName", "type": "String"},
        {"name": "Currency", "type": "String"},
    ]
    return Response(200, {"properties": {"nextLink": next_link, "columns": columns, "rows": rows}})


def test_a_row_of_another_day_or_shape_is_kept_as_rejected(
    conn, database_url, company, monkeypatch
):
    rows = [
        [20261103, 1.25, "rg-a", "Storage", "USD"],
        [20261104, 2.5, "rg-a", "Storage", "USD"],
        [20261103, 3.75, "rg-a"],
        ["yesterday", 1.0, "rg-a", "Storage", "USD"],
    ]
    with _server_answering(company, monkeypatch, lambda _request: _properties(rows)) as server:
        result = _collect(database_url, _client(server))
    assert (result.rows, result.rejected) == (1, 3)
    assert _records(conn)[0]["PreTaxCost"] == 1.25
    reasons = [r[0] for r in conn.execute("select reason from raw._rejected order by reason")]
    assert any("UsageDate 2026-11-04" in reason for reason in reasons)
    assert any("does not match its 5 columns" in reason for reason in reasons)
    assert any("unreadable UsageDate" in reason for reason in reasons)


def test_a_next_link_that_repeats_is_refused_instead_of_looping(
    conn, database_url, company, monkeypatch
):
    def answer(request):
        link = f"http://{request.headers['host']}{QUERY}?api-version=2023-03-01&$skiptoken=same"
        return _properties([], next_link=link)

    with _server_answering(company, monkeypatch, answer) as server:
        with pytest.raises(SourceError, match="a repeated nextLink; refusing to loop"):
            _collect(database_url, _client(server))
        assert len(_queries(server)) == 2


def test_a_next_link_to_another_host_is_not_followed_with_the_token(
    conn, database_url, company, monkeypatch
):
    link = "https://attacker.invalid/query?$skiptoken=1"
    with _server_answering(company, monkeypatch, lambda _r: _properties([], link)) as server:
        with pytest.raises(SourceError, match=r"nextLink outside http://127\.0\.0\.1"):
            _collect(database_url, _client(server))
        assert len(_queries(server)) == 1


def test_rate_limits_wait_as_long_as_cost_management_asks(conn, database_url, sandbox):
    client = _client(sandbox)
    clean = _collect(database_url, client, run_id="clean").rows
    clean_attempts = len(_queries(sandbox))
    sandbox.requests.clear()
    sandbox.faults[QUERY] = [429]
    started = time.monotonic()
    assert _collect(database_url, client, run_id="limited").rows == clean
    waited = time.monotonic() - started
    assert len(_queries(sandbox)) == clean_attempts + 1, "the 429 cost exactly one extra request"
    # The 429 says retry-after 1 and the query-unit limit's header 2: the longest wins.
    assert waited >= azure_cost.QPU_RETRY_AFTER_S


def test_retry_after_takes_the_longest_of_azures_rate_limit_headers():
    response = httpx.Response(
        429,
        headers={
            "retry-after": "1",
            "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after": "4",
            "x-ms-ratelimit-microsoft.costmanagement-tenant-retry-after": "9",
            "x-ms-ratelimit-remaining-microsoft.costmanagement-qpu-consumed": "12",
        },
    )
    assert retry_after_seconds(response) == 9.0
    only_azure = {"x-ms-ratelimit-microsoft.costmanagement-entity-retry-after": "3"}
    assert retry_after_seconds(httpx.Response(429, headers=only_azure)) == 3.0


def test_a_refused_scope_fails_only_its_partition_and_names_the_role(
    conn, database_url, sandbox, caplog
):
    client = _client(sandbox)
    loaded = _collect(database_url, client).rows
    sandbox.faults[QUERY] = [403]
    with pytest.raises(SourceError) as failure:
        _collect(database_url, client, run_id="refused")
    message = str(failure.value)
    assert "HTTP 403" in message and "AuthorizationFailed" in message
    assert "Cost Management Reader" in message and SUBSCRIPTION in message
    counts = conn.execute("select count(*), min(run_id), max(run_id) from raw.azure_cost_query")
    assert counts.fetchone() == (loaded, "r1", "r1"), "the earlier load of the day is kept"
    next_day = _collect(database_url, client, run_id="next", day=DAY + timedelta(days=1))
    assert next_day.rows == loaded, "other partitions still load"
    tokens = {r.headers["authorization"].split()[1] for r in sandbox.requests if r.path == QUERY}
    assert tokens and not any(token in message for token in tokens)


def test_the_token_appears_in_no_raw_row_and_no_log_line(conn, database_url, sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    client = _client(sandbox, tag_key="team", cost_types=["ActualCost", "AmortizedCost"])
    assert _collect(database_url, client).rows > 0
    tokens = {r.headers["authorization"].split()[1] for r in sandbox.requests if r.path == QUERY}
    assert tokens and all(token.startswith(azure_cost.TOKEN_PREFIX) for token in tokens)
    stored = conn.execute("select string_agg(record::text, ' ') from raw.azure_cost_query")
    text = (
        stored.fetchone()[0]
        + caplog.text
        + " ".join(str(record.__dict__) for record in caplog.records)
    )
    assert "ManagedIdentityCredential" in caplog.text, "azure-identity's own log was captured"
    for secret in (*tokens, azure_cost.IDENTITY_HEADER):
        assert secret not in text


def test_a_token_close_to_expiry_is_renewed_before_the_next_request(
    conn, database_url, sandbox, monkeypatch
):
    client = _client(sandbox, tag_key="team")
    _collect(database_url, client)
    tokens = [r for r in sandbox.requests if r.path == azure_cost.TOKEN_PATH]
    assert len(tokens) == 1 < len(_queries(sandbox)), "a fresh token serves every query"
    sandbox.requests.clear()
    monkeypatch.setattr(azure_cost, "TOKEN_LIFETIME_S", 120)  # inside the renewal margin
    _collect(database_url, client, run_id="short")
    queries = _queries(sandbox)
    assert len([r for r in sandbox.requests if r.path == azure_cost.TOKEN_PATH]) == len(queries)
    assert len({r.headers["authorization"] for r in queries}) == len(queries)


def test_an_identity_the_endpoint_refuses_fails_with_the_credentials_reason(
    conn, database_url, sandbox, monkeypatch
):
    monkeypatch.setenv("IDENTITY_HEADER", "not-the-platforms-header")
    client = _client(sandbox, credential="managed_identity")
    with pytest.raises(SourceError, match=r"no Azure token for https://management\.azure\.com"):
        _collect(database_url, client)
    assert _queries(sandbox) == []


@pytest.mark.parametrize(
    ("section", "reason"),
    [
        ("{}", "sources.azure.scopes: Field required"),
        ("{scopes: []}", "name at least one scope"),
        ("{scopes: [/subscriptions]}", "is not a Cost Management scope"),
        (
            f"{{scopes: [{SUBSCRIPTION}, {SUBSCRIPTION}/resourceGroups/rg-a]}}",
            "its cost would be counted twice",
        ),
        (f"{{scopes: [{SUBSCRIPTION}], cost_types: [AmortizedCost]}}", "must include ActualCost"),
        (f"{{scopes: [{SUBSCRIPTION}], cost_column: CostUSD}}", "sources.azure.cost_column"),
        (
            f"{{scopes: [{SUBSCRIPTION}], group_by: [ServiceName, ResourceGroupName, "
            "ChargeType], tag_key: team}",
            "give 4 groupings",
        ),
        (f"{{scopes: [{SUBSCRIPTION}], group_by: [MeterName]}}", "sources.azure.group_by.0"),
        (f"{{scopes: [{SUBSCRIPTION}], tag_key: 'a/b'}}", "sources.azure.tag_key"),
        (f"{{scopes: [{SUBSCRIPTION}], api_version: latest}}", "sources.azure.api_version"),
        (f"{{scopes: [{SUBSCRIPTION}], client_secret: x}}", "client_secret: unknown key"),
    ],
)
def test_bad_configuration_is_refused_naming_the_key_and_reason(tmp_path, section, reason):
    path = tmp_path / "vault.yaml"
    path.write_text(f"sources:\n  azure: {section}\n")
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert reason in str(refused.value)
    assert str(path) in str(refused.value)


def test_a_configured_azure_section_becomes_a_daily_asset_with_its_client(tmp_path):
    from orchestration.definitions import build_definitions

    ensure_manifest()
    path = tmp_path / "vault.yaml"
    path.write_text(f"sources:\n  azure:\n    scopes: ['{SUBSCRIPTION}/']\n    tag_key: team\n")
    defs = build_definitions(load_config(path))
    graph = defs.resolve_asset_graph()
    asset = graph.get(dg.AssetKey(["raw", "azure_cost_query"]))
    assert asset.group_name == "azure"
    assert isinstance(asset.partitions_def, dg.DailyPartitionsDefinition)
    client = defs.resources["azure"]
    assert (client.scopes, client.tag_key, client.credential) == ([SUBSCRIPTION], "team", "default")


def test_the_demo_collects_azure_from_the_sandbox_through_its_identity_endpoint(
    conn, database_url, company, tmp_path, monkeypatch
):
    with SandboxServer(company) as server:
        workspace = prepare_sandbox(tmp_path, server.url, DAY.date(), DAY.date() + timedelta(1))
        for variable in _OTHER_IDENTITY_VARIABLES:
            monkeypatch.delenv(variable, raising=False)
        for variable, value in workspace.env.items():
            monkeypatch.setenv(variable, value)
        section = load_config(workspace.config_path).sources.azure
        client = build_resources(load_config(workspace.config_path))["azure"]
        assert section is not None and section.credential == "managed_identity"
        result = _collect(database_url, client)
    assert result.rows == len(_lines(company)) * len(section.cost_types)


# ---------- the ledger, built by dbt

LEDGER_DAYS = 3
RECONCILIATION = "assert_azure_cost_in_fct_costs_matches_raw"


@pytest.fixture(scope="module")
def ledger(module_database, company, tmp_path_factory):
    """Three days collected with both cost types and a tag, then `dbt build +fct_costs`."""
    patch = pytest.MonkeyPatch()
    try:
        with SandboxServer(company) as server:
            _identity(patch, server.url)
            client = _client(server, tag_key="team", cost_types=["ActualCost", "AmortizedCost"])
            for offset in range(LEDGER_DAYS):
                _collect(
                    module_database, client, run_id=f"day{offset}", day=DAY + timedelta(offset)
                )
    finally:
        patch.undo()
    ensure_sources_exist(WarehouseResource(url=module_database))
    target = tmp_path_factory.mktemp("dbt")
    env = {
        **os.environ,
        **dbt_env(module_database),
        "DBT_TARGET_PATH": str(target / "target"),
        "DBT_LOG_PATH": str(target / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    # Every model and seed fct_costs is built from, with the tests of the Azure models, of
    # fct_costs itself and the Azure reconciliation; the other sources' tests are theirs.
    build = _dbt(
        env,
        "build",
        "--select",
        "+fct_costs",
        "stg_azure__cost_rows+1,resource_type:test",
        "int_costs__azure+1,resource_type:test",
        "fct_costs+1,test_type:generic",
        RECONCILIATION,
        "--indirect-selection",
        "empty",
    )
    assert build.returncode == 0, build.stdout[-4000:]
    return module_database, env, target / "target"


def _dbt(env, *arguments):
    return subprocess.run(
        [
            dbt_executable(),
            *arguments,
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_ledgers_azure_cost_per_day_is_what_the_estate_spent(ledger, company):
    url, _, _ = ledger
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """
            select charge_period_start, sum(billed_cost), sum(effective_cost), count(*)
            from marts.fct_costs
            where x_source_system = 'azure'
            group by 1 order by 1
            """
        ).fetchall()
    expected = []
    for offset in range(LEDGER_DAYS):
        lines = _lines(company, DAY + timedelta(offset))
        total = sum(line.cost for line in lines)
        expected.append((DAY + timedelta(offset), total, total, len(lines)))
    assert rows == expected


def test_ledger_lines_carry_the_subscription_resource_group_and_attribution(ledger, company):
    url, _, _ = ledger
    with psycopg.connect(url) as conn:
        lines = conn.execute(
            """
            select sub_account_id, sub_account_type, billing_account_id, provider_name,
                publisher_name, invoice_issuer_name, service_category, charge_category,
                tags ->> 'x_ResourceGroupName', x_team, x_project, billing_currency
            from marts.fct_costs
            where x_source_system = 'azure'
            """
        ).fetchall()
        staged = conn.execute(
            "select distinct usage_date from staging.stg_azure__cost_rows order by 1"
        ).fetchall()
    subscription = ACCOUNTS[0].parent_id
    assert {line[:6] for line in lines} == {
        (subscription, "Subscription", subscription, "Microsoft", "Microsoft", "Microsoft")
    }
    assert {line[6] for line in lines} == {"Compute", "Storage", "AI and Machine Learning"}
    assert {line[7] for line in lines} == {"Usage"}
    assert {line[8] for line in lines} == {account.id for account in ACCOUNTS}
    # Tagged lines by their team tag, untagged ones by the subscription's mapping.
    assert {(line[9], line[10], line[11]) for line in lines} == {
        ("platform", "invoice-reader", "USD")
    }
    assert staged == [((DAY + timedelta(offset)).date(),) for offset in range(LEDGER_DAYS)]


def test_the_reconciliation_test_ran_and_fails_when_the_ledger_drifts(ledger):
    url, _, target = ledger
    results = json.loads((target / "run_results.json").read_text())["results"]
    ran = {r["unique_id"]: r["status"] for r in results}
    assert ran[f"test.vault.{RECONCILIATION}"] == "pass"
    unique_ids = [status for key, status in ran.items() if ".unique_fct_costs_x_cost_id" in key]
    assert unique_ids == ["pass"], "Azure's cost ids are unique in the whole ledger"
    # The same SQL dbt ran, against a ledger one cent off on one Azure line.
    compiled = next((target / "compiled").rglob(f"{RECONCILIATION}.sql")).read_text()
    with psycopg.connect(url) as conn:
        assert conn.execute(compiled).fetchall() == []
        conn.execute(
            "update marts.fct_costs set billed_cost = billed_cost + 0.01 where x_cost_id = ("
            "select min(x_cost_id) from marts.fct_costs where x_source_system = 'azure')"
        )
        drifted = conn.execute(compiled).fetchall()
        conn.rollback()
    assert len(drifted) == 1
    (_day, raw_total, fct_total) = drifted[0]
    assert fct_total - raw_total == Decimal("0.01")
