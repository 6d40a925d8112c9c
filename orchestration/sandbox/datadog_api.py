"""Datadog's metrics query API and estimated cost, answered from Northwind Labs' workloads.

The metrics are the services of `infrastructure.py` as Datadog's agents would report them,
tagged `service`, `env`, `team`, `kube_namespace` and `region`. Behaviour follows Datadog's
documentation where the collector depends on it:

- Keys: `DD-API-KEY` must look like an API key (32 hexadecimal characters) and
  `DD-APPLICATION-KEY` like an application key (40); otherwise 403 `{"errors":
  ["Forbidden"]}`, which is all Datadog says. A key is never echoed back.
- `GET /api/v1/query?from&to&query`: `from` and `to` are inclusive unix seconds. The sandbox
  understands `<avg|sum|min|max>:<metric>{<scope>}[ by {<tag keys>}][.rollup(<fn>, <seconds>)]`,
  where the scope is `*` or comma-separated `key:value` tags; anything else is a 400
  `{"errors": ["Error parsing query: ..."]}`. A metric nobody reports answers no series, as
  Datadog does. Points sit on multiples of the interval (the rollup's, else 300 s up to a day
  and 3600 s beyond) inside [from, to]; each is the workloads' value at that moment, combined
  across a group with the query's aggregator.
- `GET /api/v2/usage/estimated_cost?start_date&end_date&view=summary`: one entry per day, each
  day's charges the month-to-date cumulative cost per product, with `committed`, `on_demand`
  and `total` charge types as Datadog lists them.
- Faults: a 429 carries Datadog's `X-RateLimit-*` headers, `X-RateLimit-Reset` saying how
  many seconds to wait (`RATE_LIMIT_RESET_S`).
"""

import random
import re
import statistics
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from orchestration.sandbox.company import Company
from orchestration.sandbox.infrastructure import (
    CPU_CORES,
    LATENCY_MS,
    MEMORY_BYTES,
    REQUESTS_PER_SECOND,
    Workload,
    value_at,
    workloads,
)
from orchestration.sandbox.routing import Request, Response, Route

QUERY_PATH = "/api/v1/query"
ESTIMATED_COST_PATH = "/api/v2/usage/estimated_cost"
RATE_LIMIT_RESET_S = 2
ORG_NAME = "Northwind Labs"
ORG_PUBLIC_ID = "nwl0a1b2c3d4"
REGION = "us"

_API_KEY = re.compile(r"^[0-9a-f]{32}$")
_APP_KEY = re.compile(r"^[0-9a-f]{40}$")
_QUERY = re.compile(
    r"^(?P<aggr>avg|sum|min|max):(?P<metric>[a-z][a-z0-9_.]*)\{(?P<scope>[^{}]*)\}"
    r"(?:\s*by\s*\{(?P<by>[^{}]*)\})?"
    r"(?:\.rollup\(\s*(?P<rollup_fn>avg|sum|min|max|count)\s*,\s*(?P<rollup_s>[0-9]+)\s*\))?$"
)


def _unit(name: str, plural: str, family: str) -> dict[str, Any]:
    return {
        "family": family,
        "id": 1,
        "name": name,
        "plural": plural,
        "scale_factor": 1.0,
        "short_name": None,
    }


# metric -> (signal, factor applied to the signal's value, the unit Datadog states).
METRICS: dict[str, tuple[str, float, dict[str, Any]]] = {
    "trace.http.request.hits": (REQUESTS_PER_SECOND, 1.0, _unit("hit", "hits", "cache")),
    "trace.http.request.duration": (LATENCY_MS, 0.001, _unit("second", "seconds", "time")),
    "kubernetes.cpu.usage.total": (CPU_CORES, 1e9, _unit("nanocore", "nanocores", "cpu")),
    "kubernetes.memory.usage": (MEMORY_BYTES, 1.0, _unit("byte", "bytes", "bytes")),
}
_AGGREGATORS: dict[str, Callable[[list[float]], float]] = {
    "avg": statistics.fmean,
    "sum": sum,
    "min": min,
    "max": max,
}
# Products on the bill and their typical daily cost, with the committed part of it.
PRODUCTS = {
    "infra_host": (Decimal("46.00"), Decimal("0.80")),
    "apm_host": (Decimal("58.00"), Decimal("0.70")),
    "logs_indexed_15day": (Decimal("21.00"), Decimal("0")),
    "synthetics_api": (Decimal("4.50"), Decimal("0")),
}
_CENT = Decimal("0.01")


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, {"errors": [message]}, headers or {})


def fault(status: int) -> Response:
    """A rate limit with Datadog's headers, or a server error."""
    if status == 429:
        return error_response(
            429,
            "Rate limit of 100 requests in 3600 seconds reached. Please try again later.",
            {
                "x-ratelimit-limit": "100",
                "x-ratelimit-period": "3600",
                "x-ratelimit-remaining": "0",
                "x-ratelimit-reset": str(RATE_LIMIT_RESET_S),
                "x-ratelimit-name": "query",
            },
        )
    return error_response(status, f"sandbox fault injected: HTTP {status}")


def tags(workload: Workload) -> dict[str, str]:
    """The tags Datadog's agents put on a workload's metrics."""
    return {
        "env": workload.environment,
        "kube_namespace": workload.namespace,
        "region": workload.region,
        "service": workload.service,
        "team": workload.team,
    }


def _authenticate(request: Request) -> None:
    api_key = request.headers.get("dd-api-key", "").strip()
    app_key = request.headers.get("dd-application-key", "").strip()
    if not (_API_KEY.match(api_key) and _APP_KEY.match(app_key)):
        raise ApiError(403, "Forbidden")


def _single(request: Request, name: str) -> str:
    values = request.query.get(name)
    if not values or not values[-1].strip():
        raise ApiError(400, f"Missing required parameter: {name}")
    return values[-1].strip()


def _seconds(request: Request, name: str) -> int:
    value = _single(request, name)
    if not value.lstrip("-").isdigit():
        raise ApiError(400, f"Invalid value for {name}: {value!r} is not an integer")
    return int(value)


def _scope_filter(scope: str) -> dict[str, str]:
    scope = scope.strip()
    if scope == "*":
        return {}
    wanted = {}
    for item in scope.split(","):
        key, colon, value = item.strip().partition(":")
        if not colon or not key or not value:
            raise ApiError(400, f"Error parsing query: unable to parse scope {scope!r}")
        wanted[key] = value
    return wanted


def interval_s(span_s: int, rollup_s: int | None) -> int:
    """The points' interval: the query's rollup, else what Datadog picks for the span."""
    if rollup_s:
        return rollup_s
    return 300 if span_s <= 86_400 else 3_600


def series_for(company: Company, query: str, start: int, end: int) -> list[dict[str, Any]]:
    """The series the sandbox answers for `query` over [start, end] (inclusive seconds)."""
    match = _QUERY.match(query.strip())
    if not match:
        raise ApiError(400, f"Error parsing query: unable to parse {query}")
    metric = match["metric"]
    if metric not in METRICS:
        return []
    signal, factor, unit = METRICS[metric]
    wanted = _scope_filter(match["scope"])
    by = [key.strip() for key in (match["by"] or "").split(",") if key.strip()]
    step = interval_s(end - start, int(match["rollup_s"]) if match["rollup_s"] else None)
    times = list(range(-(-start // step) * step, end + 1, step))
    groups: dict[tuple[str, ...], list[Workload]] = defaultdict(list)
    for workload in workloads(company):
        workload_tags = tags(workload)
        if all(workload_tags.get(key) == value for key, value in wanted.items()):
            groups[tuple(f"{key}:{workload_tags.get(key, 'n/a')}" for key in by)].append(workload)
    aggregate = _AGGREGATORS[match["aggr"]]
    found = []
    for group, members in sorted(groups.items()):
        scope_tags = [f"{key}:{value}" for key, value in wanted.items()] + list(group)
        scope = ",".join(sorted(set(scope_tags))) or "*"
        points = [
            [at * 1000.0, _point(aggregate, members, signal, factor, at, step)] for at in times
        ]
        found.append(
            {
                "aggr": match["aggr"],
                "attributes": {},
                "display_name": metric,
                "end": (times[-1] + step) * 1000 - 1 if times else end * 1000,
                "expression": f"{match['aggr']}:{metric}{{{scope}}}",
                "interval": step,
                "length": len(points),
                "metric": metric,
                "pointlist": points,
                "query_index": 0,
                "scope": scope,
                "start": times[0] * 1000 if times else start * 1000,
                "tag_set": list(group),
                "unit": [unit, None],
            }
        )
    return found


def _point(
    aggregate: Callable[[list[float]], float],
    members: list[Workload],
    signal: str,
    factor: float,
    at: int,
    step: int,
) -> float:
    values = [value_at(member, signal, at) * factor for member in members]
    if signal == REQUESTS_PER_SECOND:
        values = [value * step for value in values]  # hits in the interval
    return round(aggregate(values), 6)


def query(company: Company, request: Request) -> Response:
    try:
        _authenticate(request)
        text = _single(request, "query")
        start, end = _seconds(request, "from"), _seconds(request, "to")
        if end < start:
            raise ApiError(400, "The value provided for parameter 'to' is before 'from'")
        series = series_for(company, text, start, end)
    except ApiError as error:
        return error_response(error.status, error.message)
    match = _QUERY.match(text)
    by = [key.strip() for key in ((match["by"] if match else None) or "").split(",") if key]
    return Response(
        200,
        {
            "status": "ok",
            "res_type": "time_series",
            "resp_version": 1,
            "query": text,
            "from_date": start * 1000,
            "to_date": end * 1000,
            "series": series,
            "values": [],
            "times": [],
            "message": "",
            "group_by": by,
        },
    )


def daily_cost(product: str, day: date) -> tuple[Decimal, Decimal]:
    """(committed, on_demand) of one product on one day, drawn from the product and day."""
    typical, committed_share = PRODUCTS[product]
    cost = (
        typical * Decimal(random.Random(f"datadog|{product}|{day}").uniform(0.8, 1.2))
    ).quantize(_CENT)
    committed = (cost * committed_share).quantize(_CENT)
    return committed, cost - committed


def month_to_date(product: str, day: date) -> tuple[Decimal, Decimal]:
    """Cumulative (committed, on_demand) from the first of `day`'s month through `day`."""
    days = [day.replace(day=n) for n in range(1, day.day + 1)]
    parts = [daily_cost(product, each) for each in days]
    return sum((c for c, _ in parts), Decimal(0)), sum((o for _, o in parts), Decimal(0))


def _date(request: Request, name: str) -> date:
    value = _single(request, name)
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise ApiError(400, f"Invalid value for {name}: expected YYYY-MM-DD") from None


def estimated_cost(company: Company, request: Request) -> Response:
    del company  # the bill does not depend on the company's seed
    try:
        _authenticate(request)
        first, last = _date(request, "start_date"), _date(request, "end_date")
        if last < first:
            raise ApiError(400, "end_date must not be before start_date")
        view = (request.query.get("view") or ("summary",))[-1]
        if view != "summary":
            raise ApiError(400, "the sandbox serves view=summary only")
    except ApiError as error:
        return error_response(error.status, error.message)
    data = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        charges = []
        total = Decimal(0)
        for product in PRODUCTS:
            committed, on_demand = month_to_date(product, day)
            total += committed + on_demand
            for charge_type, cost in (
                ("committed", committed),
                ("on_demand", on_demand),
                ("total", committed + on_demand),
            ):
                charges.append(
                    {
                        "product_name": product,
                        "charge_type": charge_type,
                        "cost": float(cost),
                        "last_aggregation_function": "sum",
                    }
                )
        moment = datetime.combine(day, datetime.min.time(), UTC)
        data.append(
            {
                "type": "cost_by_org",
                "id": f"{ORG_PUBLIC_ID}-{day.isoformat()}",
                "attributes": {
                    "org_name": ORG_NAME,
                    "public_id": ORG_PUBLIC_ID,
                    "region": REGION,
                    "account_name": ORG_NAME,
                    "account_public_id": ORG_PUBLIC_ID,
                    "date": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "total_cost": float(total),
                    "charges": charges,
                },
            }
        )
    return Response(200, {"data": data})


def source_mapping_rows(company: Company) -> list[tuple[str, ...]]:
    """source_mappings.csv rows: each service's department, team, project and environment,
    and the organisation (the ledger's sub account), whose bill the platform team owns."""
    platform = company.team("platform")
    rows = [
        ("datadog", "sub_account_id", ORG_PUBLIC_ID, platform.department, platform.slug, "", "")
    ]
    for workload in workloads(company):
        team = company.team(workload.team)
        rows.append(
            (
                "datadog",
                "service",
                workload.service,
                team.department,
                team.slug,
                workload.project or "",
                workload.environment,
            )
        )
    return rows


ROUTES = {
    ("GET", QUERY_PATH): Route(query, fault),
    ("GET", ESTIMATED_COST_PATH): Route(estimated_cost, fault),
}


# Keys of the shapes Datadog issues (32 and 40 hexadecimal characters); only the sandbox
# accepts them.
SANDBOX_ENV = {"DD_API_KEY": "0" * 24 + "5a4db0c5", "DD_APP_KEY": "0" * 32 + "5a4db0c5"}
REQUESTS_QUERY = "sum:trace.http.request.hits{*} by {service,env,team,region}.rollup(sum, 3600)"
LATENCY_QUERY = "avg:trace.http.request.duration{*} by {service,env,region}.rollup(avg, 3600)"


def sandbox_section(api_url: str) -> dict[str, Any]:
    """The vault.yaml `datadog` section with which the demo collects from the sandbox."""
    return {
        "base_url": api_url,
        "max_retries": 3,
        "queries": [
            {"name": "apm.http.requests", "query": REQUESTS_QUERY, "unit": "requests"},
            {"name": "apm.http.latency_seconds", "query": LATENCY_QUERY, "unit": "seconds"},
        ],
        "estimated_cost": True,
    }
