"""The Claude Code analytics report: the client through the collector, and the sandbox route.

The collector runs through `run_collector` against the sandbox over loopback HTTP and loads a
real PostgreSQL. Its totals are checked against what the sandbox's transcripts give when the
transcript collector reads them, so the two sources are shown to agree on the same work. The
route's own behaviour (paging, refusals, determinism) is checked on the wire with httpx.
"""

import json
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from assets.anthropic import anthropic_claude_code_usage
from assets.claude_code import claude_code_messages
from orchestration.clients.anthropic import AnthropicAdminClient
from orchestration.clients.claude_code import ClaudeCodeTranscripts, TranscriptFolderResource
from orchestration.collectors.framework import run_collector
from orchestration.collectors.http import MissingCredentialError, SourceError
from orchestration.sandbox.anthropic_api import (
    CLAUDE_CODE_PATH,
    MAX_CLAUDE_CODE_RECORDS_PER_PAGE,
    claude_code_records,
    fault,
)
from orchestration.sandbox.company import Company, build_company
from orchestration.sandbox.routing import Request, Response, Route
from orchestration.sandbox.server import SandboxServer
from orchestration.sandbox.transcripts import sessions_for_day, user_folders, write_transcripts
from orchestration.warehouse.connection import WarehouseResource

KEY = "sk-ant-admin01-test-RECOGNISABLE"
ADMIN_HEADERS = {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
# A Wednesday on which a conversation begun late on Tuesday runs past midnight, and one
# transcript ends in a line cut short: both must be read the same way by the two sources.
DAY = date(2026, 11, 11)
LOG = logging.getLogger("test")
TABLE = "anthropic_claude_code_usage"

# Anthropic's list prices in USD per million tokens (input, output, cache read, 5-minute and
# 1-hour cache write), restated here on purpose: the test must not borrow the numbers it checks.
LIST_PRICE = {
    "claude-sonnet-4-5-20250929": ("3", "15", "0.30", "3.75", "6"),
    "claude-haiku-4-5-20251001": ("1", "5", "0.10", "1.25", "2"),
    "claude-opus-4-1-20250805": ("15", "75", "1.50", "18.75", "30"),
}


@pytest.fixture(scope="module")
def company() -> Company:
    return build_company(7)


@pytest.fixture
def sandbox(company: Company) -> Iterator[SandboxServer]:
    with SandboxServer(company) as server:
        yield server


@pytest.fixture
def api(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, headers=ADMIN_HEADERS, timeout=10) as client:
        yield client


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _collect(
    database_url: str,
    client: AnthropicAdminClient,
    *,
    start: date = DAY,
    days: int = 1,
    run_id: str = "r1",
):
    result, _ = run_collector(
        anthropic_claude_code_usage,
        WarehouseResource(url=database_url),
        start=_midnight(start),
        end=_midnight(start + timedelta(days=days)),
        partition_key=start.isoformat(),
        run_id=run_id,
        log=LOG,
        resources={"anthropic": client},
    )
    return result


def _report_requests(server: SandboxServer) -> list[Request]:
    return [request for request in server.requests if request.path == CLAUDE_CODE_PATH]


def _pages(api: httpx.Client, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every page of one day's report, following `next_page` the way a client must."""
    pages: list[dict[str, Any]] = []
    page = None
    while True:
        response = api.get(CLAUDE_CODE_PATH, params={**params, **({"page": page} if page else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body)
        if not body["has_more"]:
            assert body["next_page"] is None
            return pages
        page = body["next_page"]
        assert len(pages) < 50, "paging does not end"


def _records(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [record for body in pages for record in body["data"]]


# --- the collector through the client --------------------------------------------------------


def test_each_day_is_its_own_call_sequence_and_every_page_is_read(conn, database_url, sandbox):
    first = date(2026, 11, 7)  # Saturday to Monday: quiet days and a busy one
    client = AnthropicAdminClient(base_url=sandbox.url, api_key=KEY)
    result = _collect(database_url, client, start=first, days=3)

    days = [first + timedelta(days=n) for n in range(3)]
    requests = _report_requests(sandbox)
    per_day = Counter(request.query["starting_at"][0] for request in requests)
    expected_pages = {
        day.isoformat(): max(
            1,
            math.ceil(
                len(claude_code_records(sandbox.company, day)) / MAX_CLAUDE_CODE_RECORDS_PER_PAGE
            ),
        )
        for day in days
    }
    assert per_day == expected_pages
    assert max(per_day.values()) > 1, "a busy day spans pages; every page must be read"
    for request in requests:
        assert set(request.query) <= {"starting_at", "limit", "page"}
        assert request.query["limit"] == ("1000",)
    # Within a day, only the first call goes without a page token.
    assert sum("page" not in request.query for request in requests) == len(days)

    expected = sum(len(claude_code_records(sandbox.company, day)) for day in days)
    assert result.rows == expected > 0
    stored = conn.execute(
        f"select count(*), count(distinct natural_key), count(distinct record ->> 'date') "
        f"from raw.{TABLE}"
    ).fetchone()
    assert stored == (expected, expected, len(days))


def test_rerunning_a_day_replaces_it(conn, database_url, sandbox):
    client = AnthropicAdminClient(base_url=sandbox.url, api_key=KEY)
    first = _collect(database_url, client, run_id="a")
    again = _collect(database_url, client, run_id="b")
    assert first.rows == again.rows > 0
    assert conn.execute(
        f"select count(*), count(distinct natural_key), min(run_id), max(run_id) from raw.{TABLE}"
    ).fetchone() == (first.rows, first.rows, "b", "b")


def _transcript_totals(
    conn, database_url: str, company: Company, tmp_path: Path
) -> dict[tuple[str, str], list[Any]]:
    """Tokens and list-price cost per (email, model) on DAY, as the transcript collector reads."""
    root = tmp_path / "transcripts"
    # The day before too: a conversation begun late then writes lines on DAY.
    write_transcripts(company, root, DAY - timedelta(days=1), DAY + timedelta(days=1))
    folders = [
        TranscriptFolderResource(path=str(folder), user_email=email)
        for folder, email in user_folders(company, root).items()
    ]
    run_collector(
        claude_code_messages,
        WarehouseResource(url=database_url),
        start=_midnight(DAY),
        end=_midnight(DAY + timedelta(days=1)),
        partition_key=DAY.isoformat(),
        run_id="transcripts",
        log=LOG,
        resources={"claude_code": ClaudeCodeTranscripts(folders=folders)},
    )
    totals: dict[tuple[str, str], list[Any]] = defaultdict(lambda: [0, 0, 0, 0, Decimal()])
    for (line,) in conn.execute("select record from raw.claude_code_messages"):
        usage = line["message"]["usage"]
        split = usage.get("cache_creation") or {
            "ephemeral_5m_input_tokens": usage["cache_creation_input_tokens"],
            "ephemeral_1h_input_tokens": 0,
        }
        counts = (
            usage["input_tokens"],
            usage["output_tokens"],
            usage["cache_read_input_tokens"],
            split["ephemeral_5m_input_tokens"],
            split["ephemeral_1h_input_tokens"],
        )
        model = line["message"]["model"]
        entry = totals[(line["_vault"]["user_email"], model)]
        entry[0] += counts[0]
        entry[1] += counts[1]
        entry[2] += counts[2]
        entry[3] += counts[3] + counts[4]
        prices = (Decimal(price) for price in LIST_PRICE[model])
        entry[4] += sum(count * price for count, price in zip(counts, prices, strict=True))
    return totals


def test_a_days_totals_equal_what_the_transcripts_give(
    conn, database_url, sandbox, company, tmp_path
):
    client = AnthropicAdminClient(base_url=sandbox.url, api_key=KEY)
    _collect(database_url, client)
    transcripts = _transcript_totals(conn, database_url, company, tmp_path)
    assert any(
        line["timestamp"].startswith(DAY.isoformat())
        for session in sessions_for_day(company, DAY - timedelta(days=1))
        for line in map(json.loads, session.lines[:-1])
    ), "the chosen day must hold lines of a conversation begun the day before"

    reported: dict[tuple[str, str], list[Any]] = {}
    sessions: Counter[str] = Counter()
    for (record,) in conn.execute(f"select record from raw.{TABLE}"):
        assert record["date"] == f"{DAY.isoformat()}T00:00:00Z"
        email = record["actor"]["email_address"]
        sessions[email] = record["core_metrics"]["num_sessions"]
        for entry in record["model_breakdown"]:
            tokens = entry["tokens"]
            assert entry["estimated_cost"]["currency"] == "USD"
            reported[(email, entry["model"])] = [
                tokens["input"],
                tokens["output"],
                tokens["cache_read"],
                tokens["cache_creation"],
                entry["estimated_cost"]["amount"],
            ]
    expected = {
        key: [*counts[:4], int((counts[4] / 10_000).quantize(Decimal(1), ROUND_HALF_UP))]
        for key, counts in transcripts.items()
    }
    assert reported == expected
    started = Counter(session.checkout.person.email for session in sessions_for_day(company, DAY))
    assert +sessions == started


def test_a_record_that_is_not_an_object_is_rejected_and_the_rest_kept(conn, database_url, company):
    good = {"date": "2026-11-11", "actor": {"type": "api_actor", "api_key_name": "ci"}}

    def odd_report(_company: Company, _request: Request) -> Response:
        return Response(200, {"data": [good, "not a record", 7], "has_more": False})

    routes = {("GET", CLAUDE_CODE_PATH): Route(odd_report, fault)}
    with SandboxServer(company, routes=routes) as server:
        result = _collect(database_url, AnthropicAdminClient(base_url=server.url, api_key=KEY))
    assert (result.rows, result.rejected) == (1, 2)
    reasons = conn.execute(
        "select reason, raw_text from raw._rejected where table_name = %s order by raw_text",
        (TABLE,),
    ).fetchall()
    assert [text for _, text in reasons] == ["7", "not a record"]
    assert all(f"a record in {CLAUDE_CODE_PATH} is not an object" in r for r, _ in reasons)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"data": [], "has_more": True, "next_page": None}, "gave no next_page"),
        ({"data": [], "has_more": True, "next_page": "page_same"}, "a repeated next_page"),
        ({"records": []}, "answered without a data list"),
    ],
)
def test_a_broken_answer_fails_the_day_and_keeps_its_rows(
    conn, database_url, sandbox, company, body, problem
):
    loaded = _collect(database_url, AnthropicAdminClient(base_url=sandbox.url, api_key=KEY)).rows

    def broken(_company: Company, _request: Request) -> Response:
        return Response(200, body)

    routes = {("GET", CLAUDE_CODE_PATH): Route(broken, fault)}
    with SandboxServer(company, routes=routes) as server:
        client = AnthropicAdminClient(base_url=server.url, api_key=KEY)
        with pytest.raises(SourceError, match=problem):
            _collect(database_url, client, run_id="broken")
        assert len(server.requests) <= 2, "a broken answer must not be asked again and again"
    assert conn.execute(f"select count(*), max(run_id) from raw.{TABLE}").fetchone() == (
        loaded,
        "r1",
    )


def test_rate_limits_and_overload_are_retried(conn, database_url, sandbox):
    client = AnthropicAdminClient(base_url=sandbox.url, api_key=KEY)
    clean = _collect(database_url, client).rows
    calls = len(_report_requests(sandbox))
    sandbox.requests.clear()
    sandbox.faults[CLAUDE_CODE_PATH] = [429, 529]
    assert _collect(database_url, client, run_id="faulted").rows == clean
    assert len(_report_requests(sandbox)) == calls + 2


def test_a_key_that_is_not_an_admin_key_fails_without_showing_it(conn, database_url, sandbox):
    client = AnthropicAdminClient(base_url=sandbox.url, api_key="sk-ant-api03-not-admin")
    with pytest.raises(SourceError) as failure:
        _collect(database_url, client)
    message = str(failure.value)
    assert "HTTP 401" in message and "authentication_error" in message
    assert CLAUDE_CODE_PATH in message and "not-admin" not in message


def test_a_missing_key_names_the_variable(conn, database_url, sandbox):
    client = AnthropicAdminClient(base_url=sandbox.url, api_key=None)
    with pytest.raises(MissingCredentialError, match="ANTHROPIC_ADMIN_API_KEY is not set"):
        _collect(database_url, client)


# --- the sandbox route -----------------------------------------------------------------------


def test_route_pages_by_limit_and_a_page_never_exceeds_the_cap(api, sandbox):
    day = {"starting_at": DAY.isoformat()}
    expected = list(claude_code_records(sandbox.company, DAY))
    assert len(expected) > MAX_CLAUDE_CODE_RECORDS_PER_PAGE

    by_two = _pages(api, {**day, "limit": 2})
    assert [len(body["data"]) for body in by_two[:-1]] == [2] * (len(by_two) - 1)
    assert _records(by_two) == expected
    default = _pages(api, day)
    assert max(len(body["data"]) for body in default) == MAX_CLAUDE_CODE_RECORDS_PER_PAGE
    assert _records(default) == expected == _records(_pages(api, {**day, "limit": 1000}))
    emails = [record["actor"]["email_address"] for record in expected]
    assert emails == sorted(set(emails)), "one record per person, in a stable order"


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"starting_at": "2026-11-11T00:00:00Z"},
        {"starting_at": "2026-02-30"},
        {"starting_at": "11/11/2026"},
        {"starting_at": "2026-11-11", "limit": "0"},
        {"starting_at": "2026-11-11", "limit": "1001"},
        {"starting_at": "2026-11-11", "limit": "ten"},
        {"starting_at": "2026-11-11", "ending_at": "2026-11-12"},
        {"starting_at": "2026-11-11", "page": "page_not-a-token"},
    ],
)
def test_route_refuses_bad_requests_in_the_vendors_shape(api, params):
    response = api.get(CLAUDE_CODE_PATH, params=params)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_route_refuses_a_page_token_of_another_day(api):
    first = api.get(CLAUDE_CODE_PATH, params={"starting_at": DAY.isoformat(), "limit": 1}).json()
    assert first["has_more"]
    other_day = (DAY + timedelta(days=1)).isoformat()
    response = api.get(
        CLAUDE_CODE_PATH, params={"starting_at": other_day, "page": first["next_page"]}
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("headers", "status", "kind"),
    [
        ({"anthropic-version": "2023-06-01"}, 401, "authentication_error"),
        (
            {"x-api-key": "sk-ant-api03-x", "anthropic-version": "2023-06-01"},
            401,
            "authentication_error",
        ),
        ({"x-api-key": KEY}, 400, "invalid_request_error"),
    ],
)
def test_route_needs_an_admin_key_and_the_version_header(sandbox, headers, status, kind):
    response = httpx.get(
        f"{sandbox.url}{CLAUDE_CODE_PATH}", params={"starting_at": DAY.isoformat()}, headers=headers
    )
    assert response.status_code == status
    assert response.json()["error"]["type"] == kind


def test_route_answers_the_same_for_the_same_seed_and_differently_for_another(company):
    def day_report(seed_company: Company) -> list[dict[str, Any]]:
        with (
            SandboxServer(seed_company) as server,
            httpx.Client(base_url=server.url, headers=ADMIN_HEADERS) as client,
        ):
            return _records(_pages(client, {"starting_at": DAY.isoformat()}))

    first = day_report(company)
    claude_code_records.cache_clear()
    assert day_report(build_company(7)) == first, "regenerated from scratch, byte for byte"
    assert day_report(build_company(8)) != first


def test_route_records_agree_with_the_transcripts_and_hang_together(company):
    users = {person.email: person for person in company.people if person.uses_claude_code}
    for offset in range(10):
        day = DAY + timedelta(days=offset)
        edits: Counter[str] = Counter()
        for session in (
            *sessions_for_day(company, day - timedelta(days=1)),
            *sessions_for_day(company, day),
        ):
            for number, text in enumerate(session.lines, start=1):
                if number in session.malformed:
                    continue
                line = json.loads(text)
                if line["type"] == "assistant" and line["timestamp"].startswith(day.isoformat()):
                    edits[session.checkout.person.email] += sum(
                        block.get("name") == "Edit" for block in line["message"]["content"]
                    )
        for record in claude_code_records(company, day):
            person = users[record["actor"]["email_address"]]
            assert record["actor"]["type"] == "user_actor"
            assert record["customer_type"] == "api"
            core, tools = record["core_metrics"], record["tool_actions"]
            assert sum(tools["edit_tool"].values()) == edits[person.email]
            assert all(count >= 0 for tool in tools.values() for count in tool.values())
            accepted = sum(tool["accepted"] for tool in tools.values())
            assert (core["lines_of_code"]["added"] > 0) == (accepted > 0)
            assert core["pull_requests_by_claude_code"] <= core["commits_by_claude_code"]
            if core["commits_by_claude_code"]:
                assert core["lines_of_code"]["added"] > 0
            if person.team != "ml":
                assert sum(tools["notebook_edit_tool"].values()) == 0
            assert core["num_sessions"] > 0 or record["model_breakdown"], "only active people"
