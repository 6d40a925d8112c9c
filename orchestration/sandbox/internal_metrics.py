"""Northwind Labs' internal service-metrics API: what its status page is drawn from.

The company runs one service per repository of its shipping projects (`company.py`); every
hour each service reports how many requests it answered, how many failed, and its latency
percentiles. The API serves those hourly points as JSON, the way an in-house metrics service
would: it is what the generic `http_api` collector is shown against, so it pages in every
style that collector follows, each on its own path over the same points:

- `GET  /internal/v1/service-metrics`         `from`/`to` (ISO 8601), `limit`, `cursor`;
  `{"data": [...], "meta": {"next_cursor": ...}}`, the cursor opaque and bound to its window
- `GET  /internal/v1/service-metrics/pages`   `from`/`to`, `page` (from 1), `per_page`;
  `{"items": [...], "page", "per_page", "total_pages"}`
- `GET  /internal/v1/service-metrics/offset`  `start`/`end` (unix seconds), `offset`, `limit`;
  `{"results": [...], "total"}`
- `GET  /internal/v1/service-metrics/linked`  `from`/`to`, `per_page`, `page`; a bare list,
  the next page in a `Link: <...>; rel="next"` header
- `POST /internal/v1/service-metrics/query`   body `{"window": {"from", "to"}` (unix ms)`,
  "limit", "cursor"}`; `{"data": [...], "next": ...}`

Every request needs `Authorization: Bearer nw-internal-...` (else 401); windows are [from, to);
unknown parameters and malformed values are 400s naming the parameter. Errors and injected
faults answer `{"error": {"code", "message"}}`. Points are drawn from a generator seeded by
(company seed, service, UTC day), so a day's numbers never depend on which days were asked for.
"""

import base64
import binascii
import json
import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from orchestration.sandbox.company import Company
from orchestration.sandbox.routing import Request, Response, Route

TOKEN_PREFIX = "nw-internal-"
BASE_PATH = "/internal/v1/service-metrics"
CURSOR_PATH = BASE_PATH
PAGES_PATH = f"{BASE_PATH}/pages"
OFFSET_PATH = f"{BASE_PATH}/offset"
LINKED_PATH = f"{BASE_PATH}/linked"
QUERY_PATH = f"{BASE_PATH}/query"
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_WINDOW = timedelta(days=31)
# Share of a day's requests in each UTC hour.
_HOURLY = (
    3, 2, 2, 1, 1, 1, 2, 3, 5, 7, 8, 9, 10, 10, 10, 9, 9, 8, 7, 6, 5, 4, 4, 3,
)  # fmt: skip
_REGIONS = ("eu-west-1", "us-east-1")


@dataclass(frozen=True)
class Service:
    name: str
    project: str
    team: str
    region: str
    weekday_requests: int
    error_rate: float
    p50_ms: float


def services(company: Company) -> tuple[Service, ...]:
    """One service per repository of the company's features and internal tools."""
    found = []
    for project in company.projects:
        if project.kind == "research":
            continue
        for index, repo in enumerate(project.repos):
            rng = random.Random(f"{company.seed}|service|{repo}")
            found.append(
                Service(
                    name=repo,
                    project=project.slug,
                    team=project.team,
                    region=_REGIONS[index % len(_REGIONS)],
                    weekday_requests=rng.choice((12_000, 30_000, 64_000)),
                    error_rate=rng.uniform(0.002, 0.02),
                    p50_ms=rng.uniform(40, 220),
                )
            )
    return tuple(found)


def points_for_day(company: Company, day: date) -> list[dict[str, Any]]:
    """Every hourly point of one UTC day, ordered by time then service."""
    points = []
    for service in services(company):
        rng = random.Random(f"{company.seed}|service-metrics|{service.name}|{day}")
        daily = service.weekday_requests * (0.45 if day.weekday() >= 5 else 1.0)
        for hour, weight in enumerate(_HOURLY):
            requests = max(0, round(daily * weight / sum(_HOURLY) * rng.uniform(0.85, 1.15)))
            errors = round(requests * service.error_rate * rng.uniform(0.4, 1.8))
            p50 = service.p50_ms * rng.uniform(0.9, 1.25) * (1 + weight / 40)
            moment = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
            points.append(
                {
                    "ts": moment.isoformat().replace("+00:00", "Z"),
                    "service": service.name,
                    "region": service.region,
                    "stats": {
                        "requests": requests,
                        "errors": errors,
                        "latency_ms": {
                            "p50": round(p50, 1),
                            "p95": round(p50 * rng.uniform(2.2, 3.4), 1),
                        },
                    },
                    "owner": {"team": service.team, "project": service.project},
                }
            )
    points.sort(key=lambda point: (point["ts"], point["service"]))
    return points


def points_between(company: Company, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The points with start <= ts < end."""
    points: list[dict[str, Any]] = []
    day = start.astimezone(UTC).date()
    while datetime(day.year, day.month, day.day, tzinfo=UTC) < end:
        points += points_for_day(company, day)
        day += timedelta(days=1)
    return [p for p in points if start <= _parse_iso(p["ts"]) < end]


class _BadRequest(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _error(status: int, code: str, message: str) -> Response:
    return Response(status, {"error": {"code": code, "message": message}})


def fault(status: int) -> Response:
    if status == 429:
        return Response(
            429,
            {"error": {"code": "rate_limited", "message": "too many requests"}},
            {"retry-after": "0"},
        )
    return _error(status, "unavailable", f"the metrics service answered {status}")


def _parse_iso(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _one(request: Request, name: str, *, required: bool = True) -> str | None:
    values = request.query.get(name)
    if not values:
        if required:
            raise _BadRequest(400, "missing_parameter", f"{name} is required")
        return None
    if len(values) > 1:
        raise _BadRequest(400, "invalid_parameter", f"{name} is given more than once")
    return values[0]


def _int(name: str, text: str | None, default: int, low: int, high: int) -> int:
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise _BadRequest(400, "invalid_parameter", f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise _BadRequest(400, "invalid_parameter", f"{name} must be in {low}..{high}")
    return value


def _window(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    if end <= start:
        raise _BadRequest(400, "invalid_parameter", "the window must end after it starts")
    if end - start > MAX_WINDOW:
        raise _BadRequest(400, "invalid_parameter", "a window spans at most 31 days")
    return start, end


def _iso_window(request: Request, low: str = "from", high: str = "to") -> tuple[datetime, datetime]:
    bounds = []
    for name in (low, high):
        text = _one(request, name) or ""
        try:
            bounds.append(_parse_iso(text))
        except ValueError:
            raise _BadRequest(400, "invalid_parameter", f"{name} must be ISO 8601") from None
    return _window(bounds[0], bounds[1])


def _check_params(request: Request, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(request.query) - set(allowed))
    if unknown:
        raise _BadRequest(400, "invalid_parameter", f"unknown parameter {unknown[0]}")


def _authorised(request: Request) -> None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.startswith(TOKEN_PREFIX):
        raise _BadRequest(401, "unauthorized", "a bearer token nw-internal-... is required")


def _cursor(start: datetime, end: datetime, offset: int) -> str:
    text = json.dumps({"from": start.isoformat(), "to": end.isoformat(), "offset": offset})
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _offset_of(cursor: str | None, start: datetime, end: datetime) -> int:
    if cursor is None:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        state = json.loads(base64.urlsafe_b64decode(padded.encode()))
        bound = (_parse_iso(state["from"]), _parse_iso(state["to"]))
        offset = int(state["offset"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise _BadRequest(400, "invalid_cursor", "cursor is not one this API gave") from None
    if bound != (start, end):
        raise _BadRequest(400, "invalid_cursor", "cursor belongs to another window")
    return offset


def _handle(route):
    def handler(company: Company, request: Request) -> Response:
        try:
            _authorised(request)
            return route(company, request)
        except _BadRequest as error:
            return _error(error.status, error.code, error.message)

    return handler


def _by_cursor(company: Company, request: Request) -> Response:
    _check_params(request, ("from", "to", "limit", "cursor"))
    start, end = _iso_window(request)
    limit = _int("limit", _one(request, "limit", required=False), DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _offset_of(_one(request, "cursor", required=False), start, end)
    points = points_between(company, start, end)
    page = points[offset : offset + limit]
    following = offset + limit
    next_cursor = _cursor(start, end, following) if following < len(points) else None
    return Response(200, {"data": page, "meta": {"next_cursor": next_cursor, "count": len(page)}})


def _by_page(company: Company, request: Request) -> Response:
    _check_params(request, ("from", "to", "page", "per_page"))
    start, end = _iso_window(request)
    per_page = _int("per_page", _one(request, "per_page", required=False), 25, 1, MAX_LIMIT)
    page = _int("page", _one(request, "page", required=False), 1, 1, 100_000)
    points = points_between(company, start, end)
    total_pages = math.ceil(len(points) / per_page)
    items = points[(page - 1) * per_page : page * per_page]
    return Response(
        200, {"items": items, "page": page, "per_page": per_page, "total_pages": total_pages}
    )


def _by_offset(company: Company, request: Request) -> Response:
    _check_params(request, ("start", "end", "offset", "limit"))
    bounds = []
    for name in ("start", "end"):
        value = _int(name, _one(request, name), 0, 0, 10**10)
        bounds.append(datetime.fromtimestamp(value, UTC))
    start, end = _window(bounds[0], bounds[1])
    offset = _int("offset", _one(request, "offset", required=False), 0, 0, 10**7)
    limit = _int("limit", _one(request, "limit", required=False), DEFAULT_LIMIT, 1, MAX_LIMIT)
    points = points_between(company, start, end)
    return Response(200, {"results": points[offset : offset + limit], "total": len(points)})


def _linked(company: Company, request: Request) -> Response:
    _check_params(request, ("from", "to", "page", "per_page"))
    start, end = _iso_window(request)
    per_page = _int("per_page", _one(request, "per_page", required=False), 30, 1, MAX_LIMIT)
    page = _int("page", _one(request, "page", required=False), 1, 1, 100_000)
    points = points_between(company, start, end)
    headers = {}
    if page * per_page < len(points):
        query = urlencode(
            {"from": _one(request, "from"), "to": _one(request, "to"), "per_page": per_page,
             "page": page + 1}
        )  # fmt: skip
        host = request.headers.get("host", "127.0.0.1")
        headers["link"] = f'<http://{host}{LINKED_PATH}?{query}>; rel="next"'
    return Response(200, points[(page - 1) * per_page : page * per_page], headers)


def _query(company: Company, request: Request) -> Response:
    _check_params(request, ())
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        raise _BadRequest(400, "invalid_body", "the body is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("window"), dict):
        raise _BadRequest(400, "invalid_body", "the body needs a window object")
    unknown = sorted(set(body) - {"window", "limit", "cursor"})
    if unknown:
        raise _BadRequest(400, "invalid_body", f"unknown field {unknown[0]}")
    bounds = []
    for name in ("from", "to"):
        value = body["window"].get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _BadRequest(400, "invalid_body", f"window.{name} must be unix milliseconds")
        bounds.append(datetime.fromtimestamp(value / 1000, UTC))
    start, end = _window(bounds[0], bounds[1])
    limit = body.get("limit", DEFAULT_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise _BadRequest(400, "invalid_body", f"limit must be in 1..{MAX_LIMIT}")
    cursor = body.get("cursor")
    if cursor is not None and not isinstance(cursor, str):
        raise _BadRequest(400, "invalid_cursor", "cursor must be text")
    offset = _offset_of(cursor, start, end)
    points = points_between(company, start, end)
    following = offset + limit
    return Response(
        200,
        {
            "data": points[offset:following],
            "next": _cursor(start, end, following) if following < len(points) else None,
        },
    )


ROUTES = {
    ("GET", CURSOR_PATH): Route(_handle(_by_cursor), fault),
    ("GET", PAGES_PATH): Route(_handle(_by_page), fault),
    ("GET", OFFSET_PATH): Route(_handle(_by_offset), fault),
    ("GET", LINKED_PATH): Route(_handle(_linked), fault),
    ("POST", QUERY_PATH): Route(_handle(_query), fault),
}
