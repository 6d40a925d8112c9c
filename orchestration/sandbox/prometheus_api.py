"""Prometheus's `GET /api/v1/query_range`, answered from Northwind Labs' workloads.

The sandbox does not evaluate PromQL. It knows the queries in `QUERIES` (the ones the demo's
vault.yaml asks for, compared with whitespace squeezed out) and answers each with one series
per workload from `infrastructure.py`, labelled `namespace`, `service`, `region` and, for the
platform namespace, `team`. Behaviour follows Prometheus where the collector depends on it:

- `query`, `start`, `end` and `step` are required; times are unix seconds (fractions allowed)
  or RFC 3339, the step a duration (`60s`, `5m`) or seconds. Samples are at `start`,
  `start + step`, ... up to `end` inclusive. A request in which a series would exceed 11,000
  points is refused, as Prometheus refuses it.
- Errors are Prometheus's envelope `{"status": "error", "errorType", "error"}`: `bad_data`
  with HTTP 400 for a bad parameter or a query whose brackets do not balance (the sandbox's
  stand-in for a parse error). A well-formed query the sandbox does not know selects no series
  and answers an empty matrix, as a real server does for a metric nobody exports.
- Values are strings; timestamps are numbers (whole seconds here).
"""

import re
from datetime import datetime
from typing import Any

from orchestration.config import step_seconds
from orchestration.sandbox.company import Company
from orchestration.sandbox.infrastructure import (
    CPU_CORES,
    MEMORY_BYTES,
    REQUESTS_PER_SECOND,
    Workload,
    value_at,
    workloads,
)
from orchestration.sandbox.routing import Request, Response, Route

QUERY_RANGE_PATH = "/api/v1/query_range"
MAX_POINTS = 11_000

# PromQL the sandbox answers -> the signal of its series.
CPU_QUERY = (
    "sum by (namespace, service, region, team) "
    '(rate(container_cpu_usage_seconds_total{container!=""}[5m]))'
)
MEMORY_QUERY = (
    'sum by (namespace, service, region, team) (container_memory_working_set_bytes{container!=""})'
)
REQUESTS_QUERY = "sum by (namespace, service, region, team) (rate(http_requests_total[5m]))"
QUERIES = {CPU_QUERY: CPU_CORES, MEMORY_QUERY: MEMORY_BYTES, REQUESTS_QUERY: REQUESTS_PER_SECOND}

_PAIRS = {"(": ")", "{": "}", "[": "]"}


class PromError(Exception):
    def __init__(self, message: str, status: int = 400, kind: str = "bad_data") -> None:
        super().__init__(message)
        self.message, self.status, self.kind = message, status, kind


def _squeezed(query: str) -> str:
    return re.sub(r"\s+", "", query)


_KNOWN = {_squeezed(query): signal for query, signal in QUERIES.items()}


def error_response(status: int, kind: str, message: str) -> Response:
    return Response(status, {"status": "error", "errorType": kind, "error": message})


def fault(status: int) -> Response:
    """An overloaded or failing server; a 429 (from a proxy in front) says to retry at once."""
    if status == 429:
        return Response(
            429,
            {"status": "error", "errorType": "unavailable", "error": "too many requests"},
            {"retry-after": "0"},
        )
    kind = "timeout" if status == 503 else "internal"
    return error_response(status, kind, f"sandbox fault injected: HTTP {status}")


def labels(workload: Workload) -> dict[str, str]:
    """The label set of a workload's series in every query the sandbox answers."""
    found = {"namespace": workload.namespace, "service": workload.service}
    found["region"] = workload.region
    if workload.team_label:
        found["team"] = workload.team_label
    return found


def format_value(value: float) -> str:
    """A sample value as Prometheus writes it: the shortest decimal, no exponent."""
    if value == int(value):
        return str(int(value))
    return repr(value)


def sample_times(start: float, end: float, step: float) -> list[float]:
    """`start`, `start + step`, ... up to `end` inclusive, as query_range evaluates them."""
    count = int((end - start) // step) + 1
    return [start + index * step for index in range(count)]


def series_for(
    company: Company, query: str, start: float, end: float, step: float
) -> list[dict[str, Any]]:
    """What the sandbox answers for `query` over [start, end] every `step` seconds."""
    signal = _KNOWN.get(_squeezed(query))
    if signal is None:
        return []
    times = sample_times(start, end, step)
    return [
        {
            "metric": labels(workload),
            "values": [[_number(at), format_value(value_at(workload, signal, at))] for at in times],
        }
        for workload in workloads(company)
    ]


def _number(at: float) -> float | int:
    return int(at) if at == int(at) else at


def _time(request: Request, name: str) -> float:
    value = _param(request, name)
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise PromError(
            f'invalid parameter "{name}": cannot parse "{value}" to a valid timestamp'
        ) from None


def _step(request: Request) -> float:
    value = _param(request, "step")
    try:
        step = float(value)
    except ValueError:
        try:
            step = float(step_seconds(value))
        except ValueError:
            raise PromError(
                f'invalid parameter "step": cannot parse "{value}" to a valid duration'
            ) from None
    if step <= 0:
        raise PromError(
            "zero or negative query resolution step widths are not accepted. Try a positive integer"
        )
    return step


def _param(request: Request, name: str) -> str:
    values = request.query.get(name)
    if not values or not values[0].strip():
        raise PromError(f'invalid parameter "{name}": missing')
    return values[-1].strip()


def _check_brackets(query: str) -> None:
    stack: list[tuple[str, int]] = []
    in_string: str | None = None
    for position, char in enumerate(query, start=1):
        if in_string:
            if char == in_string:
                in_string = None
            continue
        if char in "\"'`":
            in_string = char
        elif char in _PAIRS:
            stack.append((char, position))
        elif char in _PAIRS.values() and (not stack or _PAIRS[stack.pop()[0]] != char):
            raise PromError(f"1:{position}: parse error: unexpected {char!r}")
    if stack:
        opened, position = stack[-1]
        raise PromError(f"1:{position}: parse error: unclosed left {_NAMES[opened]}")


_NAMES = {"(": "parenthesis", "{": "brace", "[": "bracket"}


def query_range(company: Company, request: Request) -> Response:
    try:
        query = _param(request, "query")
        start, end, step = _time(request, "start"), _time(request, "end"), _step(request)
        if end < start:
            raise PromError('invalid parameter "end": end timestamp must not be before start time')
        if (end - start) / step > MAX_POINTS:
            raise PromError(
                "exceeded maximum resolution of 11,000 points per timeseries. "
                "Try decreasing the query resolution (?step=XX)"
            )
        _check_brackets(query)
    except PromError as error:
        return error_response(error.status, error.kind, error.message)
    result = series_for(company, query, start, end, step)
    return Response(200, {"status": "success", "data": {"resultType": "matrix", "result": result}})


def source_mapping_rows(company: Company) -> list[tuple[str, ...]]:
    """source_mappings.csv rows: each namespace's department, team, project and environment."""
    rows: dict[str, tuple[str, ...]] = {}
    for workload in workloads(company):
        team = company.team(workload.team)
        rows[workload.namespace] = (
            "prometheus",
            "namespace",
            workload.namespace,
            team.department,
            team.slug,
            workload.project or "",
            workload.environment,
        )
    return list(rows.values())


ROUTES = {("GET", QUERY_RANGE_PATH): Route(query_range, fault)}


def sandbox_section(api_url: str) -> dict[str, Any]:
    """The vault.yaml `prometheus` section with which the demo collects from the sandbox."""
    return {
        "base_url": api_url,
        "max_retries": 3,
        "queries": [
            {"name": "infra.cpu.usage_cores", "query": CPU_QUERY, "unit": "cores", "step": "5m"},
            {
                "name": "infra.memory.working_set_bytes",
                "query": MEMORY_QUERY,
                "unit": "bytes",
                "step": "5m",
            },
            {
                "name": "infra.http.requests_per_second",
                "query": REQUESTS_QUERY,
                "unit": "requests_per_second",
                "step": "5m",
            },
        ],
    }
