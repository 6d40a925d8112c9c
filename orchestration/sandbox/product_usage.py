"""Northwind Labs' AI features in production, request by request, as its services track them.

The company's customer-facing projects (`company.py`: Checkout Assistant, Support Copilot,
Knowledge Search) serve a few business customers, each subscribed to some of the features.
Every request those features make to a model is one `ProductRequest`, carrying exactly the
fields a service passes to `track_product_usage`, so the demo and the tests can replay a day
through the real tracker and compare what reaches `fct_metrics` with what was sent.

Each (seed, UTC day, customer, feature) has its own random generator, so a day never depends
on which other days were asked for. Volumes follow the customer's size and dip at weekends;
requests cluster in business hours; token counts and latencies have long right tails (a
lognormal spread around per-feature means), latency grows with the answer's length at the
model's speed, about 1% of requests fail (rate limits, overload, timeouts), and the cost each
service reports is computed at the providers' list prices. Event ids are derived from the
same coordinates, so replaying a day twice adds nothing after staging deduplicates.
"""

import math
import random
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from orchestration.sandbox.company import HAIKU, PRODUCTION, SONNET, Company

GPT_41_MINI = "gpt-4.1-mini"

PROVIDERS = {SONNET: "anthropic", HAIKU: "anthropic", GPT_41_MINI: "openai"}

# USD per million tokens: uncached input, output, cache read, cache write (5 minutes).
# OpenAI caches prompts on its own and charges nothing for the write.
LIST_PRICES: dict[str, tuple[Decimal, Decimal, Decimal, Decimal]] = {
    SONNET: (Decimal("3"), Decimal("15"), Decimal("0.30"), Decimal("3.75")),
    HAIKU: (Decimal("1"), Decimal("5"), Decimal("0.10"), Decimal("1.25")),
    GPT_41_MINI: (Decimal("0.40"), Decimal("1.60"), Decimal("0.10"), Decimal("0")),
}

# (time to first token in ms, output tokens per second) of each model, typical values.
_SPEED = {SONNET: (950.0, 55.0), HAIKU: (420.0, 145.0), GPT_41_MINI: (520.0, 85.0)}

# How a failed request fails: error type, share, and latency until it failed (ms range).
_FAILURES = (
    ("rate_limited", 40, (40.0, 300.0)),
    ("overloaded", 25, (150.0, 2500.0)),
    ("timeout", 20, (30000.0, 30000.0)),
    ("server_error", 15, (400.0, 6000.0)),
)
FAILURE_RATE = 0.012
WEEKEND_FACTOR = 0.6
# Share of a day's requests in each UTC hour: the customers work North American hours.
_HOURLY_WEIGHTS = (
    3, 2, 2, 1, 1, 1, 1, 2, 3, 4, 5, 7, 9, 11, 12, 12, 12, 11, 10, 9, 8, 6, 5, 4,
)  # fmt: skip


@dataclass(frozen=True)
class Customer:
    """A business that buys the company's AI features; `size` scales its traffic."""

    id: str
    name: str
    plan: str
    size: float
    features: tuple[str, ...]


CUSTOMERS: tuple[Customer, ...] = (
    Customer(
        "cus_Nw4kB8sQe2LmTz",
        "Brightwater Outfitters",
        "enterprise",
        1.6,
        ("checkout-assistant", "support-copilot", "knowledge-search"),
    ),
    Customer(
        "cus_Nw7pR2vXc9HdJa",
        "Kestrel Freight",
        "growth",
        1.0,
        ("support-copilot", "knowledge-search"),
    ),
    Customer(
        "cus_Nw2mF6tYw3QbKe",
        "Lumen Health Partners",
        "enterprise",
        1.3,
        ("support-copilot", "knowledge-search"),
    ),
    Customer(
        "cus_Nw9sD4gHn7VcXu", "Orchard & Vine Grocers", "growth", 0.8, ("checkout-assistant",)
    ),
    Customer(
        "cus_Nw5tL1kPz8RfGo",
        "Tallgrass Software",
        "starter",
        0.4,
        ("checkout-assistant", "knowledge-search"),
    ),
)


@dataclass(frozen=True)
class FeatureTraffic:
    """One feature's requests per unit of customer size on a weekday, and their shape."""

    weekday_requests: int
    models: tuple[tuple[str, float], ...]  # model and its share of requests
    # Mean tokens per successful request: uncached input, output, cache read, cache write.
    tokens: tuple[int, int, int, int]


FEATURE_TRAFFIC: dict[str, FeatureTraffic] = {
    # A shopping conversation: a long cached system prompt, short turns.
    "checkout-assistant": FeatureTraffic(
        90, ((SONNET, 0.55), (HAIKU, 0.45)), (1100, 380, 7800, 450)
    ),
    "support-copilot": FeatureTraffic(
        70, ((SONNET, 0.5), (GPT_41_MINI, 0.5)), (1400, 420, 6200, 400)
    ),
    # Retrieval: fresh documents in every prompt, little to cache.
    "knowledge-search": FeatureTraffic(
        130, ((HAIKU, 0.6), (GPT_41_MINI, 0.4)), (3600, 260, 1200, 150)
    ),
}

_SPREAD = 0.45  # sigma of the lognormal spread of token counts
_LATENCY_SPREAD = 0.35


@dataclass(frozen=True)
class ProductRequest:
    """One request a feature made to a model; the fields are `track_product_usage`'s."""

    event_id: str
    occurred_at: datetime
    customer: str
    feature: str
    model: str
    provider: str
    tokens_in: int
    tokens_out: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: Decimal
    latency_ms: float
    success: bool
    error_type: str | None
    request_id: str
    tags: dict[str, str]

    def as_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of the `track_product_usage` call that records it."""
        return asdict(self)


def customer_by_id(customer_id: str) -> Customer:
    return next(customer for customer in CUSTOMERS if customer.id == customer_id)


def product_features(company: Company) -> tuple[str, ...]:
    """The company's customer-facing projects that make AI requests, as feature names."""
    return tuple(
        project.slug
        for project in company.projects
        if project.customer_facing and project.slug in FEATURE_TRAFFIC
    )


def _draw(rng: random.Random, mean: float, sigma: float = _SPREAD) -> int:
    # A lognormal whose mean is `mean`: exp(mu + sigma^2 / 2) = mean.
    if mean <= 0:
        return 0
    return round(rng.lognormvariate(math.log(mean) - sigma * sigma / 2, sigma))


def _cost(model: str, tokens: tuple[int, int, int, int]) -> Decimal:
    prices = LIST_PRICES[model]
    total = sum((count * price for count, price in zip(tokens, prices, strict=True)), Decimal(0))
    return (total / 1_000_000).quantize(Decimal("0.0000000001"))


def _request(
    rng: random.Random,
    company: Company,
    customer: Customer,
    feature: str,
    day: date,
    number: int,
) -> ProductRequest:
    traffic = FEATURE_TRAFFIC[feature]
    hour = rng.choices(range(24), _HOURLY_WEIGHTS)[0]
    moment = datetime.combine(day, datetime.min.time(), UTC) + timedelta(
        hours=hour, microseconds=rng.randrange(3_600_000_000)
    )
    models, shares = zip(*traffic.models, strict=True)
    model = rng.choices(models, shares)[0]
    request_id = f"req_{rng.getrandbits(96):024x}"
    if rng.random() < FAILURE_RATE:
        error_type, _, (fastest, slowest) = rng.choices(
            _FAILURES, [share for _, share, _ in _FAILURES]
        )[0]
        tokens = (0, 0, 0, 0)
        latency = rng.uniform(fastest, slowest)
        success = False
    else:
        uncached, output, cache_read, cache_write = traffic.tokens
        tokens = (
            _draw(rng, uncached),
            _draw(rng, output),
            _draw(rng, cache_read),
            _draw(rng, cache_write) if PROVIDERS[model] == "anthropic" else 0,
        )
        first_token, per_second = _SPEED[model]
        expected = first_token + tokens[1] / per_second * 1000
        latency = expected * rng.lognormvariate(-(_LATENCY_SPREAD**2) / 2, _LATENCY_SPREAD)
        error_type, success = None, True
    return ProductRequest(
        event_id=f"sandbox:{company.seed}:{day.isoformat()}:{customer.id}:{feature}:{number}",
        occurred_at=moment,
        customer=customer.id,
        feature=feature,
        model=model,
        provider=PROVIDERS[model],
        tokens_in=tokens[0],
        tokens_out=tokens[1],
        cache_read_tokens=tokens[2],
        cache_write_tokens=tokens[3],
        cost_usd=_cost(model, tokens),
        latency_ms=round(latency, 1),
        success=success,
        error_type=error_type,
        request_id=request_id,
        tags={"project": feature, "environment": PRODUCTION, "plan": customer.plan},
    )


def requests_for_day(company: Company, day: date) -> list[ProductRequest]:
    """Every tracked request of one UTC day, in the order they were made."""
    features = set(product_features(company))
    requests: list[ProductRequest] = []
    for customer in CUSTOMERS:
        for feature in customer.features:
            if feature not in features:
                continue
            rng = random.Random(f"{company.seed}|product|{customer.id}|{feature}|{day}")
            scale = WEEKEND_FACTOR if day.weekday() >= 5 else 1.0
            volume = FEATURE_TRAFFIC[feature].weekday_requests * customer.size * scale
            count = round(volume * rng.uniform(0.8, 1.2))
            requests += (_request(rng, company, customer, feature, day, n) for n in range(count))
    requests.sort(key=lambda request: (request.occurred_at, request.event_id))
    return requests


def requests_per_customer(company: Company, start: date, end: date) -> dict[str, int]:
    """Requests (failed ones included) per customer id over the days in [start, end)."""
    counts = {customer.id: 0 for customer in CUSTOMERS}
    for offset in range((end - start).days):
        for request in requests_for_day(company, start + timedelta(days=offset)):
            counts[request.customer] += 1
    return {customer: count for customer, count in counts.items() if count}
