"""Mixpanel's Query API segmentation report, answered from the sandbox product's analytics.

Northwind Labs tracks three events in Mixpanel from its customer-facing features: `Session
Started` (properties plan and customer), `Feature Used` (plan, customer, feature) and `Answer
Rated` (plan, customer, feature, rating). Counts per (seed, UTC day, customer, feature) come
from their own `random.Random`, scaled like the product's AI traffic (`product_usage.py`):
customer size, feature volume, fewer at weekends. The project's timezone is UTC.

`GET /api/query/segmentation` behaves as Mixpanel documents it where the collector depends on
it:

- HTTP basic auth with a service account (username `<name>.<id>.mp-service-account`, any
  secret but `REVOKED_SECRET`), and `project_id`, which must be `PROJECT_ID` (403 otherwise).
  Errors are `{"error": "<text>", "status": "error"}`.
- `event`, `from_date`, `to_date` (yyyy-mm-dd, both inclusive) are required; `unit` is day
  (or month); `type` is general; `on=properties["<name>"]` splits the counts by that
  property, events without it counting under `undefined`; `limit` keeps the top values
  (default 60).
- The answer is `{"data": {"series": [dates], "values": {segment: {date: count}}},
  "legend_size": n}`; without `on`, the one segment is the event's name.
"""

import base64
import binascii
import random
import re
from collections import Counter
from collections.abc import Mapping
from datetime import date, timedelta

from orchestration.sandbox.company import Company
from orchestration.sandbox.product_usage import (
    CUSTOMERS,
    FEATURE_TRAFFIC,
    WEEKEND_FACTOR,
    product_features,
)
from orchestration.sandbox.routing import Request, Response, Route

SEGMENTATION_PATH = "/api/query/segmentation"
PROJECT_ID = 3_141_592
REVOKED_SECRET = "sandbox-revoked-service-account-secret"
EVENTS = ("Session Started", "Feature Used", "Answer Rated")
UNDEFINED = "undefined"
_LIMIT_DEFAULT = 60
_ON = re.compile(r'^properties\["([^"\]]+)"\]$')
_PARAMS = ("project_id", "event", "from_date", "to_date", "unit", "on", "limit", "type")


def _error(status: int, message: str) -> Response:
    return Response(status, {"error": message, "status": "error"})


def _fault(status: int) -> Response:
    if status == 429:
        return _error(429, "Query rate limit exceeded: 60 queries per hour per project")
    return _error(status, "Internal server error")


def day_events(company: Company, day: date) -> Counter:
    """Counts of one UTC day keyed by (event, properties as sorted (name, value) pairs)."""
    features = set(product_features(company))
    counts: Counter = Counter()
    for customer in CUSTOMERS:
        base = {"plan": customer.plan, "customer": customer.id}
        scale = WEEKEND_FACTOR if day.weekday() >= 5 else 1.0
        sessions = 0
        for feature in customer.features:
            if feature not in features:
                continue
            rng = random.Random(f"{company.seed}|mixpanel|{customer.id}|{feature}|{day}")
            volume = FEATURE_TRAFFIC[feature].weekday_requests * customer.size * scale
            used = round(volume * 0.7 * rng.uniform(0.8, 1.2))
            rated = round(used * rng.uniform(0.05, 0.12))
            thumbs_up = round(rated * rng.uniform(0.6, 0.9))
            properties = {**base, "feature": feature}
            counts[("Feature Used", tuple(sorted(properties.items())))] += used
            for rating, count in (("up", thumbs_up), ("down", rated - thumbs_up)):
                key = tuple(sorted({**properties, "rating": rating}.items()))
                counts[("Answer Rated", key)] += count
            sessions += round(used / rng.uniform(5, 8))
        counts[("Session Started", tuple(sorted(base.items())))] += sessions
    return counts


def segmentation(
    company: Company, event: str, day: date, property_name: str | None
) -> dict[str, int]:
    """The day's count of `event` per value of `property_name` (one total without one)."""
    segments: Counter = Counter()
    for (name, properties), count in day_events(company, day).items():
        if name != event:
            continue
        if property_name is None:
            segments[event] += count
        else:
            segments[str(dict(properties).get(property_name, UNDEFINED))] += count
    return dict(segments)


def _authorized(request: Request) -> Response | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return _error(401, "Unable to authenticate request: no credentials")
    try:
        username, _, secret = base64.b64decode(encoded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return _error(401, "Unable to authenticate request: malformed credentials")
    if not username.endswith(".mp-service-account") or not secret or secret == REVOKED_SECRET:
        return _error(401, "Invalid service account credentials")
    return None


def _segmentation(company: Company, request: Request) -> Response:
    refused = _authorized(request)
    if refused is not None:
        return refused
    params = {name: values[-1] for name, values in request.query.items()}
    unknown = sorted(set(params) - set(_PARAMS))
    if unknown:
        return _error(400, f"unknown parameter(s): {', '.join(unknown)}")
    for name in ("project_id", "event", "from_date", "to_date"):
        if not params.get(name):
            return _error(400, f"'{name}' is a required parameter")
    if params["project_id"] != str(PROJECT_ID):
        return _error(
            403,
            f"Permission denied: the service account cannot access project {params['project_id']}",
        )
    if params.get("unit", "day") != "day" or params.get("type", "general") != "general":
        return _error(400, "the sandbox answers unit=day and type=general only")
    try:
        start = date.fromisoformat(params["from_date"])
        end = date.fromisoformat(params["to_date"])
    except ValueError:
        return _error(400, "from_date and to_date must be yyyy-mm-dd")
    if end < start:
        return _error(400, "to_date must not be before from_date")
    property_name = None
    if params.get("on"):
        match = _ON.match(params["on"])
        if match is None:
            return _error(400, f"cannot segment on {params['on']!r}")
        property_name = match.group(1)
    limit = int(params["limit"]) if params.get("limit", "").isdigit() else _LIMIT_DEFAULT
    days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
    per_day = {day: segmentation(company, params["event"], day, property_name) for day in days}
    totals: Counter = Counter()
    for counts in per_day.values():
        totals.update(counts)
    if property_name is None:
        totals[params["event"]] += 0  # an event with no rows still has its one series
    kept = [segment for segment, _ in totals.most_common(limit)]
    values = {
        segment: {day.isoformat(): per_day[day].get(segment, 0) for day in days} for segment in kept
    }
    series = [day.isoformat() for day in days]
    return Response(200, {"data": {"series": series, "values": values}, "legend_size": len(kept)})


ROUTES: Mapping[tuple[str, str], Route] = {
    ("GET", SEGMENTATION_PATH): Route(_segmentation, _fault),
}

# The demo's service account: the sandbox accepts any such username with any secret.
SANDBOX_ENV = {
    "MIXPANEL_SERVICE_ACCOUNT_USERNAME": "vault-sandbox.000000.mp-service-account",
    "MIXPANEL_SERVICE_ACCOUNT_SECRET": "sandbox-not-a-real-secret",
}


def sandbox_section(api_url: str) -> dict[str, object]:
    """The mixpanel section of the demo's vault.yaml: every event, split by feature."""
    return {
        "base_url": api_url,
        "project_id": PROJECT_ID,
        "events": list(EVENTS),
        "property_name": "feature",
        "max_retries": 3,
    }
