"""Empties the hook's spool into the warehouse: `python -m orchestration.hook.sender`.

The hook starts this detached after spooling an event. It sends everything in the spool to
`VAULT_INGEST_URL` with `warehouse.push.copy_events` (a connection as `vault_ingest`, which may
insert and nothing else), in batches, each batch one transaction; a batch leaves the spool only
once it has committed. When the warehouse cannot be reached the spool keeps everything and the
next prompt's sender tries again, so nothing is lost while a laptop is offline.

One sender runs at a time: it holds `<spool>.sender.lock`, and one that finds the lock taken
leaves at once. A sender that had the lock looks at the spool again after letting go of it, so
an event spooled while it was finishing is not left waiting for the next prompt.

A line that cannot be an event (not JSON, no `event_id` or `occurred_at`, text that Postgres
cannot store) would fail its whole batch every time; it is moved to `<spool>.rejected` with a
note in the log instead, so one bad line cannot hold up the others.
"""

import contextlib
import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg

from orchestration.hook.main import INGEST_URL_ENV
from orchestration.hook.spool import (
    append_lines,
    drop_prefix,
    log,
    open_private,
    pending_bytes,
    read_batch,
    rejected_path,
    sender_lock_path,
    spool_path,
)
from orchestration.warehouse.loader import encode_record
from orchestration.warehouse.push import copy_events, event_partition

HOOK_TABLE = "claude_code_hook_events"
BATCH_LINES = 5000
CONNECT_TIMEOUT_S = 10
# A sender goes round again when events arrived as it finished; this bounds the rounds.
MAX_ROUNDS = 5


@dataclass(frozen=True)
class SendResult:
    sent: int
    rejected: int
    busy: bool = False  # another sender held the lock; this one did nothing


def client_id() -> str:
    """Who sent a batch, stored as the raw rows' `run_id`: the hook and the machine's name."""
    return f"claude-code-hook:{os.uname().nodename}"


@contextlib.contextmanager
def _sender_lock(spool: str, wait_s: float) -> Iterator[bool]:
    """Hold the one-sender lock if it comes free within `wait_s` seconds; yields whether."""
    fd = open_private(sender_lock_path(spool), os.O_RDWR)
    deadline = time.monotonic() + wait_s
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.05)
        yield True
    finally:
        os.close(fd)


def parse_lines(lines: list[bytes]) -> tuple[list[dict], list[str]]:
    """Split spool lines into events ready for COPY and lines that can never be sent."""
    events: list[dict] = []
    rejected: list[str] = []
    for line in lines:
        text = line.decode("utf-8", errors="replace").rstrip("\n")
        if not text.strip():
            continue
        try:
            event = json.loads(text)
            if not isinstance(event, dict):
                raise ValueError("not a JSON object")
            if not event.get("event_id") or not event.get("occurred_at"):
                raise ValueError("no event_id or occurred_at")
            # What copy_events would refuse, refused here line by line instead.
            encode_record(event)
            event_partition(event["occurred_at"])
        except (ValueError, TypeError, AttributeError) as error:
            rejected.append(json.dumps({"reason": str(error), "line": text}, ensure_ascii=False))
            continue
        events.append(event)
    return events, rejected


def send_spool(
    spool: str,
    url: str,
    *,
    client: str | None = None,
    batch_lines: int = BATCH_LINES,
    connect_timeout: int = CONNECT_TIMEOUT_S,
    wait_s: float = 0.0,
) -> SendResult:
    """Send the spool's events to `url` and remove them from it; what fails stays.

    A sender already running makes this return at once with `busy` (the hook's senders do
    that: the running one sends their events too), unless `wait_s` gives it time to finish.
    Raises what the connection or COPY raises (the caller logs it); events sent before the
    failure are already out of the spool.
    """
    sent = rejected = 0
    for round_number in range(MAX_ROUNDS):
        with _sender_lock(spool, wait_s if round_number == 0 else 0.0) as held:
            if not held:
                return SendResult(sent, rejected, busy=round_number == 0)
            lines, consumed = read_batch(spool, batch_lines)
            if not lines:
                return SendResult(sent, rejected)
            with psycopg.connect(
                url,
                autocommit=True,
                connect_timeout=connect_timeout,
                application_name="vault-claude-hook",
            ) as conn:
                while lines:
                    events, bad = parse_lines(lines)
                    if bad:
                        append_lines(rejected_path(spool), bad)
                        log(spool, f"{len(bad)} unreadable spool lines moved to the rejected file")
                    if events:
                        copy_events(conn, HOOK_TABLE, events, client_id=client or client_id())
                    drop_prefix(spool, consumed)
                    sent += len(events)
                    rejected += len(bad)
                    lines, consumed = read_batch(spool, batch_lines)
        # The lock is free again: an event spooled while it was held would otherwise wait
        # for the next prompt, because that event's own sender found the lock taken.
        if not pending_bytes(spool):
            break
    return SendResult(sent, rejected)


def main() -> int:
    """Send the spool to `VAULT_INGEST_URL`; failures go to the hook's log, never elsewhere."""
    spool = spool_path()
    url = os.environ.get(INGEST_URL_ENV, "").strip()
    if not url:
        log(spool, "sender started without VAULT_INGEST_URL: nothing sent")
        return 0
    try:
        result = send_spool(spool, url)
    except Exception as error:
        waiting = pending_bytes(spool)
        log(
            spool,
            f"could not send ({type(error).__name__}: {error}); "
            f"{waiting} bytes stay in the spool for the next prompt",
        )
        return 0
    if result.sent or result.rejected:
        set_aside = f"; {result.rejected} unreadable line(s) set aside" if result.rejected else ""
        log(spool, f"sent {result.sent} event(s){set_aside}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
