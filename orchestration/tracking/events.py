"""One product usage event: the checks a call passes on the hot path, and its warehouse record.

The checks are deliberately shallow (types, signs, sizes, text that Postgres `jsonb` cannot
hold) so that a call costs a few microseconds. A call that passes becomes a tuple (`Call`) in
the tracker's buffer; only the background flusher turns tuples into JSON records, so building
dictionaries and formatting timestamps never happens on the caller's thread.

The record is what lands in `raw.product_usage_events.record` and what `stg_product__usage_events`
reads: the call's fields under the same names, `occurred_at` as ISO 8601 in UTC, optional
fields left out when not given, and `schema_version` so a later change of shape can be told
apart.
"""

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, NamedTuple

SCHEMA_VERSION = 1
# Identifiers and tag keys are names, not payloads; a longer value is a bug in the caller
# (a prompt passed as a tag, say), and would bloat every row it is copied into.
MAX_TEXT = 1024
MAX_TAGS = 64
# Counts and integer tag values are stored as Postgres bigint.
MAX_INT = 2**63 - 1

_TEXT_FIELDS = ("customer", "feature", "model", "provider")
_COUNT_FIELDS = ("tokens_in", "tokens_out", "cache_read_tokens", "cache_write_tokens")


class Call(NamedTuple):
    """A checked call as the buffer holds it: cheap to build, turned into a record later."""

    occurred_at: float | datetime  # time.time() when the caller gave none
    customer: str
    feature: str
    model: str
    provider: str
    tokens_in: int
    tokens_out: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float | int | Decimal | None
    latency_ms: float | int
    success: bool
    error_type: str | None
    request_id: str | None
    tags: dict[str, str | int | float | bool | None] | None
    event_id: str | None


def _text_problem(name: str, value: Any, *, optional: bool = False) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str):
        return f"{name} must be a string, got {type(value).__name__}"
    if not value:
        return f"{name} must not be empty"
    return _storable_text_problem(name, value)


def _storable_text_problem(name: str, value: str) -> str | None:
    if len(value) > MAX_TEXT:
        return f"{name} is longer than {MAX_TEXT} characters"
    if "\x00" in value:
        return f"{name} contains a NUL character, which Postgres jsonb cannot store"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{name} contains a lone surrogate, which is not valid UTF-8"
    return None


def _count_problem(name: str, value: Any) -> str | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return f"{name} must be an int, got {type(value).__name__}"
    if value < 0:
        return f"{name} must not be negative"
    if value > MAX_INT:
        return f"{name} is larger than {MAX_INT}"
    return None


def _amount_problem(name: str, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return f"{name} must be a number, got {type(value).__name__}"
    if isinstance(value, int):
        if value < 0:
            return f"{name} must not be negative"
        return f"{name} is larger than {MAX_INT}" if value > MAX_INT else None
    if not (value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)):
        return f"{name} must be finite"
    if value < 0:
        return f"{name} must not be negative"
    if isinstance(value, Decimal) and not math.isfinite(float(value)):
        return f"{name} is too large to store"  # the record holds it as a float
    return None


def _tags_problem(tags: Any) -> str | None:
    if tags is None:
        return None
    if not isinstance(tags, dict):
        return f"tags must be a dict, got {type(tags).__name__}"
    if len(tags) > MAX_TAGS:
        return f"tags has more than {MAX_TAGS} entries"
    for key, value in tags.items():
        problem = _text_problem("a tag key", key)
        if problem:
            return problem
        if value is None or isinstance(value, bool):
            continue
        if isinstance(value, int):
            problem = None if -MAX_INT - 1 <= value <= MAX_INT else f"tag {key!r} is out of range"
        elif isinstance(value, str):
            problem = _storable_text_problem(f"tag {key!r}", value)
        elif isinstance(value, float):
            problem = None if math.isfinite(value) else f"tag {key!r} must be finite"
        else:
            problem = f"tag {key!r} must be a str, int, float, bool or None"
        if problem:
            return problem
    return None


def parse_occurred_at(value: Any) -> tuple[datetime | None, str | None]:
    """A caller's `occurred_at` as a datetime, or the reason it is not one.

    A datetime without a time zone is taken as UTC, as the rest of the vault does; a string
    must be ISO 8601 (`2026-11-30T10:00:00Z`).
    """
    if isinstance(value, datetime):
        return value, None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value), None
        except ValueError:
            return None, "occurred_at is not an ISO 8601 timestamp"
    return None, f"occurred_at must be a datetime or an ISO 8601 string, got {type(value).__name__}"


_INF = math.inf


def _is_plainly_valid(
    customer: Any,
    feature: Any,
    model: Any,
    provider: Any,
    tokens_in: Any,
    tokens_out: Any,
    cache_read_tokens: Any,
    cache_write_tokens: Any,
    cost_usd: Any,
    latency_ms: Any,
    success: Any,
    error_type: Any,
    request_id: Any,
    tags: Any,
    event_id: Any,
) -> bool:
    """The common call, recognised in one pass: exact built-in types, short ASCII text.

    False does not mean invalid (a str subclass, a Decimal cost or a long tag value take the
    detailed checks instead); True always means valid.
    """
    if not (
        type(customer) is str
        and type(feature) is str
        and type(model) is str
        and type(provider) is str
        and customer
        and feature
        and model
        and provider
        and type(tokens_in) is int
        and type(tokens_out) is int
        and type(cache_read_tokens) is int
        and type(cache_write_tokens) is int
        and 0 <= tokens_in <= MAX_INT
        and 0 <= tokens_out <= MAX_INT
        and 0 <= cache_read_tokens <= MAX_INT
        and 0 <= cache_write_tokens <= MAX_INT
        and (
            (type(latency_ms) is float and 0 <= latency_ms < _INF)  # false for NaN too
            or (type(latency_ms) is int and 0 <= latency_ms <= MAX_INT)
        )
        and (
            cost_usd is None
            or (type(cost_usd) is float and 0 <= cost_usd < _INF)
            or (type(cost_usd) is int and 0 <= cost_usd <= MAX_INT)
        )
        and type(success) is bool
        and (error_type is None or (type(error_type) is str and error_type))
        and (request_id is None or (type(request_id) is str and request_id))
        and (event_id is None or (type(event_id) is str and event_id))
    ):
        return False
    parts = [customer, feature, model, provider, error_type or "", request_id or "", event_id or ""]
    if tags is not None:
        if type(tags) is not dict or len(tags) > MAX_TAGS:
            return False
        for key, value in tags.items():
            if type(key) is not str or not key:
                return False
            parts.append(key)
            kind = type(value)
            if kind is str:
                parts.append(value)
            elif kind is float:
                if not -_INF < value < _INF:
                    return False
            elif kind is int:
                if not -MAX_INT - 1 <= value <= MAX_INT:
                    return False
            elif not (value is None or kind is bool):
                return False
    # Every part is at most as long as all of them together.
    text = "".join(parts)
    return len(text) <= MAX_TEXT and text.isascii() and "\x00" not in text


def check_call(
    customer: Any,
    feature: Any,
    model: Any,
    provider: Any,
    tokens_in: Any,
    tokens_out: Any,
    cache_read_tokens: Any,
    cache_write_tokens: Any,
    cost_usd: Any,
    latency_ms: Any,
    success: Any,
    error_type: Any,
    request_id: Any,
    tags: Any,
    event_id: Any,
) -> str | None:
    """Why a call cannot be recorded, or None when it can (`occurred_at` is checked apart)."""
    if _is_plainly_valid(
        customer,
        feature,
        model,
        provider,
        tokens_in,
        tokens_out,
        cache_read_tokens,
        cache_write_tokens,
        cost_usd,
        latency_ms,
        success,
        error_type,
        request_id,
        tags,
        event_id,
    ):
        return None
    for name, value in zip(_TEXT_FIELDS, (customer, feature, model, provider), strict=True):
        problem = _text_problem(name, value)
        if problem:
            return problem
    counts = (tokens_in, tokens_out, cache_read_tokens, cache_write_tokens)
    for name, value in zip(_COUNT_FIELDS, counts, strict=True):
        problem = _count_problem(name, value)
        if problem:
            return problem
    problem = _amount_problem("latency_ms", latency_ms)
    if problem:
        return problem
    if cost_usd is not None:
        problem = _amount_problem("cost_usd", cost_usd)
        if problem:
            return problem
    if not isinstance(success, bool):
        return f"success must be a bool, got {type(success).__name__}"
    return (
        _text_problem("error_type", error_type, optional=True)
        or _text_problem("request_id", request_id, optional=True)
        or _text_problem("event_id", event_id, optional=True)
        or _tags_problem(tags)
    )


def _iso_utc(moment: float | datetime) -> str:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).isoformat()
    return datetime.fromtimestamp(moment, UTC).isoformat()


def to_record(call: Call, event_id: str) -> dict[str, Any]:
    """The warehouse record of a call; `event_id` is used when the caller gave none."""
    record: dict[str, Any] = {
        "event_id": call.event_id or event_id,
        "occurred_at": _iso_utc(call.occurred_at),
        "customer": call.customer,
        "feature": call.feature,
        "model": call.model,
        "provider": call.provider,
        "tokens_in": call.tokens_in,
        "tokens_out": call.tokens_out,
        "cache_read_tokens": call.cache_read_tokens,
        "cache_write_tokens": call.cache_write_tokens,
        "latency_ms": call.latency_ms,
        "success": call.success,
        "schema_version": SCHEMA_VERSION,
    }
    if call.cost_usd is not None:
        # JSON has no decimal type; a float keeps 15 significant digits, far below a cent.
        cost = call.cost_usd
        record["cost_usd"] = float(cost) if isinstance(cost, Decimal) else cost
    if call.error_type is not None:
        record["error_type"] = call.error_type
    if call.request_id is not None:
        record["request_id"] = call.request_id
    if call.tags:
        record["tags"] = call.tags
    return record


def _is_finite_float(value: Any) -> bool:
    return isinstance(value, float) and math.isfinite(value)


def describe_call(fields: dict[str, Any]) -> dict[str, Any]:
    """A rejected call's fields in a form JSON can always hold (repr for anything else)."""
    described: dict[str, Any] = {}
    for key, value in fields.items():
        if isinstance(value, str):
            described[str(key)] = value[:MAX_TEXT]
        elif value is None or isinstance(value, bool | int) or _is_finite_float(value):
            described[str(key)] = value
        else:
            try:
                described[str(key)] = repr(value)[:MAX_TEXT]
            except Exception:  # a __repr__ that fails must not make the rejection fail
                described[str(key)] = f"<unprintable {type(value).__name__}>"
    return described
