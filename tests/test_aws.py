"""AWS Cost Explorer: the collector through boto3, and the ledger lines dbt makes of it.

Seams. Cost Explorer and STS are moto's real server (`ThreadedMotoServer` on a free port),
reached by boto3 over HTTP through `endpoint_url`; its answers are the sandbox estate's AWS
lines, each page bound to its exact request by `orchestration.sandbox.aws_ce`. moto can
neither throttle nor deny access, so the tests of those paths point boto3 instead at the
project's loopback `SandboxServer` with one route, `POST /`, that answers the way Cost
Explorer's JSON protocol does: HTTP 400 bodies `{"__type": "ThrottlingException", ...}`
(or `LimitExceededException`, `AccessDeniedException`) for as many requests as a test
scripts, then real pages built from the request body. botocore's own retry handling
(standard mode) runs against it unchanged; nothing in boto3 is patched.
"""

import json
import logging
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from assets.aws import aws_cost_explorer, estimated_partitions
from orchestration.clients.aws import AwsCostExplorerClient
from orchestration.collectors.framework import run_collector
from orchestration.collectors.http import SourceError
from orchestration.config import ConfigError, load_config
from orchestration.dbt.project import DBT_PROJECT_DIR, dbt_executable, ensure_manifest
from orchestration.sandbox import aws_ce
from orchestration.sandbox.cloud import AWS, cloud_accounts, cloud_costs_for_day
from orchestration.sandbox.company import build_company
from orchestration.sandbox.routing import Response, Route
from orchestration.sandbox.server import SandboxServer
from orchestration.warehouse.connection import DATABASE_URL_ENV, WarehouseResource, dbt_env

DAY = date(2026, 11, 3)  # a Tuesday
LATER = DAY + timedelta(days=30)  # "today" for loads whose days are all final
PAYER = ("123456789012", "Northwind Labs")
LOG = logging.getLogger("test")
SERVICE_AND_ACCOUNT = [
    {"type": "DIMENSION", "key": "SERVICE"},
    {"type": "DIMENSION", "key": "LINKED_ACCOUNT"},
]
TEAM_TAG = [{"type": "TAG", "key": "team"}]


def _aws_env(patch: pytest.MonkeyPatch, home: Path) -> None:
    """Sandbox keys only: nothing of the machine's own AWS setup can take part."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN"):
        patch.delenv(name, raising=False)
    patch.setenv("AWS_ACCESS_KEY_ID", aws_ce.SANDBOX_ACCESS_KEY_ID)
    patch.setenv("AWS_SECRET_ACCESS_KEY", aws_ce.SANDBOX_SECRET_ACCESS_KEY)
    patch.setenv("AWS_CONFIG_FILE", str(home / "aws-config"))
    patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "aws-credentials"))
    patch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture(autouse=True)
def aws_env(monkeypatch, tmp_path):
    _aws_env(monkeypatch, tmp_path)


@pytest.fixture(scope="module")
def company():
    return build_company(7)


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    with aws_ce.moto_server() as url:
        yield url


@pytest.fixture
def moto(moto_url) -> str:
    """The moto server with no bindings left from another test."""
    aws_ce.reset(moto_url)
    return moto_url


def _client(url: str, **settings) -> AwsCostExplorerClient:
    settings.setdefault("billing_account_id", PAYER[0])
    settings.setdefault("billing_account_name", PAYER[1])
    settings.setdefault("max_retries", 2)
    return AwsCostExplorerClient(endpoint_url=url, **settings)


def _serve(url, client, company, start=DAY, days=1, *, today=LATER, page_size=10, daily=True):
    end = start + timedelta(days=days)
    windows = aws_ce.daily_windows(start, end) if daily else [(start, end)]
    return aws_ce.serve_cost_and_usage(
        url, client, company, windows, today=today, page_size=page_size
    )


def _collect(database_url, client, start=DAY, days=1, *, run_id="r1"):
    begin = datetime(start.year, start.month, start.day, tzinfo=UTC)
    result, _ = run_collector(
        aws_cost_explorer,
        WarehouseResource(url=database_url),
        start=begin,
        end=begin + timedelta(days=days),
        partition_key=start.isoformat(),
        run_id=run_id,
        log=LOG,
        resources={"aws": client},
    )
    return result


def _records(conn, partition: date | None = None) -> list[dict]:
    rows = conn.execute(
        "select record from raw.aws_cost_explorer where %s::text is null or partition_key = %s "
        "order by natural_key",
        (partition and partition.isoformat(),) * 2,
    ).fetchall()
    return [record for (record,) in rows]


def _amount(record: dict, metric: str) -> Decimal:
    return Decimal(record["metrics"][metric]["Amount"])


def test_one_day_is_one_record_per_service_and_account_with_exact_amounts(
    conn, database_url, moto, company
):
    client = _client(moto)
    pages = _serve(moto, client, company)
    result = _collect(database_url, client)
    lines = {(line.service.name, line.account.id): line for line in _lines(company, DAY)}
    assert pages == 2, "16 groups at 10 a page: the collector must follow NextPageToken"
    assert (result.rows, result.rejected) == (len(lines), 0) == (16, 0)
    names = {account.id: account.name for account in cloud_accounts(company, AWS)}
    for record in _records(conn):
        service, account = record["keys"]
        line = lines.pop((service, account))
        assert _amount(record, "UnblendedCost") == line.cost
        assert _amount(record, "AmortizedCost") == line.cost
        assert _amount(record, "NetAmortizedCost") == line.net_cost
        assert _amount(record, "UsageQuantity") == line.usage_quantity
        assert record["metrics"]["UnblendedCost"]["Unit"] == "USD"
        assert isinstance(record["metrics"]["UnblendedCost"]["Amount"], str), "kept as sent"
        assert record["time_period"] == {"Start": "2026-11-03", "End": "2026-11-04"}
        assert record["group_definitions"] == [
            {"Type": "DIMENSION", "Key": "SERVICE"},
            {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"},
        ]
        assert record["dimension_value_attributes"] == [
            {"Value": account, "Attributes": {"description": names[account]}}
        ]
        assert record["estimated"] is False
        assert (record["billing_account_id"], record["billing_account_name"]) == PAYER
        assert record["billed_cost_metric"] == "UnblendedCost"
    assert lines == {}, "every line of the day is one record"


def _lines(company, day):
    return cloud_costs_for_day(company, AWS, day)


def test_a_window_of_several_days_follows_every_page_to_the_exact_rows(
    conn, database_url, moto, company
):
    client = _client(moto)
    pages = _serve(moto, client, company, days=3, page_size=7, daily=False)
    result = _collect(database_url, client, days=3)
    days = [DAY + timedelta(days=n) for n in range(3)]
    expected = {
        f"{day.isoformat()}|{line.service.name}|{line.account.id}": line.cost
        for day in days
        for line in _lines(company, day)
    }
    assert pages == 7 and result.rows == len(expected) == 48
    keys = conn.execute(
        "select natural_key, record from raw.aws_cost_explorer order by natural_key"
    ).fetchall()
    assert {key: _amount(record, "UnblendedCost") for key, record in keys} == expected


def test_daily_partitions_each_read_their_own_pages(conn, database_url, moto, company):
    client = _client(moto)
    _serve(moto, client, company, days=3)
    for offset in range(3):
        day = DAY + timedelta(days=offset)
        assert _collect(database_url, client, day, run_id=f"r{offset}").rows == 16
        total = sum((_amount(r, "UnblendedCost") for r in _records(conn, day)), Decimal(0))
        assert total == sum((line.cost for line in _lines(company, day)), Decimal(0))


def test_tag_group_keys_keep_each_team_and_the_untagged(conn, database_url, moto, company):
    client = _client(moto, group_by=TEAM_TAG)
    _serve(moto, client, company)
    _collect(database_url, client)
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for line in _lines(company, DAY):
        # Tag keys are case-sensitive: a `Team` tag is not the `team` tag.
        expected[f"team${line.tags.get('team', '')}"] += line.cost
    records = _records(conn)
    assert {r["keys"][0]: _amount(r, "UnblendedCost") for r in records} == expected
    assert "team$" in expected and len(expected) == 4
    assert all(r["dimension_value_attributes"] == [] for r in records)


def test_estimated_days_are_marked_and_reloaded_until_final(conn, database_url, moto, company):
    today = DAY + timedelta(days=3)
    client = _client(moto)
    _serve(moto, client, company, days=3, today=today)
    for offset in range(3):
        _collect(database_url, client, DAY + timedelta(days=offset), run_id=f"first{offset}")
    flags = conn.execute(
        "select partition_key, bool_and((record ->> 'estimated')::boolean) "
        "from raw.aws_cost_explorer group by 1 order by 1"
    ).fetchall()
    assert flags == [("2026-11-03", False), ("2026-11-04", True), ("2026-11-05", True)]
    assert estimated_partitions(conn, refetch_days=62, today=today) == ["2026-11-04", "2026-11-05"]
    assert estimated_partitions(conn, refetch_days=1, today=today) == ["2026-11-05"]

    # A week on, Cost Explorer calls 2026-11-04 final: its reload takes it off the list.
    aws_ce.reset(moto)
    _serve(moto, client, company, DAY + timedelta(days=1), today=today + timedelta(days=7))
    _collect(database_url, client, DAY + timedelta(days=1), run_id="final")
    assert estimated_partitions(conn, refetch_days=62, today=today) == ["2026-11-05"]


def test_estimated_refetch_days_comes_from_vault_yaml(conn, database_url, moto, company, tmp_path):
    today = DAY + timedelta(days=2)
    client = _client(moto)
    _serve(moto, client, company, days=2, today=today)
    for offset in range(2):
        _collect(database_url, client, DAY + timedelta(days=offset), run_id=f"r{offset}")
    config = tmp_path / "vault.yaml"
    config.write_text("sources:\n  aws:\n    estimated_refetch_days: 1\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("VAULT_CONFIG", str(config))
        assert estimated_partitions(conn, today=today) == ["2026-11-04"]
        config.write_text("sources:\n  aws: {}\n")
        assert estimated_partitions(conn, today=today) == ["2026-11-03", "2026-11-04"]


def test_no_raw_table_yet_means_nothing_to_reload(conn):
    assert estimated_partitions(conn, refetch_days=62) == []


def test_rerunning_a_partition_gives_the_same_rows(conn, database_url, moto, company):
    client = _client(moto)
    _serve(moto, client, company)
    first = _collect(database_url, client, run_id="a")
    before = _records(conn)
    again = _collect(database_url, client, run_id="b")
    assert first.rows == again.rows == 16
    assert _records(conn) == before
    assert conn.execute(
        "select count(*), count(distinct run_id), min(run_id) from raw.aws_cost_explorer"
    ).fetchone() == (16, 1, "b")


def test_the_billing_account_is_the_callers_unless_configured(conn, database_url, moto, company):
    client = AwsCostExplorerClient(endpoint_url=moto)
    _serve(moto, client, company)
    _collect(database_url, client)
    # moto's STS answers GetCallerIdentity with its default account.
    payer = {(r["billing_account_id"], r["billing_account_name"]) for r in _records(conn)}
    assert payer == {("123456789012", "123456789012")}
    named = AwsCostExplorerClient(
        endpoint_url=moto, billing_account_id="999988887777", billing_account_name="Payer"
    )
    _collect(database_url, named, run_id="named")
    payer = {(r["billing_account_id"], r["billing_account_name"]) for r in _records(conn)}
    assert payer == {("999988887777", "Payer")}


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            "group_by: [{type: DIMENSION, key: SERVICE}, {type: TAG, key: team}, "
            "{type: DIMENSION, key: REGION}]",
            "sources.aws.group_by: Value error, Cost Explorer groups by at most 2 keys, got 3",
        ),
        (
            "metrics: [UnblendedCost, ListPrice]",
            "sources.aws.metrics.1: Input should be 'UnblendedCost', 'AmortizedCost'",
        ),
        (
            "group_by: [{type: DIMENSION, key: COLOUR}]",
            "Cost Explorer does not group by DIMENSION 'COLOUR'; use one of AZ, ",
        ),
        ("metrics: [AmortizedCost]", "billed_cost_metric UnblendedCost must be one of the metrics"),
        ("endpoint_url: localhost:5000", "sources.aws.endpoint_url: Value error, must start"),
        ("billing_account_id: 12345", "sources.aws.billing_account_id: Input should be"),
    ],
)
def test_a_bad_aws_section_is_refused_with_the_key_and_reason(tmp_path, section, expected):
    config = tmp_path / "vault.yaml"
    config.write_text(f"sources:\n  aws:\n    {section}\n")
    with pytest.raises(ConfigError) as refused:
        load_config(config)
    assert expected in str(refused.value)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"group_by": [*SERVICE_AND_ACCOUNT, *TEAM_TAG]},
            "AWS Cost Explorer: Cost Explorer groups by at most 2 keys, got 3",
        ),
        ({"metrics": ["UnblendedCost", "Profit"]}, "AWS Cost Explorer: unknown metric(s) Profit"),
        ({"group_by": [{"type": "TAG"}]}, "needs exactly the keys type and key"),
    ],
)
def test_a_bad_client_query_is_refused_before_any_request(
    conn, database_url, company, settings, expected
):
    with _fake_ce(company, []) as server:
        with pytest.raises(ValueError) as refused:
            _collect(database_url, _client(server.url, **settings))
        assert server.requests == []
    assert expected in str(refused.value)


def _error(code: str, message: str) -> Response:
    return Response(400, {"__type": code, "message": message})


def _fake_ce(company, script: list[Response], *, today=LATER) -> SandboxServer:
    """Cost Explorer's JSON protocol on POST /: the scripted answers first, then real pages."""

    def answer(_company, request) -> Response:
        if script:
            return script.pop(0)
        page = aws_ce.answer_page(company, json.loads(request.body), today=today)
        if page is None:
            return _error("InvalidNextTokenException", "The pagination token is invalid.")
        return Response(200, page)

    route = Route(answer, lambda status: _error("InternalFailure", f"HTTP {status}"))
    return SandboxServer(company, routes={("POST", "/"): route})


@pytest.mark.parametrize("code", ["ThrottlingException", "LimitExceededException"])
def test_throttling_is_retried_by_botocore(conn, database_url, company, code):
    script = [_error(code, "Rate exceeded"), _error(code, "Rate exceeded")]
    with _fake_ce(company, script) as server:
        result = _collect(database_url, _client(server.url, max_retries=3))
        assert len(server.requests) == 4, "two throttled attempts, then both pages"
    assert result.rows == 16


def test_throttling_that_persists_fails_only_its_partition(conn, database_url, company):
    with _fake_ce(company, []) as server:
        _collect(database_url, _client(server.url), DAY, run_id="earlier")
        _collect(database_url, _client(server.url), DAY + timedelta(days=1), run_id="neighbour")
    throttled = [_error("ThrottlingException", "Rate exceeded") for _ in range(10)]
    with _fake_ce(company, throttled) as busy:
        with pytest.raises(SourceError) as failure:
            _collect(database_url, _client(busy.url), DAY, run_id="throttled")
        assert len(busy.requests) == 3, "max_retries=2: three attempts in all"
    assert str(failure.value) == (
        "AWS Cost Explorer: GetCostAndUsage failed with ThrottlingException: Rate exceeded "
        "(gave up after 3 attempts)"
    )
    loads = conn.execute(
        "select partition_key, run_id, count(*) from raw.aws_cost_explorer group by 1, 2 order by 1"
    ).fetchall()
    assert loads == [("2026-11-03", "earlier", 16), ("2026-11-04", "neighbour", 16)]


def test_access_denied_names_the_iam_action_and_is_not_retried(conn, database_url, company):
    denied = _error(
        "AccessDeniedException",
        "User: arn:aws:iam::123456789012:user/reader is not authorized to perform: "
        "ce:GetCostAndUsage",
    )
    with _fake_ce(company, [denied]) as server:
        with pytest.raises(SourceError) as failure:
            _collect(database_url, _client(server.url))
        assert len(server.requests) == 1
    message = str(failure.value)
    assert message.startswith(
        "AWS Cost Explorer: GetCostAndUsage failed with AccessDeniedException"
    )
    assert message.endswith(
        "the credentials need the IAM action ce:GetCostAndUsage and Cost Explorer enabled "
        "for the account"
    )
    assert aws_ce.SANDBOX_SECRET_ACCESS_KEY not in message


def test_a_page_token_that_repeats_is_refused_instead_of_looping(conn, database_url, company):
    page = {"ResultsByTime": [], "NextPageToken": "same-token"}
    with _fake_ce(company, [Response(200, page), Response(200, page)]) as server:
        with pytest.raises(SourceError, match="NextPageToken it had already given; refusing"):
            _collect(database_url, _client(server.url))
        assert len(server.requests) == 2


def test_a_group_that_does_not_match_its_definitions_is_kept_as_rejected(
    conn, database_url, company
):
    metrics = {"UnblendedCost": {"Amount": "1.50", "Unit": "USD"}}
    page = {
        "GroupDefinitions": [{"Type": "DIMENSION", "Key": "SERVICE"}],
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": "2026-11-03", "End": "2026-11-04"},
                "Total": {},
                "Groups": [
                    {"Keys": ["Amazon Bedrock"], "Metrics": metrics},
                    {"Keys": ["Amazon Bedrock", "surplus-key"], "Metrics": metrics},
                ],
                "Estimated": False,
            }
        ],
    }
    with _fake_ce(company, [Response(200, page)]) as server:
        client = _client(server.url, group_by=[{"type": "DIMENSION", "key": "SERVICE"}])
        result = _collect(database_url, client)
    assert (result.rows, result.rejected) == (1, 1)
    reason, text = conn.execute(
        "select reason, raw_text from raw._rejected where table_name = 'aws_cost_explorer'"
    ).fetchone()
    assert "Keys do not match its GroupDefinitions" in reason and "surplus-key" in text


def test_missing_credentials_say_where_they_are_looked_for(database_url, company, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with _fake_ce(company, []) as server:
        with pytest.raises(SourceError, match="no AWS credentials found in the standard chain"):
            _collect(database_url, _client(server.url))
        assert server.requests == []


def test_the_aws_section_makes_one_daily_asset_that_names_stale_partitions(tmp_path):
    # Imported here: loading the module parses the whole dbt project.
    from orchestration.definitions import build_definitions

    ensure_manifest()
    config = tmp_path / "vault.yaml"
    config.write_text(
        "sources:\n  aws:\n    region: eu-west-1\n    group_by: [{type: TAG, key: team}]\n"
    )
    defs = build_definitions(load_config(config))
    graph = defs.resolve_asset_graph()
    node = graph.get(dg.AssetKey(["raw", "aws_cost_explorer"]))
    assert node.group_name == "aws"
    assert isinstance(node.partitions_def, dg.DailyPartitionsDefinition)
    client = defs.resources["aws"]
    assert isinstance(client, AwsCostExplorerClient)
    assert (client.region, client.group_by) == ("eu-west-1", TEAM_TAG)
    assert aws_cost_explorer.stale_partitions is estimated_partitions


# -- the ledger ----------------------------------------------------------------------------

# One day per grouping: staging reads each record by its own group definitions.
LEDGER_GROUPINGS = [
    SERVICE_AND_ACCOUNT,
    [{"type": "DIMENSION", "key": "LINKED_ACCOUNT"}, *TEAM_TAG],
    TEAM_TAG,
    [{"type": "DIMENSION", "key": "USAGE_TYPE"}, {"type": "DIMENSION", "key": "REGION"}],
    [],
]
LEDGER_DAYS = [DAY + timedelta(days=n) for n in range(len(LEDGER_GROUPINGS))]
LEDGER_TODAY = LEDGER_DAYS[-1] + timedelta(days=1)


@pytest.fixture(scope="module")
def ledger(module_database, moto_url, company, tmp_path_factory) -> Iterator[str]:
    """Five AWS days, each collected with another grouping, then `dbt build +fct_costs`."""
    home = tmp_path_factory.mktemp("aws-home")
    with pytest.MonkeyPatch.context() as patch:
        _aws_env(patch, home)
        # Every source's raw table, as `vault db init` makes them: dbt reads them all.
        init = subprocess.run(
            [sys.executable, "-m", "orchestration.cli", "db", "init"],
            env={**os.environ, DATABASE_URL_ENV: module_database},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert init.returncode == 0, init.stderr
        aws_ce.reset(moto_url)
        for day, group_by in zip(LEDGER_DAYS, LEDGER_GROUPINGS, strict=True):
            client = _client(moto_url, group_by=group_by)
            _serve(moto_url, client, company, day, today=LEDGER_TODAY)
            assert _collect(module_database, client, day, run_id=f"ledger-{day}").rows > 0
    target = tmp_path_factory.mktemp("dbt")
    env = {
        **os.environ,
        **dbt_env(module_database),
        "DBT_TARGET_PATH": str(target / "target"),
        "DBT_LOG_PATH": str(target / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    # Everything fct_costs is built from, then the tests of the AWS models, the seeds they
    # map with and fct_costs (its reconciliations with every cost source among them). The
    # hundreds of other sources' tests over their empty tables are left to their modules.
    for step in (
        ["build", "--select", "+fct_costs", "--resource-type", "model", "--resource-type", "seed"],
        [
            "test",
            "--select",
            "source:aws stg_aws__cost_explorer int_costs__aws source_mappings"
            " service_categories fct_costs",
        ],
    ):
        run = subprocess.run(
            [
                dbt_executable(),
                *step,
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
        assert run.returncode == 0, run.stdout[-4000:]
    assert "PASS assert_aws_cost_in_fct_costs_matches_raw" in run.stdout
    yield module_database


def _ledger(url, sql, *params):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def test_the_ledger_bills_each_day_what_the_estate_spent_to_the_cent(ledger, company):
    billed = dict(
        _ledger(
            ledger,
            "select charge_period_start::date, sum(billed_cost) from marts.fct_costs "
            "where x_source_system = 'aws' group by 1",
        )
    )
    spent = {day: sum((line.cost for line in _lines(company, day)), Decimal(0)) for day in billed}
    assert sorted(billed) == LEDGER_DAYS
    for day in LEDGER_DAYS:
        assert abs(billed[day] - spent[day]) < Decimal("0.005"), day
        assert billed[day] == spent[day], "numeric all the way: not even a rounding error"


def _team_totals(url, day):
    rows = _ledger(
        url,
        "select x_team, sum(billed_cost) from marts.fct_costs "
        "where x_source_system = 'aws' and charge_period_start::date = %s group by 1",
        day,
    )
    return dict(rows)


def test_team_tags_map_to_teams_and_untagged_lines_fall_back_to_the_account(ledger, company):
    by_account, by_tag_only = LEDGER_DAYS[1], LEDGER_DAYS[2]
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for line in _lines(company, by_account):
        expected[line.tags.get("team") or line.account.team] += line.cost
    assert _team_totals(ledger, by_account) == expected
    expected = defaultdict(Decimal)
    for line in _lines(company, by_tag_only):
        expected[line.tags.get("team") or "unallocated"] += line.cost
    assert _team_totals(ledger, by_tag_only) == expected
    assert expected["unallocated"] > 0, "no account to fall back on: untagged is unallocated"


def test_ledger_lines_carry_the_focus_columns_cost_explorer_gives(ledger, company):
    (row,) = _ledger(
        ledger,
        "select provider_name, publisher_name, invoice_issuer_name, billing_account_id, "
        "billing_account_name, sub_account_name, service_category, charge_category, "
        "billing_currency, billing_period_start::date, x_team, x_department, x_project, "
        "x_environment, x_estimated, list_cost = billed_cost, consumed_quantity "
        "from marts.fct_costs where x_source_system = 'aws' and sub_account_id = %s "
        "and service_name = 'Amazon Bedrock' and charge_period_start::date = %s",
        "210987654321",
        LEDGER_DAYS[0],
    )
    assert row == (
        "AWS",
        "AWS",
        "AWS",
        *PAYER,
        "checkout-prod",
        "AI and Machine Learning",
        "Usage",
        "USD",
        date(2026, 11, 1),
        "checkout",
        "engineering",
        "checkout-assistant",
        "production",
        False,
        True,
        None,
    )


def test_quantities_are_consumed_only_per_usage_type(ledger, company):
    rows = _ledger(
        ledger,
        "select charge_description, consumed_quantity, consumed_unit from marts.fct_costs "
        "where x_source_system = 'aws' and consumed_quantity is not null",
    )
    expected: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for line in _lines(company, LEDGER_DAYS[3]):
        service = line.service
        expected[(f"{service.usage_type}, {service.region}", service.unit)] += line.usage_quantity
    assert {(description, unit): quantity for description, quantity, unit in rows} == expected


def test_the_last_two_days_are_estimated(ledger):
    rows = _ledger(
        ledger,
        "select charge_period_start::date, bool_and(x_estimated) from marts.fct_costs "
        "where x_source_system = 'aws' group by 1 order by 1",
    )
    assert rows == [(day, day >= LEDGER_TODAY - timedelta(days=2)) for day in LEDGER_DAYS]
