"""Product usage tracking: your services record each AI request; the vault stores it.

A service calls `track_product_usage` after every request its AI features make. The call
checks its fields, appends them to an in-memory buffer and returns in microseconds; a
background thread sends batches to the warehouse's `raw.product_usage_events` through the
insert-only role `vault_ingest`, and dbt turns them into `ai.*` rows of `marts.fct_metrics`
with the customer and feature filled in. Nothing here imports Dagster or dbt, and psycopg is
imported by the background thread only, so importing this module costs a service nothing.

Set up once per process (or let the environment do it):

    export VAULT_INGEST_URL=postgresql://vault_ingest@warehouse:5432/vault
    export VAULT_TRACKING_SPOOL=/var/lib/my-service/vault-spool   # optional

Then, where a request to a model returns:

    from orchestration.tracking import track_product_usage

    track_product_usage(
        customer="cus_8Hq2fT", feature="support-copilot",
        model="claude-sonnet-4-5-20250929", provider="anthropic",
        tokens_in=usage.input_tokens, tokens_out=usage.output_tokens,
        cache_read_tokens=usage.cache_read_input_tokens,
        cache_write_tokens=usage.cache_creation_input_tokens,
        latency_ms=elapsed_ms, success=True, request_id=response.id,
        tags={"environment": "production", "plan": "enterprise"},
    )

In a coroutine, `await atrack_product_usage(...)` takes the same fields. For explicit
control (another URL, batch size, a tracker per tenant, tests), make a `Tracker`.

When the warehouse is unreachable, batches go to files in the spool folder (mode 0600) and
are sent, oldest first, once it answers again; `default_tracker().pending()` says how many
events are not in the warehouse yet and `default_tracker().stats()` how many were sent,
spilled and refused. A refused call (a missing field, a negative count) never raises: it is
counted, logged at most once a minute, and kept in `rejected.jsonl` in the spool folder,
because the ingest role can write nothing but push events. At interpreter exit every tracker
flushes for up to 5 seconds and spills the rest.
"""

import threading
from typing import Any

from orchestration.tracking.events import SCHEMA_VERSION
from orchestration.tracking.spool import SPOOL_ENV, default_spool_dir
from orchestration.tracking.tracker import _MISSING, INGEST_URL_ENV, Tracker, TrackerStats

__all__ = [
    "INGEST_URL_ENV",
    "SCHEMA_VERSION",
    "SPOOL_ENV",
    "Tracker",
    "TrackerStats",
    "atrack_product_usage",
    "default_spool_dir",
    "default_tracker",
    "track_product_usage",
]

_default: Tracker | None = None
_default_lock = threading.Lock()


def default_tracker() -> Tracker:
    """The process's shared tracker, made on first use from `VAULT_INGEST_URL`.

    Example:
        >>> from orchestration.tracking import default_tracker
        >>> default_tracker().pending()  # doctest: +SKIP
        0
    """
    global _default
    tracker = _default
    if tracker is None:
        with _default_lock:
            if _default is None:
                _default = Tracker()
            tracker = _default
    return tracker


def track_product_usage(
    *positional: Any,
    customer: str = _MISSING,
    feature: str = _MISSING,
    model: str = _MISSING,
    provider: str = _MISSING,
    tokens_in: int = _MISSING,
    tokens_out: int = _MISSING,
    latency_ms: float = _MISSING,
    success: bool = _MISSING,
    **optional: Any,
) -> bool:
    """Record one AI request with the shared tracker; see `Tracker.track` for every field.

    Returns True when the call was accepted and False when it was refused; never raises.
    Optional fields: cache_read_tokens, cache_write_tokens, cost_usd, error_type,
    request_id, tags, occurred_at, event_id.

    Example:
        >>> track_product_usage(
        ...     customer="cus_8Hq2fT", feature="knowledge-search", model="gpt-4.1-mini",
        ...     provider="openai", tokens_in=2900, tokens_out=240, cache_read_tokens=1024,
        ...     latency_ms=655.0, success=True, cost_usd=0.0016,
        ... )  # doctest: +SKIP
        True
    """
    try:
        tracker = default_tracker()
    except Exception:  # a broken environment must not break the caller's request
        return False
    return tracker.track(
        *positional,
        customer=customer,
        feature=feature,
        model=model,
        provider=provider,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        latency_ms=latency_ms,
        success=success,
        **optional,
    )


async def atrack_product_usage(*positional: Any, **fields: Any) -> bool:
    """`track_product_usage` for coroutines: same fields, never blocks the event loop.

    Example:
        >>> async def answer(question):  # doctest: +SKIP
        ...     started = time.perf_counter()
        ...     reply = await client.messages.create(...)
        ...     await atrack_product_usage(
        ...         customer=user.customer_id, feature="support-copilot",
        ...         model=reply.model, provider="anthropic",
        ...         tokens_in=reply.usage.input_tokens, tokens_out=reply.usage.output_tokens,
        ...         latency_ms=(time.perf_counter() - started) * 1000, success=True,
        ...     )
    """
    try:
        tracker = default_tracker()
    except Exception:
        return False
    return await tracker.atrack(*positional, **fields)
