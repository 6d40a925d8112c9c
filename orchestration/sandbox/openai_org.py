"""Northwind Labs' OpenAI organization, and a day of its OpenAI traffic and what it costs.

The organization is derived from `build_company()` without changing it: one OpenAI project per
company project, a production key on a service account (usage with no user) for each project
that ships, and a development key owned by an engineer of the project's team. The traffic plan
is fixed so the demo tells the same story every time: the customer-facing features run chat and
embeddings, the support copilot also transcribes calls and speaks answers, the invoice reader
runs nightly batches, the research projects run cache-heavy agents and make a few images.

Identifiers come from a generator seeded with the company's seed, and each (seed, UTC day, key,
stream) draws from its own generator, so a day's numbers never depend on which other days were
asked for. Costs are the usage at OpenAI's public list prices, so the costs endpoint and the
usage endpoints always agree.
"""

import functools
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from orchestration.sandbox.company import DEVELOPMENT, PRODUCTION, Company

GPT_41 = "gpt-4.1-2025-04-14"
GPT_41_MINI = "gpt-4.1-mini-2025-04-14"
GPT_4O_MINI = "gpt-4o-mini-2024-07-18"
EMBEDDING_SMALL = "text-embedding-3-small"
DALL_E_3 = "dall-e-3"
TTS_1 = "tts-1"
WHISPER_1 = "whisper-1"

ENDPOINTS = ("completions", "embeddings", "images", "audio_speeches", "audio_transcriptions")
# What each endpoint counts, in the order its results list them.
QUANTITIES = {
    "completions": (
        "input_tokens",
        "input_cached_tokens",
        "output_tokens",
        "input_audio_tokens",
        "output_audio_tokens",
        "num_model_requests",
    ),
    "embeddings": ("input_tokens", "num_model_requests"),
    "images": ("images", "num_model_requests"),
    "audio_speeches": ("characters", "num_model_requests"),
    "audio_transcriptions": ("seconds", "num_model_requests"),
}

# USD per million tokens: input (uncached), cached input, output.
TOKEN_PRICES: dict[str, tuple[Decimal, Decimal, Decimal]] = {
    GPT_41: (Decimal("2"), Decimal("0.50"), Decimal("8")),
    GPT_41_MINI: (Decimal("0.40"), Decimal("0.10"), Decimal("1.60")),
    GPT_4O_MINI: (Decimal("0.15"), Decimal("0.075"), Decimal("0.60")),
}
# USD per million embedding input tokens.
EMBEDDING_PRICES = {EMBEDDING_SMALL: Decimal("0.02")}
# USD per image, by model and size (standard quality).
IMAGE_PRICES = {
    (DALL_E_3, "1024x1024"): Decimal("0.040"),
    (DALL_E_3, "1024x1792"): Decimal("0.080"),
}
# USD per million characters of speech.
SPEECH_PRICES = {TTS_1: Decimal("15")}
# USD per second transcribed ($0.006 a minute).
TRANSCRIPTION_PRICES = {WHISPER_1: Decimal("0.0001")}
# The Batch API halves every token price.
BATCH_DISCOUNT = Decimal("0.5")
MILLION = Decimal(1_000_000)

# The tier the API reports for ordinary and batch traffic alike in this organization.
SERVICE_TIER = "default"
_ID_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Keys whose weekend traffic is below this share of a weekday are idle on half of those days.
_WEEKEND_IDLE_BELOW = 0.5


@dataclass(frozen=True)
class Stream:
    """One kind of call a key makes: what a weekday of it looks like, per request."""

    endpoint: str
    model: str
    weekday_requests: int
    weekend_factor: float
    per_request: tuple[tuple[str, float], ...]  # quantity -> mean per request
    batch: bool = False
    size: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class OpenAIProject:
    id: str
    name: str
    project: str  # the company project's slug
    environment: str | None  # None: the project holds production and development keys


@dataclass(frozen=True)
class OpenAIUser:
    id: str
    email: str


@dataclass(frozen=True)
class OpenAIKey:
    id: str
    name: str
    project_id: str
    project: str
    environment: str
    user_id: str | None  # None: a service account's key
    streams: tuple[Stream, ...]


@dataclass(frozen=True)
class Organization:
    seed: int
    id: str
    projects: tuple[OpenAIProject, ...]
    users: tuple[OpenAIUser, ...]
    api_keys: tuple[OpenAIKey, ...]


@dataclass(frozen=True)
class UsageRow:
    """The finest grain of a usage endpoint: one key, model, and batch, size or source."""

    endpoint: str
    project_id: str
    user_id: str | None
    api_key_id: str
    model: str
    batch: bool | None  # completions only
    service_tier: str | None  # completions only
    size: str | None  # images only
    source: str | None  # images only
    quantities: tuple[tuple[str, int], ...]  # every field of QUANTITIES[endpoint]

    def quantity(self, name: str) -> int:
        return dict(self.quantities)[name]


@dataclass(frozen=True)
class CostRow:
    """The finest grain of the costs endpoint: one project and line item."""

    project_id: str
    line_item: str
    amount_usd: Decimal


def _chat(
    model: str, requests: int, weekend: float, tokens: tuple[int, int, int], **kw: Any
) -> Stream:
    """Completions; `tokens` are mean input (cached ones included), cached and output."""
    given, cached, output = tokens
    shape = (("input_tokens", given), ("input_cached_tokens", cached), ("output_tokens", output))
    return Stream("completions", model, requests, weekend, shape, **kw)


def _per(
    endpoint: str, model: str, requests: int, weekend: float, field: str, mean: float, **kw: Any
) -> Stream:
    """Any other endpoint; `mean` is how much of `field` one request uses."""
    return Stream(endpoint, model, requests, weekend, ((field, mean),), **kw)


_CUSTOMERS = 0.6
_STAFF = 0.1
_BATCH_JOBS = 0.05

# Company project -> (production streams, development streams); no production streams means
# a research project with development keys only.
_PLAN: dict[str, tuple[tuple[Stream, ...], tuple[Stream, ...]]] = {
    "checkout-assistant": (
        (
            _chat(GPT_41_MINI, 3200, _CUSTOMERS, (1800, 1100, 260)),
            # Order classification: prompts too short to be cached.
            _chat(GPT_4O_MINI, 1500, _CUSTOMERS, (600, 0, 20)),
            _per("embeddings", EMBEDDING_SMALL, 2600, _CUSTOMERS, "input_tokens", 40),
        ),
        (
            _chat(GPT_41_MINI, 90, _STAFF, (1800, 900, 260)),
            _per("embeddings", EMBEDDING_SMALL, 60, _STAFF, "input_tokens", 40),
        ),
    ),
    "support-copilot": (
        (
            _chat(GPT_41, 1100, _CUSTOMERS, (5200, 3900, 420)),
            _per("audio_transcriptions", WHISPER_1, 260, _CUSTOMERS, "seconds", 210),
            _per("audio_speeches", TTS_1, 380, _CUSTOMERS, "characters", 520),
        ),
        (
            _chat(GPT_41, 60, _STAFF, (5200, 3100, 420)),
            _per("audio_transcriptions", WHISPER_1, 15, _STAFF, "seconds", 180),
            _per("audio_speeches", TTS_1, 20, _STAFF, "characters", 500),
        ),
    ),
    "knowledge-search": (
        (
            # Re-indexing documents dwarfs everything else in token count, not in dollars.
            _per("embeddings", EMBEDDING_SMALL, 9000, _CUSTOMERS, "input_tokens", 850),
            _chat(GPT_4O_MINI, 2800, _CUSTOMERS, (4200, 900, 240)),
        ),
        (
            _per("embeddings", EMBEDDING_SMALL, 400, _STAFF, "input_tokens", 850),
            _chat(GPT_4O_MINI, 110, _STAFF, (4200, 700, 240)),
        ),
    ),
    "invoice-reader": (
        (
            _chat(GPT_41_MINI, 1700, _BATCH_JOBS, (3100, 0, 700), batch=True),
            _chat(GPT_41_MINI, 150, _BATCH_JOBS, (3100, 0, 700)),
        ),
        (_chat(GPT_41_MINI, 40, _STAFF, (3100, 0, 700)),),
    ),
    "agent-lab": (
        (),
        (
            # Tool loops re-read their whole history from the cache on every step.
            _chat(GPT_41, 320, _STAFF, (26000, 23000, 900)),
            _per(
                "images",
                DALL_E_3,
                35,
                _STAFF,
                "images",
                1.6,
                size="1024x1024",
                source="image.generation",
            ),
            _per(
                "images",
                DALL_E_3,
                12,
                _STAFF,
                "images",
                1.2,
                size="1024x1792",
                source="image.generation",
            ),
        ),
    ),
    "eval-harness": (
        (),
        (
            _chat(GPT_41, 450, _STAFF, (9000, 0, 600), batch=True),
            _chat(GPT_4O_MINI, 700, _STAFF, (2500, 1200, 150)),
        ),
    ),
}

# Roles whose holders own the development keys of their team's projects.
_KEY_OWNER_ROLES = ("Engineer", "ML Engineer", "Data Scientist")


def _vendor_id(rng: random.Random, prefix: str, length: int) -> str:
    return prefix + "".join(rng.choice(_ID_ALPHABET) for _ in range(length))


@functools.lru_cache(maxsize=8)
def build_organization(company: Company) -> Organization:
    """The company's OpenAI organization; equal companies give equal organizations."""
    rng = random.Random(f"{company.seed}|openai")
    org_id = _vendor_id(rng, "org-", 24)
    projects: list[OpenAIProject] = []
    keys: list[OpenAIKey] = []
    owners: dict[str, OpenAIUser] = {}
    for project in company.projects:
        production, development = _PLAN[project.slug]
        openai_project = OpenAIProject(
            id=_vendor_id(rng, "proj_", 24),
            name=project.name,
            project=project.slug,
            environment=None if production else DEVELOPMENT,
        )
        projects.append(openai_project)
        team = sorted(
            (p for p in company.people if p.team == project.team),
            key=lambda person: person.email,
        )
        candidates = [p for p in team if p.role.endswith(_KEY_OWNER_ROLES)] or team
        owner = rng.choice(candidates)
        if owner.email not in owners:
            owners[owner.email] = OpenAIUser(_vendor_id(rng, "user-", 24), owner.email)
        user = owners[owner.email]
        for suffix, environment, streams, user_id in (
            ("prod", PRODUCTION, production, None),
            ("dev", DEVELOPMENT, development, user.id),
        ):
            if streams:
                keys.append(
                    OpenAIKey(
                        id=_vendor_id(rng, "key_", 16),
                        name=f"{project.slug}-{suffix}",
                        project_id=openai_project.id,
                        project=project.slug,
                        environment=environment,
                        user_id=user_id,
                        streams=streams,
                    )
                )
    return Organization(
        seed=company.seed,
        id=org_id,
        projects=tuple(projects),
        users=tuple(owners.values()),
        api_keys=tuple(keys),
    )


def _usage_row(org: Organization, key: OpenAIKey, stream: Stream, day: date) -> UsageRow | None:
    rng = random.Random(
        f"{org.seed}|openai|{key.id}|{stream.endpoint}|{stream.model}|{stream.batch}"
        f"|{stream.size}|{day.isoformat()}"
    )
    scale = 1.0
    if day.weekday() >= 5:
        scale = stream.weekend_factor
        if stream.weekend_factor < _WEEKEND_IDLE_BELOW and rng.random() < 0.5:
            return None
    requests = round(stream.weekday_requests * scale * rng.uniform(0.8, 1.2))
    if requests == 0:
        return None
    drawn = {
        field: round(requests * mean * rng.uniform(0.85, 1.15))
        for field, mean in stream.per_request
    }
    if stream.endpoint == "completions":
        # Cached tokens are part of the input tokens, never more than them.
        drawn["input_cached_tokens"] = min(drawn["input_cached_tokens"], drawn["input_tokens"])
        # These text models take and give no audio.
        drawn |= {"input_audio_tokens": 0, "output_audio_tokens": 0}
    drawn["num_model_requests"] = requests
    completions = stream.endpoint == "completions"
    return UsageRow(
        endpoint=stream.endpoint,
        project_id=key.project_id,
        user_id=key.user_id,
        api_key_id=key.id,
        model=stream.model,
        batch=stream.batch if completions else None,
        service_tier=SERVICE_TIER if completions else None,
        size=stream.size,
        source=stream.source,
        quantities=tuple((field, drawn[field]) for field in QUANTITIES[stream.endpoint]),
    )


def usage_for_day(org: Organization, endpoint: str, day: date) -> list[UsageRow]:
    """Every usage row of one endpoint and UTC day, at the finest grain, in a stable order."""
    rows = (
        _usage_row(org, key, stream, day)
        for key in org.api_keys
        for stream in key.streams
        if stream.endpoint == endpoint
    )
    return [row for row in rows if row is not None]


def _line_items(row: UsageRow) -> list[tuple[str, Decimal]]:
    """(line item, USD) of one usage row at list price."""
    if row.endpoint == "completions":
        given, cached = row.quantity("input_tokens"), row.quantity("input_cached_tokens")
        input_price, cached_price, output_price = TOKEN_PRICES[row.model]
        factor, kind = (BATCH_DISCOUNT, "batch ") if row.batch else (Decimal(1), "")
        parts = (
            ("input", given - cached, input_price),
            ("cached input", cached, cached_price),
            ("output", row.quantity("output_tokens"), output_price),
        )
        return [
            (f"{row.model}, {kind}{name}", count * price * factor / MILLION)
            for name, count, price in parts
        ]
    if row.endpoint == "embeddings":
        price = EMBEDDING_PRICES[row.model]
        return [(f"{row.model}, input", row.quantity("input_tokens") * price / MILLION)]
    if row.endpoint == "images":
        price = IMAGE_PRICES[(row.model, row.size)]
        return [(f"{row.model}, {row.size}", row.quantity("images") * price)]
    if row.endpoint == "audio_speeches":
        price = SPEECH_PRICES[row.model]
        return [(f"{row.model}, characters", row.quantity("characters") * price / MILLION)]
    price = TRANSCRIPTION_PRICES[row.model]
    return [(f"{row.model}, seconds", row.quantity("seconds") * price)]


def costs_for_day(org: Organization, day: date) -> list[CostRow]:
    """Every (project, line item) cost of one UTC day, priced from the usage at list price."""
    sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for endpoint in ENDPOINTS:
        for row in usage_for_day(org, endpoint, day):
            for line_item, amount in _line_items(row):
                if amount:
                    sums[(row.project_id, line_item)] += amount
    return [
        CostRow(project_id, line_item, amount)
        for (project_id, line_item), amount in sorted(sums.items())
    ]
