"""Product usage tracking: sustained events/s into the warehouse, and the hot path's cost per call.

    .venv/bin/python bench/tracking.py [--events 200000] [--threads 4] [--calls 100000]
                                       [--rate 5000] [--batch-size 500] [--url postgresql://...]

Three measurements in one run, against a scratch database on the warehouse's server (created,
granted with `grant_ingest` and dropped again, so the warehouse's own raw tables are never
touched), all through the ingest role:

1. delivery capacity: one thread tracks `--events` events as fast as it can into a tracker
   whose buffer may hold them all, and `flush()` waits for the last commit; the caller is
   faster than the flusher, so events/s (first call to last commit) is the pace at which the
   background thread commits its backlog (COPYs of up to ten batches of `--batch-size`);
2. overload: `--threads` threads call `track` as fast as they can until `--events` are
   tracked, with the default buffer bound, then `flush()` waits for the last commit. Callers
   that outrun the flusher fill the buffer, which then goes to disk and back (counted), so
   this is the rate the tracker sustains when it is the bottleneck;
3. latency: `--calls` calls of `track` and of a no-op function taking the same keywords,
   interleaved one for one in the same loop and timed each with `perf_counter_ns`, at
   `--rate` calls a second (far above what one service process makes, below what the
   flusher takes) while the flusher sends in the background as it would in a service. The
   difference of the medians is what tracking adds to a request; the target is under 50
   microseconds.

The warehouse is `--url`, else `VAULT_DATABASE_URL`, else the embedded server.
"""

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestration.tracking import Tracker
from orchestration.warehouse.connection import warehouse_url
from orchestration.warehouse.push import grant_ingest

CALL = {
    "customer": "cus_Nw4kB8sQe2LmTz",
    "feature": "support-copilot",
    "model": "claude-sonnet-4-5-20250929",
    "provider": "anthropic",
    "tokens_in": 1400,
    "tokens_out": 420,
    "cache_read_tokens": 6200,
    "cache_write_tokens": 400,
    "cost_usd": 0.0123,
    "latency_ms": 5234.5,
    "success": True,
    "request_id": "req_3c4e80359c1476b24c725c8b",
    "tags": {"project": "support-copilot", "environment": "production", "plan": "enterprise"},
}


def noop(
    *positional,
    customer=None,
    feature=None,
    model=None,
    provider=None,
    tokens_in=None,
    tokens_out=None,
    latency_ms=None,
    success=None,
    cache_read_tokens=0,
    cache_write_tokens=0,
    cost_usd=None,
    error_type=None,
    request_id=None,
    tags=None,
    occurred_at=None,
    event_id=None,
    **unknown,
) -> bool:
    """The baseline: a call with the tracker's signature that does nothing."""
    return True


def _percentile(values: list[int], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1000


def capacity(url: str, spool: str, events: int, batch_size: int) -> float:
    """Seconds from the first call to the last commit, with a buffer that never fills."""
    with Tracker(url, spool_dir=spool, batch_size=batch_size, max_buffer=events + 1) as tracker:
        started = time.perf_counter()
        for _ in range(events):
            tracker.track(**CALL)
        if not tracker.flush(timeout=600):
            raise SystemExit(f"flush did not finish: {tracker.stats()}")
        seconds = time.perf_counter() - started
        stats = tracker.stats()
    assert stats.sent == events and stats.spilled == 0, stats
    return seconds


def throughput(tracker: Tracker, events: int, threads: int) -> tuple[float, float]:
    """(seconds to track every event, seconds until the last one committed)."""
    per_thread = events // threads

    def produce() -> None:
        track = tracker.track
        for _ in range(per_thread):
            track(**CALL)

    workers = [threading.Thread(target=produce) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    tracked = time.perf_counter() - started
    if not tracker.flush(timeout=600):
        raise SystemExit(f"flush did not finish: {tracker.stats()}")
    return tracked, time.perf_counter() - started


def latency(tracker: Tracker, calls: int, rate: float) -> tuple[list[int], list[int]]:
    """Nanoseconds per call of the no-op and of `track`, measured alternately at `rate`/s."""
    clock = time.perf_counter_ns
    track = tracker.track
    baseline, tracked = [], []
    started = time.perf_counter()
    for n in range(calls):
        if n % 50 == 0:
            # Keep to the schedule: sleep off any time ahead of it (outside the timings).
            ahead = started + n / rate - time.perf_counter()
            if ahead > 0:
                time.sleep(ahead)
        t0 = clock()
        noop(**CALL)
        t1 = clock()
        track(**CALL)
        t2 = clock()
        baseline.append(t1 - t0)
        tracked.append(t2 - t1)
    return baseline, tracked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=5_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--url", default=os.environ.get("VAULT_DATABASE_URL"))
    args = parser.parse_args()
    server = args.url or warehouse_url()
    database = f"vault_bench_tracking_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'create database "{database}"')
    url = urlsplit(server)._replace(path=f"/{database}").geturl()
    role = f"vault_ingest_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            grant_ingest(conn, role)
        parts = urlsplit(url)
        ingest = parts._replace(netloc=f"{role}@{parts.netloc.rsplit('@', 1)[-1]}").geturl()
        with tempfile.TemporaryDirectory() as spool:
            capacity_s = capacity(ingest, spool, args.events, args.batch_size)
        with (
            tempfile.TemporaryDirectory() as spool,
            Tracker(ingest, spool_dir=spool, batch_size=args.batch_size) as tracker,
        ):
            tracked_s, delivered_s = throughput(tracker, args.events, args.threads)
            overload = tracker.stats()
        with (
            tempfile.TemporaryDirectory() as spool,
            Tracker(ingest, spool_dir=spool, batch_size=args.batch_size) as tracker,
        ):
            baseline, track_ns = latency(tracker, args.calls, args.rate)
            if not tracker.flush(timeout=600):
                raise SystemExit(f"flush did not finish: {tracker.stats()}")
            stats = tracker.stats()
        with psycopg.connect(url) as conn:
            (rows,) = conn.execute("select count(*) from raw.product_usage_events").fetchone()
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{database}" with (force)')
            admin.execute(f'drop role if exists "{role}"')

    events = args.events // args.threads * args.threads
    assert rows == args.events + overload.sent + stats.sent, (rows, overload, stats)
    assert overload.sent == events and stats.sent == args.calls, (overload, stats)
    for counts in (overload, stats):
        assert counts.rejected == counts.dropped == 0 and counts.resent == counts.spilled, counts
    print(
        f"delivery capacity, {args.events:,} events from one thread, batches of {args.batch_size}:"
    )
    print(f"  delivered (committed in raw)   : {args.events / capacity_s:>10,.0f} events/s")
    print(f"overload, {events:,} events from {args.threads} threads at full speed:")
    print(f"  tracked (hot path only)        : {events / tracked_s:>10,.0f} events/s")
    print(f"  delivered (committed in raw)   : {events / delivered_s:>10,.0f} events/s")
    print(f"  spilled to disk and re-sent    : {overload.spilled:>10,} events (the buffer filled)")
    print(
        f"hot path, {args.calls:,} calls each, alternating, {args.rate:,.0f} calls/s "
        f"({stats.spilled:,} events spilled meanwhile), in microseconds:"
    )
    print(f"{'':<22}{'median':>10}{'p99':>10}")
    for name, values in (("no-op call", baseline), ("track()", track_ns)):
        print(
            f"{name:<22}{statistics.median(values) / 1000:>10.2f}{_percentile(values, 0.99):>10.2f}"
        )
    median_added = (statistics.median(track_ns) - statistics.median(baseline)) / 1000
    p99_added = _percentile(track_ns, 0.99) - _percentile(baseline, 0.99)
    print(
        f"track() adds {median_added:.2f} us at the median and {p99_added:.2f} us at p99 "
        f"(ratio {statistics.median(track_ns) / statistics.median(baseline):.1f}x a no-op call; "
        "target: under 50 us)"
    )


if __name__ == "__main__":
    main()
