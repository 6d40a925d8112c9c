"""The warehouse dies mid-load, mid-dbt and under a stream of push events, and comes back.

Every test here runs against an embedded PostgreSQL server of this module's own, which it
stops and restarts: an immediate shutdown (SIGQUIT to the postmaster, as `pg_ctl stop -m
immediate` sends: no checkpoint, the next start replays the WAL) while a collector's COPY or a
dbt materialisation is under way, and a fast shutdown while services and hooks keep sending
events. After the restart, re-running gives exactly what a clean run gives in another database.
"""

import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from conftest import run_dbt

from assets.anthropic import anthropic_cost_report, anthropic_messages_usage
from assets.openai import openai_costs, openai_usage_completions
from orchestration.clients.anthropic import AnthropicAdminClient
from orchestration.clients.openai import OpenAIAdminClient
from orchestration.collectors.framework import Collector, Window, run_collector
from orchestration.collectors.registry import discover_collectors
from orchestration.custom.collectors import ensure_custom_tables
from orchestration.sandbox.company import build_company
from orchestration.sandbox.server import SandboxServer
from orchestration.tracking import Tracker
from orchestration.warehouse.connection import WarehouseResource
from orchestration.warehouse.embedded import EmbeddedPostgres
from orchestration.warehouse.loader import Rejected, ensure_raw_tables
from orchestration.warehouse.push import grant_ingest

ANTHROPIC_KEY = "sk-ant-admin01-test-RECOGNISABLE"
OPENAI_KEY = "sk-admin-test-RECOGNISABLE"
HOOK = Path(sys.executable).parent / "vault-claude-hook"
LOG = logging.getLogger("test")


@pytest.fixture(scope="module")
def company():
    return build_company(7)


@pytest.fixture(scope="module")
def sandbox(company):
    with SandboxServer(company) as server:
        yield server


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory) -> Iterator[EmbeddedPostgres]:
    """A server of this module's own, which its tests may crash; stopped at the end."""
    server = EmbeddedPostgres(tmp_path_factory.mktemp("warehouse") / "postgres")
    server.ensure_running()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def databases(warehouse) -> Iterator[Callable[[str], str]]:
    """`new(label)` creates an empty database on the module's server and returns its URL."""
    created: list[str] = []

    def new(label: str) -> str:
        name = f"{label}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(warehouse.url("postgres"), autocommit=True) as admin:
            admin.execute(f'create database "{name}"')
        created.append(name)
        return warehouse.url(name)

    yield new
    warehouse.ensure_running()
    with psycopg.connect(warehouse.url("postgres"), autocommit=True) as admin:
        for name in created:
            admin.execute(f'drop database if exists "{name}" with (force)')


def _postmaster_pid(server: EmbeddedPostgres) -> int:
    return int((server.data_dir / "postmaster.pid").read_text().split()[0])


def _wait_until_gone(pid: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"the postmaster {pid} did not exit")


def _crash(server: EmbeddedPostgres) -> None:
    """Immediate shutdown: every backend is killed at once and nothing is checkpointed."""
    pid = _postmaster_pid(server)
    os.kill(pid, signal.SIGQUIT)
    _wait_until_gone(pid)
    assert not server.is_running()


def _log_size(server: EmbeddedPostgres) -> int:
    return server.log_file.stat().st_size


def _log_since(server: EmbeddedPostgres, offset: int) -> str:
    with server.log_file.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


def _wait_for(predicate, timeout: float = 30.0, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {message}")


def _collect(spec: Collector, url: str, client, *, start: datetime, days: int, key: str, run_id):
    result, _ = run_collector(
        spec,
        WarehouseResource(url=url),
        start=start,
        end=start + timedelta(days=days),
        partition_key=key,
        run_id=run_id,
        log=LOG,
        resources={spec.resource_keys[0]: client},
    )
    return result


# -- a collector's COPY cut short ----------------------------------------------------------

WEEK_START = datetime(2026, 11, 2, tzinfo=UTC)
WEEK_KEY = "2026-11-02"
GARBLED = "not a cost report line"


def _cost_report_with(on_record: Callable[[int], None] | None = None) -> Collector:
    """The Anthropic cost report collector, plus one line the vendor garbled and a bookmark.

    The garbled line goes to `raw._rejected` and the bookmark to `raw._collector_state`, so a
    load touches all three tables; `on_record(n)` is called after the n-th record is yielded.
    """

    def collect(window: Window, anthropic: AnthropicAdminClient):
        last = None
        for n, record in enumerate(anthropic_cost_report.fn(window, anthropic=anthropic), 1):
            if n == 5:
                yield Rejected(GARBLED, b'{"amount": "12.5", "currency": ')
            yield record
            last = record["starting_at"]
            if on_record is not None:
                on_record(n)
        window.save_state("last_starting_at", last)

    return dataclasses.replace(anthropic_cost_report, fn=collect)


def _partition(url: str) -> dict:
    """What one partition holds in raw, its rejections and the bookmark, comparable across
    databases (load metadata apart)."""
    with psycopg.connect(url) as conn:
        rows, keys, digest = conn.execute(
            "select count(*), count(distinct natural_key), "
            "md5(string_agg(natural_key || '=' || record::text, E'\\n' "
            "order by natural_key, record::text)) "
            "from raw.anthropic_cost_report where partition_key = %s",
            (WEEK_KEY,),
        ).fetchone()
        rejected = conn.execute(
            "select reason, raw_text from raw._rejected "
            "where table_name = 'anthropic_cost_report' and partition_key = %s order by 1, 2",
            (WEEK_KEY,),
        ).fetchall()
        state = conn.execute(
            "select state_key, value from raw._collector_state "
            "where table_name = 'anthropic_cost_report' order by 1"
        ).fetchall()
    return {"rows": rows, "keys": keys, "digest": digest, "rejected": rejected, "state": state}


def _load_metadata(url: str) -> dict:
    with psycopg.connect(url) as conn:
        return {
            "runs": conn.execute(
                "select run_id, count(*) from raw.anthropic_cost_report group by 1 order by 1"
            ).fetchall(),
            "rejected_runs": conn.execute(
                "select run_id, count(*) from raw._rejected group by 1 order by 1"
            ).fetchall(),
            "state_written": conn.execute(
                "select state_key, value, updated_at from raw._collector_state order by 1"
            ).fetchall(),
        }


def _copy_progress(url: str, database: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "select tuples_processed from pg_stat_progress_copy where datname = %s",
            (database,),
        ).fetchone()
    return row[0] if row else 0


def test_a_crash_mid_copy_leaves_the_previous_partition_and_a_rerun_equals_a_clean_run(
    warehouse, databases, sandbox
):
    client = AnthropicAdminClient(base_url=sandbox.url, api_key=ANTHROPIC_KEY)
    crashed, clean = databases("crashed"), databases("clean")
    crashed_name = urlsplit(crashed).path.lstrip("/")
    # A week in one partition, so that the COPY streams several buffers of rows to the server
    # before it is cut.
    window = {"start": WEEK_START, "days": 7, "key": WEEK_KEY}
    first = _collect(_cost_report_with(), crashed, client, **window, run_id="first")
    assert first.rows > 300 and first.rejected == 1
    loaded = _load_metadata(crashed)
    progress: list[int] = []

    def crash_at(n: int) -> None:
        if n == 300:
            # The server has taken rows of this COPY in: they exist, uncommitted, when it dies.
            progress.append(
                _wait_for(lambda: _copy_progress(warehouse.url("postgres"), crashed_name))
            )
            _crash(warehouse)

    log_offset = _log_size(warehouse)
    with pytest.raises(psycopg.OperationalError):
        _collect(_cost_report_with(crash_at), crashed, client, **window, run_id="crashed")
    assert progress and progress[0] > 0, "the server had received rows of the interrupted COPY"

    warehouse.ensure_running()
    assert "automatic recovery in progress" in _log_since(warehouse, log_offset), (
        "the restart replayed the WAL, as after a real crash"
    )
    # Nothing of the interrupted load is visible: the previous rows, rejection and bookmark
    # are there as they were, untouched.
    assert _load_metadata(crashed) == loaded
    assert loaded["runs"] == [("first", first.rows)]

    again = _collect(_cost_report_with(), crashed, client, **window, run_id="after")
    reference = _collect(_cost_report_with(), clean, client, **window, run_id="clean")
    assert again.rows == reference.rows == first.rows
    recovered = _partition(crashed)
    assert recovered == _partition(clean)
    assert recovered["rows"] == recovered["keys"] == first.rows, "one row per natural key"
    assert [reason for reason, _ in recovered["rejected"]] == [GARBLED]
    assert _load_metadata(crashed)["runs"] == [("after", first.rows)]


# -- dbt cut short -------------------------------------------------------------------------

D1, D2 = date(2026, 11, 9), date(2026, 11, 10)
BUILD = (
    "build",
    "--select",
    "+fct_metrics",
    "+fct_costs",
    "--resource-type",
    "seed",
    "--resource-type",
    "model",
)
_FACTS = ("fct_metrics", "fct_costs")


def _prepare_raw_tables(url: str) -> None:
    """Every raw table dbt's sources name, as `vault db init` creates them."""
    with psycopg.connect(url, autocommit=True) as conn:
        for spec in discover_collectors():
            ensure_raw_tables(conn, spec.table)
        ensure_custom_tables(conn)
        grant_ingest(conn)


def _load_day(url: str, sandbox: SandboxServer, day: date) -> None:
    anthropic = AnthropicAdminClient(base_url=sandbox.url, api_key=ANTHROPIC_KEY)
    openai = OpenAIAdminClient(base_url=sandbox.url, api_key=OPENAI_KEY)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    for spec, client in (
        (anthropic_cost_report, anthropic),
        (anthropic_messages_usage, anthropic),
        (openai_costs, openai),
        (openai_usage_completions, openai),
    ):
        _collect(spec, url, client, start=start, days=1, key=day.isoformat(), run_id="load")


def _facts(url: str) -> dict[str, list[str]]:
    """Every row of the fact tables as JSON text, sorted: equal lists are equal tables."""
    with psycopg.connect(url) as conn:
        return {
            table: sorted(
                text
                for (text,) in conn.execute(
                    f"select to_jsonb(t)::text from marts.{table} as t"
                ).fetchall()
            )
            for table in _FACTS
        }


def _blocked_by(url: str, pid: int) -> list[str]:
    with psycopg.connect(url, autocommit=True) as conn:
        return [
            query
            for (query,) in conn.execute(
                "select query from pg_stat_activity where %s = any(pg_blocking_pids(pid))",
                (pid,),
            ).fetchall()
        ]


@pytest.mark.e2e
def test_a_crash_mid_dbt_build_keeps_the_facts_and_a_rebuild_equals_a_clean_build(
    warehouse, databases, sandbox, tmp_path
):
    crashed, clean = databases("dbt_crashed"), databases("dbt_clean")
    for url in (crashed, clean):
        _prepare_raw_tables(url)
    for day in (D1, D2):
        _load_day(clean, sandbox, day)
    _load_day(crashed, sandbox, D1)

    with ThreadPoolExecutor(max_workers=2) as pool:
        reference = pool.submit(run_dbt, clean, tmp_path / "clean", *BUILD)
        first = run_dbt(crashed, tmp_path / "crashed", *BUILD)
        assert first.returncode == 0, first.stdout[-3000:]
        before = _facts(crashed)
        assert all(before.values())

        # The second day arrives; the next build replaces fct_metrics' window. A lock held on
        # the table stops that build inside its transaction, temporary batch built and the
        # window's delete waiting, where the server then dies.
        _load_day(crashed, sandbox, D2)
        locker = psycopg.connect(crashed)
        locker.execute("lock table marts.fct_metrics in access exclusive mode")
        locker_pid = locker.info.backend_pid
        interrupted = pool.submit(run_dbt, crashed, tmp_path / "crashed", *BUILD)
        blocked = _wait_for(
            lambda: _blocked_by(warehouse.url("postgres"), locker_pid),
            timeout=240,
            message="dbt to reach fct_metrics",
        )
        assert any("delete from" in query and "fct_metrics" in query for query in blocked), blocked
        log_offset = _log_size(warehouse)
        _crash(warehouse)
        assert interrupted.result().returncode != 0
        locker.close()
        assert reference.result().returncode == 0, reference.result().stdout[-3000:]

    warehouse.ensure_running()
    assert "automatic recovery in progress" in _log_since(warehouse, log_offset)
    assert _facts(crashed) == before, "the interrupted window replacement left no trace"

    rebuilt = run_dbt(crashed, tmp_path / "crashed", *BUILD)
    assert rebuilt.returncode == 0, rebuilt.stdout[-3000:]
    after, expected = _facts(crashed), _facts(clean)
    for table in _FACTS:
        assert len(after[table]) > len(before[table]), f"{table} has the second day"
        assert after[table] == expected[table], table


# -- push events while the warehouse is down -----------------------------------------------


def _hook_payload(n: int) -> bytes:
    return json.dumps(
        {
            "session_id": f"s-{n:03d}",
            "transcript_path": f"/home/dev/.claude/projects/-home-dev-src-api/s-{n:03d}.jsonl",
            "cwd": "/home/dev/src/api",
            "hook_event_name": "UserPromptSubmit",
            "prompt": "fix the flaky retry in the billing client",
        }
    ).encode()


def test_events_sent_while_the_warehouse_is_down_all_arrive_once(warehouse, databases, tmp_path):
    url = databases("events")
    role = f"vault_ingest_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        grant_ingest(conn, role)
    parts = urlsplit(url)
    ingest_url = parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}").geturl()
    spool = tmp_path / "claude-hook.jsonl"
    hook_env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "VAULT_HOOK_SPOOL": str(spool),
        "VAULT_INGEST_URL": ingest_url,
    }
    tracker = Tracker(
        ingest_url,
        spool_dir=tmp_path / "tracking",
        batch_size=100,
        flush_interval=0.05,
        max_backoff=0.3,
    )
    phase = {"name": "up"}
    produced = {"events": 0, "hooks": 0, "hooks_while_down": 0, "hooks_after": 0}
    finished = threading.Event()

    def track() -> None:
        # A steady stream, about 1,000 events a second, until the test has seen enough.
        while not finished.is_set():
            for _ in range(10):
                assert tracker.track(
                    customer="cus_1",
                    feature="support-copilot",
                    model="claude-haiku-4-5-20251001",
                    provider="anthropic",
                    tokens_in=100,
                    tokens_out=20,
                    latency_ms=300.0,
                    success=True,
                )
                produced["events"] += 1
            time.sleep(0.01)

    def hooks() -> None:
        # Prompts keep coming, one every 0.1 s or so, each hook starting its sender.
        while not finished.is_set():
            done = subprocess.run(
                [str(HOOK)],
                input=_hook_payload(produced["hooks"]),
                env=hook_env,
                capture_output=True,
                timeout=30,
                check=False,
            )
            assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
            produced["hooks"] += 1
            if phase["name"] == "down":
                produced["hooks_while_down"] += 1
            elif phase["name"] == "back":
                produced["hooks_after"] += 1
            time.sleep(0.1)

    workers = [threading.Thread(target=track), threading.Thread(target=hooks)]
    try:
        for worker in workers:
            worker.start()
        _wait_for(lambda: tracker.stats().sent > 500 and produced["hooks"] >= 3, message="sends")
        phase["name"] = "down"
        warehouse.stop()
        time.sleep(2.0)
        down = tracker.stats()
        assert not down.connected and down.spilled > 0 and down.pending_disk > 0
        assert produced["hooks_while_down"] >= 3
        assert spool.exists() and spool.read_text().strip(), "the hooks' events wait in the spool"
        warehouse.ensure_running()
        phase["name"] = "back"
        _wait_for(lambda: produced["hooks_after"] >= 3, message="hooks after the restart")
        finished.set()
        for worker in workers:
            worker.join()
        assert tracker.flush(timeout=30), tracker.stats()
        stats = tracker.stats()
    finally:
        finished.set()
        tracker.close()

    with psycopg.connect(url) as conn:

        def hook_rows():
            return conn.execute(
                "select natural_key, record ->> 'session_id' from raw.claude_code_hook_events"
            ).fetchall()

        _wait_for(
            lambda: (
                len(hook_rows()) >= produced["hooks"]
                and not (spool.exists() and spool.read_text().strip())
            ),
            message="every hook event",
        )
        time.sleep(1)  # a sender still running must find nothing left to send twice
        events = conn.execute(
            "select count(*), count(distinct natural_key) from raw.product_usage_events"
        ).fetchone()
        received = hook_rows()
    assert stats.tracked == stats.sent == produced["events"]
    assert stats.resent == stats.spilled > 0 and stats.connects >= 2
    assert events == (produced["events"], produced["events"]), "count in equals count out"
    assert sorted(session for _, session in received) == [
        f"s-{n:03d}" for n in range(produced["hooks"])
    ], "every prompt's event arrived, once"
    assert len({key for key, _ in received}) == produced["hooks"]
