"""The OpenAI collectors through the real client code, against the sandbox over HTTP."""

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from assets.openai import (
    openai_costs,
    openai_usage_audio_speeches,
    openai_usage_audio_transcriptions,
    openai_usage_completions,
    openai_usage_embeddings,
    openai_usage_images,
)
from orchestration.clients.openai import OpenAIAdminClient
from orchestration.collectors.framework import run_collector
from orchestration.collectors.http import MissingCredentialError, SourceError
from orchestration.config import load_config
from orchestration.dbt.project import ensure_manifest
from orchestration.definitions import build_definitions
from orchestration.sandbox.company import build_company
from orchestration.sandbox.openai_api import COSTS_PATH, MAX_RESULTS_PER_PAGE, USAGE_PATHS
from orchestration.sandbox.openai_org import build_organization, costs_for_day, usage_for_day
from orchestration.sandbox.routing import Response, Route
from orchestration.sandbox.server import SandboxServer
from orchestration.warehouse.connection import WarehouseResource

KEY = "sk-admin-test-RECOGNISABLE"
DAY = datetime(2026, 11, 3, tzinfo=UTC)  # a Tuesday
LOG = logging.getLogger("test")
ALL_COMPLETIONS_GROUPS = ["project_id", "user_id", "api_key_id", "model", "batch", "service_tier"]


@pytest.fixture(scope="module")
def company():
    return build_company(7)


@pytest.fixture(scope="module")
def organization(company):
    return build_organization(company)


@pytest.fixture
def sandbox(company):
    with SandboxServer(company) as server:
        yield server


def _collect(spec, database_url, client, *, run_id="r1", day=DAY, days=1):
    result, _ = run_collector(
        spec,
        WarehouseResource(url=database_url),
        start=day,
        end=day + timedelta(days=days),
        partition_key=day.date().isoformat(),
        run_id=run_id,
        log=LOG,
        resources={"openai": client},
    )
    return result


def _sum(conn, table, field):
    return conn.execute(f"select sum((record ->> '{field}')::bigint) from raw.{table}").fetchone()[
        0
    ]


def _count(conn, table):
    return conn.execute(f"select count(*), count(distinct run_id) from raw.{table}").fetchone()


def test_completions_follow_every_page_and_match_the_vendor(
    conn, database_url, sandbox, organization
):
    client = OpenAIAdminClient(
        base_url=sandbox.url, api_key=KEY, completions_group_by=ALL_COMPLETIONS_GROUPS
    )
    result = _collect(openai_usage_completions, database_url, client)
    expected = usage_for_day(organization, "completions", DAY.date())
    assert result.rows == len(expected) > MAX_RESULTS_PER_PAGE
    pages = [r for r in sandbox.requests if r.path == USAGE_PATHS["completions"]]
    assert len(pages) > 1, "the sandbox splits a day over pages; every page must be read"
    for field in ("input_tokens", "input_cached_tokens", "output_tokens", "num_model_requests"):
        assert _sum(conn, "openai_usage_completions", field) == sum(
            row.quantity(field) for row in expected
        ), field
    record = conn.execute("select record from raw.openai_usage_completions limit 1").fetchone()[0]
    assert (record["start_time"], record["end_time"]) == (
        int(DAY.timestamp()),
        int(DAY.timestamp()) + 86400,
    )
    assert record["object"] == "organization.usage.completions.result"
    keys = conn.execute("select count(distinct natural_key) from raw.openai_usage_completions")
    assert keys.fetchone()[0] == result.rows, "the natural key tells every result apart"


@pytest.mark.parametrize(
    ("spec", "endpoint", "quantity"),
    [
        (openai_usage_embeddings, "embeddings", "input_tokens"),
        (openai_usage_images, "images", "images"),
        (openai_usage_audio_speeches, "audio_speeches", "characters"),
        (openai_usage_audio_transcriptions, "audio_transcriptions", "seconds"),
    ],
)
def test_each_usage_endpoint_lands_in_its_own_table(
    conn, database_url, sandbox, organization, spec, endpoint, quantity
):
    client = OpenAIAdminClient(base_url=sandbox.url, api_key=KEY)
    result = _collect(spec, database_url, client)
    expected = usage_for_day(organization, endpoint, DAY.date())
    assert result.rows == len(expected) > 0
    assert _sum(conn, spec.table, quantity) == sum(row.quantity(quantity) for row in expected)
    assert {path for path in (r.path for r in sandbox.requests)} == {USAGE_PATHS[endpoint]}


def test_costs_over_several_days_follow_every_page(conn, database_url, sandbox, organization):
    client = OpenAIAdminClient(base_url=sandbox.url, api_key=KEY)
    result = _collect(openai_costs, database_url, client, days=3)
    days = [DAY.date() + timedelta(days=n) for n in range(3)]
    expected = [row for day in days for row in costs_for_day(organization, day)]
    assert result.rows == len(expected)
    # A page holds at most MAX_RESULTS_PER_PAGE results, so that many pages at least.
    assert len(sandbox.requests) >= -(-len(expected) // MAX_RESULTS_PER_PAGE) > 3
    total = conn.execute(
        "select sum((record -> 'amount' ->> 'value')::numeric) from raw.openai_costs"
    ).fetchone()[0]
    assert total == pytest.approx(sum(row.amount_usd for row in expected), abs=Decimal("1e-9"))
    currencies = conn.execute(
        "select distinct record -> 'amount' ->> 'currency' from raw.openai_costs"
    ).fetchall()
    assert currencies == [("usd",)]


def test_rerunning_a_partition_gives_the_same_rows(conn, database_url, sandbox):
    client = OpenAIAdminClient(base_url=sandbox.url, api_key=KEY)
    first = _collect(openai_costs, database_url, client, run_id="a")
    again = _collect(openai_costs, database_url, client, run_id="b")
    assert first.rows == again.rows > 0
    assert _count(conn, "openai_costs") == (first.rows, 1)


def test_rate_limits_are_retried(conn, database_url, sandbox):
    sandbox.faults[COSTS_PATH] = [429, 500, 429]
    client = OpenAIAdminClient(base_url=sandbox.url, api_key=KEY)
    faulted = _collect(openai_costs, database_url, client).rows
    with_faults = len(sandbox.requests)
    sandbox.requests.clear()
    assert _collect(openai_costs, database_url, client, run_id="clean").rows == faulted
    assert with_faults == len(sandbox.requests) + 3, "each fault cost exactly one extra request"


def test_a_refused_key_fails_the_partition_and_says_why(conn, database_url, sandbox):
    loaded = _collect(
        openai_costs, database_url, OpenAIAdminClient(base_url=sandbox.url, api_key=KEY)
    )
    ordinary = "sk-proj-ordinary-RECOGNISABLE"
    bad = OpenAIAdminClient(base_url=sandbox.url, api_key=ordinary)
    with pytest.raises(SourceError) as failure:
        _collect(openai_costs, database_url, bad, run_id="bad")
    message = str(failure.value)
    assert "HTTP 401" in message and "invalid_request_error" in message
    assert "admin key" in message
    assert f"{sandbox.url}/v1/organization/costs?" in message
    assert ordinary not in message and "RECOGNISABLE" not in message
    assert _count(conn, "openai_costs") == (loaded.rows, 1)


def test_a_missing_key_names_the_variable(conn, database_url, sandbox):
    client = OpenAIAdminClient(base_url=sandbox.url, api_key=None)
    with pytest.raises(MissingCredentialError, match="OPENAI_ADMIN_KEY is not set"):
        _collect(openai_usage_completions, database_url, client)
    assert sandbox.requests == []


def test_an_endpoint_outside_usage_endpoints_is_not_read(conn, database_url, sandbox):
    client = OpenAIAdminClient(base_url=sandbox.url, api_key=KEY, usage_endpoints=["completions"])
    with pytest.raises(ValueError, match="'images' is not in usage_endpoints"):
        _collect(openai_usage_images, database_url, client)
    assert sandbox.requests == []


def _page(results, *, has_more=False, next_page=None):
    bucket = {"object": "bucket", "start_time": 1, "end_time": 2, "results": results}
    return Response(
        200, {"object": "page", "data": [bucket], "has_more": has_more, "next_page": next_page}
    )


def _server_answering(company, body: Response) -> SandboxServer:
    route = Route(lambda _company, _request: body, lambda status: Response(status, {}))
    return SandboxServer(company, routes={("GET", COSTS_PATH): route})


def test_a_result_that_is_not_an_object_is_kept_as_rejected(conn, database_url, company):
    good = {"object": "organization.costs.result", "amount": {"value": 1.5, "currency": "usd"}}
    with _server_answering(company, _page([good, "garbled"])) as server:
        client = OpenAIAdminClient(base_url=server.url, api_key=KEY)
        result = _collect(openai_costs, database_url, client)
    assert (result.rows, result.rejected) == (1, 1)
    (reason, text) = conn.execute(
        "select reason, raw_text from raw._rejected where table_name = 'openai_costs'"
    ).fetchone()
    assert "not an object" in reason and "garbled" in text


def test_a_page_token_that_repeats_is_refused_instead_of_looping(conn, database_url, company):
    with _server_answering(company, _page([], has_more=True, next_page="page_same")) as server:
        client = OpenAIAdminClient(base_url=server.url, api_key=KEY)
        with pytest.raises(SourceError, match="a repeated next_page; refusing to loop"):
            _collect(openai_costs, database_url, client)
        assert len(server.requests) == 2


def test_only_the_configured_usage_endpoints_become_assets(tmp_path: Path):
    ensure_manifest()
    config = tmp_path / "vault.yaml"
    config.write_text("sources:\n  openai:\n    usage_endpoints: [completions, images]\n")
    graph = build_definitions(load_config(config)).resolve_asset_graph()
    openai = {
        key.to_user_string()
        for key in graph.get_all_asset_keys()
        if graph.get(key).is_materializable and graph.get(key).group_name == "openai"
    }
    assert openai == {"raw/openai_usage_completions", "raw/openai_usage_images", "raw/openai_costs"}
    assert isinstance(
        graph.get(dg.AssetKey(["raw", "openai_costs"])).partitions_def,
        dg.DailyPartitionsDefinition,
    )
