"""The sandbox: a deterministic company, its Anthropic reports over real HTTP, its transcripts.

The HTTP tests talk to a running `SandboxServer` on loopback with httpx, the way a collector
does, so paging, grouping and errors are checked on the wire and not on Python objects.
"""

import itertools
import json
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from orchestration.sandbox.activity import costs_for_day, usage_for_day
from orchestration.sandbox.anthropic_api import COST_PATH, MAX_RESULTS_PER_PAGE, USAGE_PATH
from orchestration.sandbox.cloud import GPU_CLOUD, cloud_accounts
from orchestration.sandbox.company import DOMAIN, Company, build_company
from orchestration.sandbox.openai_org import build_organization
from orchestration.sandbox.seeds import write_seeds
from orchestration.sandbox.server import SandboxServer
from orchestration.sandbox.transcripts import (
    person_for_project_dir,
    sessions_for_day,
    user_folders,
    write_transcripts,
)

REPO = Path(__file__).resolve().parents[1]
ADMIN_HEADERS = {"x-api-key": "sk-ant-admin01-sandbox", "anthropic-version": "2023-06-01"}
ALL_USAGE_GROUPS = [
    "api_key_id",
    "workspace_id",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
]
# What every transcript usage carries, old builds included.
USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)
# Ten days, Monday 2026-11-16 to Wednesday 2026-11-25, so two weekend days are inside.
START = date(2026, 11, 16)
DAYS = [START + timedelta(days=n) for n in range(10)]

# Anthropic's list prices in USD per million tokens, restated here on purpose: the test must not
# borrow the numbers it checks.
LIST_PRICE = {
    "claude-sonnet-4-5-20250929": ("3", "15", "0.30", "3.75", "6"),
    "claude-haiku-4-5-20251001": ("1", "5", "0.10", "1.25", "2"),
    "claude-opus-4-1-20250805": ("15", "75", "1.50", "18.75", "30"),
}
PRICED_TOKENS = (
    "uncached_input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation.ephemeral_5m_input_tokens",
    "cache_creation.ephemeral_1h_input_tokens",
)


@pytest.fixture(scope="module")
def company() -> Company:
    return build_company()


@pytest.fixture(scope="module")
def server(company: Company) -> Iterator[SandboxServer]:
    with SandboxServer(company) as running:
        yield running


@pytest.fixture
def api(server: SandboxServer) -> Iterator[httpx.Client]:
    server.faults.clear()
    with httpx.Client(base_url=server.url, headers=ADMIN_HEADERS, timeout=10) as client:
        yield client


def _stamp(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _window(first: date, days: int, *group_by: str, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "starting_at": _stamp(first),
        "ending_at": _stamp(first + timedelta(days=days)),
        **extra,
    }
    if group_by:
        params["group_by[]"] = list(group_by)
    return params


def _pages(api: httpx.Client, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every page of a report, following `next_page` the way a client must."""
    pages = []
    page = None
    while True:
        response = api.get(path, params={**params, **({"page": page} if page else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append(body)
        if not body["has_more"]:
            assert body["next_page"] is None
            return pages
        page = body["next_page"]
        assert len(pages) < 100, "paging does not end"


def _results(pages: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (bucket["starting_at"], result)
        for body in pages
        for bucket in body["data"]
        for result in bucket["results"]
    ]


def _tokens(result: dict[str, Any]) -> tuple[int, ...]:
    cache = result["cache_creation"]
    return (
        result["uncached_input_tokens"],
        result["cache_read_input_tokens"],
        cache["ephemeral_1h_input_tokens"],
        cache["ephemeral_5m_input_tokens"],
        result["output_tokens"],
        result["server_tool_use"]["web_search_requests"],
    )


def _sum(rows: list[tuple[int, ...]]) -> tuple[int, ...]:
    return tuple(sum(column) for column in zip(*rows, strict=True))


def _generated_totals(company: Company, day: date) -> tuple[int, ...]:
    return _sum(
        [
            (
                row.uncached_input_tokens,
                row.cache_read_input_tokens,
                row.cache_creation_1h_input_tokens,
                row.cache_creation_5m_input_tokens,
                row.output_tokens,
                row.web_search_requests,
            )
            for row in usage_for_day(company, day)
        ]
    )


# --- the company -----------------------------------------------------------------------------


def test_same_seed_gives_the_same_company_and_a_different_seed_does_not() -> None:
    assert build_company(7) == build_company(7)
    assert build_company(8).people != build_company(7).people


def test_generation_leaves_the_global_random_state_alone(company: Company) -> None:
    random.seed(1234)
    state = random.getstate()
    build_company(11)
    usage_for_day(company, START)
    costs_for_day(company, START)
    sessions_for_day(company, START)
    assert random.getstate() == state


def test_company_has_the_shape_the_demo_relies_on(company: Company) -> None:
    assert len(company.departments) == 4
    assert 6 <= len(company.teams) <= 8
    assert 22 <= len(company.people) <= 28
    emails = [person.email for person in company.people]
    assert len(set(emails)) == len(emails)
    assert all(email.endswith(f"@{DOMAIN}") for email in emails)
    team_slugs = {team.slug for team in company.teams}
    assert {person.team for person in company.people} == team_slugs
    assert all(person.hourly_cost_usd > 0 for person in company.people)
    # Adoption gaps: engineers who never use Claude Code, and whole teams that do not.
    non_users = [person for person in company.people if not person.uses_claude_code]
    assert any(person.department == "engineering" for person in non_users)
    assert len(non_users) >= 3
    kinds = {project.kind for project in company.projects}
    assert {"feature", "research"} <= kinds
    workspace_ids = {workspace.id for workspace in company.workspaces}
    assert all(re.fullmatch(r"wrkspc_01\w{22}", wid) for wid in workspace_ids)
    for key in company.api_keys:
        assert re.fullmatch(r"apikey_01\w{22}", key.id)
        assert key.workspace_id is None or key.workspace_id in workspace_ids
        assert key.environment in ("production", "development")
    assert any(key.workspace_id is None for key in company.api_keys)


def test_traffic_looks_like_a_company(company: Company) -> None:
    key_of = {key.id: key for key in company.api_keys}
    volume: Counter[tuple[str, str]] = Counter()
    weekday_prod, weekend_prod = 0, 0
    agent_cache_read, agent_uncached = 0, 0
    for day in DAYS:
        for row in usage_for_day(company, day):
            key = key_of[row.api_key_id]
            tokens = row.uncached_input_tokens + row.cache_read_input_tokens + row.output_tokens
            volume[(key.project, key.environment)] += tokens
            if key.environment == "production" and day.weekday() < 5:
                weekday_prod += tokens
            elif key.environment == "production":
                weekend_prod += tokens
            if key.project in ("agent-lab", "eval-harness"):
                agent_cache_read += row.cache_read_input_tokens
                agent_uncached += row.uncached_input_tokens
    weekdays = sum(day.weekday() < 5 for day in DAYS)
    assert weekend_prod / (len(DAYS) - weekdays) < 0.8 * weekday_prod / weekdays
    shipped = {project for project, environment in volume if environment == "production"}
    assert len(shipped) >= 3
    for project in shipped:
        assert volume[(project, "production")] > 10 * volume[(project, "development")], project
    assert agent_cache_read > 20 * agent_uncached


# --- the usage report over HTTP --------------------------------------------------------------


def test_paging_delivers_every_bucket_and_row_once(api: httpx.Client, company: Company) -> None:
    pages = _pages(api, USAGE_PATH, _window(START, 10, *ALL_USAGE_GROUPS, limit=3))

    for body in pages:
        assert 1 <= len(body["data"]) <= 3
        assert sum(len(bucket["results"]) for bucket in body["data"]) <= MAX_RESULTS_PER_PAGE
    # Some day had more rows than a page holds and was continued on the next page.
    continued = [
        before["data"][-1]["starting_at"] == after["data"][0]["starting_at"]
        for before, after in itertools.pairwise(pages)
    ]
    assert any(continued)
    assert len(pages) > 4

    starts = list(dict.fromkeys(bucket["starting_at"] for body in pages for bucket in body["data"]))
    assert starts == [_stamp(day) for day in DAYS]
    results = _results(pages)
    grains = [(start, *(row[field] for field in ALL_USAGE_GROUPS)) for start, row in results]
    assert len(grains) == len(set(grains))
    for day in DAYS:
        rows = [_tokens(row) for start, row in results if start == _stamp(day)]
        assert len(rows) == len(usage_for_day(company, day))
        assert _sum(rows) == _generated_totals(company, day)


def test_a_day_reads_the_same_alone_or_inside_a_range(api: httpx.Client) -> None:
    day = DAYS[4]
    alone = _results(_pages(api, USAGE_PATH, _window(day, 1, *ALL_USAGE_GROUPS)))
    in_range = _results(_pages(api, USAGE_PATH, _window(START, 10, *ALL_USAGE_GROUPS, limit=31)))
    assert alone
    assert alone == [(start, row) for start, row in in_range if start == _stamp(day)]


def test_ungrouped_fields_are_null_and_summed_over(api: httpx.Client, company: Company) -> None:
    [(_, row)] = _results(_pages(api, USAGE_PATH, _window(DAYS[0], 1)))
    assert all(row[field] is None for field in ALL_USAGE_GROUPS)
    assert _tokens(row) == _generated_totals(company, DAYS[0])

    by_model = [r for _, r in _results(_pages(api, USAGE_PATH, _window(DAYS[0], 1, "model")))]
    models = [r["model"] for r in by_model]
    assert len(models) == len(set(models)) == 3
    assert all(r[f] is None for r in by_model for f in ALL_USAGE_GROUPS if f != "model")
    assert _sum([_tokens(r) for r in by_model]) == _tokens(row)

    full = _results(_pages(api, USAGE_PATH, _window(DAYS[0], 1, *ALL_USAGE_GROUPS)))
    assert _sum([_tokens(r) for _, r in full]) == _tokens(row)
    # The default workspace is a null workspace_id even when grouping by it.
    assert any(r["workspace_id"] is None for _, r in full)


def test_filters_restrict_the_report_to_one_key(api: httpx.Client, company: Company) -> None:
    key = company.api_keys[0]
    params = _window(DAYS[0], 1, "api_key_id", **{"api_key_ids[]": [key.id]})
    results = [row for _, row in _results(_pages(api, USAGE_PATH, params))]
    assert [row["api_key_id"] for row in results] == [key.id]


def test_default_limit_is_seven_daily_buckets(api: httpx.Client) -> None:
    first = api.get(USAGE_PATH, params=_window(START, 10)).json()
    assert len(first["data"]) == 7
    assert first["has_more"] is True
    second = api.get(USAGE_PATH, params={**_window(START, 10), "page": first["next_page"]})
    assert [bucket["starting_at"] for bucket in second.json()["data"]] == [
        _stamp(day) for day in DAYS[7:]
    ]


def test_a_partial_window_is_widened_to_whole_days(api: httpx.Client) -> None:
    params = {"starting_at": "2026-11-16T09:30:00Z", "ending_at": "2026-11-17T00:00:01+00:00"}
    body = api.get(USAGE_PATH, params=params).json()
    assert [(b["starting_at"], b["ending_at"]) for b in body["data"]] == [
        ("2026-11-16T00:00:00Z", "2026-11-17T00:00:00Z"),
        ("2026-11-17T00:00:00Z", "2026-11-18T00:00:00Z"),
    ]


# --- the cost report over HTTP ---------------------------------------------------------------


def _list_price_cents(row: dict[str, Any], token_type: str, count: int) -> Decimal:
    price = Decimal(LIST_PRICE[row["model"]][PRICED_TOKENS.index(token_type)])
    if row["service_tier"] == "batch":
        price /= 2
    if row["context_window"] == "200k-1M":
        price *= Decimal("1.5") if token_type == "output_tokens" else 2
    return count * price / 10_000


def test_cost_report_is_the_token_usage_at_list_price(api: httpx.Client) -> None:
    usage = _results(
        _pages(
            api,
            USAGE_PATH,
            _window(START, 3, "workspace_id", "model", "service_tier", "context_window"),
        )
    )
    expected: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
    for start, row in usage:
        grain = (start, row["workspace_id"], row["model"], row["service_tier"])
        counts = {
            "uncached_input_tokens": row["uncached_input_tokens"],
            "output_tokens": row["output_tokens"],
            "cache_read_input_tokens": row["cache_read_input_tokens"],
            "cache_creation.ephemeral_5m_input_tokens": row["cache_creation"][
                "ephemeral_5m_input_tokens"
            ],
            "cache_creation.ephemeral_1h_input_tokens": row["cache_creation"][
                "ephemeral_1h_input_tokens"
            ],
        }
        for token_type, count in counts.items():
            if count:
                key = (*grain, row["context_window"], token_type)
                expected[key] += _list_price_cents(row, token_type, count)
        searches = row["server_tool_use"]["web_search_requests"]
        # Web search is $10 per thousand, one cent a search, with no model or token type.
        if searches:
            expected[(start, row["workspace_id"], None, None, None, None)] += searches

    costs = _results(_pages(api, COST_PATH, _window(START, 3, "workspace_id", "description")))
    actual = {
        (
            start,
            row["workspace_id"],
            row["model"],
            row["service_tier"],
            row["context_window"],
            row["token_type"],
        ): Decimal(row["amount"])
        for start, row in costs
    }
    assert len(actual) == len(costs)
    assert actual == dict(expected)
    assert {row["currency"] for _, row in costs} == {"USD"}
    assert {row["cost_type"] for _, row in costs} == {"tokens", "web_search"}
    assert all(row["description"] for _, row in costs)


def test_cost_breakdown_is_null_unless_grouped_by_description(api: httpx.Client) -> None:
    detailed = _results(_pages(api, COST_PATH, _window(START, 1, "description")))
    by_workspace = _results(_pages(api, COST_PATH, _window(START, 1, "workspace_id")))
    [(_, total)] = _results(_pages(api, COST_PATH, _window(START, 1)))
    breakdown = (
        "description",
        "cost_type",
        "model",
        "service_tier",
        "context_window",
        "token_type",
    )
    for row in [total, *(row for _, row in by_workspace)]:
        assert all(row[field] is None for field in breakdown)
    assert total["workspace_id"] is None
    assert len({row["workspace_id"] for _, row in by_workspace}) == len(by_workspace) > 1
    assert all(row["workspace_id"] is None for _, row in detailed)
    amount = Decimal(total["amount"])
    assert amount > 0
    assert sum(Decimal(row["amount"]) for _, row in detailed) == amount
    assert sum(Decimal(row["amount"]) for _, row in by_workspace) == amount


# --- refusals and injected faults ------------------------------------------------------------


def _error(response: httpx.Response, status: int, kind: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == kind
    return body["error"]["message"]


def test_a_request_without_an_admin_key_is_refused(server: SandboxServer) -> None:
    params = _window(START, 1)
    with httpx.Client(base_url=server.url) as anonymous:
        missing = anonymous.get(USAGE_PATH, params=params, headers={"anthropic-version": "x"})
        _error(missing, 401, "authentication_error")
        wrong = {"x-api-key": "sk-ant-api03-ordinary", "anthropic-version": "2023-06-01"}
        _error(anonymous.get(COST_PATH, params=params, headers=wrong), 401, "authentication_error")
        no_version = {"x-api-key": ADMIN_HEADERS["x-api-key"]}
        message = _error(
            anonymous.get(COST_PATH, params=params, headers=no_version),
            400,
            "invalid_request_error",
        )
        assert "anthropic-version" in message


@pytest.mark.parametrize(
    ("params", "mentions"),
    [
        ({"ending_at": "2026-11-17T00:00:00Z"}, "starting_at"),
        ({"starting_at": "16 Nov 2026"}, "starting_at"),
        ({"starting_at": "2026-11-16T00:00:00"}, "starting_at"),
        ({"starting_at": "2026-11-16T00:00:00Z", "ending_at": "2026-11-15T00:00:00Z"}, "ending_at"),
        ({**_window(START, 2), "bucket_width": "1h"}, "bucket_width"),
        ({**_window(START, 2), "bucket_width": "1w"}, "bucket_width"),
        ({**_window(START, 2), "limit": "0"}, "limit"),
        ({**_window(START, 2), "limit": "32"}, "limit"),
        ({**_window(START, 2), "group_by[]": ["team"]}, "group_by"),
        ({**_window(START, 2), "group_by": "model"}, "group_by"),
        ({**_window(START, 2), "page": "page_bm90IGEgdG9rZW4="}, "page"),
        ({**_window(START, 2), "page": "next"}, "page"),
    ],
)
def test_bad_parameters_are_refused(
    api: httpx.Client, params: dict[str, Any], mentions: str
) -> None:
    message = _error(api.get(USAGE_PATH, params=params), 400, "invalid_request_error")
    assert mentions in message


def test_cost_report_refuses_usage_only_options(api: httpx.Client) -> None:
    for extra in ({"group_by[]": ["model"]}, {"models[]": ["claude-opus-4-1-20250805"]}):
        response = api.get(COST_PATH, params={**_window(START, 1), **extra})
        _error(response, 400, "invalid_request_error")


def test_injected_faults_answer_once_each_then_the_route_recovers(
    api: httpx.Client, server: SandboxServer
) -> None:
    server.faults[COST_PATH] = [429, 500]
    before = len(server.requests)
    params = _window(START, 1)

    limited = api.get(COST_PATH, params=params)
    _error(limited, 429, "rate_limit_error")
    assert limited.headers["retry-after"] == "0"
    # Other routes are not affected by a fault queued for the cost report.
    assert api.get(USAGE_PATH, params=params).status_code == 200
    _error(api.get(COST_PATH, params=params), 500, "api_error")
    assert api.get(COST_PATH, params=params).status_code == 200

    paths = [request.path for request in server.requests[before:]]
    assert paths == [COST_PATH, USAGE_PATH, COST_PATH, COST_PATH]
    assert server.faults[COST_PATH] == []


def test_unknown_routes_are_404(api: httpx.Client) -> None:
    assert api.get("/v1/organizations/usage_report/claude_code_unknown").status_code == 404
    assert api.post(USAGE_PATH).status_code == 405


def test_each_server_listens_on_its_own_free_port(company: Company) -> None:
    with SandboxServer(company) as first, SandboxServer(company) as second:
        assert first.url != second.url
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", first.url)
        response = httpx.get(
            first.url + USAGE_PATH, params=_window(START, 1), headers=ADMIN_HEADERS
        )
        assert response.status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(first.url + USAGE_PATH, timeout=2)


# --- Claude Code transcripts -----------------------------------------------------------------


@pytest.fixture(scope="module")
def transcripts(company: Company, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("claude")
    write_transcripts(company, root, DAYS[0], DAYS[-1])
    return root


def _files(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*.jsonl")}


def test_transcripts_are_byte_identical_on_every_write(
    company: Company, transcripts: Path, tmp_path: Path
) -> None:
    write_transcripts(company, tmp_path / "again", DAYS[0], DAYS[-1])
    assert _files(tmp_path / "again") == _files(transcripts)
    # A day written on its own gives the same files as that day inside the longer range.
    write_transcripts(company, tmp_path / "one-day", DAYS[2], DAYS[3])
    one_day = _files(tmp_path / "one-day")
    assert one_day
    assert all(_files(transcripts)[name] == content for name, content in one_day.items())


def test_transcripts_are_jsonl_but_for_the_planted_truncated_lines(
    company: Company, transcripts: Path
) -> None:
    planted = {
        session.relative_path.as_posix(): set(session.malformed)
        for day in DAYS[:-1]
        for session in sessions_for_day(company, day)
    }
    assert set(planted) == set(_files(transcripts))
    assert sum(len(lines) for lines in planted.values()) >= 2
    stamp = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
    for name, content in _files(transcripts).items():
        failed = set()
        seen_uuids: set[str] = set()
        for number, text in enumerate(content.decode().split("\n"), start=1):
            if not text:
                continue
            try:
                line = json.loads(text)
            except json.JSONDecodeError:
                failed.add(number)
                continue
            assert stamp.fullmatch(line["timestamp"])
            assert line["parentUuid"] is None or line["parentUuid"] in seen_uuids
            seen_uuids.add(line["uuid"])
            assert line["sessionId"] == Path(name).stem
            assert Path(name).parent.name == line["cwd"].replace("/", "-")
            if line["type"] == "user":
                assert "usage" not in line["message"]
            else:
                assert line["type"] == "assistant"
                assert line["message"]["id"].startswith("msg_")
                assert line["requestId"].startswith("req_")
                usage = line["message"]["usage"]
                assert min(usage[field] for field in USAGE_FIELDS) >= 0
                if "cache_creation" in usage:
                    split = usage["cache_creation"]
                    written = (
                        split["ephemeral_5m_input_tokens"] + split["ephemeral_1h_input_tokens"]
                    )
                    assert written == usage["cache_creation_input_tokens"]
        assert failed == planted[name], name
        # A complete file ends with a newline; one the CLI was killed writing stops mid-line.
        assert content.endswith(b"\n") == (not planted[name]), name


def _assistant_lines(root: Path) -> list[dict[str, Any]]:
    lines = []
    for content in _files(root).values():
        for text in content.decode().splitlines():
            try:
                line = json.loads(text)
            except json.JSONDecodeError:
                continue
            if line["type"] == "assistant":
                lines.append(line)
    return lines


def test_transcripts_keep_the_quirks_a_loader_must_handle(transcripts: Path) -> None:
    lines = _assistant_lines(transcripts)
    keys = Counter((line["message"]["id"], line["requestId"]) for line in lines)
    repeated = {key for key, count in keys.items() if count > 1}
    assert repeated
    assert len(repeated) < len(keys) / 2
    usage_of: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for line in lines:
        usage_of[(line["message"]["id"], line["requestId"])].append(line["message"]["usage"])
    assert all(len({json.dumps(u) for u in usage_of[key]}) == 1 for key in repeated)

    models_per_session: dict[str, set[str]] = defaultdict(set)
    dates_per_session: dict[str, set[str]] = defaultdict(set)
    for line in lines:
        if not line["isSidechain"]:
            models_per_session[line["sessionId"]].add(line["message"]["model"])
        dates_per_session[line["sessionId"]].add(line["timestamp"][:10])
    assert any(len(models) > 1 for models in models_per_session.values())
    assert any(len(dates) > 1 for dates in dates_per_session.values())
    assert any(line["isSidechain"] for line in lines)
    old_builds = [line for line in lines if "cache_creation" not in line["message"]["usage"]]
    assert old_builds
    assert all(line["version"].startswith("1.") for line in old_builds)


def test_each_transcript_folder_belongs_to_one_known_engineer(
    company: Company, transcripts: Path
) -> None:
    folders = user_folders(company, transcripts)
    assert set(folders.values()) == {p.email for p in company.people if p.uses_claude_code}
    written_roots = {path.parent.parent for path in transcripts.rglob("*.jsonl")}
    assert written_roots <= set(folders)
    for path in transcripts.rglob("*.jsonl"):
        person = person_for_project_dir(company, path.parent.name)
        assert person is not None
        assert person.email == folders[path.parent.parent]
    assert person_for_project_dir(company, "-home-someone-src-elsewhere") is None


# --- seeds -----------------------------------------------------------------------------------


def test_committed_seeds_are_what_the_company_generates(company: Company, tmp_path: Path) -> None:
    for path in write_seeds(company, tmp_path):
        committed = REPO / "dbt_project" / "seeds" / path.name
        assert committed.read_bytes() == path.read_bytes(), (
            f"{committed.name} is stale: run `python -m orchestration.sandbox seeds`"
        )


def test_mappings_cover_every_sandbox_identifier(company: Company) -> None:
    text = (REPO / "dbt_project" / "seeds" / "source_mappings.csv").read_text()
    rows = [line.split(",") for line in text.splitlines()[1:]]
    mapped = {(row[0], row[1], row[2]) for row in rows}
    expected = {("anthropic", "workspace_id", w.id) for w in company.workspaces}
    expected |= {("anthropic", "api_key_id", k.id) for k in company.api_keys}
    expected |= {("claude_code", "project_dir", c.project_dir) for c in company.checkouts}
    openai = build_organization(company)
    expected |= {("openai", "project_id", p.id) for p in openai.projects}
    expected |= {("openai", "api_key_id", k.id) for k in openai.api_keys}
    for account in cloud_accounts(company):
        source = "focus" if account.provider == GPU_CLOUD else account.provider
        if account.parent_id:  # an Azure resource group: mapped by its id, and its subscription
            expected.add((source, "sub_account_id", account.parent_id))
        else:
            expected.add((source, "sub_account_id", account.id))
    missing = expected - mapped
    assert not missing, f"sandbox identifiers without a mapping row: {sorted(missing)}"
    assert len(rows) == len(mapped)
    projects = {project.slug for project in company.projects}
    assert all(row[5] in projects or row[5] == "" for row in rows)
    assert {row[6] for row in rows} <= {"production", "development", ""}
