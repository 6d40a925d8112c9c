"""The product usage tracker against a real PostgreSQL, connected as an insert-only role.

Each test grants a role of its own with `grant_ingest` and gives the tracker that role's URL,
so every event travels the way a service's would: checked on the hot path, buffered, sent
with COPY by the background thread, spilled to disk when the warehouse cannot be reached and
re-sent from there. Outages are real: a port nothing listens on, and a TCP relay in front of
the server that stops forwarding, cuts its connections and refuses new ones.
"""

import asyncio
import contextlib
import logging
import math
import multiprocessing
import os
import socket
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import orchestration.tracking as tracking
from orchestration.tracking import Tracker, atrack_product_usage, track_product_usage
from orchestration.tracking.spool import Spool
from orchestration.warehouse.push import grant_ingest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _with_user_and_port(url: str, user: str, port: int | None = None) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    return parts._replace(netloc=f"{user}@{host}:{port or parts.port}").geturl()


@pytest.fixture
def ingest_role(conn):
    role = f"vault_ingest_{uuid.uuid4().hex[:8]}"
    grant_ingest(conn, role)
    yield role
    conn.execute(f'drop owned by "{role}"')
    conn.execute(f'drop role "{role}"')


@pytest.fixture
def ingest_url(database_url, ingest_role):
    return _with_user_and_port(database_url, ingest_role)


@pytest.fixture
def spool(tmp_path):
    return tmp_path / "spool"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _call(n: int = 0, **overrides):
    fields = {
        "customer": f"cus_{n % 3}",
        "feature": "support-copilot",
        "model": "claude-haiku-4-5-20251001",
        "provider": "anthropic",
        "tokens_in": 100 + n,
        "tokens_out": 20,
        "latency_ms": 350.5,
        "success": True,
    }
    return {**fields, **overrides}


def _raw(conn):
    return conn.execute(
        "select natural_key, run_id, partition_key, record from raw.product_usage_events"
    ).fetchall()


def _wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


class Relay:
    """A loopback TCP relay to the test server that can go down and come back on its port.

    Going down it first stops forwarding what the client sends, lets the server's answers
    already under way reach the client, and only then cuts both sides: so no commit is ever
    in doubt, and a resend can only be of a batch the server never committed.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = _closed_port()
        self._listener: socket.socket | None = None
        self._pairs: list[dict] = []
        self.up()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            pair = {"client": client, "server": server, "paused": False}
            self._pairs.append(pair)
            threading.Thread(
                target=self._pump, args=(pair, "client", "server"), daemon=True
            ).start()
            threading.Thread(
                target=self._pump, args=(pair, "server", "client"), daemon=True
            ).start()

    @staticmethod
    def _pump(pair: dict, source: str, target: str) -> None:
        while True:
            try:
                data = pair[source].recv(65536)
                if not data:
                    break
                if source == "client" and pair["paused"]:
                    continue  # going down: nothing more reaches the server
                pair[target].sendall(data)
            except OSError:
                break
        for side in ("client", "server"):
            with contextlib.suppress(OSError):
                pair[side].shutdown(socket.SHUT_RDWR)

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        pairs, self._pairs = self._pairs, []
        for pair in pairs:
            pair["paused"] = True
        time.sleep(0.3)
        for pair in pairs:
            for side in ("client", "server"):
                with contextlib.suppress(OSError):
                    pair[side].shutdown(socket.SHUT_RDWR)
                pair[side].close()


# -- delivery ------------------------------------------------------------------------------


def test_events_arrive_exactly_once_through_the_ingest_role(conn, ingest_url, spool):
    occurred = datetime(2026, 11, 30, 23, 59, 59, 500000, tzinfo=UTC)
    with Tracker(ingest_url, spool_dir=spool, batch_size=100, flush_interval=0.05) as tracker:
        for n in range(1000):
            assert tracker.track(**_call(n))
        assert tracker.track(
            **_call(
                customer="cus_full",
                cache_read_tokens=7800,
                cache_write_tokens=450,
                cost_usd=Decimal("0.0123"),
                error_type="timeout",
                success=False,
                request_id="req_1",
                tags={"plan": "enterprise", "seats": 40, "beta": True, "ratio": 0.5},
                occurred_at=occurred,
                event_id="evt-given",
            )
        )
        assert tracker.flush(timeout=10)
        stats = tracker.stats()
    assert (stats.tracked, stats.sent, stats.spilled, stats.rejected) == (1001, 1001, 0, 0)
    assert stats.pending == 0 and stats.connects == 1
    rows = _raw(conn)
    assert len(rows) == len({key for key, *_ in rows}) == 1001
    assert {run_id for _, run_id, _, _ in rows} == {tracker.client_id}
    given = next(row for row in rows if row[0] == "evt-given")
    assert given[2] == "2026-11-30"
    assert given[3] == {
        "event_id": "evt-given",
        "occurred_at": "2026-11-30T23:59:59.500000+00:00",
        "customer": "cus_full",
        "feature": "support-copilot",
        "model": "claude-haiku-4-5-20251001",
        "provider": "anthropic",
        "tokens_in": 100,
        "tokens_out": 20,
        "cache_read_tokens": 7800,
        "cache_write_tokens": 450,
        "cost_usd": 0.0123,
        "latency_ms": 350.5,
        "success": False,
        "error_type": "timeout",
        "request_id": "req_1",
        "tags": {"plan": "enterprise", "seats": 40, "beta": True, "ratio": 0.5},
        "schema_version": 1,
    }
    assert sorted(row[3]["tokens_in"] for row in rows if row[0] != "evt-given") == list(
        range(100, 1100)
    )


def test_an_outage_under_load_loses_nothing_and_duplicates_nothing(
    conn, database_url, ingest_role, spool
):
    parts = urlsplit(database_url)
    relay = Relay((parts.hostname, parts.port))
    url = _with_user_and_port(database_url, ingest_role, relay.port)
    tracker = Tracker(url, spool_dir=spool, batch_size=200, flush_interval=0.05, max_backoff=0.3)
    threads, per_thread = 4, 2500
    produced = Counter()

    def produce(worker: int) -> None:
        for n in range(per_thread):
            assert tracker.track(**_call(n, feature=f"worker-{worker}"))
            produced[worker] += 1
            if n % 25 == 0:
                time.sleep(0.02)  # a steady stream of about 5,000 events/s for 2 seconds

    workers = [threading.Thread(target=produce, args=(w,)) for w in range(threads)]
    try:
        for worker in workers:
            worker.start()
        assert _wait_for(lambda: tracker.stats().sent > 1000)
        relay.down()
        assert _wait_for(lambda: tracker.stats().spilled > 1000)
        assert tracker.stats().pending_disk > 0 and not tracker.stats().connected
        relay.up()
        for worker in workers:
            worker.join()
        assert tracker.flush(timeout=20), tracker.stats()
        stats = tracker.stats()
    finally:
        tracker.close()
        relay.down()
    total = threads * per_thread
    assert sum(produced.values()) == total
    assert stats.tracked == stats.sent == total
    assert stats.spilled > 0 and stats.resent == stats.spilled
    assert stats.pending == 0 and stats.rejected == stats.dropped == 0
    assert stats.connects >= 2, "it reconnected after the outage"
    keys = [key for key, *_ in _raw(conn)]
    assert len(keys) == total, "count in equals count out"
    assert len(set(keys)) == total, "no event_id twice, even in raw"
    assert not list(spool.glob("batch-*"))


def test_a_closed_port_keeps_events_on_disk_until_a_tracker_reaches_the_warehouse(
    conn, database_url, ingest_url, ingest_role, spool
):
    down_url = _with_user_and_port(database_url, ingest_role, _closed_port())
    with Tracker(down_url, spool_dir=spool, batch_size=50, flush_interval=0.05) as tracker:
        for n in range(420):
            assert tracker.track(**_call(n))
        assert tracker.flush(timeout=10) is False
        stats = tracker.stats()
        assert (stats.tracked, stats.sent, stats.spilled) == (420, 0, 420)
        assert (stats.pending_memory, stats.pending_disk) == (0, 420)
        assert tracker.pending() == 420 and not stats.connected
        assert "cannot connect" in stats.last_error
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700
    files = list(spool.glob("batch-*.jsonl"))
    assert files and all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in files)
    assert _raw(conn) == []

    with Tracker(ingest_url, spool_dir=spool, flush_interval=0.05) as tracker:
        tracker.track(**_call(1000))  # the first connection sends the spool first
        assert tracker.flush(timeout=10)
        stats = tracker.stats()
        assert (stats.sent, stats.resent, stats.pending) == (421, 420, 0)
    rows = _raw(conn)
    assert len(rows) == len({key for key, *_ in rows}) == 421
    assert not list(spool.glob("batch-*"))


def test_a_tracker_without_a_url_keeps_everything_on_disk(spool, monkeypatch):
    monkeypatch.delenv(tracking.INGEST_URL_ENV, raising=False)
    with Tracker(spool_dir=spool, flush_interval=0.05) as tracker:
        assert tracker.track(**_call())
        assert tracker.flush(timeout=5) is False
        assert tracker.stats().spilled == 1
    assert tracker.pending() == 1


# -- refused calls -------------------------------------------------------------------------


class _Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


BAD_CALLS = [
    ("missing", {"customer": "cus_1"}),
    ("negative count", _call(tokens_out=-1)),
    ("a bool for a count", _call(tokens_in=True)),
    ("a float for a count", _call(tokens_in=1.5)),
    ("NaN latency", _call(latency_ms=math.nan)),
    ("negative cost", _call(cost_usd=-0.01)),
    ("a string for success", _call(success="yes")),
    ("empty customer", _call(customer="")),
    ("NUL in feature", _call(feature="a\x00b")),
    ("lone surrogate", _call(model="claude\udc80")),
    ("nested tag", _call(tags={"a": {"b": 1}})),
    ("non-string tag key", _call(tags={1: "x"})),
    ("infinite tag", _call(tags={"x": math.inf})),
    ("tags not a dict", _call(tags=["a"])),
    ("bad occurred_at", _call(occurred_at="last tuesday")),
    ("occurred_at of a wrong type", _call(occurred_at=1700000000)),
    ("unknown field", _call(costs=1.0)),
    ("an object that cannot be printed", _call(customer=_Unprintable())),
]


def test_a_bad_call_never_raises_is_counted_and_kept(conn, ingest_url, spool, caplog):
    caplog.set_level(logging.WARNING, logger="orchestration.tracking")
    with Tracker(ingest_url, spool_dir=spool, flush_interval=0.05) as tracker:
        assert tracker.track(**_call(1))
        for _, fields in BAD_CALLS:
            assert tracker.track(**fields) is False
        assert tracker.track("positional", **_call()) is False
        assert tracker.track(**_call(2))
        assert tracker.flush(timeout=10)
        stats = tracker.stats()
    assert stats.rejected == len(BAD_CALLS) + 1
    assert (stats.tracked, stats.sent) == (2, 2)
    assert len(_raw(conn)) == 2
    lines = (spool / "rejected.jsonl").read_text().splitlines()
    assert len(lines) == len(BAD_CALLS) + 1
    assert "missing required field(s): feature, model" in lines[0]
    assert "tokens_out must not be negative" in lines[1]
    assert "unknown: costs" in lines[16]
    warnings = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(warnings) == 1, "logged at most once a minute"


# -- async ---------------------------------------------------------------------------------


def test_the_async_variant_records_from_many_coroutines(conn, ingest_url, spool):
    async def main(tracker: Tracker) -> bool:
        async def serve(n: int) -> bool:
            await asyncio.sleep(0)
            return await tracker.atrack(**_call(n))

        results = await asyncio.gather(*(serve(n) for n in range(300)))
        assert all(results)
        assert await tracker.atrack(**_call(tokens_in=-5)) is False
        return await tracker.aflush(timeout=10)

    with Tracker(ingest_url, spool_dir=spool, batch_size=64, flush_interval=0.05) as tracker:
        assert asyncio.run(main(tracker))
        assert (tracker.stats().sent, tracker.stats().rejected) == (300, 1)
    assert len(_raw(conn)) == 300


class _CountingExecutor(ThreadPoolExecutor):
    """The event loop's executor, counting the work handed to it."""

    submitted = 0

    def submit(self, fn, /, *args, **kwargs):
        self.submitted += 1
        return super().submit(fn, *args, **kwargs)


def test_a_full_buffer_goes_to_disk_off_the_event_loop(database_url, ingest_role, spool):
    # A server that completes the TCP handshake and then says nothing: the flusher sits in
    # its connection attempt, so only the calls that fill the buffer can spill it.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        url = _with_user_and_port(database_url, ingest_role, silent.getsockname()[1])
        tracker = Tracker(
            url,
            spool_dir=spool,
            batch_size=20,
            max_buffer=20,
            flush_interval=60,
            connect_timeout=3,
        )
        executor = _CountingExecutor(max_workers=1)

        async def main() -> None:
            asyncio.get_running_loop().set_default_executor(executor)
            for n in range(100):
                assert await tracker.atrack(**_call(n))

        try:
            asyncio.run(main())
            stats = tracker.stats()
            assert stats.connects == 0, "the flusher is still waiting for the server"
            assert stats.spilled >= 80 and stats.dropped == 0
            assert stats.pending == 100
            assert executor.submitted >= 4, "each full buffer was written by the executor"
        finally:
            tracker.close(timeout=0.5)
    assert tracker.stats().spilled == 100


def test_the_module_functions_use_the_environment(conn, ingest_url, spool, monkeypatch):
    monkeypatch.setenv(tracking.INGEST_URL_ENV, ingest_url)
    monkeypatch.setenv(tracking.SPOOL_ENV, str(spool))
    monkeypatch.setattr(tracking, "_default", None)
    assert track_product_usage(**_call(1))
    assert asyncio.run(atrack_product_usage(**_call(2)))
    assert track_product_usage(customer="cus_1") is False
    tracker = tracking.default_tracker()
    try:
        assert tracker.url == ingest_url and tracker.spool.folder == spool
        assert tracker.flush(timeout=10)
        assert (tracker.stats().sent, tracker.stats().rejected) == (2, 1)
    finally:
        tracker.close()
    assert len(_raw(conn)) == 2


# -- pending, stats, close -----------------------------------------------------------------


def test_pending_counts_what_waits_in_memory_and_on_disk(conn, ingest_url, spool):
    tracker = Tracker(ingest_url, spool_dir=spool, batch_size=1000, flush_interval=60)
    try:
        for n in range(7):
            tracker.track(**_call(n))
        stats = tracker.stats()
        assert (stats.pending_memory, stats.pending_disk, stats.sent) == (7, 0, 0)
        assert tracker.pending() == 7
        assert tracker.flush(timeout=10)
        assert tracker.pending() == 0 and tracker.stats().sent == 7
    finally:
        tracker.close()


def test_close_flushes_and_later_calls_go_to_disk(conn, ingest_url, spool):
    tracker = Tracker(ingest_url, spool_dir=spool, batch_size=1000, flush_interval=60)
    for n in range(250):
        tracker.track(**_call(n))
    tracker.close()
    assert len(_raw(conn)) == 250
    assert tracker.track(**_call(999)) is True
    assert tracker.stats().pending_disk == 1
    with Tracker(ingest_url, spool_dir=spool) as later:
        assert later.flush(timeout=10)
    assert len(_raw(conn)) == 251


_SERVICE = """
from orchestration.tracking import track_product_usage
for n in range(250):
    track_product_usage(
        customer="cus_exit", feature="search", model="gpt-4.1-mini", provider="openai",
        tokens_in=n, tokens_out=1, latency_ms=12.5, success=True,
    )
"""


@pytest.mark.parametrize("warehouse", ["up", "down"])
def test_a_service_that_exits_keeps_every_event(
    conn, database_url, ingest_url, ingest_role, spool, warehouse
):
    url = ingest_url
    if warehouse == "down":
        url = _with_user_and_port(database_url, ingest_role, _closed_port())
    env = {**os.environ, tracking.INGEST_URL_ENV: url, tracking.SPOOL_ENV: str(spool)}
    subprocess.run([sys.executable, "-c", _SERVICE], env=env, cwd=REPO_ROOT, check=True, timeout=60)
    if warehouse == "up":
        assert len(_raw(conn)) == 250
        assert not list(spool.glob("batch-*"))
    else:
        assert _raw(conn) == []
        assert Spool(spool).pending() == 250


# -- fork ----------------------------------------------------------------------------------


def test_a_forked_child_has_its_own_flusher_and_leaves_the_parents_events_alone(
    conn, ingest_url, spool
):
    tracker = Tracker(ingest_url, spool_dir=spool, batch_size=10_000, flush_interval=60)
    try:
        for n in range(5):
            tracker.track(**_call(n, feature="parent"))
        assert tracker.flush(timeout=10)  # the parent now holds an open connection
        for n in range(7):
            tracker.track(**_call(n, feature="parent"))  # buffered at the fork
        pid = os.fork()
        if pid == 0:  # the child: whatever happens, leave through os._exit
            code = 1
            try:
                fresh = tracker.stats().tracked == 0 and tracker.stats().pending_memory == 0
                for n in range(11):
                    tracker.track(**_call(n, feature="child"))
                sent = tracker.flush(timeout=10) and tracker.stats().sent == 11
                code = 0 if fresh and sent else 3
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        for n in range(3):
            tracker.track(**_call(n, feature="parent"))
        assert tracker.flush(timeout=10)
        stats = tracker.stats()
        assert stats.sent == 15
        assert stats.connects == 1, "the child left the parent's session alone"
    finally:
        tracker.close()
    rows = _raw(conn)
    assert len({key for key, *_ in rows}) == len(rows) == 26
    assert Counter(record["feature"] for *_, record in rows) == {"parent": 15, "child": 11}


def _multiprocessing_child(url: str, spool: str) -> None:
    tracker = Tracker(url, spool_dir=spool, batch_size=10_000, flush_interval=60)
    for n in range(40):
        tracker.track(**_call(n, feature="mp-child"))
    # No flush, no close: the child's exit must deliver them.


def test_a_multiprocessing_child_delivers_its_events_when_it_exits(conn, ingest_url, spool):
    process = multiprocessing.get_context("fork").Process(
        target=_multiprocessing_child, args=(ingest_url, str(spool))
    )
    process.start()
    process.join(timeout=60)
    assert process.exitcode == 0
    assert len(_raw(conn)) == 40
