"""A day of Anthropic API traffic for the sandbox company, and what Anthropic bills for it.

Each (seed, UTC day, traffic stream) gets its own random generator, so a day's numbers never
depend on which other days were asked for, nor on the order of the question. Volumes follow
the shapes a real company shows: production keys dwarf development keys, staff traffic all but
stops at weekends while customer traffic only dips, usage grows through the year, and agents
read far more from the prompt cache than they send uncached.

Costs are computed from the token counts at Anthropic's public list prices, so a report of the
tokens and a report of the money always agree to the last fraction of a cent.
"""

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from orchestration.sandbox.company import HAIKU, OPUS, SONNET, ApiKey, Company, Traffic

# Five token kinds, in the order the list prices below are given.
TOKEN_TYPES = (
    "uncached_input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation.ephemeral_5m_input_tokens",
    "cache_creation.ephemeral_1h_input_tokens",
)

# USD per million tokens: input, output, cache read, 5-minute cache write, 1-hour cache write.
LIST_PRICES: dict[str, tuple[Decimal, ...]] = {
    SONNET: tuple(Decimal(p) for p in ("3", "15", "0.30", "3.75", "6")),
    HAIKU: tuple(Decimal(p) for p in ("1", "5", "0.10", "1.25", "2")),
    OPUS: tuple(Decimal(p) for p in ("15", "75", "1.50", "18.75", "30")),
}
MODEL_LABELS = {SONNET: "Claude Sonnet 4.5", HAIKU: "Claude Haiku 4.5", OPUS: "Claude Opus 4.1"}
# The Batch API halves every token price.
BATCH_DISCOUNT = Decimal("0.5")
# Prompts over 200k tokens (Sonnet's 1M window) cost double on the input side, 1.5x on output.
LONG_CONTEXT_INPUT = Decimal("2")
LONG_CONTEXT_OUTPUT = Decimal("1.5")
# Server-side web search: $10 per thousand searches, one cent each.
WEB_SEARCH_CENTS = Decimal("1")

_TOKEN_LABELS = {
    "uncached_input_tokens": "Input Tokens",
    "output_tokens": "Output Tokens",
    "cache_read_input_tokens": "Cache Read",
    "cache_creation.ephemeral_5m_input_tokens": "Cache Write (5m)",
    "cache_creation.ephemeral_1h_input_tokens": "Cache Write (1h)",
}


@dataclass(frozen=True)
class Profile:
    """Mean tokens of one request, per token type, and web searches per request."""

    uncached_input: int
    output: int
    cache_read: int
    cache_write_5m: int
    cache_write_1h: int
    web_searches: float = 0.0


PROFILES = {
    # A customer conversation: a long cached system prompt, short turns.
    "chat": Profile(1100, 380, 7800, 450, 0),
    "chat_search": Profile(1400, 420, 6200, 400, 0, web_searches=0.04),
    # Retrieval: fresh documents every call, little to cache.
    "rag": Profile(3600, 260, 1200, 150, 0, web_searches=0.08),
    "extraction": Profile(2800, 650, 0, 0, 0),
    # Tool loops re-read their whole history from the cache on every step.
    "agent": Profile(350, 950, 28000, 1600, 900),
    "long_agent": Profile(24000, 1800, 210000, 6000, 2000),
}

# Usage grows linearly through the year around this day; the factor is clamped far from it.
_GROWTH_ORIGIN = date(2026, 1, 1)
_GROWTH_PER_YEAR = 0.8
# Keys whose weekend traffic is below this share of a weekday are idle on half of those days.
_WEEKEND_IDLE_BELOW = 0.5


@dataclass(frozen=True)
class UsageRow:
    """The finest grain of the messages usage report: one key, model, tier and window."""

    api_key_id: str
    workspace_id: str | None
    model: str
    service_tier: str
    context_window: str
    inference_geo: str
    uncached_input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int
    cache_creation_5m_input_tokens: int
    cache_creation_1h_input_tokens: int
    web_search_requests: int

    def tokens(self, token_type: str) -> int:
        """The count for one of `TOKEN_TYPES`."""
        return {
            "uncached_input_tokens": self.uncached_input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation.ephemeral_5m_input_tokens": self.cache_creation_5m_input_tokens,
            "cache_creation.ephemeral_1h_input_tokens": self.cache_creation_1h_input_tokens,
        }[token_type]


@dataclass(frozen=True)
class CostRow:
    """The finest grain of the cost report: one workspace and one priced line item."""

    workspace_id: str | None
    description: str
    cost_type: str
    model: str | None
    service_tier: str | None
    context_window: str | None
    token_type: str | None
    amount_cents: Decimal


def _growth(day: date) -> float:
    years = (day - _GROWTH_ORIGIN).days / 365
    return min(2.5, max(0.4, 1 + _GROWTH_PER_YEAR * years))


def _usage_row(company: Company, key: ApiKey, traffic: Traffic, day: date) -> UsageRow | None:
    rng = random.Random(
        f"{company.seed}|anthropic|{key.id}|{traffic.model}|{traffic.service_tier}"
        f"|{traffic.context_window}|{day.isoformat()}"
    )
    scale = 1.0
    if day.weekday() >= 5:
        scale = traffic.weekend_factor
        # Nobody touches some staff keys on a given weekend day.
        if traffic.weekend_factor < _WEEKEND_IDLE_BELOW and rng.random() < 0.5:
            return None
    requests = round(traffic.weekday_requests * scale * _growth(day) * rng.uniform(0.8, 1.2))
    if requests == 0:
        return None
    profile = PROFILES[traffic.profile]

    def draw(mean: float) -> int:
        return round(requests * mean * rng.uniform(0.85, 1.15))

    return UsageRow(
        api_key_id=key.id,
        workspace_id=key.workspace_id,
        model=traffic.model,
        service_tier=traffic.service_tier,
        context_window=traffic.context_window,
        # These models predate regional inference, which the API reports this way.
        inference_geo="not_available",
        uncached_input_tokens=draw(profile.uncached_input),
        output_tokens=draw(profile.output),
        cache_read_input_tokens=draw(profile.cache_read),
        cache_creation_5m_input_tokens=draw(profile.cache_write_5m),
        cache_creation_1h_input_tokens=draw(profile.cache_write_1h),
        web_search_requests=draw(profile.web_searches),
    )


def usage_for_day(company: Company, day: date) -> list[UsageRow]:
    """Every usage row of one UTC day, at the report's finest grain, in a stable order."""
    rows = (
        _usage_row(company, key, traffic, day)
        for key in company.api_keys
        for traffic in key.traffic
    )
    return [row for row in rows if row is not None]


def price_per_million(
    model: str, service_tier: str, context_window: str, token_type: str
) -> Decimal:
    """List price in USD per million tokens, with the batch and long-context adjustments."""
    price = LIST_PRICES[model][TOKEN_TYPES.index(token_type)]
    if service_tier == "batch":
        price *= BATCH_DISCOUNT
    if context_window == "200k-1M":
        price *= LONG_CONTEXT_OUTPUT if token_type == "output_tokens" else LONG_CONTEXT_INPUT
    return price


def _description(model: str, service_tier: str, context_window: str, token_type: str) -> str:
    usage = "Usage"
    if context_window == "200k-1M":
        usage = "Long Context Usage"
    if service_tier == "batch":
        usage = f"Batch {usage}"
    return f"{MODEL_LABELS[model]} {usage} - {_TOKEN_LABELS[token_type]}"


def costs_for_day(company: Company, day: date) -> list[CostRow]:
    """Every cost line item of one UTC day, priced from `usage_for_day` at list price."""
    tokens: dict[tuple[str | None, str, str, str, str], int] = defaultdict(int)
    searches: dict[str | None, int] = defaultdict(int)
    for row in usage_for_day(company, day):
        for token_type in TOKEN_TYPES:
            grain = (row.workspace_id, row.model, row.service_tier, row.context_window, token_type)
            tokens[grain] += row.tokens(token_type)
        searches[row.workspace_id] += row.web_search_requests
    costs = [
        CostRow(
            workspace_id=workspace_id,
            description=_description(model, tier, window, token_type),
            cost_type="tokens",
            model=model,
            service_tier=tier,
            context_window=window,
            token_type=token_type,
            # USD per million tokens -> cents: x 100 / 1,000,000.
            amount_cents=count * price_per_million(model, tier, window, token_type) / 10_000,
        )
        for (workspace_id, model, tier, window, token_type), count in tokens.items()
        if count
    ]
    costs += [
        # Non-token costs carry no model, tier, window or token type.
        CostRow(workspace_id, "Web Search", "web_search", *(None,) * 4, count * WEB_SEARCH_CENTS)
        for workspace_id, count in searches.items()
        if count
    ]
    return costs
