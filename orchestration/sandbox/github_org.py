"""Northwind Labs on GitHub: the organisation's repositories and what its engineers push to them.

Each project's repositories (`company.py`) live in the `northwind-labs` organisation, with one
archived repository beside them. The people who commit are the engineering team that owns a
repository plus anyone whose checkouts include it (a product manager prototypes in the
checkout front end); managers and leads commit less. Every person has a GitHub login; some
commit with their work email (people.csv matches it), others with GitHub's noreply address
(only the login tells who they are: `seeds/github_users.csv`). Dependabot opens a pull request
most Mondays, and the CI bot's release commits are linked to no GitHub user at all.

Commits, pull requests and releases are drawn per (seed, repository, UTC day) from their own
`random.Random`, so a day never depends on which other days were asked for. Pull requests are
numbered in the order they were opened from `HISTORY_START`, which is why their history is
computed from then on (and cached). A pull request's fate is decided when it opens (merged
after some hours, closed unmerged, or left open), and the API shows it as of `now`.
"""

import functools
import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from orchestration.sandbox.company import Company, Person

ORGANIZATION = "northwind-labs"
ORGANIZATION_ID = 149_200_811
HISTORY_START = date(2026, 1, 1)
ARCHIVED_REPOSITORY = "legacy-storefront"
DEPENDABOT_LOGIN = "dependabot[bot]"
DEPENDABOT_ID = 49_699_333
CI_EMAIL = "ci-bot@northwind-labs.example"
_ENGINEERING = "engineering"
# Weekend activity as a share of a weekday's.
_WEEKEND = 0.1
_COMMIT_MESSAGES = (
    "Fix {thing} when {case}",
    "Add {thing}",
    "Refactor {thing}",
    "Test {thing} for {case}",
    "Document {thing}",
    "Speed up {thing}",
)
_THINGS = (
    "retry budget",
    "prompt cache keys",
    "basket totals",
    "search ranking",
    "session expiry",
    "tool call parsing",
    "invoice totals",
    "eval report",
)
_CASES = ("the cart is empty", "the model times out", "a locale is missing", "input is long")


@dataclass(frozen=True)
class Developer:
    login: str
    user_id: int
    name: str
    commit_email: str
    person: Person | None  # None for bots
    activity: float  # share of a full-time engineer's commits and pull requests
    type: str = "User"


@dataclass(frozen=True)
class Repository:
    name: str
    id: int
    project: str
    created_at: datetime
    archived: bool = False

    @property
    def full_name(self) -> str:
        return f"{ORGANIZATION}/{self.name}"


@dataclass(frozen=True)
class Commit:
    sha: str
    repository: str
    author: Developer | None  # None: the email belongs to no GitHub account
    author_name: str
    author_email: str
    committed_at: datetime
    message: str


@dataclass(frozen=True)
class PullRequest:
    repository: str
    number: int
    id: int
    author: Developer
    title: str
    created_at: datetime
    merged_at: datetime | None  # the fate decided at opening; shown only once it happened
    closed_at: datetime | None
    merged_by: Developer | None
    additions: int
    deletions: int
    changed_files: int
    commits: int
    review_comments: int
    head_sha: str

    def as_of(self, now: datetime) -> tuple[str, datetime | None, datetime | None, datetime]:
        """(state, merged_at, closed_at, updated_at) as the API shows them at `now`."""
        if self.closed_at is not None and self.closed_at <= now:
            updated = self.closed_at + timedelta(minutes=2)
            return "closed", self.merged_at, self.closed_at, min(updated, now)
        return "open", None, None, min(self.created_at + timedelta(minutes=10), now)


@dataclass(frozen=True)
class Release:
    repository: str
    id: int
    tag_name: str
    author: Developer
    created_at: datetime
    published_at: datetime
    prerelease: bool


# Compared and hashed by identity: one cached object per company, a cheap key for the caches.
@dataclass(frozen=True, eq=False)
class GithubOrganization:
    seed: int
    repositories: tuple[Repository, ...]
    developers: tuple[Developer, ...]
    contributors: dict[str, tuple[Developer, ...]]  # by repository name

    def repository(self, name: str) -> Repository:
        return next(repo for repo in self.repositories if repo.name == name)


def _rng(seed: int, *coordinates: object) -> random.Random:
    return random.Random("|".join(map(str, (seed, "github", *coordinates))))


def _login(person: Person) -> str:
    return f"{person.username}-nw"


@functools.cache
def _organization(seed: int, company: Company) -> GithubOrganization:
    rng = _rng(seed, "organization")
    developers: dict[str, Developer] = {}
    for person in sorted(company.people, key=lambda p: p.email):
        if person.department != _ENGINEERING and not person.repos:
            continue
        login = _login(person)
        user_id = rng.randrange(1_000_000, 190_000_000)
        noreply = rng.random() < 0.4
        email = f"{user_id}+{login}@users.noreply.github.com" if noreply else person.email
        senior = "Manager" in person.role or "Lead" in person.role
        activity = 0.3 if senior or person.department != _ENGINEERING else 1.0
        developers[person.email] = Developer(login, user_id, person.name, email, person, activity)
    repositories = []
    contributors: dict[str, tuple[Developer, ...]] = {}
    names = [(repo, project.slug) for project in company.projects for repo in project.repos]
    names.append((ARCHIVED_REPOSITORY, "checkout-assistant"))
    for index, (name, project_slug) in enumerate(names):
        project = company.project(project_slug)
        repositories.append(
            Repository(
                name=name,
                id=rng.randrange(600_000_000, 900_000_000),
                project=project_slug,
                created_at=datetime(2024, 3, 1, 12, tzinfo=UTC) + timedelta(days=31 * index),
                archived=name == ARCHIVED_REPOSITORY,
            )
        )
        if name == ARCHIVED_REPOSITORY:
            contributors[name] = ()
            continue
        contributors[name] = tuple(
            developer
            for developer in developers.values()
            if developer.person is not None
            and (
                (
                    developer.person.team == project.team
                    and developer.person.department == _ENGINEERING
                )
                or name in developer.person.repos
            )
        )
    return GithubOrganization(seed, tuple(repositories), tuple(developers.values()), contributors)


def build_organization(company: Company) -> GithubOrganization:
    """The company's GitHub organisation; equal companies give equal organisations."""
    return _organization(company.seed, company)


DEPENDABOT = Developer(
    login=DEPENDABOT_LOGIN,
    user_id=DEPENDABOT_ID,
    name="dependabot[bot]",
    commit_email=f"{DEPENDABOT_ID}+{DEPENDABOT_LOGIN}@users.noreply.github.com",
    person=None,
    activity=0.0,
    type="Bot",
)


def _weekday_factor(day: date) -> float:
    return _WEEKEND if day.weekday() >= 5 else 1.0


def _moment(rng: random.Random, day: date, first_hour: int = 8, hours: int = 11) -> datetime:
    start = datetime.combine(day, time(first_hour), UTC)
    return start + timedelta(seconds=rng.randrange(hours * 3600))


def _message(rng: random.Random) -> str:
    template = rng.choice(_COMMIT_MESSAGES)
    return template.format(thing=rng.choice(_THINGS), case=rng.choice(_CASES))


def commits_for_day(org: GithubOrganization, repository: str, day: date) -> list[Commit]:
    """The commits pushed to `repository` on `day` (UTC), oldest first."""
    rng = _rng(org.seed, "commits", repository, day)
    found: list[Commit] = []
    for developer in org.contributors.get(repository, ()):
        chance = min(0.95, 0.42 * developer.activity * _weekday_factor(day))
        for _ in range(4):
            if rng.random() < chance:
                found.append(
                    Commit(
                        sha=f"{rng.getrandbits(160):040x}",
                        repository=repository,
                        author=developer,
                        author_name=developer.name,
                        author_email=developer.commit_email,
                        committed_at=_moment(rng, day),
                        message=_message(rng),
                    )
                )
    for release in releases(org, repository):
        if release.published_at.date() == day:
            # The CI bot's version bump: an email that belongs to no GitHub account.
            found.append(
                Commit(
                    sha=f"{_rng(org.seed, 'release-commit', release.id).getrandbits(160):040x}",
                    repository=repository,
                    author=None,
                    author_name="Northwind CI",
                    author_email=CI_EMAIL,
                    committed_at=release.published_at - timedelta(minutes=5),
                    message=f"chore(release): {release.tag_name}",
                )
            )
    return sorted(found, key=lambda commit: (commit.committed_at, commit.sha))


def _after(rng: random.Random, median_hours: float, cap_hours: float) -> timedelta:
    """A lognormal wait around `median_hours`, in whole seconds as GitHub states times."""
    hours = min(cap_hours, rng.lognormvariate(math.log(median_hours), 0.9))
    return timedelta(seconds=round(hours * 3600))


def _pulls_for_day(
    org: GithubOrganization, repository: str, day: date
) -> list[tuple[datetime, dict]]:
    """The pull requests opened on `day`, as (opened at, fields), before numbering."""
    rng = _rng(org.seed, "pulls", repository, day)
    team = org.contributors.get(repository, ())
    opened: list[tuple[datetime, dict]] = []
    for developer in team:
        if rng.random() >= 0.22 * developer.activity * _weekday_factor(day):
            continue
        created = _moment(rng, day)
        fate = rng.random()
        additions = round(rng.lognormvariate(math.log(110), 1.0)) + 1
        fields = {
            "author": developer,
            "title": _message(rng),
            "additions": additions,
            "deletions": round(additions * rng.uniform(0.1, 0.7)),
            "changed_files": max(1, round(additions / rng.uniform(25, 60))),
            "commits": rng.randint(1, 6),
            "review_comments": rng.randint(0, 8),
            "merged_at": None,
            "closed_at": None,
            "merged_by": None,
            "head_sha": f"{rng.getrandbits(160):040x}",
        }
        if fate < 0.82:
            merged = created + _after(rng, 18, 240)
            reviewers = [other for other in team if other != developer] or [developer]
            fields.update(merged_at=merged, closed_at=merged, merged_by=rng.choice(reviewers))
        elif fate < 0.93:
            fields["closed_at"] = created + _after(rng, 30, 480)
        opened.append((created, fields))
    if day.weekday() == 0 and team and rng.random() < 0.6:
        created = _moment(rng, day, first_hour=4, hours=2)
        merged = created + _after(rng, 26, 120)
        changed = rng.randint(2, 24)
        opened.append(
            (
                created,
                {
                    "author": DEPENDABOT,
                    "title": "Bump httpx from 0.27.0 to 0.28.1",
                    "additions": changed,
                    "deletions": changed,
                    "changed_files": rng.randint(1, 2),
                    "commits": 1,
                    "review_comments": 0,
                    "merged_at": merged,
                    "closed_at": merged,
                    "merged_by": rng.choice(team),
                    "head_sha": f"{rng.getrandbits(160):040x}",
                },
            )
        )
    return sorted(opened, key=lambda pair: pair[0])


@functools.lru_cache(maxsize=64)
def _pull_history(seed: int, org: GithubOrganization, repository: str, until: date) -> tuple:
    history: list[PullRequest] = []
    day = HISTORY_START
    while day <= until:
        for created, fields in _pulls_for_day(org, repository, day):
            number = len(history) + 1
            history.append(
                PullRequest(
                    repository=repository,
                    number=number,
                    id=_rng(seed, "pull-id", repository, number).randrange(10**9, 3 * 10**9),
                    created_at=created,
                    **fields,
                )
            )
        day += timedelta(days=1)
    return tuple(history)


def pull_requests(
    org: GithubOrganization, repository: str, now: datetime
) -> tuple[PullRequest, ...]:
    """Every pull request of `repository` opened by `now`, in number order."""
    history = _pull_history(org.seed, org, repository, now.date())
    return tuple(pull for pull in history if pull.created_at <= now)


@functools.lru_cache(maxsize=64)
def _release_history(seed: int, org: GithubOrganization, repository: str) -> tuple:
    found: list[Release] = []
    team = org.contributors.get(repository, ())
    day = HISTORY_START
    # Releases are planned a year ahead; what exists by `now` is decided by `releases`.
    while team and day < HISTORY_START + timedelta(days=3 * 365):
        rng = _rng(seed, "release", repository, day)
        if day.weekday() == 3 and rng.random() < 0.55:
            published = datetime.combine(day, time(16), UTC) + timedelta(minutes=rng.randrange(90))
            minor = len(found) + 1
            found.append(
                Release(
                    repository=repository,
                    id=rng.randrange(10**8, 4 * 10**8),
                    tag_name=f"v1.{minor}.0" + ("-rc.1" if minor % 6 == 0 else ""),
                    author=rng.choice(team),
                    created_at=published - timedelta(hours=20),
                    published_at=published,
                    prerelease=minor % 6 == 0,
                )
            )
        day += timedelta(days=1)
    return tuple(found)


def releases(org: GithubOrganization, repository: str) -> tuple[Release, ...]:
    """Every release of `repository` the plan holds (filter by `now` to show them)."""
    return _release_history(org.seed, org, repository)


def commits_between(
    org: GithubOrganization, repository: str, start: datetime, end: datetime, now: datetime
) -> list[Commit]:
    """Commits with their date in [start, end), pushed by `now`, newest first."""
    found: list[Commit] = []
    day = max(start, datetime.combine(HISTORY_START, time(), UTC)).date()
    while datetime.combine(day, time(), UTC) < min(end, now):
        found += (
            commit
            for commit in commits_for_day(org, repository, day)
            if start <= commit.committed_at < end and commit.committed_at <= now
        )
        day += timedelta(days=1)
    return sorted(found, key=lambda commit: (commit.committed_at, commit.sha), reverse=True)


# --- taxonomy seeds -------------------------------------------------------------------------


def github_user_rows(company: Company) -> list[tuple[str, str]]:
    """seeds/github_users.csv: (login, work email) of everyone with a GitHub account."""
    org = build_organization(company)
    return sorted(
        (developer.login, developer.person.email)
        for developer in org.developers
        if developer.person is not None
    )


def source_mapping_rows(company: Company) -> list[tuple[str, ...]]:
    """source_mappings.csv rows: each repository to its project and the owning team; a
    commit's own author (people.csv) wins over the team."""
    rows = []
    for repository in build_organization(company).repositories:
        team = company.team(company.project(repository.project).team)
        owner = (team.department, team.slug, repository.project, "")
        rows.append(("github", "repository", repository.full_name, *owner))
    return rows
