"""Northwind Labs: the fictional company whose systems the sandbox imitates.

The company is small enough to read in one sitting and rich enough to exercise attribution:
four departments, seven teams, 25 people, six projects (customer-facing features, an internal
automation and research), Anthropic workspaces and API keys per project and environment, and
engineers whose Claude Code checkouts belong to those projects. A few people never use AI at
all, so adoption reports have gaps to show.

The structure (departments, teams, projects, keys and their traffic) is fixed so the demo tells
the same story every time; the seed decides the details that should look arbitrary: names,
hourly costs, identifiers, who uses Claude Code and how much. Everything is drawn from one
`random.Random(seed)`, so the same seed always yields an identical company.
"""

import random
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

DOMAIN = "northwind-labs.example"

# Model ids as the Anthropic API reports them.
SONNET = "claude-sonnet-4-5-20250929"
HAIKU = "claude-haiku-4-5-20251001"
OPUS = "claude-opus-4-1-20250805"

PRODUCTION = "production"
DEVELOPMENT = "development"

# Identifier alphabet: the vendor's ids look like base58 after a `01` prefix.
_ID_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


@dataclass(frozen=True)
class Department:
    slug: str
    name: str
    default_cost_category: str  # where its costs go when no rule says otherwise


@dataclass(frozen=True)
class Team:
    slug: str
    name: str
    department: str


@dataclass(frozen=True)
class Phase:
    """A stretch of a project's life: R&D, development or production, `ends` exclusive."""

    name: str
    starts: date
    ends: date | None = None


@dataclass(frozen=True)
class Project:
    """Something the company spends AI money on; `kind` decides its cost category."""

    slug: str
    name: str
    team: str
    kind: str  # "feature" (sold to customers), "internal" or "research"
    customer_facing: bool
    repos: tuple[str, ...]
    phases: tuple[Phase, ...] = ()
    parent: str = ""  # the project this one is part of, for rollups


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    team: str
    department: str
    role: str
    hourly_cost_usd: Decimal
    username: str  # unix login, part of every Claude Code checkout path
    claude_code: str  # "heavy", "regular", "light" or "none"
    claude_code_version: str | None
    repos: tuple[str, ...]

    @property
    def local_part(self) -> str:
        return self.email.split("@", 1)[0]

    @property
    def uses_claude_code(self) -> bool:
        return self.claude_code != "none"


@dataclass(frozen=True)
class Workspace:
    id: str
    name: str
    project: str
    environment: str | None  # None: the workspace hosts more than one environment


@dataclass(frozen=True)
class Traffic:
    """One stream of API calls from a key: what a day of it looks like on a weekday."""

    model: str
    service_tier: str  # "standard" or "batch"
    context_window: str  # "0-200k" or "200k-1M"
    weekday_requests: int
    profile: str  # per-request token shape, see `activity.PROFILES`
    weekend_factor: float


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    workspace_id: str | None  # None: the organisation's default workspace
    project: str
    environment: str
    traffic: tuple[Traffic, ...]


@dataclass(frozen=True)
class Checkout:
    """A repository one person works on with Claude Code, and the folder its transcripts use."""

    person: Person
    repo: str
    project: str

    @property
    def cwd(self) -> str:
        return f"/home/{self.person.username}/src/{self.repo}"

    @property
    def project_dir(self) -> str:
        # Claude Code names a project's transcript folder after its working directory.
        return self.cwd.replace("/", "-")


@dataclass(frozen=True)
class Company:
    seed: int
    name: str
    domain: str
    departments: tuple[Department, ...]
    teams: tuple[Team, ...]
    people: tuple[Person, ...]
    projects: tuple[Project, ...]
    workspaces: tuple[Workspace, ...]
    api_keys: tuple[ApiKey, ...]

    def team(self, slug: str) -> Team:
        return next(team for team in self.teams if team.slug == slug)

    def project(self, slug: str) -> Project:
        return next(project for project in self.projects if project.slug == slug)

    def person(self, email: str) -> Person:
        return next(person for person in self.people if person.email == email)

    def project_of_repo(self, repo: str) -> Project:
        return next(project for project in self.projects if repo in project.repos)

    @property
    def checkouts(self) -> tuple[Checkout, ...]:
        """Every (person, repository) pair that produces Claude Code transcripts."""
        return tuple(
            Checkout(person, repo, self.project_of_repo(repo).slug)
            for person in self.people
            for repo in person.repos
        )


_DEPARTMENTS = (
    Department("engineering", "Engineering", "R&D"),
    Department("product", "Product", "R&D"),
    Department("customer-success", "Customer Success", "COGS"),
    Department("finance", "Finance", "OpEx"),
)

_TEAMS = (
    Team("platform", "Platform", "engineering"),
    Team("checkout", "Checkout", "engineering"),
    Team("ml", "ML & Search", "engineering"),
    Team("product-management", "Product Management", "product"),
    Team("design", "Design", "product"),
    Team("support", "Support", "customer-success"),
    Team("finance-ops", "Finance Operations", "finance"),
)

# Team -> roles of its members, most senior first.
_ROLES = {
    "platform": (
        "Engineering Manager",
        "Staff Engineer",
        "Senior Engineer",
        "Senior Engineer",
        "Engineer",
    ),
    "checkout": (
        "Engineering Manager",
        "Senior Engineer",
        "Senior Engineer",
        "Engineer",
        "Engineer",
    ),
    "ml": ("ML Lead", "Senior ML Engineer", "ML Engineer", "Data Scientist"),
    "product-management": ("Head of Product", "Product Manager", "Product Manager"),
    "design": ("Lead Designer", "Product Designer"),
    "support": ("Support Lead", "Support Specialist", "Support Specialist", "Support Specialist"),
    "finance-ops": ("Controller", "Financial Analyst"),
}

# Loaded hourly cost (salary, taxes, benefits, equipment) before the seeded spread.
_HOURLY_COST = {
    "Engineering Manager": 125,
    "Staff Engineer": 135,
    "Senior Engineer": 110,
    "Engineer": 88,
    "ML Lead": 130,
    "Senior ML Engineer": 115,
    "ML Engineer": 95,
    "Data Scientist": 92,
    "Head of Product": 120,
    "Product Manager": 98,
    "Lead Designer": 96,
    "Product Designer": 82,
    "Support Lead": 62,
    "Support Specialist": 48,
    "Controller": 105,
    "Financial Analyst": 74,
}


def _phases(*starts: tuple[str, date]) -> tuple[Phase, ...]:
    """Consecutive phases: each ends the day the next one starts; the last is open."""
    ends = [start for _, start in starts[1:]] + [None]
    return tuple(Phase(name, start, end) for (name, start), end in zip(starts, ends, strict=True))


# Lifecycles are fixed dates, so the seed is stable. The features customers use were in
# production by July 2026; the internal Invoice Reader goes live in November 2026.
_PROJECTS = (
    Project(
        "checkout-assistant",
        "Checkout Assistant",
        "checkout",
        "feature",
        True,
        ("checkout-api", "checkout-web"),
        _phases(
            ("R&D", date(2025, 9, 1)),
            ("development", date(2025, 12, 1)),
            ("production", date(2026, 4, 1)),
        ),
    ),
    Project(
        "support-copilot",
        "Support Copilot",
        "ml",
        "feature",
        True,
        ("support-copilot",),
        _phases(
            ("R&D", date(2025, 11, 1)),
            ("development", date(2026, 2, 1)),
            ("production", date(2026, 6, 1)),
        ),
        # Built on Knowledge Search's retrieval: its cost and revenue roll up there.
        parent="knowledge-search",
    ),
    Project(
        "knowledge-search",
        "Knowledge Search",
        "ml",
        "feature",
        True,
        ("search-service",),
        _phases(
            ("R&D", date(2025, 10, 15)),
            ("development", date(2026, 2, 1)),
            ("production", date(2026, 7, 1)),
        ),
    ),
    Project(
        "invoice-reader",
        "Invoice Reader",
        "platform",
        "internal",
        False,
        ("invoice-reader",),
        _phases(
            ("R&D", date(2026, 2, 1)),
            ("development", date(2026, 6, 1)),
            ("production", date(2026, 11, 1)),
        ),
    ),
    Project(
        "agent-lab",
        "Agent Lab",
        "ml",
        "research",
        False,
        ("agent-lab",),
        _phases(("R&D", date(2025, 10, 1))),
    ),
    Project(
        "eval-harness",
        "Evaluation Harness",
        "platform",
        "research",
        False,
        ("eval-harness",),
        _phases(("R&D", date(2026, 3, 1)), ("development", date(2026, 8, 1))),
        parent="agent-lab",
    ),
)

_FIRST_NAMES = (
    "Ana", "Bilal", "Chiara", "Dmitri", "Efua", "Farid", "Greta", "Hiroshi", "Ines", "Jonas",
    "Kavya", "Lucas", "Mei", "Nikolai", "Olufemi", "Priya", "Quentin", "Rosa", "Santiago",
    "Tamar", "Ugo", "Valentina", "Wen", "Ximena", "Yusuf", "Zofia", "Amara", "Bruno", "Carmen",
    "Darius",
)  # fmt: skip
_LAST_NAMES = (
    "Silva", "Okafor", "Lindqvist", "Moreau", "Tanaka", "Haddad", "Novak", "Castillo", "Brennan",
    "Kowalski", "Mensah", "Ferreira", "Iyer", "Vogel", "Adeyemi", "Rossi", "Nakamura", "Duarte",
    "Petrov", "Sato", "Quispe", "Holm", "Achterberg", "Zhou", "Ibrahim", "Varga", "Lopes",
    "Marsh",
)  # fmt: skip

_ENGINEERING_TEAMS = ("platform", "checkout", "ml")
_CLAUDE_CODE_VERSIONS = ("2.0.64", "2.0.70", "2.0.76")
# A build from before transcripts split cache writes into 5-minute and 1-hour parts.
_OLD_CLAUDE_CODE_VERSION = "1.0.88"


def _vendor_id(rng: random.Random, prefix: str) -> str:
    return prefix + "01" + "".join(rng.choice(_ID_ALPHABET) for _ in range(22))


def _people(rng: random.Random) -> tuple[Person, ...]:
    total = sum(len(roles) for roles in _ROLES.values())
    names = list(zip(rng.sample(_FIRST_NAMES, total), rng.sample(_LAST_NAMES, total), strict=True))
    engineers = [
        (team, index) for team in _ENGINEERING_TEAMS for index in range(1, len(_ROLES[team]))
    ]
    # Two individual contributors in engineering who do not use AI: the adoption gap.
    holdouts = set(rng.sample(engineers, 2))
    people: list[Person] = []
    usernames: set[str] = set()
    for team_slug, roles in _ROLES.items():
        team = next(team for team in _TEAMS if team.slug == team_slug)
        team_repos = [repo for p in _PROJECTS if p.team == team_slug for repo in p.repos]
        for index, role in enumerate(roles):
            first, last = names[len(people)]
            username = (first[0] + last).lower()
            while username in usernames:
                username += "x"
            usernames.add(username)
            spread = Decimal(str(rng.uniform(0.92, 1.08)))
            hourly = (_HOURLY_COST[role] * spread).quantize(Decimal("0.01"))
            usage, repos = "none", ()
            if team_slug in _ENGINEERING_TEAMS and (team_slug, index) not in holdouts:
                usage = "light" if "Manager" in role or "Lead" in role else None
                usage = usage or rng.choices(("heavy", "regular", "light"), (35, 45, 20))[0]
                count = {"heavy": 2, "regular": 2, "light": 1}[usage]
                repos = tuple(sorted(rng.sample(team_repos, min(count, len(team_repos)))))
            elif team_slug == "product-management" and index == 1:
                # One product manager prototypes in the checkout front end.
                usage, repos = "light", ("checkout-web",)
            version = rng.choice(_CLAUDE_CODE_VERSIONS) if repos else None
            people.append(
                Person(
                    email=f"{first}.{last}@{DOMAIN}".lower(),
                    name=f"{first} {last}",
                    team=team.slug,
                    department=team.department,
                    role=role,
                    hourly_cost_usd=hourly,
                    username=username,
                    claude_code=usage,
                    claude_code_version=version,
                    repos=repos,
                )
            )
    # One regular user never upgraded, so the old transcript shape stays in the data.
    regulars = [i for i, person in enumerate(people) if person.claude_code == "regular"]
    laggard = rng.choice(regulars)
    people[laggard] = replace(people[laggard], claude_code_version=_OLD_CLAUDE_CODE_VERSION)
    return tuple(people)


def _traffic(
    model: str,
    weekday_requests: int,
    profile: str,
    *,
    tier: str = "standard",
    context: str = "0-200k",
    weekend: float,
) -> Traffic:
    return Traffic(model, tier, context, weekday_requests, profile, weekend)


# Weekend factors: customers keep using the features, people mostly stop working.
_CUSTOMERS = 0.6
_STAFF = 0.1
_BATCH_JOBS = 0.05

# (project, key suffix, environment, in the default workspace, traffic)
_KEYS: tuple[tuple[str, str, str, bool, tuple[Traffic, ...]], ...] = (
    (
        "checkout-assistant",
        "prod",
        PRODUCTION,
        False,
        (
            _traffic(SONNET, 2600, "chat", weekend=_CUSTOMERS),
            _traffic(HAIKU, 1400, "chat", weekend=_CUSTOMERS),
        ),
    ),
    (
        "checkout-assistant",
        "dev",
        DEVELOPMENT,
        False,
        (_traffic(SONNET, 90, "chat", weekend=_STAFF), _traffic(HAIKU, 60, "chat", weekend=_STAFF)),
    ),
    (
        "support-copilot",
        "prod",
        PRODUCTION,
        False,
        (
            _traffic(SONNET, 1500, "chat_search", weekend=_CUSTOMERS),
            _traffic(HAIKU, 900, "chat", weekend=_CUSTOMERS),
        ),
    ),
    ("support-copilot", "dev", DEVELOPMENT, False, (_traffic(SONNET, 70, "chat", weekend=_STAFF),)),
    (
        "knowledge-search",
        "prod",
        PRODUCTION,
        False,
        (
            _traffic(HAIKU, 5200, "rag", weekend=_CUSTOMERS),
            _traffic(SONNET, 800, "rag", weekend=_CUSTOMERS),
        ),
    ),
    ("knowledge-search", "dev", DEVELOPMENT, False, (_traffic(HAIKU, 120, "rag", weekend=_STAFF),)),
    # A key made before the workspaces existed, still in the default workspace.
    (
        "knowledge-search",
        "legacy",
        DEVELOPMENT,
        True,
        (_traffic(HAIKU, 25, "rag", weekend=_STAFF),),
    ),
    (
        "invoice-reader",
        "prod",
        PRODUCTION,
        False,
        (
            _traffic(HAIKU, 1800, "extraction", tier="batch", weekend=_BATCH_JOBS),
            _traffic(HAIKU, 200, "extraction", weekend=_BATCH_JOBS),
            _traffic(SONNET, 150, "extraction", tier="batch", weekend=_BATCH_JOBS),
        ),
    ),
    (
        "invoice-reader",
        "dev",
        DEVELOPMENT,
        False,
        (_traffic(HAIKU, 40, "extraction", weekend=_STAFF),),
    ),
    (
        "agent-lab",
        "dev",
        DEVELOPMENT,
        False,
        (
            _traffic(SONNET, 260, "agent", weekend=_STAFF),
            _traffic(SONNET, 18, "long_agent", context="200k-1M", weekend=_STAFF),
            _traffic(OPUS, 45, "agent", weekend=_STAFF),
        ),
    ),
    (
        "eval-harness",
        "dev",
        DEVELOPMENT,
        False,
        (
            _traffic(HAIKU, 400, "agent", weekend=_STAFF),
            _traffic(SONNET, 300, "agent", tier="batch", weekend=_STAFF),
            _traffic(OPUS, 30, "agent", weekend=_STAFF),
        ),
    ),
)


def build_company(seed: int = 7) -> Company:
    """The demo company for `seed`; equal seeds give equal companies, field for field."""
    rng = random.Random(seed)
    people = _people(rng)
    workspaces = tuple(
        Workspace(
            id=_vendor_id(rng, "wrkspc_"),
            name=project.slug,
            project=project.slug,
            environment=DEVELOPMENT if project.kind == "research" else None,
        )
        for project in _PROJECTS
    )
    workspace_of = {workspace.project: workspace.id for workspace in workspaces}
    api_keys = tuple(
        ApiKey(
            id=_vendor_id(rng, "apikey_"),
            name=f"{project}-{suffix}",
            workspace_id=None if in_default else workspace_of[project],
            project=project,
            environment=environment,
            traffic=traffic,
        )
        for project, suffix, environment, in_default, traffic in _KEYS
    )
    return Company(
        seed=seed,
        name="Northwind Labs",
        domain=DOMAIN,
        departments=_DEPARTMENTS,
        teams=_TEAMS,
        people=people,
        projects=_PROJECTS,
        workspaces=workspaces,
        api_keys=api_keys,
    )
