"""GitHub's REST API: commits, pull requests and releases of an organisation's repositories.

Requests go through `HttpSource` (retries of 5xx and 429s honouring Retry-After, errors that
never show the token). What GitHub adds on top is handled here:

- Pages follow the `Link` header's `rel="next"` URL, and only on the API's own host, so the
  token is never sent elsewhere.
- The primary rate limit is read from every answer (`x-ratelimit-remaining`, `-reset`). When
  it is spent, the client waits for the reset if that is at most `rate_limit_max_wait_s` away,
  and otherwise fails the partition saying when the limit resets, rather than hammering the
  API or sleeping for an hour inside a run. The count left is logged after each collection.
- `GET /repos/{owner}/{repo}/pulls` is sorted by last update, newest first, so reading stops
  at the first pull request last updated before the window: none after it can have been
  opened, merged or closed inside the window. Each one kept is then read on its own
  (`/pulls/{number}`) for its additions, deletions and changed files, which the list lacks.

Each record is GitHub's object untouched, with `repository` ("owner/name") added: the
repository a record belongs to is part of the request, not of the commit object.
"""

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import httpx
from pydantic import Field

from orchestration.collectors.http import (
    HttpSource,
    HttpStatusError,
    JsonPage,
    MissingCredentialError,
    SourceError,
)
from orchestration.warehouse.loader import Rejected

TOKEN_ENV = "GITHUB_TOKEN"
VENDOR = "GitHub"
DEFAULT_BASE_URL = "https://api.github.com"
API_VERSION = "2022-11-28"
# A draft release is published later than it is created; one published within this long of
# its creation is still found when its day is collected.
RELEASE_DRAFT_SPAN = timedelta(days=30)
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="next"')
_ADVICE = {
    401: (
        f"the token in {TOKEN_ENV} was refused (revoked, expired or mistyped): create a new "
        "one (fine-grained: Contents, Pull requests and Metadata read on the repositories; "
        f"classic: the repo scope) and set {TOKEN_ENV}"
    ),
    404: (
        f"the repository or organisation does not exist or the token in {TOKEN_ENV} cannot "
        "see it: check the name in vault.yaml and the token's repository access"
    ),
}


def _is_exhausted(headers: httpx.Headers) -> bool:
    return headers.get("x-ratelimit-remaining") == "0"


def _primary_limit_spent(response: httpx.Response) -> bool:
    """A 429 of the spent primary limit: its wait (up to an hour) is the client's decision."""
    return response.status_code == 429 and _is_exhausted(response.headers)


@dataclass
class RateLimit:
    """What GitHub last said about the primary rate limit."""

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None  # unix seconds
    resource: str = "core"

    def note(self, headers: httpx.Headers) -> None:
        for name, attribute in (("limit", "limit"), ("remaining", "remaining")):
            value = headers.get(f"x-ratelimit-{name}")
            if value is not None and value.isdigit():
                setattr(self, attribute, int(value))
        reset = headers.get("x-ratelimit-reset")
        if reset is not None and reset.isdigit():
            self.reset = float(reset)
        self.resource = headers.get("x-ratelimit-resource", self.resource)

    def resets_at(self) -> str:
        if self.reset is None:
            return "an unknown time"
        return datetime.fromtimestamp(self.reset, UTC).isoformat(timespec="seconds")

    def describe(self) -> str:
        if self.remaining is None:
            return "GitHub sent no rate limit headers"
        return (
            f"GitHub rate limit: {self.remaining} of {self.limit} requests left "
            f"({self.resource}), resets at {self.resets_at()}"
        )


class GithubClient(dg.ConfigurableResource):
    """GitHub's REST API (github.com or an Enterprise Server's /api/v3), read with a token."""

    base_url: str = DEFAULT_BASE_URL
    token: str | None = Field(default=None, description=f"from {TOKEN_ENV}")
    timeout_s: float = 30.0
    max_retries: int = 5
    backoff_s: float = 1.0
    organization: str | None = None
    repositories: list[str] = []
    include_archived: bool = False
    per_page: int = 100
    pull_request_details: bool = True
    rate_limit_max_wait_s: int = 300

    def commits(
        self, start: datetime, end: datetime, log: Any
    ) -> Iterator[dict[str, Any] | Rejected]:
        """Every commit dated in [start, end) on each repository's default branch."""
        with self._session(log) as session:
            for repository in session.repository_names():
                params = {"since": _iso(start), "until": _iso(end), "per_page": self.per_page}
                try:
                    for page in session.pages(f"/repos/{repository}/commits", params):
                        for commit in page:
                            if not isinstance(commit, dict):
                                yield Rejected(f"a commit of {repository} is not an object", commit)
                                continue
                            if _in_window(_commit_date(commit), start, end):
                                yield {**commit, "repository": repository}
                except HttpStatusError as error:
                    if error.status != 409:  # 409: the repository is empty
                        raise
                    log.info(f"{repository} has no commits yet (GitHub: 409)")

    def pull_requests(
        self, start: datetime, end: datetime, log: Any
    ) -> Iterator[dict[str, Any] | Rejected]:
        """Pull requests opened, merged or closed in [start, end), with their sizes."""
        with self._session(log) as session:
            for repository in session.repository_names():
                params = {
                    "state": "all",
                    "sort": "updated",
                    "direction": "desc",
                    "per_page": self.per_page,
                }
                seen: set[int] = set()
                for page in session.pages(f"/repos/{repository}/pulls", params):
                    older = False
                    for pull in page:
                        if not isinstance(pull, dict) or not isinstance(pull.get("number"), int):
                            yield Rejected(
                                f"a pull request of {repository} is not an object with a number",
                                pull,
                            )
                            continue
                        updated = _parse(pull.get("updated_at"))
                        if updated is not None and updated < start:
                            older = True
                            break
                        number = pull.get("number")
                        events = (
                            pull.get(name) for name in ("created_at", "merged_at", "closed_at")
                        )
                        if number in seen or not any(
                            _in_window(_parse(moment), start, end) for moment in events
                        ):
                            continue
                        seen.add(number)
                        if self.pull_request_details:
                            details = session.get(f"/repos/{repository}/pulls/{number}")
                            if not isinstance(details, dict):
                                yield Rejected(
                                    f"pull request {repository}#{number}: its details are not "
                                    "an object",
                                    details,
                                )
                                continue
                            pull = details
                        yield {**pull, "repository": repository}
                    if older:
                        break

    def releases(
        self, start: datetime, end: datetime, log: Any
    ) -> Iterator[dict[str, Any] | Rejected]:
        """Releases published in [start, end); drafts have not been published."""
        with self._session(log) as session:
            for repository in session.repository_names():
                params = {"per_page": self.per_page}
                for page in session.pages(f"/repos/{repository}/releases", params):
                    for release in page:
                        if not isinstance(release, dict):
                            yield Rejected(f"a release of {repository} is not an object", release)
                            continue
                        if _in_window(_parse(release.get("published_at")), start, end):
                            yield {**release, "repository": repository}
                    # Newest first by creation: once a page reaches releases created
                    # RELEASE_DRAFT_SPAN before the window, older pages hold only releases
                    # published before it (a draft waits less than that to be published).
                    last = page[-1] if page else None
                    oldest = _parse(last.get("created_at")) if isinstance(last, dict) else None
                    if oldest is not None and oldest < start - RELEASE_DRAFT_SPAN:
                        break

    def _session(self, log: Any) -> "_Session":
        if not self.token:
            raise MissingCredentialError(VENDOR, TOKEN_ENV)
        if not self.organization and not self.repositories:
            raise ValueError("github: name an organization or repositories to collect")
        return _Session(self, log)


class _Session:
    """One collection's HTTP client, rate limit state and repository list."""

    def __init__(self, client: GithubClient, log: Any) -> None:
        self.client = client
        self.log = log
        self.rate = RateLimit()
        self.origin = _origin(client.base_url)
        self.http = HttpSource(
            vendor=VENDOR,
            base_url=client.base_url,
            headers={
                "authorization": f"Bearer {client.token}",
                "accept": "application/vnd.github+json",
                "x-github-api-version": API_VERSION,
                "user-agent": "observability-vault",
            },
            timeout_s=client.timeout_s,
            max_retries=client.max_retries,
            backoff_s=client.backoff_s,
            is_final=_primary_limit_spent,
        )

    def __enter__(self) -> "_Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.log.info(self.rate.describe())
        self.http.close()

    def repository_names(self) -> list[str]:
        """The configured repositories and the organisation's, each once, in name order."""
        names = {name.lower(): name for name in self.client.repositories}
        organization = self.client.organization
        if organization:
            for page in self.pages(f"/orgs/{organization}/repos", {"type": "all", "per_page": 100}):
                for repo in page:
                    if repo.get("archived") and not self.client.include_archived:
                        continue
                    full_name = repo.get("full_name")
                    if isinstance(full_name, str):
                        names.setdefault(full_name.lower(), full_name)
        return [names[key] for key in sorted(names)]

    def get(self, path: str, params: Any = None) -> Any:
        return self._request(path, params).body

    def pages(self, path: str, params: Any) -> Iterator[list[Any]]:
        """The body of every page of a list, following `Link: <...>; rel="next"`."""
        url: str | None = path
        query = params
        seen: set[str] = set()
        while url is not None:
            page = self._request(url, query)
            if not isinstance(page.body, list):
                raise SourceError(
                    f"{VENDOR}: GET {path} answered {type(page.body).__name__}, not a list"
                )
            yield page.body
            url, query = _next_link(page.headers.get("link")), None
            if url is None:
                return
            if _origin(url) != self.origin:
                raise SourceError(
                    f"{VENDOR}: GET {path}: the next page is on another host "
                    f"({_origin(url)}); refusing to send the token there"
                )
            if url in seen:
                raise SourceError(f"{VENDOR}: GET {path}: a next page repeats; refusing to loop")
            seen.add(url)

    def _request(self, url: str, params: Any) -> JsonPage:
        self._wait_if_spent(url)
        try:
            page = self.http.get_json_page(url, params)
        except HttpStatusError as error:
            if error.status in (403, 429) and _is_exhausted(error.headers):
                # Spent by someone else with the same token since our last answer.
                self.rate.note(error.headers)
                self._wait_if_spent(url)
                page = self._retry_once(url, params)
            elif error.status == 403 and error.headers.get("retry-after", "").isdigit():
                # A secondary rate limit GitHub answers with 403 and the wait it wants.
                self._wait_secondary(url, int(error.headers["retry-after"]))
                page = self._retry_once(url, params)
            else:
                raise self._explain(error) from None
        self.rate.note(page.headers)
        return page

    def _retry_once(self, url: str, params: Any) -> JsonPage:
        try:
            return self.http.get_json_page(url, params)
        except HttpStatusError as error:
            raise self._explain(error) from None

    def _wait_if_spent(self, url: str) -> None:
        if self.rate.remaining != 0 or self.rate.reset is None:
            return
        wait = self.rate.reset - time.time()
        if wait <= 0:
            return
        if wait > self.client.rate_limit_max_wait_s:
            raise SourceError(
                f"{VENDOR}: the rate limit is spent ({self.rate.limit} requests, "
                f"{self.rate.resource}) before GET {url}; it resets at {self.rate.resets_at()}, "
                f"in {wait / 60:.0f} min, longer than rate_limit_max_wait_s "
                f"({self.client.rate_limit_max_wait_s} s): this partition fails, and a retry "
                "after the reset succeeds"
            )
        self.log.info(
            f"{VENDOR}: rate limit spent; waiting {wait:.0f} s for its reset at "
            f"{self.rate.resets_at()}"
        )
        time.sleep(wait + 1)

    def _wait_secondary(self, url: str, seconds: int) -> None:
        if seconds > self.client.rate_limit_max_wait_s:
            raise SourceError(
                f"{VENDOR}: GET {url}: a secondary rate limit asks for {seconds} s, longer "
                f"than rate_limit_max_wait_s ({self.client.rate_limit_max_wait_s} s): this "
                "partition fails, and a retry later succeeds"
            )
        self.log.info(f"{VENDOR}: secondary rate limit; waiting {seconds} s as asked")
        time.sleep(seconds)

    def _explain(self, error: HttpStatusError) -> HttpStatusError:
        advice = _ADVICE.get(error.status)
        accepted = error.headers.get("x-accepted-github-permissions")
        if error.status == 403 and accepted:
            advice = (
                f"the token in {TOKEN_ENV} lacks a permission; GitHub accepts "
                f"{accepted} for this endpoint: grant it to the token"
            )
        if error.status in (403, 429) and _is_exhausted(error.headers):
            advice = f"the rate limit is spent; it resets at {self.rate.resets_at()}"
        message = f"{error}; {advice}" if advice else str(error)
        return HttpStatusError(message, error.status, error.headers)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _next_link(header: str | None) -> str | None:
    match = _NEXT_LINK.search(header or "")
    return match.group(1) if match else None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _in_window(moment: datetime | None, start: datetime, end: datetime) -> bool:
    return moment is not None and start <= moment < end


def _commit_date(commit: dict[str, Any]) -> datetime | None:
    """When the commit reached the branch as GitHub filters it: the committer date."""
    details = commit.get("commit")
    for role in ("committer", "author"):
        person = details.get(role) if isinstance(details, dict) else None
        moment = _parse(person.get("date") if isinstance(person, dict) else None)
        if moment is not None:
            return moment
    return None
