"""The sandbox's injected faults on the wire: statuses, hung and reset connections, cut and
repeated pages.

Each test talks to a running `SandboxServer` with httpx, as a collector would, and checks what
arrives: the bytes, the headers, or the transport error a client sees.
"""

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from orchestration.sandbox.anthropic_api import COST_PATH, USAGE_PATH
from orchestration.sandbox.company import Company, build_company
from orchestration.sandbox.github_api import COMMITS_PATH
from orchestration.sandbox.routing import Fault
from orchestration.sandbox.server import SandboxServer

ADMIN_HEADERS = {"x-api-key": "sk-ant-admin01-sandbox", "anthropic-version": "2023-06-01"}
# One bucket a page, so a few days answer in several pages.
PAGED = {
    "starting_at": "2026-11-02T00:00:00Z",
    "ending_at": "2026-11-05T00:00:00Z",
    "bucket_width": "1d",
    "limit": "1",
}
GITHUB_HEADERS = {"authorization": "Bearer ghp_sandbox0000000000000000000000000000"}


@pytest.fixture(scope="module")
def company() -> Company:
    return build_company(7)


@pytest.fixture(scope="module")
def server(company: Company) -> Iterator[SandboxServer]:
    with SandboxServer(company) as running:
        yield running


@pytest.fixture
def api(server: SandboxServer) -> Iterator[httpx.Client]:
    server.faults.clear()
    server.hold_s = 10.0
    with httpx.Client(base_url=server.url, headers=ADMIN_HEADERS, timeout=5) as client:
        yield client


def _page_two(api: httpx.Client) -> dict[str, str]:
    first = api.get(COST_PATH, params=PAGED).json()
    assert first["has_more"], "the window must answer in more than one page"
    return {**PAGED, "page": first["next_page"]}


def test_none_lets_a_request_through_so_a_status_lands_on_the_second_page(
    api: httpx.Client, server: SandboxServer
) -> None:
    server.faults[COST_PATH] = [None, 503]
    first = api.get(COST_PATH, params=PAGED)
    assert first.status_code == 200
    second = api.get(COST_PATH, params={**PAGED, "page": first.json()["next_page"]})
    assert second.status_code == 503
    assert second.json()["error"]["message"] == "sandbox fault injected: HTTP 503"
    assert api.get(COST_PATH, params=PAGED).status_code == 200
    assert server.faults[COST_PATH] == []


def test_a_truncated_answer_is_the_first_half_of_the_normal_bytes(
    api: httpx.Client, server: SandboxServer
) -> None:
    params = _page_two(api)
    whole = api.get(COST_PATH, params=params).content
    server.faults[COST_PATH] = [Fault.TRUNCATED]
    cut = api.get(COST_PATH, params=params)
    assert cut.status_code == 200
    assert cut.content == whole[: len(whole) // 2]
    assert int(cut.headers["content-length"]) == len(whole) // 2
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content)
    assert api.get(COST_PATH, params=params).content == whole


def test_repeat_answers_the_previous_page_again_with_its_cursor(
    api: httpx.Client, server: SandboxServer
) -> None:
    first = api.get(COST_PATH, params=PAGED)
    server.faults[COST_PATH] = [Fault.REPEAT]
    again = api.get(COST_PATH, params={**PAGED, "page": first.json()["next_page"]})
    assert again.status_code == 200
    assert again.content == first.content
    assert again.json()["next_page"] == first.json()["next_page"]


def test_repeat_replays_the_headers_too(server: SandboxServer) -> None:
    path = COMMITS_PATH.format(owner="northwind-labs", repo="checkout-api")
    params = {"since": "2026-10-01T00:00:00Z", "until": "2026-11-04T00:00:00Z", "per_page": "2"}
    with httpx.Client(base_url=server.url, headers=GITHUB_HEADERS, timeout=5) as client:
        first = client.get(path, params=params)
        assert first.status_code == 200 and 'rel="next"' in first.headers["link"]
        server.faults[path] = [Fault.REPEAT]
        again = client.get(path, params={**params, "page": "2"})
    assert again.content == first.content
    assert again.headers["link"] == first.headers["link"]


def test_repeat_with_nothing_to_replay_answers_normally(company: Company) -> None:
    with (
        SandboxServer(company) as server,
        httpx.Client(base_url=server.url, headers=ADMIN_HEADERS, timeout=5) as client,
    ):
        server.faults[COST_PATH] = [Fault.REPEAT]
        replayed = client.get(COST_PATH, params=PAGED)
        server.faults.clear()
        assert replayed.content == client.get(COST_PATH, params=PAGED).content


def test_a_timeout_holds_the_answer_past_the_clients_read_timeout(
    api: httpx.Client, server: SandboxServer
) -> None:
    server.faults[COST_PATH] = [Fault.TIMEOUT]
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        api.get(COST_PATH, params=PAGED, timeout=0.2)
    assert time.monotonic() - started < 2
    assert api.get(COST_PATH, params=PAGED).status_code == 200


def test_stopping_the_server_ends_held_requests(company: Company) -> None:
    server = SandboxServer(company).start()
    server.hold_s = 60.0
    server.faults[COST_PATH] = [Fault.TIMEOUT]
    with httpx.Client(base_url=server.url, headers=ADMIN_HEADERS) as client:
        with pytest.raises(httpx.ReadTimeout):
            client.get(COST_PATH, params=PAGED, timeout=0.2)
        started = time.monotonic()
        server.stop()
    assert time.monotonic() - started < 5, "a held request must not keep the server up"


def test_a_reset_drops_the_connection_mid_pagination_then_the_path_recovers(
    api: httpx.Client, server: SandboxServer
) -> None:
    params = _page_two(api)
    server.faults[COST_PATH] = [Fault.RESET]
    with pytest.raises(httpx.TransportError) as failure:
        api.get(COST_PATH, params=params)
    assert isinstance(failure.value, httpx.ReadError | httpx.RemoteProtocolError)
    recovered = api.get(COST_PATH, params=params)
    assert recovered.status_code == 200 and recovered.json()["data"]


def test_faults_are_per_path_and_every_request_is_recorded(
    api: httpx.Client, server: SandboxServer
) -> None:
    server.faults[COST_PATH] = [Fault.RESET, 429]
    before = len(server.requests)
    with pytest.raises(httpx.TransportError):
        api.get(COST_PATH, params=PAGED)
    assert api.get(USAGE_PATH, params=PAGED).status_code == 200
    limited = api.get(COST_PATH, params=PAGED)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "0"
    paths = [request.path for request in server.requests[before:]]
    assert paths == [COST_PATH, USAGE_PATH, COST_PATH]


def test_an_unknown_fault_is_a_clear_sandbox_error(
    api: httpx.Client, server: SandboxServer
) -> None:
    server.faults[COST_PATH] = ["slow"]  # type: ignore[list-item]
    answer = api.get(COST_PATH, params=PAGED)
    assert answer.status_code == 500
    assert answer.json()["error"] == {
        "type": "sandbox_fault",
        "message": "unknown fault queued: 'slow'",
    }
