"""The tracker: a bounded in-memory buffer, a background flusher, and a spool on local disk.

A call on the hot path checks its arguments, appends one tuple to a list under a lock and
returns. Everything slow happens on one daemon thread per process: building the JSON records,
`COPY` over one long-lived connection as the insert-only ingest role (`copy_events` from
`orchestration.warehouse.push`), writing batches to disk when the warehouse cannot take them,
and re-sending those files, oldest first, as soon as it can connect again. Reconnection backs
off exponentially (0.5 s doubling to `max_backoff`, with jitter), and while it waits each batch
goes straight to disk, so a warehouse outage costs callers nothing.

Delivery is at least once, exactly once after staging. Every event carries an `event_id`,
fixed before its first send attempt and kept through spills and re-sends, and
`stg_product__usage_events` keeps one row per `event_id`. A duplicate reaches the raw table
only when the outcome of a COPY is unknown: the connection broke after the commit was sent
but before its acknowledgement arrived, the process died between a commit and deleting the
spill file it came from, or `close()` gave up waiting for a send still in flight and spilled
its batch as well. Outages that refuse connections, the common case, duplicate nothing.

The buffer is bounded (`max_buffer`): should it fill, because the flusher is stuck in a slow
connection attempt while calls keep coming, the call that fills it writes the buffer to disk
itself, once, rather than drop anything. `atrack` runs that call in the event loop's executor
instead, so a coroutine never blocks on disk.

After `os.fork()` (gunicorn with `--preload`, multiprocessing) the child starts with an empty
buffer and new locks, event ids and statistics, and starts its own flusher on its first call:
the parent still owns and sends the events it had buffered. The child never uses or closes a
connection inherited from the parent, so the parent's session lives on.
"""

import asyncio
import atexit
import contextlib
import logging
import os
import random
import secrets
import socket
import sys
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from orchestration.tracking.events import (
    Call,
    check_call,
    describe_call,
    parse_occurred_at,
    to_record,
)
from orchestration.tracking.spool import Spool, default_spool_dir

INGEST_URL_ENV = "VAULT_INGEST_URL"
TABLE = "product_usage_events"

logger = logging.getLogger("orchestration.tracking")

_MISSING: Any = object()
_new_tuple = tuple.__new__
_REQUIRED = (
    "customer",
    "feature",
    "model",
    "provider",
    "tokens_in",
    "tokens_out",
    "latency_ms",
    "success",
)
# Spool files from other processes, or left by an earlier run, are looked for this often.
_SPOOL_SCAN_SECONDS = 30.0
_FIRST_BACKOFF_SECONDS = 0.5
# A backlog goes out in COPYs of up to this many batches: each transaction costs a commit
# (a WAL flush on the server), and with batches of 500 that halves the rate the flusher
# sustains (bench/tracking.py: about 12,000 against 23,000 events/s on a 2-core machine).
_BACKLOG_BATCHES = 10


@dataclass(frozen=True)
class TrackerStats:
    """Counts since the tracker started (or since the fork that made this process).

    `tracked` calls were accepted and `rejected` refused (kept in `rejected.jsonl`); `sent`
    events are committed in the warehouse, `resent` of them read back from spill files;
    `spilled` events were written to spill files; `dropped` events could be neither sent nor
    written to disk (the spool folder unwritable), which the log reports as errors.
    `pending_memory` events wait in memory (buffered or being sent), `pending_disk` in spill
    files of the folder, whichever process wrote them.
    """

    tracked: int
    sent: int
    resent: int
    spilled: int
    rejected: int
    dropped: int
    pending_memory: int
    pending_disk: int
    connects: int
    connected: bool
    last_error: str | None

    @property
    def pending(self) -> int:
        return self.pending_memory + self.pending_disk


class _EveryNSeconds:
    """Logs a message at most once per interval, saying how many were held back meanwhile."""

    def __init__(self, interval: float) -> None:
        self._interval = interval
        self._next = 0.0
        self._held = 0

    def log(self, level: int, message: str) -> None:
        now = time.monotonic()
        if now < self._next:
            self._held += 1
            return
        held, self._held, self._next = self._held, 0, now + self._interval
        if held:
            message += f" ({held} similar message(s) held back in the last {self._interval:.0f}s)"
        logger.log(level, message)


def _redact(url: str | None) -> str:
    if not url:
        return "(no url)"
    parts = urlsplit(url)
    if parts.password:
        host = parts.netloc.rsplit("@", 1)[-1]
        parts = parts._replace(netloc=f"{parts.username}:***@{host}")
    return parts.geturl()


class Tracker:
    """Records product usage events and delivers them to the warehouse in the background.

    Args:
        url: the warehouse as the ingest role, e.g.
            `postgresql://vault_ingest@warehouse:5432/vault`; defaults to `VAULT_INGEST_URL`.
            Without one, every event is kept on disk until a tracker with a URL sends it.
        spool_dir: where batches wait while the warehouse is unreachable, and where refused
            calls go (`rejected.jsonl`); defaults to `VAULT_TRACKING_SPOOL`, else
            `~/.local/state/vault/tracking`.
        batch_size: events that make a batch: a full batch wakes the flusher at once. A
            backlog (the warehouse was slow, or just came back) goes out in COPYs of up to
            ten batches.
        flush_interval: seconds the flusher waits for a batch to fill before sending anyway.
        max_buffer: events held in memory at most; past it they go to disk (never dropped).
        connect_timeout: seconds to wait for the warehouse to answer a connection attempt.
        max_backoff: longest wait, in seconds, between reconnection attempts.
        client_id: stored as `run_id` on every raw row; defaults to `tracking:<host>:<pid>`.

    Example:
        >>> tracker = Tracker("postgresql://vault_ingest@127.0.0.1:5432/vault")  # doctest: +SKIP
        >>> tracker.track(
        ...     customer="cus_8Hq2", feature="support-copilot", model="claude-haiku-4-5-20251001",
        ...     provider="anthropic", tokens_in=1200, tokens_out=310, latency_ms=842.0,
        ...     success=True, cost_usd=0.00275, tags={"plan": "enterprise"},
        ... )  # doctest: +SKIP
        True
        >>> tracker.flush(timeout=5)  # doctest: +SKIP
        True
        >>> tracker.pending(), tracker.stats().sent  # doctest: +SKIP
        (0, 1)
        >>> tracker.close()  # doctest: +SKIP

        As a context manager, the tracker closes (flushes, then spills the rest) on exit:

        >>> with Tracker(url, spool_dir="/var/lib/my-service/vault") as tracker:  # doctest: +SKIP
        ...     tracker.track(...)
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        spool_dir: str | os.PathLike[str] | None = None,
        batch_size: int = 500,
        flush_interval: float = 1.0,
        max_buffer: int = 10_000,
        connect_timeout: float = 5.0,
        max_backoff: float = 30.0,
        client_id: str | None = None,
    ) -> None:
        if batch_size < 1 or max_buffer < batch_size:
            raise ValueError("need 1 <= batch_size <= max_buffer")
        if flush_interval <= 0 or connect_timeout <= 0 or max_backoff <= 0:
            raise ValueError("flush_interval, connect_timeout and max_backoff must be positive")
        self.url = url if url is not None else os.environ.get(INGEST_URL_ENV) or None
        self.spool = Spool(spool_dir if spool_dir is not None else default_spool_dir())
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_buffer = max_buffer
        self.connect_timeout = connect_timeout
        self.max_backoff = max_backoff
        self._explicit_client_id = client_id
        self._warn = _EveryNSeconds(60.0)
        self._reset_state()
        _live_trackers.add(self)

    # -- state -----------------------------------------------------------------------------

    def _reset_state(self) -> None:
        """Fresh locks, buffer, ids and counts: at construction, and in a forked child."""
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)
        self._wake = threading.Event()
        self._buffer: list[Call] = []
        self._rejects: list[dict[str, Any]] = []
        # Events get sequence numbers in the order they are accepted; event n of this
        # process is `<prefix><n>`. The prefix is random per process (and per fork child).
        self._id_prefix = secrets.token_hex(10)
        self._accepted = 0
        self._taken = 0
        # start sequence -> calls taken from the buffer but not yet sent or spilled.
        self._outstanding: dict[int, list[Call]] = {}
        # Starts of outstanding batches someone has taken on to spill: a batch is written to
        # disk once, even when close() gives up on a send still in flight.
        self._claimed: set[int] = set()
        self._sent = self._resent = self._spilled = self._rejected = self._dropped = 0
        self._connects = 0
        self._last_error: str | None = None
        self._conn: Any = None
        self._retry_at = 0.0
        self._backoff = _FIRST_BACKOFF_SECONDS
        self._next_scan = 0.0
        self._scan_requested = True
        # Spool scans started and finished, so that flush() can wait for a fresh one.
        self._scans_started = self._scans_finished = 0
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._closed = False
        self._push: Any = None
        self.client_id = (
            self._explicit_client_id or f"tracking:{socket.gethostname()}:{os.getpid()}"
        )

    def _after_fork_in_child(self) -> None:
        # The parent's connection is forgotten, never closed: closing would tell the server
        # to end the session the parent still uses (psycopg itself leaves a connection made
        # by another process alone when it is garbage collected).
        closed = self._closed
        self._reset_state()
        self._closed = closed

    # -- the hot path ----------------------------------------------------------------------

    def track(
        self,
        *positional: Any,
        customer: str = _MISSING,
        feature: str = _MISSING,
        model: str = _MISSING,
        provider: str = _MISSING,
        tokens_in: int = _MISSING,
        tokens_out: int = _MISSING,
        latency_ms: float = _MISSING,
        success: bool = _MISSING,
        cache_read_tokens: int = 0,
        cache_write_tokens: int = 0,
        cost_usd: float | None = None,
        error_type: str | None = None,
        request_id: str | None = None,
        tags: dict[str, str | int | float | bool | None] | None = None,
        occurred_at: datetime | str | None = None,
        event_id: str | None = None,
        **unknown: Any,
    ) -> bool:
        """Record one AI request; True when it was accepted, False when it was refused.

        Never raises. A refused call (a missing or mistyped field, a negative count) is
        counted in `stats().rejected`, written to `rejected.jsonl` in the spool folder with
        the reason, and logged at most once a minute.

        Fields (keywords only):
            customer, feature: who was served, and by which of your features.
            model, provider: e.g. `claude-sonnet-4-5-20250929`, `anthropic`.
            tokens_in: input tokens at the full input rate, neither read from nor written to
                the prompt cache (Anthropic's `usage.input_tokens`; for OpenAI,
                `prompt_tokens` minus `prompt_tokens_details.cached_tokens`).
            tokens_out: output tokens (reasoning tokens included).
            cache_read_tokens, cache_write_tokens: prompt cache reads and writes (default 0).
            cost_usd: what the request cost, when the service knows it; else leave it out.
            latency_ms: wall time of the request, in milliseconds.
            success: whether the request succeeded; `error_type` says how it failed.
            request_id: the provider's request id, for tracing one request back.
            tags: more dimensions, str -> str/int/float/bool/None. `project`, `environment`,
                `department`, `team`, `cost_category` and `region` fill those columns.
            occurred_at: when the request was made (datetime or ISO 8601); default now. A
                datetime without a time zone is UTC.
            event_id: your own unique id for this event, to make re-recording it after a
                crash harmless; by default the tracker makes one.
        """
        try:
            if positional or unknown:
                self._refuse(
                    "fields must be passed by keyword and named as documented"
                    + (f" (unknown: {', '.join(sorted(unknown))})" if unknown else ""),
                    {"positional": list(positional), **unknown},
                )
                return False
            problem = check_call(
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
            )
            moment: float | datetime | None = time.time() if occurred_at is None else None
            if moment is None and problem is None:
                moment, problem = parse_occurred_at(occurred_at)
            if problem is not None:
                fields = {
                    "customer": customer,
                    "feature": feature,
                    "model": model,
                    "provider": provider,
                    "tokens_in": tokens_in,
                    "tokens_out": tokens_out,
                    "latency_ms": latency_ms,
                    "success": success,
                    "cache_read_tokens": cache_read_tokens,
                    "cache_write_tokens": cache_write_tokens,
                    "cost_usd": cost_usd,
                    "error_type": error_type,
                    "request_id": request_id,
                    "tags": tags,
                    "occurred_at": occurred_at,
                    "event_id": event_id,
                }
                missing = [name for name in _REQUIRED if fields[name] is _MISSING]
                if missing:
                    problem = f"missing required field(s): {', '.join(missing)}"
                self._refuse(problem, {k: v for k, v in fields.items() if v is not _MISSING})
                return False
            # tuple.__new__ skips the named tuple's Python-level constructor: a third of the cost.
            call = _new_tuple(
                Call,
                (
                    moment,
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
                    dict(tags) if tags else None,
                    event_id,
                ),
            )
            with self._lock:
                if self._closed:
                    size = -1
                else:
                    self._buffer.append(call)
                    self._accepted += 1
                    size = len(self._buffer)
                    if self._thread is None:
                        self._start_locked()
            if size < 0:
                self._spill_after_close(call)
                return True
            if size == self.batch_size:
                self._wake.set()
            if size >= self.max_buffer:
                self._spill_full_buffer()
            return True
        except Exception as error:  # the caller's request must never fail because of us
            with contextlib.suppress(Exception):
                self._refuse(f"internal error while recording: {error!r}", {})
            return False

    async def atrack(self, *positional: Any, **fields: Any) -> bool:
        """`track` for coroutines: same fields, and it never blocks the event loop on disk.

        Example:
            >>> await tracker.atrack(customer="cus_8Hq2", feature="search", ...)  # doctest: +SKIP
        """
        try:
            if len(self._buffer) + 1 >= self.max_buffer:
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(None, lambda: self.track(*positional, **fields))
        except Exception:  # no running loop, or no executor at interpreter shutdown
            pass
        return self.track(*positional, **fields)

    def _refuse(self, reason: str, fields: dict[str, Any]) -> None:
        entry = {
            "rejected_at": datetime.now(UTC).isoformat(),
            "reason": reason,
            "call": describe_call(fields),
        }
        with self._lock:
            self._rejected += 1
            self._rejects.append(entry)
            backlog = len(self._rejects)
            if self._thread is None and not self._closed:
                self._start_locked()
        self._warn.log(
            logging.WARNING,
            f"a product usage call was refused: {reason}; kept in {self.spool.rejected_path}",
        )
        if backlog >= self.max_buffer or self._closed:
            self._write_rejects()

    # -- the flusher -------------------------------------------------------------------------

    def _start_locked(self) -> None:
        self._stopping = False
        self._thread = threading.Thread(
            target=self._run, name="vault-tracking-flusher", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        try:
            from orchestration.warehouse import push

            self._push = push
        except Exception as error:  # psycopg missing: keep everything on disk
            self._note_error(f"cannot load the warehouse client: {error!r}")
        while True:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            stopping = self._stopping
            try:
                self._write_rejects()
                self._drain()
                if self._scan_requested or time.monotonic() >= self._next_scan:
                    self._resend_spool()
            except Exception as error:  # keep the thread alive whatever happens
                self._note_error(f"flusher error: {error!r}")
            if stopping:
                with self._lock:
                    if not self._buffer:
                        break

    def _take(self, limit: int) -> tuple[int, list[Call]]:
        with self._lock:
            calls = self._buffer[:limit]
            del self._buffer[:limit]
            start = self._taken
            self._taken += len(calls)
            if calls:
                self._outstanding[start] = calls
        return start, calls

    def _settle(self, start: int) -> None:
        with self._lock:
            self._outstanding.pop(start, None)
            self._claimed.discard(start)
            self._settled.notify_all()

    def _claim_spill(self, start: int) -> bool:
        with self._lock:
            if start in self._claimed or start not in self._outstanding:
                return False
            self._claimed.add(start)
            return True

    def _records(self, start: int, calls: list[Call]) -> list[dict[str, Any]]:
        prefix = self._id_prefix
        return [
            to_record(call, f"{prefix}{start + offset:012x}") for offset, call in enumerate(calls)
        ]

    def _drain(self) -> None:
        """Send (or spill) everything buffered now, up to `_BACKLOG_BATCHES` batches per COPY."""
        while True:
            start, calls = self._take(self.batch_size * _BACKLOG_BATCHES)
            if not calls:
                return
            try:
                records = self._records(start, calls)
                if not self._send(records) and self._claim_spill(start):
                    self._spill(records)
            finally:
                self._settle(start)

    def _connection(self) -> Any:
        """The open connection, or a new one (after the spool is re-sent), or None."""
        conn = self._conn
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        self._conn = None
        if self._push is None:
            return None
        if not self.url:
            self._warn.log(
                logging.WARNING,
                f"{INGEST_URL_ENV} is not set: product usage events are kept in "
                f"{self.spool.folder} until a tracker with a warehouse URL sends them",
            )
            return None
        if time.monotonic() < self._retry_at:
            return None
        import psycopg

        try:
            self._conn = psycopg.connect(
                self.url,
                autocommit=True,
                connect_timeout=max(1, round(self.connect_timeout)),
                application_name="vault-tracking",
            )
        except Exception as error:
            self._failed(f"cannot connect to {_redact(self.url)}: {error}")
            return None
        self._connects += 1
        if self._connects > 1:
            logger.info(f"reconnected to {_redact(self.url)}")
        # What waited on disk goes first, so events arrive roughly in order.
        self._send_spool_files()
        return self._conn

    def _failed(self, message: str) -> None:
        self._note_error(message)
        delay = self._backoff * random.uniform(0.8, 1.2)
        self._retry_at = time.monotonic() + delay
        self._backoff = min(self._backoff * 2, self.max_backoff)
        self._close_connection()

    def _note_error(self, message: str) -> None:
        self._last_error = message
        self._warn.log(logging.WARNING, f"product usage tracking: {message}")

    def _close_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _copy(self, records: list[dict[str, Any]]) -> bool:
        """One COPY attempt on the current connection; False (and backoff) on failure."""
        conn = self._conn
        try:
            self._push.copy_events(conn, TABLE, records, client_id=self.client_id)
        except ValueError:
            raise
        except Exception as error:
            self._failed(f"sending {len(records)} event(s) failed: {error}")
            return False
        self._backoff = _FIRST_BACKOFF_SECONDS
        return True

    def _send(self, records: list[dict[str, Any]]) -> bool:
        """Deliver a batch; False when it should be spilled instead."""
        for attempt in range(2):
            was_open = self._conn is not None
            if self._connection() is None:
                return False
            try:
                if self._copy(records):
                    with self._lock:
                        self._sent += len(records)
                    return True
            except ValueError:
                records = self._separate_unstorable(records)
                if not records:
                    return True
                continue
            # A long-lived connection the server dropped while idle fails on first use;
            # one fresh connection is tried at once before the batch goes to disk.
            if not (attempt == 0 and was_open):
                return False
            self._retry_at = 0.0
        return False

    def _separate_unstorable(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Move the records Postgres cannot store to the rejects; return the others."""
        from orchestration.warehouse.loader import encode_record

        kept = []
        for record in records:
            try:
                encode_record(record)
            except ValueError as error:
                self._refuse(f"the warehouse cannot store this event: {error}", record)
            else:
                kept.append(record)
        return kept

    def _spill(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        try:
            if self._push is not None:
                dumps = self._push.dumps_event
            else:
                import json

                def dumps(event: dict[str, Any]) -> str:
                    return json.dumps(event, separators=(",", ":"), allow_nan=False)

            self.spool.write((dumps(record) for record in records), len(records))
        except Exception as error:
            with self._lock:
                self._dropped += len(records)
            logger.error(
                f"product usage tracking lost {len(records)} event(s): the warehouse is "
                f"unreachable and {self.spool.folder} cannot be written ({error!r})"
            )
            return
        with self._lock:
            self._spilled += len(records)

    def _spill_full_buffer(self) -> None:
        """Called by the call that filled the buffer: write it to disk right here."""
        with self._lock:
            if len(self._buffer) < self.max_buffer:
                return  # another thread got there first
        start, calls = self._take(self.max_buffer)
        try:
            if calls and self._claim_spill(start):
                self._spill(self._records(start, calls))
            self._scan_requested = True
        finally:
            self._settle(start)

    def _spill_after_close(self, call: Call) -> None:
        with self._lock:
            start = self._taken
            self._taken += 1
            self._accepted += 1
        self._spill(self._records(start, [call]))

    def _write_rejects(self) -> None:
        with self._lock:
            entries, self._rejects = self._rejects, []
        if not entries:
            return
        try:
            self.spool.reject(entries)
        except Exception as error:
            logger.error(
                f"product usage tracking could not keep {len(entries)} refused call(s) in "
                f"{self.spool.rejected_path}: {error!r}"
            )

    def _resend_spool(self) -> None:
        """Look for spilled batches (this process's, another's, an earlier run's) and send them."""
        self._scan_requested = False
        self._next_scan = time.monotonic() + _SPOOL_SCAN_SECONDS
        with self._lock:
            self._scans_started += 1
            started = self._scans_started
        try:
            with contextlib.suppress(OSError):
                self.spool.reclaim_abandoned()
            if not self.spool.ready():
                return
            if self._connection() is None:
                # Try again when the backoff allows, not only at the next periodic scan.
                self._next_scan = min(self._next_scan, max(self._retry_at, time.monotonic() + 1))
                return
            self._send_spool_files()
        finally:
            with self._lock:
                self._scans_finished = started
                self._settled.notify_all()

    def _send_spool_files(self) -> None:
        """Send spilled batches, oldest first, while the connection takes them."""
        for path in self.spool.ready():
            if self._conn is None:
                return
            claimed = self.spool.claim(path)
            if claimed is None:
                continue
            try:
                events, bad = self.spool.read(claimed)
            except OSError as error:
                self._note_error(f"cannot read {claimed}: {error}")
                continue
            for reason, line in bad:
                self._refuse(reason, {"line": line})
            try:
                if events and not self._copy(events):
                    self.spool.release(claimed)
                    return
            except ValueError:
                events = self._separate_unstorable(events)
                if events and not self._copy(events):
                    self.spool.release(claimed)
                    return
            self.spool.finish(claimed)
            with self._lock:
                self._sent += len(events)
                self._resent += len(events)

    # -- control -----------------------------------------------------------------------------

    def _low_watermark(self) -> int:
        return min(self._outstanding) if self._outstanding else self._taken

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Send what is buffered now; True when it and every spilled event are in the warehouse.

        Tries the warehouse at once, even while reconnection is backing off, and waits at most
        `timeout` seconds (None: as long as it takes). Events the warehouse cannot take are
        spilled to disk; the result is then False and `pending()` says how many wait there.
        Calls made by other threads meanwhile do not extend the wait.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            if self._closed:
                return self.pending() == 0
            # The spool scan waited for must start after this call: one under way may have
            # listed the files before the latest spill.
            target, scans = self._accepted, self._scans_started
            if self._thread is None:
                self._start_locked()
        # After the buffer, the flusher looks at the spool once more and sends what it can;
        # a flush is a request to try now, so it does not wait out the reconnection backoff.
        self._retry_at = 0.0
        self._scan_requested = True
        self._wake.set()
        with self._lock:
            while self._low_watermark() < target or self._scans_finished <= scans:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                if self._thread is None or not self._thread.is_alive():
                    return False
                self._settled.wait(remaining)
        return self.spool.pending() == 0

    async def aflush(self, timeout: float | None = 10.0) -> bool:
        """`flush` for coroutines, waiting in a worker thread."""
        return await asyncio.to_thread(self.flush, timeout)

    def close(self, timeout: float | None = 5.0) -> None:
        """Flush for at most `timeout` seconds, stop the flusher and spill what is left.

        Registered with `atexit` for every tracker, so a service that exits normally keeps
        everything it tracked. Calls made after `close()` still return True and go straight
        to disk.
        """
        if self._closed:
            return
        deadline = None if timeout is None else time.monotonic() + timeout
        self.flush(timeout)
        with self._lock:
            self._closed = True
            self._stopping = True
            thread = self._thread
        self._wake.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        with self._lock:
            leftovers = [
                (start, calls)
                for start, calls in self._outstanding.items()
                if start not in self._claimed
            ]
            if self._buffer:
                leftovers.append(self._take_locked_all())
            self._claimed.update(start for start, _ in leftovers)
        for start, calls in leftovers:
            # A send still in flight may yet commit too; staging keeps one row per event_id.
            self._spill(self._records(start, calls))
            self._settle(start)
        self._write_rejects()
        if thread is None or not thread.is_alive():
            self._close_connection()
        _live_trackers.discard(self)

    def _take_locked_all(self) -> tuple[int, list[Call]]:
        calls, self._buffer = self._buffer, []
        start = self._taken
        self._taken += len(calls)
        self._outstanding[start] = calls
        return start, calls

    async def aclose(self, timeout: float | None = 5.0) -> None:
        """`close` for coroutines, waiting in a worker thread."""
        await asyncio.to_thread(self.close, timeout)

    def pending(self) -> int:
        """Events not yet in the warehouse: in memory here, plus in the spool folder's files."""
        with self._lock:
            memory = len(self._buffer) + sum(len(calls) for calls in self._outstanding.values())
        return memory + self.spool.pending()

    def stats(self) -> TrackerStats:
        """A consistent snapshot of the counters (see `TrackerStats`)."""
        with self._lock:
            memory = len(self._buffer) + sum(len(calls) for calls in self._outstanding.values())
            conn = self._conn
            snapshot = {
                "tracked": self._accepted,
                "sent": self._sent,
                "resent": self._resent,
                "spilled": self._spilled,
                "rejected": self._rejected,
                "dropped": self._dropped,
                "pending_memory": memory,
                "connects": self._connects,
                "connected": conn is not None and not conn.closed,
                "last_error": self._last_error,
            }
        return TrackerStats(pending_disk=self.spool.pending(), **snapshot)

    def __enter__(self) -> "Tracker":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Tracker({_redact(self.url)!r}, spool_dir={str(self.spool.folder)!r})"


_live_trackers: "weakref.WeakSet[Tracker]" = weakref.WeakSet()


def _close_all_at_exit() -> None:
    for tracker in list(_live_trackers):
        with contextlib.suppress(Exception):
            tracker.close()


class _Anchor:
    """Something for multiprocessing's after-fork registry to hold on to."""


_anchor = _Anchor()


def _flush_when_multiprocessing_child_exits(_: _Anchor) -> None:
    sys.modules["multiprocessing.util"].Finalize(None, _close_all_at_exit, exitpriority=10)


def _reset_all_in_child() -> None:
    for tracker in list(_live_trackers):
        tracker._after_fork_in_child()
    # A multiprocessing child leaves through os._exit, past atexit, running only the
    # finalizers registered with multiprocessing. It clears those right after this hook,
    # then runs its after-fork callbacks: the exit flush is registered from one of them.
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None:
        mp_util.register_after_fork(_anchor, _flush_when_multiprocessing_child_exits)


atexit.register(_close_all_at_exit)
os.register_at_fork(after_in_child=_reset_all_in_child)
