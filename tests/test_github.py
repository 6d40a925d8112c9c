"""The GitHub collectors through the real client code, against the sandbox over HTTP.

The seam: GitHub's REST API is played by `orchestration/sandbox/github_api.py` on the loopback
sandbox server, with `Link` paging, per-token rate limit budgets (a test builds a `GithubApi`
with a small budget) and GitHub's error bodies; the client reaches it through `HttpSource` as
it would api.github.com. The warehouse is a real PostgreSQL, and dbt builds fct_metrics.
"""

import logging
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import psycopg
import pytest
from conftest import build_models_then_test

from assets.github import github_commits, github_pull_requests, github_releases
from orchestration.clients.github import GithubClient
from orchestration.collectors.framework import run_collector
from orchestration.collectors.http import MissingCredentialError, SourceError
from orchestration.config import ConfigError, load_config
from orchestration.dbt.assets import ensure_sources_exist
from orchestration.dbt.project import ensure_manifest
from orchestration.definitions import build_definitions
from orchestration.sandbox import github_api
from orchestration.sandbox.company import build_company
from orchestration.sandbox.github_org import (
    ARCHIVED_REPOSITORY,
    CI_EMAIL,
    DEPENDABOT_LOGIN,
    ORGANIZATION,
    build_organization,
    commits_between,
    pull_requests,
    releases,
)
from orchestration.sandbox.routing import Response, Route
from orchestration.sandbox.server import SandboxServer
from orchestration.warehouse.connection import WarehouseResource

TOKEN = "ghp_RECOGNISABLEtestToken000000000000000"
DAY = datetime(2026, 11, 3, tzinfo=UTC)  # a Tuesday
THURSDAY = datetime(2026, 11, 5, tzinfo=UTC)
LOG = logging.getLogger("test")
REPO = f"{ORGANIZATION}/checkout-api"


@pytest.fixture(scope="module")
def company():
    return build_company(7)


@pytest.fixture(scope="module")
def org(company):
    return build_organization(company)


@pytest.fixture
def sandbox(company):
    with SandboxServer(company) as server:
        yield server


def _client(url, **options):
    options.setdefault("organization", ORGANIZATION)
    return GithubClient(base_url=url, token=TOKEN, **options)


def _collect(spec, database_url, client, *, run_id="r1", day=DAY, days=1, log=LOG):
    result, _ = run_collector(
        spec,
        WarehouseResource(url=database_url),
        start=day,
        end=day + timedelta(days=days),
        partition_key=day.date().isoformat(),
        run_id=run_id,
        log=log,
        resources={"github": client},
    )
    return result


def _active(org):
    return [repo for repo in org.repositories if not repo.archived]


def _in(moment, start, end):
    return moment is not None and start <= moment < end


def _expected_pulls(org, start, end, now):
    return {
        (repo.full_name, pull.number): pull
        for repo in _active(org)
        for pull in pull_requests(org, repo.name, now)
        if any(_in(moment, start, end) for moment in (pull.created_at, *pull.as_of(now)[1:3]))
    }


def test_commits_of_every_repository_follow_the_link_pages(conn, database_url, sandbox, org):
    now = datetime.now(UTC)
    result = _collect(github_commits, database_url, _client(sandbox.url, per_page=4))
    expected = {
        (repo.full_name, commit.sha)
        for repo in _active(org)
        for commit in commits_between(org, repo.name, DAY, DAY + timedelta(days=1), now)
    }
    stored = conn.execute(
        "select record ->> 'repository', record ->> 'sha' from raw.github_commits"
    ).fetchall()
    assert set(stored) == expected and result.rows == len(expected) > 20
    pages = [r for r in sandbox.requests if r.path == f"/repos/{REPO}/commits"]
    assert len(pages) > 2 and all(r.query["page"] for r in pages[1:])
    assert pages[0].query["since"] == ("2026-11-03T00:00:00Z",)
    assert pages[0].headers["authorization"] == f"Bearer {TOKEN}"
    archived = f"/repos/{ORGANIZATION}/{ARCHIVED_REPOSITORY}/commits"
    assert not [r for r in sandbox.requests if r.path == archived], "archived repos are skipped"


def test_pull_requests_with_an_event_in_the_window_come_with_their_sizes(
    conn, database_url, sandbox, org
):
    now = datetime.now(UTC)
    result = _collect(github_pull_requests, database_url, _client(sandbox.url, per_page=10))
    expected = _expected_pulls(org, DAY, DAY + timedelta(days=1), now)
    stored = conn.execute(
        "select record ->> 'repository', (record ->> 'number')::int, "
        "(record ->> 'additions')::int, (record ->> 'deletions')::int "
        "from raw.github_pull_requests"
    ).fetchall()
    assert result.rows == len(expected) > 5
    assert {(repo, number): (added, deleted) for repo, number, added, deleted in stored} == {
        key: (pull.additions, pull.deletions) for key, pull in expected.items()
    }
    listed = [r for r in sandbox.requests if r.path == f"/repos/{REPO}/pulls"]
    total = len(pull_requests(org, "checkout-api", now))
    assert len(listed) < -(-total // 10), "reading stops at pull requests updated before the day"
    assert listed[0].query["sort"] == ("updated",) and listed[0].query["state"] == ("all",)


def test_releases_published_in_the_window(conn, database_url, sandbox, org):
    now = datetime.now(UTC)
    result = _collect(github_releases, database_url, _client(sandbox.url), day=THURSDAY)
    expected = {
        (repo.full_name, release.tag_name)
        for repo in _active(org)
        for release in releases(org, repo.name)
        if _in(release.published_at, THURSDAY, THURSDAY + timedelta(days=1))
        and release.published_at <= now
    }
    stored = conn.execute(
        "select record ->> 'repository', record ->> 'tag_name' from raw.github_releases"
    ).fetchall()
    assert set(stored) == expected and result.rows == len(expected) > 0


def _limited(company, **budget):
    api = github_api.GithubApi(**budget)
    return SandboxServer(company, routes=api.routes())


def test_a_spent_rate_limit_with_a_near_reset_is_waited_out(
    conn, database_url, company, org, caplog
):
    now = datetime.now(UTC)
    with _limited(company, limit=3, window_s=2) as server:
        client = _client(server.url, organization=None, repositories=[REPO], per_page=2)
        started = time.monotonic()
        with caplog.at_level(logging.INFO, logger="test"):
            result = _collect(github_commits, database_url, client)
        elapsed = time.monotonic() - started
    expected = commits_between(org, "checkout-api", DAY, DAY + timedelta(days=1), now)
    assert result.rows == len(expected) > 6
    assert len(server.requests) == -(-len(expected) // 2) > 3, "no request was refused"
    assert elapsed >= 1.0, "it waited for the reset"
    assert any("waiting" in message and "reset" in message for message in caplog.messages)
    assert any("requests left (core)" in message for message in caplog.messages)


def test_a_limit_spent_by_another_client_is_waited_out_then_retried(
    conn, database_url, company, org
):
    with _limited(company, limit=2, window_s=2) as server:
        for _ in range(2):  # another job with the same token spends the budget
            httpx.get(
                f"{server.url}/orgs/{ORGANIZATION}/repos",
                headers={"authorization": f"Bearer {TOKEN}"},
            )
        web = f"{ORGANIZATION}/checkout-web"  # released on that Thursday
        client = _client(server.url, organization=None, repositories=[web])
        result = _collect(github_releases, database_url, client, day=THURSDAY)
    assert result.rows == 1
    assert len(server.requests) == 4, "the refused request was sent again after the reset"


def test_a_limit_resetting_too_late_fails_the_partition_saying_when(conn, database_url, company):
    with _limited(company, limit=3, window_s=3600) as server:
        client = _client(
            server.url, organization=None, repositories=[REPO], per_page=2, rate_limit_max_wait_s=60
        )
        with pytest.raises(SourceError) as failure:
            _collect(github_commits, database_url, client)
    message = str(failure.value)
    assert "rate limit is spent" in message and "resets at 20" in message
    assert "rate_limit_max_wait_s (60 s)" in message
    assert len(server.requests) == 3, "nothing more is sent once the budget is gone"
    assert conn.execute("select to_regclass('raw.github_commits')").fetchone()[0] is None or (
        conn.execute("select count(*) from raw.github_commits").fetchone()[0] == 0
    )


def test_the_github_section_becomes_three_daily_collectors(tmp_path, monkeypatch):
    ensure_manifest()
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    config = tmp_path / "vault.yaml"
    config.write_text(
        "sources:\n  github:\n    base_url: https://ghe.example.com/api/v3\n"
        "    repositories: [platform/api]\n"
    )
    defs = build_definitions(load_config(config))
    graph = defs.resolve_asset_graph()
    github = {
        key.to_user_string()
        for key in graph.get_all_asset_keys()
        if graph.get(key).is_materializable and graph.get(key).group_name == "github"
    }
    assert github == {"raw/github_commits", "raw/github_pull_requests", "raw/github_releases"}
    assert defs.resources["github"].base_url == "https://ghe.example.com/api/v3"
    config.write_text("sources:\n  github:\n    repositories: [not-a-repository]\n")
    with pytest.raises(ConfigError, match=r"sources\.github\.repositories\.0"):
        load_config(config)
    config.write_text("sources:\n  github: {}\n")
    with pytest.raises(ConfigError, match="name an organization, repositories, or both"):
        load_config(config)


def test_a_revoked_token_names_github_token(conn, database_url, sandbox):
    loaded = _collect(github_releases, database_url, _client(sandbox.url), day=THURSDAY)
    revoked = GithubClient(
        base_url=sandbox.url, token=github_api.REVOKED_TOKEN, organization=ORGANIZATION
    )
    with pytest.raises(SourceError) as failure:
        _collect(github_releases, database_url, revoked, day=THURSDAY, run_id="bad")
    message = str(failure.value)
    assert "HTTP 401 Bad credentials" in message and "GITHUB_TOKEN" in message
    assert github_api.REVOKED_TOKEN not in message
    count = conn.execute("select count(*), max(run_id) from raw.github_releases").fetchone()
    assert count == (loaded.rows, "r1")


def test_a_token_without_pull_request_access_is_told_the_permission(conn, database_url, sandbox):
    limited = GithubClient(
        base_url=sandbox.url, token=github_api.TOKEN_WITHOUT_PULL_REQUESTS, repositories=[REPO]
    )
    assert _collect(github_commits, database_url, limited).rows > 0
    with pytest.raises(SourceError, match="pull_requests=read") as failure:
        _collect(github_pull_requests, database_url, limited)
    assert "HTTP 403" in str(failure.value) and "GITHUB_TOKEN" in str(failure.value)


def test_a_missing_token_names_the_variable(conn, database_url, sandbox):
    with pytest.raises(MissingCredentialError, match="GITHUB_TOKEN is not set"):
        _collect(
            github_commits, database_url, GithubClient(base_url=sandbox.url, repositories=[REPO])
        )
    assert sandbox.requests == []


def test_a_garbled_page_fails_its_partition_and_keeps_the_previous_load(
    conn, database_url, company
):
    routes = github_api.GithubApi().routes()
    real = routes[("GET", github_api.COMMITS_PATH)]
    garble = {"on": False}

    def answer(company, request):
        if garble["on"] and request.query.get("page"):
            return Response(200, b'[{"sha": "0a1b')
        return real.handler(company, request)

    routes[("GET", github_api.COMMITS_PATH)] = Route(answer, real.fault)
    with SandboxServer(company, routes=routes) as server:
        client = _client(
            server.url, organization=None, repositories=[REPO], per_page=4, max_retries=1
        )
        loaded = _collect(github_commits, database_url, client)
        garble["on"] = True
        with pytest.raises(SourceError, match="not valid JSON"):
            _collect(github_commits, database_url, client, run_id="r2")
    stored = conn.execute("select count(*), max(run_id) from raw.github_commits").fetchone()
    assert stored == (loaded.rows, "r1")


def test_a_next_link_to_another_host_is_refused(conn, database_url, company):
    def answer(company, request):
        link = '<https://elsewhere.example/steal?page=2>; rel="next"'
        return Response(200, [], {"link": link})

    routes = {("GET", github_api.RELEASES_PATH): Route(answer, lambda s: Response(s, {}))}
    with SandboxServer(company, routes=routes) as server:
        client = _client(server.url, organization=None, repositories=[REPO])
        with pytest.raises(SourceError, match="refusing to send the token there"):
            _collect(github_releases, database_url, client)
        assert len(server.requests) == 1


# --- end to end: fct_metrics holds what GitHub served ------------------------------------

WINDOW = (DAY, DAY + timedelta(days=3))  # Tuesday to Thursday


@pytest.fixture(scope="module")
def built(module_database, company, tmp_path_factory):
    """Three days of every GitHub collector, then dbt; yields the database URL."""
    with SandboxServer(company) as server:
        client = _client(server.url)
        for offset in range(3):
            day = DAY + timedelta(days=offset)
            for spec in (github_commits, github_pull_requests, github_releases):
                _collect(spec, module_database, client, day=day)
    ensure_sources_exist(WarehouseResource(url=module_database))
    build_models_then_test(
        module_database, tmp_path_factory.mktemp("dbt"), "fct_metrics", ["+int_metrics__github"]
    )
    yield module_database, datetime.now(UTC)


def _metrics(url, sql, params=()):
    with psycopg.connect(url) as connection:
        return connection.execute(sql, params).fetchall()


def test_fct_metrics_counts_what_github_served(built, org):
    url, now = built
    start, end = WINDOW
    commits = [
        commit
        for repo in _active(org)
        for commit in commits_between(org, repo.name, start, end, now)
    ]
    # Every pull request with an event in the window was loaded as it is now, so each of
    # its events is in fct_metrics, also one before or after the window.
    pulls = _expected_pulls(org, start, end, now).values()
    opened = list(pulls)
    merged = [p for p in pulls if p.as_of(now)[1] is not None]
    published = [
        release
        for repo in _active(org)
        for release in releases(org, repo.name)
        if _in(release.published_at, start, end)
    ]
    totals = dict(
        _metrics(
            url,
            "select metric_type, sum(value) from marts.fct_metrics "
            "where source_system = 'github' group by 1",
        )
    )
    assert totals == {
        "dev.commits": len(commits),
        "dev.pull_requests.opened": len(opened),
        "dev.pull_requests.merged": len(merged),
        "dev.pull_requests.time_to_merge_hours": sum(
            round(Decimal((p.merged_at - p.created_at).total_seconds()) / 3600, 4) for p in merged
        ),
        "dev.lines.added": sum(p.additions for p in merged),
        "dev.lines.deleted": sum(p.deletions for p in merged),
        "dev.releases": len(published),
    }
    assert len(published) > 0 and len(merged) > 5


def test_authors_map_to_people_by_email_or_by_login(built, org):
    url, now = built
    start, end = WINDOW
    expected: dict[str, int] = {}
    for repo in _active(org):
        for commit in commits_between(org, repo.name, start, end, now):
            person = commit.author.person if commit.author else None
            email = person.email if person else "unallocated"
            expected[email] = expected.get(email, 0) + 1
    rows = _metrics(
        url,
        "select user_email, sum(value)::int from marts.fct_metrics "
        "where metric_type = 'dev.commits' group by 1",
    )
    assert dict(rows) == expected
    noreply = [d for d in org.developers if d.commit_email.endswith("users.noreply.github.com")]
    assert noreply and any(d.person.email in expected for d in noreply), (
        "commits made with a noreply address reach their person through the login"
    )


def test_bots_fall_back_to_the_repository_team_and_project(built, org):
    url, _ = built
    ci = _metrics(
        url,
        "select distinct team, project, user_email from marts.fct_metrics "
        "where metric_type = 'dev.commits' and tags ->> 'author_login' is null",
    )
    assert ci and all(user == "unallocated" and team != "unallocated" for team, _, user in ci)
    bots = _metrics(
        url,
        "select distinct user_email, team from marts.fct_metrics "
        "where metric_type = 'dev.pull_requests.opened' and tags ->> 'author_login' = %s",
        (DEPENDABOT_LOGIN,),
    )
    assert all(user == "unallocated" and team != "unallocated" for user, team in bots)
    assert CI_EMAIL  # the CI bot's address belongs to no GitHub account
    checkout = _metrics(
        url,
        "select distinct project from marts.fct_metrics "
        "where source_system = 'github' and tags ->> 'repository' = %s",
        (REPO,),
    )
    assert checkout == [("checkout-assistant",)]
