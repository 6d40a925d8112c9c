"""The Anthropic collectors through the real client code, against the sandbox over HTTP."""

import logging
from datetime import UTC, datetime, timedelta

import pytest

from assets.anthropic import anthropic_cost_report, anthropic_messages_usage
from orchestration.clients.anthropic import AnthropicAdminClient
from orchestration.collectors.framework import run_collector
from orchestration.collectors.http import MissingCredentialError, SourceError
from orchestration.sandbox.activity import costs_for_day, usage_for_day
from orchestration.sandbox.company import build_company
from orchestration.sandbox.server import SandboxServer
from orchestration.warehouse.connection import WarehouseResource

KEY = "sk-ant-admin01-test-RECOGNISABLE"
DAY = datetime(2026, 11, 3, tzinfo=UTC)
LOG = logging.getLogger("test")


@pytest.fixture(scope="module")
def company():
    return build_company(7)


@pytest.fixture
def sandbox(company):
    with SandboxServer(company) as server:
        yield server


def _collect(spec, database_url, client, run_id="r1", day=DAY):
    result, _ = run_collector(
        spec,
        WarehouseResource(url=database_url),
        start=day,
        end=day + timedelta(days=1),
        partition_key=day.date().isoformat(),
        run_id=run_id,
        log=LOG,
        resources={"anthropic": client},
    )
    return result


def _count(conn, table):
    return conn.execute(f"select count(*), count(distinct run_id) from raw.{table}").fetchone()


def test_usage_follows_every_page_and_matches_the_vendor(conn, database_url, sandbox, company):
    client = AnthropicAdminClient(
        base_url=sandbox.url,
        api_key=KEY,
        usage_group_by=["api_key_id", "workspace_id", "model", "service_tier", "context_window"],
    )
    result = _collect(anthropic_messages_usage, database_url, client)
    expected = usage_for_day(company, DAY.date())
    assert result.rows == len(expected) > 20
    pages = [r for r in sandbox.requests if r.path.endswith("/usage_report/messages")]
    assert len(pages) > 1, "the sandbox splits a day over pages; every page must be read"
    total = conn.execute(
        "select sum((record ->> 'output_tokens')::bigint) from raw.anthropic_messages_usage"
    ).fetchone()[0]
    assert total == sum(row.output_tokens for row in expected)


def test_cost_report_rows_keep_the_vendor_record(conn, database_url, sandbox, company):
    client = AnthropicAdminClient(base_url=sandbox.url, api_key=KEY)
    result = _collect(anthropic_cost_report, database_url, client)
    assert result.rows == len(costs_for_day(company, DAY.date()))
    record = conn.execute("select record from raw.anthropic_cost_report limit 1").fetchone()[0]
    assert record["starting_at"] == "2026-11-03T00:00:00Z"
    assert isinstance(record["amount"], str) and record["currency"] == "USD"


def test_rerunning_a_partition_gives_the_same_rows(conn, database_url, sandbox):
    client = AnthropicAdminClient(base_url=sandbox.url, api_key=KEY)
    first = _collect(anthropic_cost_report, database_url, client, run_id="a")
    again = _collect(anthropic_cost_report, database_url, client, run_id="b")
    assert first.rows == again.rows
    assert _count(conn, "anthropic_cost_report") == (first.rows, 1)


def test_rate_limits_and_overload_are_retried(conn, database_url, sandbox):
    sandbox.faults["/v1/organizations/cost_report"] = [429, 529, 429]
    client = AnthropicAdminClient(base_url=sandbox.url, api_key=KEY)
    faulted = _collect(anthropic_cost_report, database_url, client).rows
    with_faults = len(sandbox.requests)
    sandbox.requests.clear()
    assert _collect(anthropic_cost_report, database_url, client, run_id="clean").rows == faulted
    assert with_faults == len(sandbox.requests) + 3, "each fault cost exactly one extra request"


def test_a_persistent_outage_fails_the_partition_and_keeps_its_rows(conn, database_url, sandbox):
    client = AnthropicAdminClient(base_url=sandbox.url, api_key=KEY, max_retries=1)
    loaded = _collect(anthropic_cost_report, database_url, client).rows
    sandbox.faults["/v1/organizations/cost_report"] = [429, 429]
    with pytest.raises(SourceError, match=r"HTTP 429.*gave up after 2 attempts"):
        _collect(anthropic_cost_report, database_url, client, run_id="later")
    assert _count(conn, "anthropic_cost_report") == (loaded, 1)


def test_a_failing_source_keeps_the_previous_rows_and_says_why(conn, database_url, sandbox):
    good = AnthropicAdminClient(base_url=sandbox.url, api_key=KEY)
    loaded = _collect(anthropic_cost_report, database_url, good).rows
    bad = AnthropicAdminClient(base_url=sandbox.url, api_key="not-an-admin-key")
    with pytest.raises(SourceError) as failure:
        _collect(anthropic_cost_report, database_url, bad, run_id="bad")
    message = str(failure.value)
    assert "HTTP 401" in message and "authentication_error" in message
    assert f"{sandbox.url}/v1/organizations/cost_report?" in message
    assert "not-an-admin-key" not in message
    assert _count(conn, "anthropic_cost_report") == (loaded, 1)


def test_a_missing_key_names_the_variable(conn, database_url, sandbox):
    client = AnthropicAdminClient(base_url=sandbox.url, api_key=None)
    with pytest.raises(MissingCredentialError, match="ANTHROPIC_ADMIN_API_KEY is not set"):
        _collect(anthropic_messages_usage, database_url, client)


def test_an_unreachable_vendor_names_the_url(conn, database_url):
    client = AnthropicAdminClient(base_url="http://127.0.0.1:9", api_key=KEY, max_retries=0)
    with pytest.raises(SourceError, match=r"GET http://127\.0\.0\.1:9/v1/organizations"):
        _collect(anthropic_cost_report, database_url, client)
