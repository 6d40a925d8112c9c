"""OpenAI's organization Usage and Costs APIs, answered from the sandbox organization's traffic.

Behaviour follows the vendor's documentation where the collectors depend on it:

- `Authorization: Bearer <key>` must carry an admin key (`sk-admin-...`), else 401 with code
  `invalid_api_key`; errors use OpenAI's envelope `{"error": {"message", "type", "param",
  "code"}}`, and a refused key is never echoed back.
- `start_time` (required) and `end_time` (exclusive) are unix seconds. Buckets are whole UTC
  days: the first holds `start_time`, the last the second before `end_time` (now when it is
  left out). Only `bucket_width=1d` is served; `limit` counts buckets (default 7, at most 31
  for usage and 180 for costs).
- `group_by[]` picks the fields that split the results; every other grouping field comes back
  null and the counts (or amounts) are summed over it.
- Pages hold at most `limit` buckets and at most `MAX_RESULTS_PER_PAGE` results; a day with
  more results continues, under the same bucket, on the next page. `next_page` is an opaque
  token, bound to its endpoint, to send back as `page`.
- Unknown parameters (the vendor's filters among them, which the sandbox does not serve),
  malformed values and foreign page tokens are 400s naming the parameter.
"""

import base64
import binascii
from collections import defaultdict
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from orchestration.sandbox.company import Company
from orchestration.sandbox.openai_org import (
    ENDPOINTS,
    QUANTITIES,
    CostRow,
    UsageRow,
    build_organization,
    costs_for_day,
    usage_for_day,
)
from orchestration.sandbox.routing import Request, Response, Route

USAGE_PATHS = {endpoint: f"/v1/organization/usage/{endpoint}" for endpoint in ENDPOINTS}
COSTS_PATH = "/v1/organization/costs"
ADMIN_KEY_PREFIX = "sk-admin-"

MAX_RESULTS_PER_PAGE = 10
_LIMIT_DEFAULT = 7
_USAGE_LIMIT_MAX = 31
_COSTS_LIMIT_MAX = 180

_COMMON_GROUPS = ("project_id", "user_id", "api_key_id", "model")
GROUP_FIELDS = {
    "completions": (*_COMMON_GROUPS, "batch", "service_tier"),
    "embeddings": _COMMON_GROUPS,
    "images": (*_COMMON_GROUPS, "size", "source"),
    "audio_speeches": _COMMON_GROUPS,
    "audio_transcriptions": _COMMON_GROUPS,
}
COST_GROUPS = ("project_id", "line_item")
_PARAMS = ("start_time", "end_time", "bucket_width", "limit", "page", "group_by[]")

_ERROR_TYPES = {429: "requests", 500: "server_error", 502: "server_error", 503: "server_error"}


class ApiError(Exception):
    """A request the vendor would refuse, with the parameter at fault when there is one."""

    def __init__(
        self, status: int, message: str, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code


def error_response(
    status: int,
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A response in the vendor's error envelope."""
    kind = _ERROR_TYPES.get(status, "invalid_request_error")
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return Response(status, body, dict(headers or {}))


def fault(status: int) -> Response:
    """What the API answers when rate limited or failing; a 429 says to retry at once."""
    if status == 429:
        return error_response(
            status,
            "sandbox fault injected: rate limit reached for requests",
            code="rate_limit_exceeded",
            headers={"retry-after": "0"},
        )
    return error_response(status, f"sandbox fault injected: HTTP {status}")


def _authenticate(request: Request) -> None:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip().startswith(ADMIN_KEY_PREFIX):
        raise ApiError(
            401,
            "Incorrect API key provided: the organization usage and costs endpoints need "
            f"an admin key ({ADMIN_KEY_PREFIX}...)",
            code="invalid_api_key",
        )


def _single(request: Request, name: str) -> str | None:
    values = request.query.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise ApiError(400, f"expected one value for {name}, got {len(values)}", name)
    return values[0]


def _unix(request: Request, name: str) -> datetime | None:
    value = _single(request, name)
    if value is None:
        return None
    if not (value.isascii() and value.isdigit()):
        raise ApiError(400, f"{name} must be an integer number of unix seconds", name)
    return datetime.fromtimestamp(int(value), UTC)


def _days(request: Request) -> list[date]:
    """The UTC days whose buckets the request covers."""
    start = _unix(request, "start_time")
    if start is None:
        raise ApiError(400, "start_time is required", "start_time")
    end = _unix(request, "end_time") or datetime.now(UTC)
    if end <= start:
        raise ApiError(400, "end_time must be after start_time", "end_time")
    last = (end - timedelta(seconds=1)).date()
    return [start.date() + timedelta(days=n) for n in range((last - start.date()).days + 1)]


def _limit(request: Request, maximum: int, widths: tuple[str, ...]) -> int:
    width = _single(request, "bucket_width") or "1d"
    if width in widths and width != "1d":
        raise ApiError(400, f"bucket_width {width!r} is not served by the sandbox", "bucket_width")
    if width != "1d":
        raise ApiError(
            400, f"bucket_width must be one of {', '.join(widths)}, got {width!r}", "bucket_width"
        )
    value = _single(request, "limit")
    if value is None:
        return _LIMIT_DEFAULT
    limit = int(value) if value.isascii() and value.isdigit() else 0
    if not 1 <= limit <= maximum:
        raise ApiError(400, f"limit must be an integer from 1 to {maximum}", "limit")
    return limit


def _group_by(request: Request, allowed: tuple[str, ...]) -> set[str]:
    fields = set(request.query.get("group_by[]", ()))
    unknown = sorted(fields - set(allowed))
    if unknown:
        raise ApiError(
            400, f"group_by {unknown[0]!r} is not one of {', '.join(allowed)}", "group_by"
        )
    return fields


def _check_names(request: Request) -> None:
    unknown = sorted(set(request.query) - set(_PARAMS))
    if unknown:
        raise ApiError(400, f"unknown parameter {unknown[0]}", unknown[0])


def _encode_page(scope: str, day: date, offset: int) -> str:
    raw = f"{scope}|{day.isoformat()}|{offset}".encode()
    return "page_" + base64.urlsafe_b64encode(raw).decode()


def _decode_page(token: str, scope: str, days: list[date]) -> tuple[int, int]:
    """(index into `days`, results already sent from that day) for a `next_page` token."""
    try:
        if not token.startswith("page_"):
            raise ValueError
        owner, stamp, offset = base64.urlsafe_b64decode(token[5:]).decode().split("|")
        index, sent = days.index(date.fromisoformat(stamp)), int(offset)
        if owner != scope or sent < 0:
            raise ValueError
        return index, sent
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ApiError(
            400, "page is not a page token of this endpoint and window", "page"
        ) from None


def _bucket(day: date, results: list[dict[str, Any]]) -> dict[str, Any]:
    start = datetime.combine(day, time(), UTC)
    return {
        "object": "bucket",
        "start_time": int(start.timestamp()),
        "end_time": int((start + timedelta(days=1)).timestamp()),
        "results": results,
    }


def _paginate(
    request: Request,
    scope: str,
    limit: int,
    days: list[date],
    results_of: Callable[[date], list[dict[str, Any]]],
) -> Response:
    token = _single(request, "page")
    index, offset = _decode_page(token, scope, days) if token else (0, 0)
    data: list[dict[str, Any]] = []
    room = MAX_RESULTS_PER_PAGE
    next_page = None
    while index < len(days) and len(data) < limit and room > 0:
        results = results_of(days[index])
        sent = results[offset : offset + room]
        data.append(_bucket(days[index], sent))
        room -= len(sent)
        if offset + len(sent) < len(results):
            next_page = _encode_page(scope, days[index], offset + len(sent))
            break
        index, offset = index + 1, 0
    if next_page is None and index < len(days):
        next_page = _encode_page(scope, days[index], 0)
    body = {"object": "page", "data": data, "has_more": next_page is not None}
    return Response(200, {**body, "next_page": next_page})


def _sort_key(grain: tuple[Any, ...]) -> tuple[tuple[bool, str], ...]:
    return tuple((value is not None, str(value)) for value in grain)


def usage_results(endpoint: str, rows: list[UsageRow], group_by: set[str]) -> list[dict[str, Any]]:
    """The results of one day: `rows` summed over the fields not in `group_by`."""
    fields = GROUP_FIELDS[endpoint]
    quantities = QUANTITIES[endpoint]
    sums: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * len(quantities))
    for row in rows:
        grain = tuple(getattr(row, name) if name in group_by else None for name in fields)
        counts = (row.quantity(name) for name in quantities)
        sums[grain] = [total + count for total, count in zip(sums[grain], counts, strict=True)]
    return [
        {
            "object": f"organization.usage.{endpoint}.result",
            **dict(zip(quantities, sums[grain], strict=True)),
            **dict(zip(fields, grain, strict=True)),
        }
        for grain in sorted(sums, key=_sort_key)
    ]


def cost_results(rows: list[CostRow], group_by: set[str]) -> list[dict[str, Any]]:
    """The results of one day: amounts in dollars (floats), summed over ungrouped fields."""
    sums: dict[tuple[str | None, ...], Decimal] = defaultdict(Decimal)
    for row in rows:
        grain = tuple(getattr(row, name) if name in group_by else None for name in COST_GROUPS)
        sums[grain] += row.amount_usd
    return [
        {
            "object": "organization.costs.result",
            "amount": {"value": float(sums[grain]), "currency": "usd"},
            **dict(zip(COST_GROUPS, grain, strict=True)),
        }
        for grain in sorted(sums, key=_sort_key)
    ]


def _usage_handler(endpoint: str) -> Callable[[Company, Request], Response]:
    def usage(company: Company, request: Request) -> Response:
        """GET /v1/organization/usage/<endpoint>."""
        _authenticate(request)
        _check_names(request)
        days = _days(request)
        limit = _limit(request, _USAGE_LIMIT_MAX, ("1m", "1h", "1d"))
        group_by = _group_by(request, GROUP_FIELDS[endpoint])
        org = build_organization(company)
        return _paginate(
            request,
            endpoint,
            limit,
            days,
            lambda day: usage_results(endpoint, usage_for_day(org, endpoint, day), group_by),
        )

    return usage


def costs(company: Company, request: Request) -> Response:
    """GET /v1/organization/costs."""
    _authenticate(request)
    _check_names(request)
    days = _days(request)
    limit = _limit(request, _COSTS_LIMIT_MAX, ("1d",))
    group_by = _group_by(request, COST_GROUPS)
    org = build_organization(company)
    return _paginate(
        request, "costs", limit, days, lambda day: cost_results(costs_for_day(org, day), group_by)
    )


def _endpoint(
    handler: Callable[[Company, Request], Response],
) -> Callable[[Company, Request], Response]:
    """`handler` with refusals turned into the vendor's error responses."""

    def answer(company: Company, request: Request) -> Response:
        try:
            return handler(company, request)
        except ApiError as refusal:
            return error_response(
                refusal.status, refusal.message, param=refusal.param, code=refusal.code
            )

    return answer


ROUTES = {
    **{
        ("GET", path): Route(_endpoint(_usage_handler(endpoint)), fault)
        for endpoint, path in USAGE_PATHS.items()
    },
    ("GET", COSTS_PATH): Route(_endpoint(costs), fault),
}
