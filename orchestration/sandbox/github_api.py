"""GitHub's REST API for the lists the collectors read, answered from the sandbox organisation.

Served: `GET /orgs/{org}/repos`, `/repos/{owner}/{repo}/commits`, `/repos/{owner}/{repo}/pulls`,
`/repos/{owner}/{repo}/pulls/{number}` and `/repos/{owner}/{repo}/releases`, as GitHub
documents them where the collectors depend on it:

- `Authorization: Bearer <token>` (or `token <token>`): any `ghp_`, `github_pat_`, `gho_`,
  `ghu_` or `ghs_` token reads the organisation, except `REVOKED_TOKEN` (401 "Bad
  credentials", as for any unknown token) and `TOKEN_WITHOUT_PULL_REQUESTS`, a fine-grained
  token whose pull-request endpoints answer 403 with `x-accepted-github-permissions`. No token:
  401 "Requires authentication". Errors are `{"message", "documentation_url", "status"}`.
- Pages: `per_page` (default 30, at most 100) and `page`; a `Link` header gives `rel="next"`
  and `rel="last"` (absolute URLs on the host the request came to) while there are more.
- The rate limit: each token has `limit` requests per `window_s` seconds, and every answer
  carries `x-ratelimit-limit`, `-remaining`, `-used`, `-reset` (unix seconds) and
  `-resource`. A request with none left is refused with `exhausted_status` (GitHub uses 403
  or 429) and remaining 0. The budget lives in the `GithubApi` object, so a test can build one
  with a small limit; the default routes allow 5,000 an hour per token, as GitHub does.
- Commits: `since`/`until` (ISO 8601) on the commit date, newest first. Pull requests:
  `state` (default open), `sort` created or updated, `direction`; the single pull request
  adds `additions`, `deletions`, `changed_files`, `commits` and comment counts. Releases:
  newest first; a draft (not yet published) has `published_at` null.

Everything is as of the wall clock: a pull request merges in the API when its time comes.
"""

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from orchestration.sandbox.company import Company
from orchestration.sandbox.github_org import (
    ORGANIZATION,
    ORGANIZATION_ID,
    Commit,
    Developer,
    GithubOrganization,
    PullRequest,
    Release,
    Repository,
    build_organization,
    commits_between,
    pull_requests,
    releases,
)
from orchestration.sandbox.routing import Request, Response, Route

ORG_REPOS_PATH = "/orgs/{org}/repos"
COMMITS_PATH = "/repos/{owner}/{repo}/commits"
PULLS_PATH = "/repos/{owner}/{repo}/pulls"
PULL_PATH = "/repos/{owner}/{repo}/pulls/{number}"
RELEASES_PATH = "/repos/{owner}/{repo}/releases"

REVOKED_TOKEN = "ghp_sandboxRevokedToken00000000000000000"
TOKEN_WITHOUT_PULL_REQUESTS = "github_pat_sandbox_contents_only_0000000000"
_TOKEN_PREFIXES = ("ghp_", "github_pat_", "gho_", "ghu_", "ghs_")
_DOCS = "https://docs.github.com/rest"
_PER_PAGE_DEFAULT, _PER_PAGE_MAX = 30, 100


class _Refusal(Exception):
    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    body = {"message": message, "documentation_url": _DOCS, "status": str(status)}
    return Response(status, body, dict(headers or {}))


def _fault(status: int) -> Response:
    if status == 429:
        return _error(
            429,
            "You have exceeded a secondary rate limit. Please wait a few minutes before you "
            "try again.",
            {"retry-after": "0"},
        )
    return _error(status, "Server Error")


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _parse_time(value: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _Refusal(422, f"Invalid value for parameter '{name}': {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _one(request: Request, name: str) -> str | None:
    values = request.query.get(name)
    return values[-1] if values else None


@dataclass
class _Budget:
    remaining: int
    reset_at: float


class GithubApi:
    """The fake, with a per-token rate limit budget of `limit` requests per `window_s`."""

    def __init__(self, *, limit: int = 5000, window_s: float = 3600, exhausted_status: int = 403):
        self.limit = limit
        self.window_s = window_s
        self.exhausted_status = exhausted_status
        self._budgets: dict[str, _Budget] = {}
        self._lock = threading.Lock()

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("GET", ORG_REPOS_PATH): self._route(self._org_repos),
            ("GET", COMMITS_PATH): self._route(self._commits),
            ("GET", PULLS_PATH): self._route(self._pulls, needs_pulls=True),
            ("GET", PULL_PATH): self._route(self._pull, needs_pulls=True),
            ("GET", RELEASES_PATH): self._route(self._releases),
        }

    # --- authentication and the rate limit --------------------------------------------------

    def _token(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if not header:
            raise _Refusal(401, "Requires authentication")
        if scheme.lower() not in ("bearer", "token") or not token.startswith(_TOKEN_PREFIXES):
            raise _Refusal(401, "Bad credentials")
        if token == REVOKED_TOKEN:
            raise _Refusal(401, "Bad credentials")
        return token

    def _spend(self, token: str) -> dict[str, str]:
        """Count one request against `token`; the rate limit headers, or a refusal."""
        with self._lock:
            now = time.time()
            budget = self._budgets.get(token)
            if budget is None or now >= budget.reset_at:
                budget = _Budget(self.limit, now + self.window_s)
                self._budgets[token] = budget
            exhausted = budget.remaining <= 0
            if not exhausted:
                budget.remaining -= 1
            headers = {
                "x-ratelimit-limit": str(self.limit),
                "x-ratelimit-remaining": str(budget.remaining),
                "x-ratelimit-used": str(self.limit - budget.remaining),
                "x-ratelimit-reset": str(int(budget.reset_at)),
                "x-ratelimit-resource": "core",
            }
        if exhausted:
            raise _Refusal(
                self.exhausted_status,
                "API rate limit exceeded for user ID 4242. If you reach out to GitHub Support "
                "for help, please include the request ID.",
                headers,
            )
        return headers

    def _route(
        self, handler: Callable[[GithubOrganization, Request], Response], *, needs_pulls=False
    ) -> Route:
        def answer(company: Company, request: Request) -> Response:
            try:
                token = self._token(request)
                headers = self._spend(token)
                if needs_pulls and token == TOKEN_WITHOUT_PULL_REQUESTS:
                    raise _Refusal(
                        403,
                        "Resource not accessible by personal access token",
                        {**headers, "x-accepted-github-permissions": "pull_requests=read"},
                    )
                response = handler(build_organization(company), request)
                return Response(response.status, response.body, {**headers, **response.headers})
            except _Refusal as refusal:
                return _error(refusal.status, refusal.message, refusal.headers)

        return Route(answer, _fault)

    # --- endpoints --------------------------------------------------------------------------

    def _repository(self, org: GithubOrganization, request: Request) -> Repository:
        owner = request.path_params.get("owner", "")
        name = request.path_params.get("repo", "")
        if owner.lower() != ORGANIZATION:
            raise _Refusal(404, "Not Found")
        found = next((repo for repo in org.repositories if repo.name == name), None)
        if found is None:
            raise _Refusal(404, "Not Found")
        return found

    def _org_repos(self, org: GithubOrganization, request: Request) -> Response:
        if request.path_params.get("org", "").lower() != ORGANIZATION:
            raise _Refusal(404, "Not Found")
        repos = sorted(org.repositories, key=lambda repo: repo.created_at)
        return _paged(request, [repository_json(repo) for repo in repos])

    def _commits(self, org: GithubOrganization, request: Request) -> Response:
        repo = self._repository(org, request)
        now = datetime.now(UTC)
        since = _one(request, "since")
        until = _one(request, "until")
        start = _parse_time(since, "since") if since else repo.created_at
        end = _parse_time(until, "until") if until else now
        found = commits_between(org, repo.name, start, end, now)
        return _paged(request, [commit_json(repo, commit) for commit in found])

    def _pulls(self, org: GithubOrganization, request: Request) -> Response:
        repo = self._repository(org, request)
        now = datetime.now(UTC)
        state = _one(request, "state") or "open"
        sort = _one(request, "sort") or "created"
        direction = _one(request, "direction") or "desc"
        if state not in ("open", "closed", "all") or sort not in ("created", "updated"):
            raise _Refusal(422, "Validation Failed")
        shown = []
        for pull in pull_requests(org, repo.name, now):
            pull_state, _, _, updated_at = pull.as_of(now)
            if state in ("all", pull_state):
                shown.append((pull, updated_at))
        key = (lambda p: (p[1], p[0].number)) if sort == "updated" else (lambda p: p[0].number)
        shown.sort(key=key, reverse=direction != "asc")
        return _paged(request, [pull_json(repo, pull, now) for pull, _ in shown])

    def _pull(self, org: GithubOrganization, request: Request) -> Response:
        repo = self._repository(org, request)
        now = datetime.now(UTC)
        number = request.path_params.get("number", "")
        found = next(
            (p for p in pull_requests(org, repo.name, now) if str(p.number) == number), None
        )
        if found is None:
            raise _Refusal(404, "Not Found")
        return Response(200, pull_json(repo, found, now, detail=True))

    def _releases(self, org: GithubOrganization, request: Request) -> Response:
        repo = self._repository(org, request)
        now = datetime.now(UTC)
        shown = [release for release in releases(org, repo.name) if release.created_at <= now]
        shown.sort(key=lambda release: (release.created_at, release.id), reverse=True)
        return _paged(request, [release_json(repo, release, now) for release in shown])


def _paged(request: Request, objects: list[dict[str, Any]]) -> Response:
    per_page_text = _one(request, "per_page") or str(_PER_PAGE_DEFAULT)
    page_text = _one(request, "page") or "1"
    if not per_page_text.isdigit() or not page_text.isdigit() or int(page_text) < 1:
        raise _Refusal(422, "Validation Failed")
    per_page = min(max(int(per_page_text), 1), _PER_PAGE_MAX)
    page = int(page_text)
    pages = max(1, -(-len(objects) // per_page))
    headers = {}
    if page < pages:
        base = f"http://{request.headers.get('host', 'localhost')}{request.path}"
        query = {name: values[-1] for name, values in request.query.items()}

        def link(number: int) -> str:
            return f"{base}?{urlencode({**query, 'page': str(number)})}"

        headers["link"] = f'<{link(page + 1)}>; rel="next", <{link(pages)}>; rel="last"'
    body = objects[(page - 1) * per_page : page * per_page]
    return Response(200, body, headers)


# --- objects --------------------------------------------------------------------------------


def user_json(developer: Developer) -> dict[str, Any]:
    return {
        "login": developer.login,
        "id": developer.user_id,
        "node_id": f"U_{developer.user_id}",
        "type": developer.type,
        "site_admin": False,
        "html_url": f"https://github.com/{developer.login}",
    }


def repository_json(repo: Repository) -> dict[str, Any]:
    return {
        "id": repo.id,
        "node_id": f"R_{repo.id}",
        "name": repo.name,
        "full_name": repo.full_name,
        "private": True,
        "owner": {"login": ORGANIZATION, "id": ORGANIZATION_ID, "type": "Organization"},
        "html_url": f"https://github.com/{repo.full_name}",
        "description": None,
        "fork": False,
        "archived": repo.archived,
        "disabled": False,
        "visibility": "private",
        "default_branch": "main",
        "created_at": _iso(repo.created_at),
    }


def commit_json(repo: Repository, commit: Commit) -> dict[str, Any]:
    person = {"name": commit.author_name, "email": commit.author_email}
    when = _iso(commit.committed_at)
    linked = user_json(commit.author) if commit.author is not None else None
    return {
        "sha": commit.sha,
        "node_id": f"C_{commit.sha[:20]}",
        "commit": {
            "author": {**person, "date": when},
            "committer": {**person, "date": when},
            "message": commit.message,
            "tree": {"sha": commit.sha[::-1]},
            "comment_count": 0,
            "verification": {"verified": False, "reason": "unsigned", "signature": None},
        },
        "html_url": f"https://github.com/{repo.full_name}/commit/{commit.sha}",
        "author": linked,
        "committer": linked,
        "parents": [{"sha": commit.sha[1:] + commit.sha[0]}],
    }


def pull_json(
    repo: Repository, pull: PullRequest, now: datetime, *, detail: bool = False
) -> dict[str, Any]:
    state, merged_at, closed_at, updated_at = pull.as_of(now)
    body: dict[str, Any] = {
        "id": pull.id,
        "node_id": f"PR_{pull.id}",
        "number": pull.number,
        "html_url": f"https://github.com/{repo.full_name}/pull/{pull.number}",
        "state": state,
        "locked": False,
        "title": pull.title,
        "user": user_json(pull.author),
        "body": None,
        "labels": [],
        "created_at": _iso(pull.created_at),
        "updated_at": _iso(updated_at),
        "closed_at": _iso(closed_at),
        "merged_at": _iso(merged_at),
        "merge_commit_sha": pull.head_sha[::-1] if merged_at else None,
        "draft": False,
        "requested_reviewers": [],
        "head": {"ref": f"topic-{pull.number}", "sha": pull.head_sha},
        "base": {"ref": "main", "repo": {"id": repo.id, "full_name": repo.full_name}},
        "author_association": "NONE" if pull.author.type == "Bot" else "MEMBER",
    }
    if detail:
        merged = merged_at is not None
        body.update(
            merged=merged,
            mergeable=None if state == "closed" else True,
            merged_by=user_json(pull.merged_by) if merged and pull.merged_by else None,
            comments=pull.review_comments // 2,
            review_comments=pull.review_comments,
            commits=pull.commits,
            additions=pull.additions,
            deletions=pull.deletions,
            changed_files=pull.changed_files,
        )
    return body


def release_json(repo: Repository, release: Release, now: datetime) -> dict[str, Any]:
    published = release.published_at <= now
    return {
        "id": release.id,
        "node_id": f"RE_{release.id}",
        "html_url": f"https://github.com/{repo.full_name}/releases/tag/{release.tag_name}",
        "tag_name": release.tag_name,
        "target_commitish": "main",
        "name": release.tag_name,
        "draft": not published,
        "prerelease": release.prerelease,
        "created_at": _iso(release.created_at),
        "published_at": _iso(release.published_at) if published else None,
        "author": user_json(release.author),
        "assets": [],
        "body": None,
    }


ROUTES: Mapping[tuple[str, str], Route] = GithubApi().routes()

# The demo's token: any token of GitHub's shapes reads the sandbox organisation, nothing else.
SANDBOX_ENV = {"GITHUB_TOKEN": "ghp_sandboxNotARealToken000000000000000"}


def sandbox_section(api_url: str) -> dict[str, Any]:
    """The github section of the demo's vault.yaml: the whole organisation."""
    return {"base_url": api_url, "organization": ORGANIZATION, "max_retries": 3}
