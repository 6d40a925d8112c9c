"""The sandbox's OpenAI organization and its Usage and Costs APIs, checked on the wire.

The HTTP tests talk to a running `SandboxServer` with httpx, the way a collector does, so
paging, grouping and errors are checked as a client sees them, not on Python objects.
"""

import itertools
import random
import re
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from orchestration.sandbox.company import Company, build_company
from orchestration.sandbox.openai_api import (
    COSTS_PATH,
    GROUP_FIELDS,
    MAX_RESULTS_PER_PAGE,
    USAGE_PATHS,
)
from orchestration.sandbox.openai_org import (
    ENDPOINTS,
    QUANTITIES,
    Organization,
    build_organization,
    costs_for_day,
    usage_for_day,
)
from orchestration.sandbox.server import SandboxServer

ADMIN = {"authorization": "Bearer sk-admin-sandbox-test"}
# Monday 2026-11-16 to Wednesday 2026-11-25: two weekend days inside.
START = date(2026, 11, 16)
DAYS = [START + timedelta(days=n) for n in range(10)]

# OpenAI's list prices in USD, restated here on purpose: the test must not borrow the numbers
# it checks. Tokens per million (input, cached input, output); the rest per unit or million.
TOKEN_PRICE = {
    "gpt-4.1-2025-04-14": ("2", "0.50", "8"),
    "gpt-4.1-mini-2025-04-14": ("0.40", "0.10", "1.60"),
    "gpt-4o-mini-2024-07-18": ("0.15", "0.075", "0.60"),
}
EMBEDDING_PER_MILLION = {"text-embedding-3-small": Decimal("0.02")}
IMAGE_EACH = {
    ("dall-e-3", "1024x1024"): Decimal("0.04"),
    ("dall-e-3", "1024x1792"): Decimal("0.08"),
}
SPEECH_PER_MILLION_CHARACTERS = {"tts-1": Decimal(15)}
TRANSCRIPTION_PER_MINUTE = {"whisper-1": Decimal("0.006")}


@pytest.fixture(scope="module")
def company() -> Company:
    return build_company()


@pytest.fixture(scope="module")
def org(company: Company) -> Organization:
    return build_organization(company)


@pytest.fixture(scope="module")
def server(company: Company) -> Iterator[SandboxServer]:
    with SandboxServer(company) as running:
        yield running


@pytest.fixture
def api(server: SandboxServer) -> Iterator[httpx.Client]:
    server.faults.clear()
    with httpx.Client(base_url=server.url, headers=ADMIN, timeout=10) as client:
        yield client


def _unix(day: date) -> int:
    return int(datetime.combine(day, datetime.min.time(), UTC).timestamp())


def _window(first: date, days: int, *group_by: str, **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "start_time": _unix(first),
        "end_time": _unix(first + timedelta(days=days)),
        **extra,
    }
    if group_by:
        params["group_by[]"] = list(group_by)
    return params


def _pages(api: httpx.Client, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every page, following `next_page` the way a client must."""
    pages = []
    page = None
    while True:
        response = api.get(path, params={**params, **({"page": page} if page else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["object"] == "page"
        pages.append(body)
        if not body["has_more"]:
            assert body["next_page"] is None
            return pages
        page = body["next_page"]
        assert len(pages) < 200, "paging does not end"


def _results(pages: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    return [
        (bucket["start_time"], result)
        for body in pages
        for bucket in body["data"]
        for result in bucket["results"]
    ]


def _generated(org: Organization, endpoint: str, days: list[date]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for day in days:
        for row in usage_for_day(org, endpoint, day):
            for field in QUANTITIES[endpoint]:
                totals[field] += row.quantity(field)
    return dict(totals)


def _served(results: list[tuple[int, dict[str, Any]]], endpoint: str) -> dict[str, int]:
    return {field: sum(result[field] for _, result in results) for field in QUANTITIES[endpoint]}


# --- the organization ------------------------------------------------------------------------


def test_the_organization_is_derived_deterministically_from_the_company(company: Company) -> None:
    assert build_organization(build_company(7)) == build_organization(build_company(7))
    other = build_organization(build_company(8))
    assert {p.id for p in other.projects}.isdisjoint(
        p.id for p in build_organization(company).projects
    )


def test_generation_is_per_day_and_leaves_the_global_random_state_alone(org: Organization) -> None:
    random.seed(1234)
    state = random.getstate()
    later_first = [usage_for_day(org, "completions", day) for day in reversed(DAYS)]
    assert list(reversed(later_first)) == [usage_for_day(org, "completions", d) for d in DAYS]
    costs_for_day(org, START)
    assert random.getstate() == state


def test_the_organization_mirrors_the_company(company: Company, org: Organization) -> None:
    assert re.fullmatch(r"org-\w{24}", org.id)
    assert [p.project for p in org.projects] == [p.slug for p in company.projects]
    project_ids = {p.id for p in org.projects}
    assert all(re.fullmatch(r"proj_\w{24}", pid) for pid in project_ids)
    user_ids = {user.id for user in org.users}
    assert {user.email for user in org.users} <= {person.email for person in company.people}
    for key in org.api_keys:
        assert re.fullmatch(r"key_\w{16}", key.id)
        assert key.project_id in project_ids
        # Production runs on service accounts; development keys belong to a person.
        assert (key.user_id is None) == (key.environment == "production")
        assert key.user_id is None or key.user_id in user_ids
    research = {p.slug for p in company.projects if p.kind == "research"}
    assert {k.project for k in org.api_keys if k.environment == "production"}.isdisjoint(research)


def test_traffic_looks_like_a_company(org: Organization) -> None:
    production = {key.id for key in org.api_keys if key.environment == "production"}
    weekday, weekend = defaultdict(int), defaultdict(int)
    for day in DAYS:
        for row in usage_for_day(org, "completions", day):
            if row.api_key_id in production:
                bucket = weekend if day.weekday() >= 5 else weekday
                bucket[day] += row.quantity("num_model_requests")
            assert row.quantity("input_cached_tokens") <= row.quantity("input_tokens")
    assert max(weekend.values()) < 0.8 * min(weekday.values())
    assert all(usage_for_day(org, endpoint, START) for endpoint in ENDPOINTS)


# --- usage over HTTP ------------------------------------------------------------------------


def test_paging_delivers_every_bucket_and_row_once(api: httpx.Client, org: Organization) -> None:
    fields = GROUP_FIELDS["completions"]
    pages = _pages(api, USAGE_PATHS["completions"], _window(START, 10, *fields, limit=3))
    for body in pages:
        assert 1 <= len(body["data"]) <= 3
        assert sum(len(bucket["results"]) for bucket in body["data"]) <= MAX_RESULTS_PER_PAGE
        assert all(bucket["object"] == "bucket" for bucket in body["data"])
    # Some day had more results than a page holds and was continued on the next page.
    assert any(
        before["data"][-1]["start_time"] == after["data"][0]["start_time"]
        for before, after in itertools.pairwise(pages)
    )
    starts = list(dict.fromkeys(bucket["start_time"] for body in pages for bucket in body["data"]))
    assert starts == [_unix(day) for day in DAYS]
    assert all(
        bucket["end_time"] - bucket["start_time"] == 86400
        for body in pages
        for bucket in body["data"]
    )
    results = _results(pages)
    grains = [(start, *(row[field] for field in fields)) for start, row in results]
    assert len(grains) == len(set(grains))
    assert _served(results, "completions") == _generated(org, "completions", DAYS)


def test_limit_counts_buckets_and_defaults_to_seven(api: httpx.Client) -> None:
    body = api.get(USAGE_PATHS["embeddings"], params=_window(START, 10)).json()
    assert [bucket["start_time"] for bucket in body["data"]] == [_unix(d) for d in DAYS[:7]]
    assert body["has_more"]
    rest = api.get(
        USAGE_PATHS["embeddings"], params={**_window(START, 10), "page": body["next_page"]}
    ).json()
    assert [bucket["start_time"] for bucket in rest["data"]] == [_unix(d) for d in DAYS[7:]]
    assert not rest["has_more"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_ungrouped_fields_are_null_and_summed(
    api: httpx.Client, org: Organization, endpoint: str
) -> None:
    path = USAGE_PATHS[endpoint]
    fields = GROUP_FIELDS[endpoint]
    [(_, total)] = _results(_pages(api, path, _window(START, 1)))
    assert total["object"] == f"organization.usage.{endpoint}.result"
    assert all(total[field] is None for field in fields)
    by_project = _results(_pages(api, path, _window(START, 1, "project_id")))
    assert all(row["project_id"] for _, row in by_project)
    assert all(row[f] is None for _, row in by_project for f in fields if f != "project_id")
    assert len({row["project_id"] for _, row in by_project}) == len(by_project)
    finest = _results(_pages(api, path, _window(START, 1, *fields)))
    assert len(finest) == len(usage_for_day(org, endpoint, START))
    for grouping in (by_project, finest):
        assert _served(grouping, endpoint) == {
            field: total[field] for field in QUANTITIES[endpoint]
        }


# --- costs over HTTP ------------------------------------------------------------------------


def _list_price(endpoint: str, row: dict[str, Any]) -> Decimal:
    """What one finest-grain usage result costs at the list prices restated above."""
    if endpoint == "completions":
        given, cached, output = (Decimal(p) for p in TOKEN_PRICE[row["model"]])
        uncached = row["input_tokens"] - row["input_cached_tokens"]
        dollars = (uncached * given + row["input_cached_tokens"] * cached) / 1_000_000
        dollars += row["output_tokens"] * output / 1_000_000
        return dollars / 2 if row["batch"] else dollars
    if endpoint == "embeddings":
        return row["input_tokens"] * EMBEDDING_PER_MILLION[row["model"]] / 1_000_000
    if endpoint == "images":
        return row["images"] * IMAGE_EACH[(row["model"], row["size"])]
    if endpoint == "audio_speeches":
        return row["characters"] * SPEECH_PER_MILLION_CHARACTERS[row["model"]] / 1_000_000
    return row["seconds"] * TRANSCRIPTION_PER_MINUTE[row["model"]] / 60


def test_costs_are_the_usage_at_list_price(api: httpx.Client) -> None:
    expected: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for endpoint in ENDPOINTS:
        params = _window(START, 3, *GROUP_FIELDS[endpoint])
        for start, row in _results(_pages(api, USAGE_PATHS[endpoint], params)):
            expected[(start, row["project_id"])] += _list_price(endpoint, row)
    costs = _results(_pages(api, COSTS_PATH, _window(START, 3, "project_id")))
    actual = {(start, row["project_id"]): row["amount"]["value"] for start, row in costs}
    assert len(actual) == len(costs) == len(expected)
    assert actual.keys() == expected.keys()
    for grain, amount in actual.items():
        assert isinstance(amount, float)
        assert amount == pytest.approx(float(expected[grain]), rel=1e-12), grain
    assert {row["object"] for _, row in costs} == {"organization.costs.result"}
    assert {row["amount"]["currency"] for _, row in costs} == {"usd"}


def test_cost_line_items_sum_to_the_total(api: httpx.Client, org: Organization) -> None:
    [(_, total)] = _results(_pages(api, COSTS_PATH, _window(START, 1)))
    assert total["project_id"] is None and total["line_item"] is None
    items = _results(_pages(api, COSTS_PATH, _window(START, 1, "line_item", limit=180)))
    assert all(row["project_id"] is None and row["line_item"] for _, row in items)
    assert {row["line_item"] for _, row in items} >= {
        "gpt-4.1-2025-04-14, cached input",
        "gpt-4.1-mini-2025-04-14, batch input",
        "text-embedding-3-small, input",
        "dall-e-3, 1024x1024",
    }
    served = sum(Decimal(str(row["amount"]["value"])) for _, row in items)
    generated = sum(row.amount_usd for row in costs_for_day(org, START))
    assert float(served) == pytest.approx(float(generated), rel=1e-12)
    assert total["amount"]["value"] == pytest.approx(float(generated), rel=1e-12)


# --- refusals and faults --------------------------------------------------------------------


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    return error


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer sk-proj-ordinary"}, {"authorization": "Basic sk-admin-x"}],
)
def test_a_request_without_an_admin_key_is_refused(
    server: SandboxServer, headers: dict[str, str]
) -> None:
    with httpx.Client(base_url=server.url, headers=headers) as anonymous:
        for path in (COSTS_PATH, USAGE_PATHS["completions"]):
            error = _error(anonymous.get(path, params=_window(START, 1)), 401)
            assert error["type"] == "invalid_request_error"
            assert error["code"] == "invalid_api_key"
            assert error["param"] is None
            assert "ordinary" not in error["message"]


@pytest.mark.parametrize(
    ("path", "params", "param"),
    [
        (USAGE_PATHS["completions"], {"end_time": _unix(START)}, "start_time"),
        (USAGE_PATHS["completions"], {"start_time": "2026-11-16"}, "start_time"),
        (USAGE_PATHS["completions"], {**_window(START, 1), "end_time": _unix(START)}, "end_time"),
        (USAGE_PATHS["completions"], {**_window(START, 1), "bucket_width": "1h"}, "bucket_width"),
        (COSTS_PATH, {**_window(START, 1), "bucket_width": "1h"}, "bucket_width"),
        (USAGE_PATHS["embeddings"], {**_window(START, 1), "limit": "32"}, "limit"),
        (COSTS_PATH, {**_window(START, 1), "limit": "181"}, "limit"),
        (COSTS_PATH, {**_window(START, 1), "limit": "0"}, "limit"),
        (USAGE_PATHS["embeddings"], {**_window(START, 1), "group_by[]": ["batch"]}, "group_by"),
        (COSTS_PATH, {**_window(START, 1), "group_by[]": ["model"]}, "group_by"),
        (USAGE_PATHS["images"], {**_window(START, 1), "project_ids[]": ["p"]}, "project_ids[]"),
        (COSTS_PATH, {**_window(START, 1), "page": "next"}, "page"),
    ],
)
def test_bad_parameters_are_refused(
    api: httpx.Client, path: str, params: dict[str, Any], param: str
) -> None:
    error = _error(api.get(path, params=params), 400)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param


def test_a_page_token_only_works_for_its_own_endpoint(api: httpx.Client) -> None:
    params = _window(START, 10)
    token = api.get(USAGE_PATHS["embeddings"], params=params).json()["next_page"]
    assert token
    error = _error(api.get(USAGE_PATHS["images"], params={**params, "page": token}), 400)
    assert error["param"] == "page"


def test_costs_accept_up_to_180_buckets(api: httpx.Client) -> None:
    body = api.get(COSTS_PATH, params={**_window(START, 10), "limit": "180"}).json()
    assert len(body["data"]) == 10


def test_injected_faults_answer_in_the_vendor_shape_then_recover(
    api: httpx.Client, server: SandboxServer
) -> None:
    server.faults[COSTS_PATH] = [429, 500]
    params = _window(START, 1)
    limited = api.get(COSTS_PATH, params=params)
    assert _error(limited, 429)["code"] == "rate_limit_exceeded"
    assert limited.headers["retry-after"] == "0"
    assert api.get(USAGE_PATHS["completions"], params=params).status_code == 200
    assert _error(api.get(COSTS_PATH, params=params), 500)["type"] == "server_error"
    assert api.get(COSTS_PATH, params=params).status_code == 200
    assert server.faults[COSTS_PATH] == []
