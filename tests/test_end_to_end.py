"""End to end: every source from the sandbox, through Dagster and dbt, into the marts.

Two partitions of every collector (AWS through moto's server, the rest through the sandbox
HTTP server, files from the sandbox folder) are materialised through the real client code, dbt builds
and tests once over the range (as a backfill does), the marts are checked against what the
sandbox served, and one partition is then run again to show nothing is duplicated.
"""

import json
import uuid
from collections import defaultdict
from datetime import date
from decimal import Decimal
from urllib.parse import urlsplit

import dagster as dg
import psycopg
import pytest
from conftest import run_dbt

from orchestration.config import load_config
from orchestration.dbt.project import ensure_manifest
from orchestration.definitions import build_definitions
from orchestration.demo import (
    daily_keys,
    load_hook_events,
    materialize_window,
    prepare_sandbox,
    replay_product_usage,
)
from orchestration.sandbox.activity import costs_for_day, usage_for_day
from orchestration.sandbox.aws_ce import moto_server
from orchestration.sandbox.company import build_company
from orchestration.sandbox.server import SandboxServer

pytestmark = pytest.mark.e2e

START, END = date(2026, 11, 9), date(2026, 11, 11)


@pytest.fixture(scope="module")
def company():
    return build_company(7)


@pytest.fixture(scope="module")
def built(module_database, company, tmp_path_factory):
    """The vault after collecting two days and one dbt build; yields (defs, instance, url)."""
    ensure_manifest()
    with (
        SandboxServer(company) as sandbox,
        moto_server() as aws_url,
        dg.DagsterInstance.ephemeral() as instance,
    ):
        workspace = prepare_sandbox(
            tmp_path_factory.mktemp("sandbox"), sandbox.url, START, END, aws_endpoint_url=aws_url
        )
        mp = pytest.MonkeyPatch()
        for key, value in {**workspace.env, "VAULT_DATABASE_URL": module_database}.items():
            mp.setenv(key, value)
        try:
            defs = build_definitions(load_config(workspace.config_path))
            spool = workspace.config_path.parent / "claude-hook.jsonl"
            load_hook_events(module_database, spool, START, END)
            replay_product_usage(
                module_database, START, END, spool_dir=workspace.config_path.parent / "tracking"
            )
            materialize_window(defs, instance, daily_keys(START, END))
            yield defs, instance, module_database
        finally:
            mp.undo()


def _query(url, sql, *params):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params or None).fetchall()


def test_anthropic_tokens_in_fct_metrics_equal_what_the_vendor_reported(built, company):
    _, _, url = built
    expected = defaultdict(int)
    for day in (START, date(2026, 11, 10)):
        for row in usage_for_day(company, day):
            expected["ai.tokens.output"] += row.output_tokens
            expected["ai.tokens.input_uncached"] += row.uncached_input_tokens
            expected["ai.tokens.cache_read"] += row.cache_read_input_tokens
    rows = dict(
        _query(
            url,
            "select metric_type, sum(value)::bigint from marts.fct_metrics "
            "where source_system = 'anthropic' and unit = 'tokens' group by 1",
        )
    )
    for metric, total in expected.items():
        assert rows[metric] == total, metric


def test_billed_cost_equals_the_cost_report_in_dollars(built, company):
    _, _, url = built
    cents = sum(
        row.amount_cents
        for day in (START, date(2026, 11, 10))
        for row in costs_for_day(company, day)
    )
    billed = _query(
        url,
        "select sum(value) from marts.fct_metrics where metric_type = 'ai.cost' "
        "and source_system = 'anthropic'",
    )[0][0]
    assert billed == pytest.approx(cents / 100, abs=Decimal("0.000001"))


def test_claude_code_messages_are_counted_once_and_priced(built):
    _, _, url = built
    (raw_unique,) = _query(
        url,
        "select count(distinct natural_key) from raw.claude_code_messages",
    )[0]
    (requests, estimated, unallocated) = _query(
        url,
        "select sum(value) filter (where metric_type = 'ai.requests'), "
        "sum(value) filter (where metric_type = 'ai.cost_estimated'), "
        "count(*) filter (where department = 'unallocated') "
        "from marts.fct_metrics where source_system = 'claude_code'",
    )[0]
    assert raw_unique > 0
    assert requests == raw_unique
    assert estimated > 0
    assert unallocated == 0, "every sandbox engineer is in people.csv"


def test_every_observation_is_in_the_window_and_taxonomy_is_never_null(built):
    _, _, url = built
    (outside, nulls) = _query(
        url,
        # A pull request loaded in the window carries what happened to it since (merged the
        # next day): GitHub's events are dated when they happened, inside or after the window.
        "select count(*) filter (where (observed_at < %s or observed_at >= %s) "
        "and source_system != 'github'), "
        "count(*) filter (where department is null or project is null or cost_category is null) "
        "from marts.fct_metrics",
        START,
        END,
    )[0]
    strays = _query(
        url,
        "select source_system, metric_type, min(observed_at), max(observed_at), count(*) "
        "from marts.fct_metrics where (observed_at < %s or observed_at >= %s) "
        "and source_system != 'github' group by 1, 2",
        START,
        END,
    )
    assert (outside, nulls) == (0, 0), strays


def test_rejected_transcript_lines_are_kept(built):
    _, _, url = built
    reasons = _query(
        url, "select reason from raw._rejected where table_name = 'claude_code_messages'"
    )
    assert all("not a valid transcript line" in reason for (reason,) in reasons)


def test_dbt_tests_ran_as_asset_checks_and_passed(built):
    defs, instance, _ = built
    checks = defs.resolve_asset_graph().asset_check_keys
    records = instance.event_log_storage.get_latest_asset_check_execution_by_key(list(checks))
    evaluated = [record for record in records.values() if record is not None]
    assert len(evaluated) == len(checks)
    failed = [
        record.key
        for record in evaluated
        if record.event and not record.event.asset_check_evaluation.passed
    ]
    assert not failed


def test_rerunning_a_partition_changes_nothing(built):
    defs, instance, url = built
    query = "select count(*), count(distinct metric_id), sum(value) from marts.fct_metrics"
    before = _query(url, query)[0]
    raw_before = _query(url, "select count(*) from raw.anthropic_messages_usage")[0]
    materialize_window(defs, instance, ["2026-11-10"])
    after = _query(url, query)[0]
    assert after == before
    assert after[0] == after[1], "metric_id is unique"
    assert _query(url, "select count(*) from raw.anthropic_messages_usage")[0] == raw_before


def test_openai_tokens_and_costs_in_fct_metrics_equal_what_the_sandbox_served(built, company):
    from orchestration.sandbox import openai_org

    _, _, url = built
    organization = openai_org.build_organization(company)
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for day in (START, date(2026, 11, 10)):
        for row in openai_org.usage_for_day(organization, "completions", day):
            cached = row.quantity("input_cached_tokens")
            expected["ai.tokens.input_uncached"] += row.quantity("input_tokens") - cached
            expected["ai.tokens.cache_read"] += cached
            expected["ai.tokens.output"] += row.quantity("output_tokens")
        for row in openai_org.usage_for_day(organization, "embeddings", day):
            expected["ai.tokens.input_uncached"] += row.quantity("input_tokens")
        for endpoint, field, metric in (
            ("images", "images", "ai.images"),
            ("audio_speeches", "characters", "ai.audio_characters"),
            ("audio_transcriptions", "seconds", "ai.audio_seconds"),
        ):
            for row in openai_org.usage_for_day(organization, endpoint, day):
                expected[metric] += row.quantity(field)
        costs = openai_org.costs_for_day(organization, day)
        expected["ai.cost"] += sum(item.amount_usd for item in costs)
    rows = dict(
        _query(
            url,
            "select metric_type, sum(value) from marts.fct_metrics "
            "where source_system = 'openai' and metric_type <> 'ai.requests' group by 1",
        )
    )
    assert rows.keys() == expected.keys()
    for metric, total in expected.items():
        assert rows[metric] == pytest.approx(total, abs=Decimal("0.000001")), metric
    (unallocated,) = _query(
        url,
        "select count(*) from marts.fct_metrics "
        "where source_system = 'openai' and (department = 'unallocated' or project = 'unallocated')",
    )[0]
    assert unallocated == 0, "every sandbox OpenAI project and key is in source_mappings.csv"


def test_claude_code_analytics_sessions_and_code_in_fct_metrics_match_the_sandbox(built, company):
    from orchestration.sandbox.anthropic_api import claude_code_records
    from orchestration.sandbox.transcripts import sessions_for_day

    _, _, url = built
    days = (START, date(2026, 11, 10))
    sessions = _query(
        url,
        "select (observed_at at time zone 'UTC')::date, sum(value)::bigint "
        "from marts.fct_metrics "
        "where source_system = 'claude_code_analytics' and metric_type = 'ai.sessions' "
        "group by 1",
    )
    assert dict(sessions) == {day: len(sessions_for_day(company, day)) for day in days}
    lines_added = defaultdict(int)
    for day in days:
        for record in claude_code_records(company, day):
            department = company.person(record["actor"]["email_address"]).department
            lines_added[department] += record["core_metrics"]["lines_of_code"]["added"]
    rows = _query(
        url,
        "select department, count(*), sum(value)::bigint from marts.fct_metrics "
        "where source_system = 'claude_code_analytics' and metric_type = 'code.lines_added' "
        "group by 1",
    )
    assert {department: total for department, _, total in rows} == {
        department: total for department, total in lines_added.items() if total
    }
    assert all(count > 0 for _, count, _ in rows) and "unallocated" not in lines_added


def test_product_requests_per_customer_in_fct_metrics_equal_the_sandbox(built, company):
    from orchestration.sandbox.product_usage import requests_for_day

    _, _, url = built
    requests: dict[tuple[date, str], int] = defaultdict(int)
    failed, cost = 0, Decimal(0)
    for day in (START, date(2026, 11, 10)):
        for request in requests_for_day(company, day):
            requests[(day, request.customer)] += 1
            failed += not request.success
            cost += request.cost_usd
    rows = _query(
        url,
        "select (observed_at at time zone 'UTC')::date, customer, sum(value)::bigint "
        "from marts.fct_metrics where source_system = 'product' and metric_type = 'ai.requests' "
        "group by 1, 2",
    )
    assert {(day, customer): total for day, customer, total in rows} == requests
    totals = dict(
        _query(
            url,
            "select metric_type, sum(value) from marts.fct_metrics "
            "where source_system = 'product' group by 1",
        )
    )
    assert totals["ai.requests_failed"] == failed > 0
    assert totals["ai.cost"] == pytest.approx(cost, abs=Decimal("0.000001"))
    (unallocated,) = _query(
        url,
        "select count(*) from marts.fct_metrics where source_system = 'product' "
        "and 'unallocated' in (customer, feature, project, environment)",
    )[0]
    assert unallocated == 0, "every sandbox request names its customer, feature and project"


def test_ai_usage_counts_every_token_once_and_prices_cache_tokens(built):
    _, _, url = built
    in_metrics = dict(
        _query(
            url,
            "select source_system || ':' || replace(metric_type, 'ai.tokens.', ''), sum(value) "
            "from marts.fct_metrics where metric_type like 'ai.tokens.%' group by 1",
        )
    )
    in_usage = dict(
        _query(
            url,
            "select source_system || ':' || token_type, sum(tokens) from marts.fct_ai_usage "
            "where token_type != 'all' group by 1",
        )
    )
    assert in_usage == in_metrics
    cache_cost = dict(
        _query(
            url,
            "select provider, sum(computed_cost_usd) from marts.fct_ai_usage "
            "where token_type = 'cache_read' and is_billed group by 1",
        )
    )
    assert cache_cost["anthropic"] > 0 and cache_cost["openai"] > 0
    # Reported money wins and adds up to what the vendors reported, source by source.
    reported = dict(
        _query(
            url,
            "select source_system, sum(value) from marts.fct_metrics "
            "where metric_type = 'ai.cost' and source_system in ('anthropic', 'openai') "
            "group by 1",
        )
    )
    charged = dict(
        _query(
            url,
            "select source_system, sum(cost_usd) from marts.fct_ai_usage "
            "where is_billed group by 1",
        )
    )
    for source, money in reported.items():
        assert charged[source] == pytest.approx(money, rel=1e-9), source


def test_claude_code_sessions_have_task_classes(built):
    _, _, url = built
    rows = _query(
        url,
        "select count(*), count(*) filter (where task_class != 'unclassified'), "
        "sum(requests) from marts.claude_code_sessions",
    )[0]
    sessions, classified, requests = rows
    assert sessions > 0 and classified > 0
    (messages,) = _query(
        url,
        "select sum(value) from marts.fct_metrics "
        "where source_system = 'claude_code' and metric_type = 'ai.requests'",
    )[0]
    assert requests == messages


def test_the_ai_vendors_bills_are_in_the_cost_ledger_to_the_cent(built, company):
    from orchestration.sandbox import openai_org

    _, _, url = built
    organization = openai_org.build_organization(company)
    days = (START, date(2026, 11, 10))
    expected = {
        "Anthropic": sum(row.amount_cents for day in days for row in costs_for_day(company, day))
        / 100,
        "OpenAI": sum(
            item.amount_usd for day in days for item in openai_org.costs_for_day(organization, day)
        ),
    }
    rows = _query(
        url,
        "select provider_name, service_category, billing_currency, sum(billed_cost), "
        "bool_and(charge_period_end = charge_period_start + interval '1 day') "
        "from marts.fct_costs where x_source_system in ('anthropic', 'openai') group by 1, 2, 3",
    )
    assert {row[0] for row in rows} == set(expected)
    for provider, category, currency, billed, daily in rows:
        assert (category, currency, daily) == ("AI and Machine Learning", "USD", True)
        assert billed == pytest.approx(expected[provider], abs=Decimal("0.005")), provider


def test_every_cloud_dollar_the_company_spent_is_in_the_ledger_once(built, company):
    from orchestration.sandbox.cloud import AWS, AZURE, GCP, GPU_CLOUD, cloud_costs_for_day

    _, _, url = built
    days = (START, date(2026, 11, 10))
    source_of = {AWS: "aws", GCP: "gcp", AZURE: "azure", GPU_CLOUD: "focus"}
    expected = {
        source_of[provider]: sum(
            line.net_cost for day in days for line in cloud_costs_for_day(company, provider, day)
        )
        for provider in source_of
    }
    rows = dict(
        _query(
            url,
            "select x_source_system, sum(billed_cost) from marts.fct_costs "
            "where x_source_system = any(%s) group by 1",
            list(expected),
        )
    )
    assert rows.keys() == expected.keys()
    for source, total in expected.items():
        assert rows[source] == pytest.approx(total, abs=Decimal("0.005")), source
    (unattributed,) = _query(
        url,
        "select count(*) from marts.fct_costs where x_source_system = any(%s) "
        "and (x_department is null or x_team is null or x_project is null)",
        list(expected),
    )[0]
    assert unattributed == 0


def test_every_ledger_dollar_reaches_the_cfo_view_in_one_cost_category(built):
    _, _, url = built
    ledger, attributed, cfo_all, unknown = _query(
        url,
        "select "
        "(select sum(billed_cost) from marts.fct_costs where billing_currency = 'USD' "
        "   and not tags ? 'x_allocated_from'), "
        "(select sum(billed_cost_usd) from marts.cost_attribution where counts_in_totals), "
        "(select sum(cost_usd) from marts.cfo_cost_by_quarter where scope = 'all'), "
        "(select count(*) from marts.cost_attribution where cost_category is null "
        "   or department is null or project is null)",
    )[0]
    assert ledger > 0
    assert attributed == pytest.approx(ledger, abs=Decimal("0.01"))
    assert cfo_all == pytest.approx(ledger, abs=Decimal("0.5"))
    assert unknown == 0
    categories = {
        row[0] for row in _query(url, "select distinct cost_category from marts.cost_attribution")
    }
    assert categories <= {"COGS", "R&D", "OpEx", "unallocated"}
    assert {"COGS", "R&D"} <= categories


def test_engineer_time_is_in_the_ledger_from_claude_code_sessions(built):
    _, _, url = built
    hours, cost, sessions_hours = _query(
        url,
        "select "
        "(select sum(consumed_quantity) from marts.fct_costs "
        "   where x_source_system = 'engineer_time'), "
        "(select sum(billed_cost) from marts.fct_costs where x_source_system = 'engineer_time'), "
        "(select sum(active_minutes) / 60.0 from marts.claude_code_sessions as sessions "
        "   join seeds.people on people.email = sessions.user_email where active_minutes > 0)",
    )[0]
    assert hours > 0 and cost > 0
    assert hours == pytest.approx(sessions_hours, rel=Decimal("0.001"))


def test_the_reader_role_reads_the_marts_and_nothing_else(built, tmp_path):
    _, _, url = built
    role = f"vault_reader_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'create role "{role}" login')
    try:
        done = run_dbt(
            url,
            tmp_path,
            "run",
            "--select",
            "pnl_by_month",
            "--vars",
            json.dumps({"reader_role": role}),
        )
        assert done.returncode == 0, done.stdout[-3000:]
        parts = urlsplit(url)
        reader_url = parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}").geturl()
        with psycopg.connect(reader_url) as reader:
            assert (
                reader.execute("select count(*) from marts.cfo_cost_by_quarter").fetchone()[0] > 0
            )
        for table in (
            "raw.anthropic_cost_report",
            "seeds.people",
            "staging.stg_aws__cost_explorer",
        ):
            with (
                psycopg.connect(reader_url) as reader,
                pytest.raises(psycopg.errors.InsufficientPrivilege),
            ):
                reader.execute(f"select 1 from {table} limit 1")
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'drop owned by "{role}"')
            admin.execute(f'drop role "{role}"')


def test_dbt_docs_describe_every_mart_and_each_of_its_columns(built, tmp_path):
    _, _, url = built
    done = run_dbt(url, tmp_path, "docs", "generate")
    assert done.returncode == 0, done.stdout[-3000:]
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    catalog = json.loads((tmp_path / "target" / "catalog.json").read_text())
    marts = {
        unique_id: entry
        for unique_id, entry in catalog["nodes"].items()
        if entry["metadata"]["schema"] == "marts"
    }
    assert len(marts) >= 15
    undocumented = []
    for unique_id, entry in marts.items():
        node = manifest["nodes"][unique_id]
        if not node["description"].strip():
            undocumented.append(unique_id)
        described = {
            name.lower(): column["description"].strip() for name, column in node["columns"].items()
        }
        undocumented += [
            f"{unique_id}.{name}" for name in entry["columns"] if not described.get(name.lower())
        ]
    assert not undocumented
