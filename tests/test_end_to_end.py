"""End to end: both sources from the sandbox, through Dagster and dbt, into fct_metrics.

Two partitions of every collector are materialised through the real client code, dbt builds
and tests once over the range (as a backfill does), the marts are checked against what the
sandbox served, and one partition is then run again to show nothing is duplicated.
"""

from collections import defaultdict
from datetime import date
from decimal import Decimal

import dagster as dg
import psycopg
import pytest

from orchestration.config import load_config
from orchestration.dbt.project import ensure_manifest
from orchestration.definitions import build_definitions
from orchestration.demo import daily_keys, materialize_window, prepare_sandbox
from orchestration.sandbox.activity import costs_for_day, usage_for_day
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
    with SandboxServer(company) as sandbox, dg.DagsterInstance.ephemeral() as instance:
        workspace = prepare_sandbox(tmp_path_factory.mktemp("sandbox"), sandbox.url, START, END)
        mp = pytest.MonkeyPatch()
        for key, value in {**workspace.env, "VAULT_DATABASE_URL": module_database}.items():
            mp.setenv(key, value)
        try:
            defs = build_definitions(load_config(workspace.config_path))
            materialize_window(defs, instance, daily_keys(START, END))
            yield defs, instance, module_database
        finally:
            mp.undo()


def _query(url, sql, *params):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


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
        "select count(*) filter (where observed_at < %s or observed_at >= %s), "
        "count(*) filter (where department is null or project is null or cost_category is null) "
        "from marts.fct_metrics",
        START,
        END,
    )[0]
    assert (outside, nulls) == (0, 0)


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
