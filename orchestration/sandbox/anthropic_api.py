"""Anthropic's Admin API usage and cost reports, answered from the sandbox company's activity.

Behaviour follows the vendor's documentation where the collectors depend on it:

- `x-api-key` must be an Admin key (`sk-ant-admin...`), else 401 `authentication_error`; the
  `anthropic-version` header is required, else 400 `invalid_request_error`, as the real API
  answers a request that omits it.
- `starting_at` and `ending_at` are RFC 3339 with an offset. The window is widened to whole UTC
  days: the first bucket is the day holding `starting_at`, the last one the day holding the
  instant just before `ending_at`. Only `bucket_width=1d` is served; `limit` counts buckets
  (default 7, at most 31).
- `group_by[]` picks the fields that split the results; every other grouping field comes back
  null and the numbers are summed over it. A null `workspace_id` in a grouped result is the
  organisation's default workspace. The cost report's breakdown fields (`description`,
  `cost_type`, `model`, ...) are null unless it is grouped by `description`.
- Pages hold at most `limit` buckets and at most `MAX_RESULTS_PER_PAGE` results; a day with
  more results than fit continues, under the same bucket bounds, on the next page. `next_page`
  is an opaque token to send back as `page`.
- Unknown parameters, malformed values and foreign page tokens are 400s in the vendor's error
  shape, so a client's mistakes surface in tests instead of being silently ignored.

The Claude Code usage report (`CLAUDE_CODE_PATH`) is answered from the same company's Claude
Code transcripts, one UTC day per call; `claude_code_records` says how the two agree.
"""

import base64
import binascii
import functools
import json
import random
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from orchestration.sandbox.activity import (
    CostRow,
    UsageRow,
    costs_for_day,
    price_per_million,
    usage_for_day,
)
from orchestration.sandbox.company import Company, Person
from orchestration.sandbox.routing import Request, Response, Route
from orchestration.sandbox.transcripts import sessions_for_day

USAGE_PATH = "/v1/organizations/usage_report/messages"
COST_PATH = "/v1/organizations/cost_report"

MAX_RESULTS_PER_PAGE = 20
_DAILY_LIMIT_DEFAULT = 7
_DAILY_LIMIT_MAX = 31
# Widths the vendor offers for the usage report that the sandbox does not generate.
_UNSERVED_WIDTHS = ("1h", "1m")

USAGE_GROUPS = (
    "api_key_id",
    "workspace_id",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
)
# Filter parameter -> the usage field it restricts.
USAGE_FILTERS = {
    "api_key_ids[]": "api_key_id",
    "workspace_ids[]": "workspace_id",
    "models[]": "model",
    "service_tiers[]": "service_tier",
    "context_window[]": "context_window",
    "inference_geos[]": "inference_geo",
}
COST_GROUPS = ("workspace_id", "description")
_COST_BREAKDOWN = (
    "description",
    "cost_type",
    "context_window",
    "model",
    "service_tier",
    "token_type",
)
_WINDOW_PARAMS = ("starting_at", "ending_at", "bucket_width", "limit", "page", "group_by[]")

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


class ApiError(Exception):
    """A request the vendor would refuse; the status decides the error type reported."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """A response in the vendor's error envelope."""
    body = {
        "type": "error",
        "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message},
    }
    return Response(status, body, dict(headers or {}))


def fault(status: int) -> Response:
    """What the API answers when overloaded or rate limited; 429 says to retry at once."""
    headers = {"retry-after": "0"} if status == 429 else {}
    return error_response(status, f"sandbox fault injected: HTTP {status}", headers)


def _authenticate(request: Request) -> None:
    key = request.headers.get("x-api-key", "")
    if not key.startswith("sk-ant-admin"):
        raise ApiError(401, "invalid x-api-key: the usage and cost reports need an Admin API key")
    if not request.headers.get("anthropic-version"):
        raise ApiError(400, "anthropic-version: header is required")


def _single(request: Request, name: str) -> str | None:
    values = request.query.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise ApiError(400, f"{name}: expected one value, got {len(values)}")
    return values[0]


def _timestamp(request: Request, name: str) -> datetime | None:
    value = _single(request, name)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ApiError(400, f"{name}: {value!r} is not an RFC 3339 timestamp") from None
    if moment.tzinfo is None:
        raise ApiError(400, f"{name}: {value!r} has no UTC offset")
    return moment.astimezone(UTC)


def _days(request: Request) -> list[date]:
    """The UTC days whose buckets the request covers."""
    start = _timestamp(request, "starting_at")
    if start is None:
        raise ApiError(400, "starting_at: field required")
    end = _timestamp(request, "ending_at") or datetime.now(UTC)
    if end <= start:
        raise ApiError(400, "ending_at: must be after starting_at")
    last = (end - timedelta(microseconds=1)).date()
    return [start.date() + timedelta(days=n) for n in range((last - start.date()).days + 1)]


def _limit(request: Request) -> int:
    width = _single(request, "bucket_width") or "1d"
    if width in _UNSERVED_WIDTHS:
        raise ApiError(400, f"bucket_width: {width!r} is not served by the sandbox; use '1d'")
    if width != "1d":
        raise ApiError(400, f"bucket_width: {width!r} is not one of '1d', '1h', '1m'")
    value = _single(request, "limit")
    if value is None:
        return _DAILY_LIMIT_DEFAULT
    limit = int(value) if value.isascii() and value.isdigit() else 0
    if not 1 <= limit <= _DAILY_LIMIT_MAX:
        raise ApiError(
            400, f"limit: must be an integer from 1 to {_DAILY_LIMIT_MAX} for 1d buckets"
        )
    return limit


def _group_by(request: Request, allowed: tuple[str, ...]) -> set[str]:
    fields = set(request.query.get("group_by[]", ()))
    unknown = sorted(fields - set(allowed))
    if unknown:
        raise ApiError(400, f"group_by[]: {unknown[0]!r} is not one of {', '.join(allowed)}")
    return fields


def _check_names(request: Request, allowed: Iterable[str]) -> None:
    unknown = sorted(set(request.query) - set(allowed))
    if unknown:
        raise ApiError(400, f"{unknown[0]}: unknown query parameter")


def _encode_page(day: date, offset: int) -> str:
    raw = f"{day.isoformat()}T00:00:00Z/{offset}".encode()
    return "page_" + base64.urlsafe_b64encode(raw).decode()


def _decode_page(token: str, days: list[date]) -> tuple[int, int]:
    """(index into `days`, results already sent from that day) for a `next_page` token."""
    try:
        if not token.startswith("page_"):
            raise ValueError
        stamp, offset = base64.urlsafe_b64decode(token[5:]).decode().split("/")
        index, sent = days.index(datetime.fromisoformat(stamp).date()), int(offset)
        if sent < 0:
            raise ValueError
        return index, sent
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise ApiError(400, "page: not a page token of this report and window") from None


def _bucket_bounds(day: date) -> dict[str, str]:
    start = datetime.combine(day, time(), UTC)
    return {
        "starting_at": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ending_at": (start + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _paginate(
    request: Request, days: list[date], results_of: Callable[[date], list[dict[str, Any]]]
) -> Response:
    limit = _limit(request)
    token = _single(request, "page")
    index, offset = _decode_page(token, days) if token else (0, 0)
    data: list[dict[str, Any]] = []
    room = MAX_RESULTS_PER_PAGE
    next_page = None
    while index < len(days) and len(data) < limit and room > 0:
        results = results_of(days[index])
        sent = results[offset : offset + room]
        data.append({**_bucket_bounds(days[index]), "results": sent})
        room -= len(sent)
        if offset + len(sent) < len(results):
            next_page = _encode_page(days[index], offset + len(sent))
            break
        index, offset = index + 1, 0
    if next_page is None and index < len(days):
        next_page = _encode_page(days[index], 0)
    return Response(200, {"data": data, "has_more": next_page is not None, "next_page": next_page})


def _sort_key(grain: tuple[str | None, ...]) -> tuple[tuple[bool, str], ...]:
    return tuple((value is not None, value or "") for value in grain)


def _usage_results(rows: list[UsageRow], group_by: set[str]) -> list[dict[str, Any]]:
    sums: dict[tuple[str | None, ...], list[int]] = defaultdict(lambda: [0] * 6)
    for row in rows:
        grain = tuple(getattr(row, name) if name in group_by else None for name in USAGE_GROUPS)
        counts = (
            row.uncached_input_tokens,
            row.cache_read_input_tokens,
            row.cache_creation_1h_input_tokens,
            row.cache_creation_5m_input_tokens,
            row.output_tokens,
            row.web_search_requests,
        )
        sums[grain] = [total + count for total, count in zip(sums[grain], counts, strict=True)]
    results = []
    for grain in sorted(sums, key=_sort_key):
        uncached, cache_read, write_1h, write_5m, output, searches = sums[grain]
        results.append(
            {
                **dict(zip(USAGE_GROUPS, grain, strict=True)),
                "uncached_input_tokens": uncached,
                "cache_read_input_tokens": cache_read,
                "cache_creation": {
                    "ephemeral_1h_input_tokens": write_1h,
                    "ephemeral_5m_input_tokens": write_5m,
                },
                "output_tokens": output,
                "server_tool_use": {"web_search_requests": searches},
            }
        )
    return results


def _cents(amount: Decimal) -> str:
    text = format(amount.normalize(), "f")
    return text if "." in text else f"{text}.00"


def _cost_results(rows: list[CostRow], group_by: set[str]) -> list[dict[str, Any]]:
    by_description = "description" in group_by
    sums: dict[tuple[str | None, ...], Decimal] = defaultdict(Decimal)
    for row in rows:
        workspace = row.workspace_id if "workspace_id" in group_by else None
        breakdown = tuple(
            getattr(row, name) if by_description else None for name in _COST_BREAKDOWN
        )
        sums[(workspace, *breakdown)] += row.amount_cents
    return [
        {
            "currency": "USD",
            "amount": _cents(sums[grain]),
            "workspace_id": grain[0],
            **dict(zip(_COST_BREAKDOWN, grain[1:], strict=True)),
        }
        for grain in sorted(sums, key=_sort_key)
    ]


def messages_usage_report(company: Company, request: Request) -> Response:
    """GET /v1/organizations/usage_report/messages."""
    _authenticate(request)
    _check_names(request, (*_WINDOW_PARAMS, *USAGE_FILTERS))
    days = _days(request)
    group_by = _group_by(request, USAGE_GROUPS)
    filters = {
        field: set(values)
        for name, field in USAGE_FILTERS.items()
        if (values := request.query.get(name))
    }

    def results_of(day: date) -> list[dict[str, Any]]:
        rows = [
            row
            for row in usage_for_day(company, day)
            if all(getattr(row, field) in allowed for field, allowed in filters.items())
        ]
        return _usage_results(rows, group_by)

    return _paginate(request, days, results_of)


def cost_report(company: Company, request: Request) -> Response:
    """GET /v1/organizations/cost_report."""
    _authenticate(request)
    _check_names(request, _WINDOW_PARAMS)
    days = _days(request)
    group_by = _group_by(request, COST_GROUPS)
    return _paginate(
        request, days, lambda day: _cost_results(costs_for_day(company, day), group_by)
    )


# The Claude Code usage report -------------------------------------------------------------------

CLAUDE_CODE_PATH = "/v1/organizations/usage_report/claude_code"
# `limit` counts records: 20 unless asked, at most 1000, as the vendor documents. A page also
# ends after this many records, fewer than the company has Claude Code users, so that a client
# has to follow `next_page` even at the largest limit, as it would for an organisation with more
# users than that.
MAX_CLAUDE_CODE_RECORDS_PER_PAGE = 4
_CLAUDE_CODE_LIMIT_DEFAULT = 20
_CLAUDE_CODE_LIMIT_MAX = 1000
_CLAUDE_CODE_PARAMS = ("starting_at", "limit", "page")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Values the report gives in `terminal_type`; each person sticks to one.
_TERMINALS = ("vscode", "iTerm.app", "tmux", "ghostty", "Apple_Terminal")
# Interactive Claude Code runs in the standard tier and compacts its context well before 200k
# tokens, so its responses cost the plain list price.
_CLAUDE_CODE_TIER = "standard"
_CLAUDE_CODE_CONTEXT = "0-200k"
# Shares of proposed changes a person turns down, per tool.
_REJECTION_RATES = {
    "edit_tool": 0.08,
    "multi_edit_tool": 0.1,
    "write_tool": 0.05,
    "notebook_edit_tool": 0.1,
}

# A day's report reads the transcripts of that day and of the day before (a conversation begun
# late runs past midnight); keeping the last few days serves every page of a day, and the next
# day, without generating them again.
_sessions_of = functools.lru_cache(maxsize=8)(sessions_for_day)


@dataclass
class _ModelTokens:
    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0

    @property
    def cache_creation(self) -> int:
        return self.cache_write_5m + self.cache_write_1h


@dataclass
class _UserDay:
    """What one person's transcripts hold for one UTC day."""

    sessions: int = 0
    responses: int = 0
    edit_calls: int = 0
    tokens: dict[str, _ModelTokens] = field(default_factory=lambda: defaultdict(_ModelTokens))


def _transcript_days(company: Company, day: date) -> dict[str, _UserDay]:
    """Each Claude Code user's sessions, responses, Edit calls and tokens per model on `day`.

    The transcripts are read the way a transcript collector reads them, so the two sources
    reconcile exactly: a session counts on the UTC day it starts; a response counts on the UTC
    day of its line's timestamp, once per message id and request id however many lines repeat
    it; a line cut short by a killed CLI cannot be read and counts nothing. (The real report
    would count that last response, which the vendor saw; the transcripts no longer show it.)
    """
    users: dict[str, _UserDay] = defaultdict(_UserDay)
    for session in _sessions_of(company, day):
        users[session.checkout.person.email].sessions += 1
    stamp = day.isoformat()
    seen: set[tuple[str, str]] = set()
    for session in (*_sessions_of(company, day - timedelta(days=1)), *_sessions_of(company, day)):
        for number, text in enumerate(session.lines, start=1):
            if number in session.malformed:
                continue
            line = json.loads(text)
            if line["type"] != "assistant" or not line["timestamp"].startswith(stamp):
                continue
            user = users[session.checkout.person.email]
            message = line["message"]
            # Each content block of a response is its own line, so every call is counted once.
            user.edit_calls += sum(
                block["type"] == "tool_use" and block["name"] == "Edit"
                for block in message["content"]
            )
            key = (message["id"], line["requestId"])
            if key in seen:
                continue
            seen.add(key)
            user.responses += 1
            usage = message["usage"]
            tokens = user.tokens[message["model"]]
            tokens.input += usage["input_tokens"]
            tokens.output += usage["output_tokens"]
            tokens.cache_read += usage["cache_read_input_tokens"]
            split = usage.get("cache_creation")
            if split:
                tokens.cache_write_5m += split["ephemeral_5m_input_tokens"]
                tokens.cache_write_1h += split["ephemeral_1h_input_tokens"]
            else:
                # Old builds give only the total; it is priced as 5-minute writes, the default.
                tokens.cache_write_5m += usage["cache_creation_input_tokens"]
    return users


def _estimated_cents(model: str, tokens: _ModelTokens) -> int:
    """The tokens at list price, in whole cents, as the report states its estimate."""
    priced = (
        ("uncached_input_tokens", tokens.input),
        ("output_tokens", tokens.output),
        ("cache_read_input_tokens", tokens.cache_read),
        ("cache_creation.ephemeral_5m_input_tokens", tokens.cache_write_5m),
        ("cache_creation.ephemeral_1h_input_tokens", tokens.cache_write_1h),
    )
    usd_millions = sum(
        (
            count * price_per_million(model, _CLAUDE_CODE_TIER, _CLAUDE_CODE_CONTEXT, token_type)
            for token_type, count in priced
        ),
        Decimal(),
    )
    # USD per million tokens -> cents: x 100 / 1,000,000.
    return int((usd_millions / 10_000).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _decisions(rng: random.Random, proposals: int, rejection_rate: float) -> dict[str, int]:
    rejected = sum(rng.random() < rejection_rate for _ in range(proposals))
    return {"accepted": proposals - rejected, "rejected": rejected}


def _organization_id(company: Company) -> str:
    rng = random.Random(f"{company.seed}|anthropic-organization")
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _terminal(company: Company, person: Person) -> str:
    # A person's habit, not a day's: seeded by the person alone.
    return random.Random(f"{company.seed}|claude-code-terminal|{person.email}").choice(_TERMINALS)


def _claude_code_record(
    company: Company, person: Person, day: date, user: _UserDay
) -> dict[str, Any]:
    rng = random.Random(f"{company.seed}|claude-code-analytics|{person.email}|{day.isoformat()}")
    busy = user.responses > 0
    tools = {
        "edit_tool": _decisions(rng, user.edit_calls, _REJECTION_RATES["edit_tool"]),
        "multi_edit_tool": _decisions(
            rng, rng.randint(0, user.responses // 15), _REJECTION_RATES["multi_edit_tool"]
        ),
        "write_tool": _decisions(
            rng, rng.randint(0, user.sessions + 1) if busy else 0, _REJECTION_RATES["write_tool"]
        ),
        # Only the ML team keeps notebooks.
        "notebook_edit_tool": _decisions(
            rng,
            rng.randint(0, 3) if busy and person.team == "ml" else 0,
            _REJECTION_RATES["notebook_edit_tool"],
        ),
    }
    # Lines of code come from accepted changes only: edits replace code, new files only add.
    changes = {tool: counts["accepted"] for tool, counts in tools.items()}
    added = (
        sum(rng.randint(1, 30) for _ in range(changes["edit_tool"]))
        + sum(rng.randint(5, 60) for _ in range(changes["multi_edit_tool"]))
        + sum(rng.randint(20, 150) for _ in range(changes["write_tool"]))
        + sum(rng.randint(2, 20) for _ in range(changes["notebook_edit_tool"]))
    )
    removed = (
        sum(rng.randint(0, 25) for _ in range(changes["edit_tool"]))
        + sum(rng.randint(3, 50) for _ in range(changes["multi_edit_tool"]))
        + sum(rng.randint(0, 10) for _ in range(changes["notebook_edit_tool"]))
    )
    commits = rng.randint(0, user.sessions + 1) if added else 0
    pull_requests = sum(rng.random() < 0.25 for _ in range(commits))
    return {
        "date": f"{day.isoformat()}T00:00:00Z",
        "actor": {"type": "user_actor", "email_address": person.email},
        "organization_id": _organization_id(company),
        # The company signs its engineers in through the Claude Console: API billing.
        "customer_type": "api",
        "terminal_type": _terminal(company, person),
        "core_metrics": {
            "num_sessions": user.sessions,
            "lines_of_code": {"added": added, "removed": removed},
            "commits_by_claude_code": commits,
            "pull_requests_by_claude_code": pull_requests,
        },
        "tool_actions": tools,
        "model_breakdown": [
            {
                "model": model,
                "tokens": {
                    "input": tokens.input,
                    "output": tokens.output,
                    "cache_read": tokens.cache_read,
                    "cache_creation": tokens.cache_creation,
                },
                "estimated_cost": {"currency": "USD", "amount": _estimated_cents(model, tokens)},
            }
            for model, tokens in sorted(user.tokens.items())
        ],
    }


@functools.lru_cache(maxsize=8)
def claude_code_records(company: Company, day: date) -> tuple[dict[str, Any], ...]:
    """The Claude Code usage report for one UTC day: a record per active user, by email.

    The numbers agree with the transcripts the sandbox writes (see `_transcript_days`):
    `num_sessions` is the sessions the person started that day; each `model_breakdown` entry
    holds the tokens of that day's responses from one model (cache writes of both lifetimes
    in `cache_creation`) and their cost at list price in whole cents; `edit_tool` decisions
    are the day's Edit tool calls. The other tools, lines of code, commits and pull requests are
    drawn for (seed, person, day), in proportion to the day's work. A person with no session
    and no response that day has no record.

    The records are cached and shared between calls: read them, do not change them.
    """
    users = _transcript_days(company, day)
    return tuple(
        _claude_code_record(company, person, day, users[person.email])
        for person in sorted(company.people, key=lambda person: person.email)
        if person.email in users
    )


def _report_day(request: Request) -> date:
    value = _single(request, "starting_at")
    if value is None:
        raise ApiError(400, "starting_at: field required")
    try:
        if not _ISO_DATE.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise ApiError(400, f"starting_at: {value!r} is not a UTC date (YYYY-MM-DD)") from None


def _records_limit(request: Request) -> int:
    value = _single(request, "limit")
    if value is None:
        return _CLAUDE_CODE_LIMIT_DEFAULT
    limit = int(value) if value.isascii() and value.isdigit() else 0
    if not 1 <= limit <= _CLAUDE_CODE_LIMIT_MAX:
        raise ApiError(400, f"limit: must be an integer from 1 to {_CLAUDE_CODE_LIMIT_MAX}")
    return limit


def claude_code_usage_report(company: Company, request: Request) -> Response:
    """GET /v1/organizations/usage_report/claude_code: one UTC day per call, paged by records."""
    _authenticate(request)
    _check_names(request, _CLAUDE_CODE_PARAMS)
    day = _report_day(request)
    size = min(_records_limit(request), MAX_CLAUDE_CODE_RECORDS_PER_PAGE)
    token = _single(request, "page")
    # A token names its day, so one from another day's report is refused.
    offset = _decode_page(token, [day])[1] if token else 0
    records = claude_code_records(company, day)
    end = offset + size
    next_page = _encode_page(day, end) if end < len(records) else None
    body = {"data": list(records[offset:end]), "has_more": next_page is not None}
    return Response(200, {**body, "next_page": next_page})


def _endpoint(
    handler: Callable[[Company, Request], Response],
) -> Callable[[Company, Request], Response]:
    """`handler` with refusals turned into the vendor's error responses."""

    def answer(company: Company, request: Request) -> Response:
        try:
            return handler(company, request)
        except ApiError as refusal:
            return error_response(refusal.status, refusal.message)

    return answer


ROUTES = {
    ("GET", USAGE_PATH): Route(_endpoint(messages_usage_report), fault),
    ("GET", COST_PATH): Route(_endpoint(cost_report), fault),
    ("GET", CLAUDE_CODE_PATH): Route(_endpoint(claude_code_usage_report), fault),
}
