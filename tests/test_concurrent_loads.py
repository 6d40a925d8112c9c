"""Loads that run at the same time: overlapping backfills, and each source's concurrency pool.

Two backfills over overlapping days load the same partitions at once through the real client
code and the sandbox; the raw loader's partition lock must leave one copy of every record.
Then several partitions of two sources run as concurrent Dagster runs against an instance
configured with the `concurrency.pools` block that deploy/dagster.yaml ships: a source's steps
must take turns (its pool `source_<name>`, default limit 1) while another source's go on.
"""

import logging
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import psycopg
import pytest
import yaml
from conftest import REPO_ROOT, scratch_database

from assets.anthropic import anthropic_cost_report
from orchestration.clients.anthropic import AnthropicAdminClient
from orchestration.collectors.framework import run_collector
from orchestration.sandbox.company import build_company
from orchestration.sandbox.openai_api import COSTS_PATH as OPENAI_COSTS_PATH
from orchestration.sandbox.routing import Request, Route
from orchestration.sandbox.server import DEFAULT_ROUTES, SandboxServer
from orchestration.warehouse.connection import WarehouseResource

ANTHROPIC_KEY = "sk-ant-admin01-test-RECOGNISABLE"
OPENAI_KEY = "sk-admin-test-RECOGNISABLE"
KEYS = (ANTHROPIC_KEY, OPENAI_KEY)
ANTHROPIC_COSTS_PATH = "/v1/organizations/cost_report"
FIRST_DAY = datetime(2026, 11, 2, tzinfo=UTC)
LOG = logging.getLogger("test")


@pytest.fixture(scope="module")
def company():
    return build_company(7)


def _day(n: int) -> datetime:
    return FIRST_DAY + timedelta(days=n)


def _partitions(url: str) -> dict[str, tuple]:
    """Per partition: rows, distinct natural keys, a digest of the records, the run ids."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select partition_key, count(*), count(distinct natural_key), "
            "md5(string_agg(natural_key || '=' || record::text, E'\\n' "
            "order by natural_key, record::text)), array_agg(distinct run_id) "
            "from raw.anthropic_cost_report group by 1 order by 1"
        ).fetchall()
    return {key: tuple(values) for key, *values in rows}


# -- overlapping backfills -----------------------------------------------------------------


def test_overlapping_backfills_leave_one_copy_of_each_record(server_url, company):
    with SandboxServer(company) as sandbox, scratch_database(server_url) as url:
        client = AnthropicAdminClient(base_url=sandbox.url, api_key=ANTHROPIC_KEY)
        warehouse = WarehouseResource(url=url)
        # Days 0-3 forwards and days 4-1 backwards: step by step in lockstep, so both load
        # day 2 at the same moment, and each of days 1-3 twice.
        backfills = {"forwards": [0, 1, 2, 3], "backwards": [4, 3, 2, 1]}
        steps = threading.Barrier(len(backfills))
        spans: dict[tuple[str, int], tuple[float, float]] = {}

        def backfill(name: str) -> None:
            for n in backfills[name]:
                steps.wait(timeout=60)
                started = time.monotonic()
                run_collector(
                    anthropic_cost_report,
                    warehouse,
                    start=_day(n),
                    end=_day(n + 1),
                    partition_key=_day(n).date().isoformat(),
                    run_id=f"{name}-{n}",
                    log=LOG,
                    resources={"anthropic": client},
                )
                spans[(name, n)] = (started, time.monotonic())

        with ThreadPoolExecutor(max_workers=len(backfills)) as pool:
            for done in [pool.submit(backfill, name) for name in backfills]:
                done.result()
        forwards, backwards = spans[("forwards", 2)], spans[("backwards", 2)]
        assert forwards[0] < backwards[1] and backwards[0] < forwards[1], (
            "both backfills were loading day 2 at once"
        )
        loaded = _partitions(url)

    with SandboxServer(company) as sandbox, scratch_database(server_url) as clean_url:
        client = AnthropicAdminClient(base_url=sandbox.url, api_key=ANTHROPIC_KEY)
        for n in range(5):
            run_collector(
                anthropic_cost_report,
                WarehouseResource(url=clean_url),
                start=_day(n),
                end=_day(n + 1),
                partition_key=_day(n).date().isoformat(),
                run_id="clean",
                log=LOG,
                resources={"anthropic": client},
            )
        clean = _partitions(clean_url)

    assert sorted(loaded) == sorted(clean) == [_day(n).date().isoformat() for n in range(5)]
    for key, (rows, keys, digest, run_ids) in loaded.items():
        assert rows == keys > 0, f"{key}: one row per natural key"
        assert (rows, keys, digest) == clean[key][:3], f"{key} equals a clean run's"
        # The partition lock made the two loads of a day take turns: the later one replaced
        # the earlier whole, so a partition's rows all come from one run.
        assert len(run_ids) == 1, f"{key} mixes rows of {run_ids}"


# -- concurrency pools ---------------------------------------------------------------------


class Timeline:
    """Sandbox routes that record when each request arrived and left, by source and day."""

    def __init__(self) -> None:
        self.visits: dict[tuple[str, date], list[tuple[float, float]]] = defaultdict(list)
        self._lock = threading.Lock()

    def route(
        self, source: str, route: Route, day_of: Callable[[Request], date], pause_s: float
    ) -> Route:
        """`route`, answering `pause_s` later and recording the request's visit."""

        def handler(company, request: Request):
            arrived = time.time()
            time.sleep(pause_s)
            response = route.handler(company, request)
            with self._lock:
                self.visits[(source, day_of(request))].append((arrived, time.time()))
            return response

        return Route(handler, route.fault)

    def spans(self, source: str) -> list[tuple[float, float]]:
        """Each day's first arrival and last departure: the span of that day's step."""
        return [
            (min(start for start, _ in visits), max(end for _, end in visits))
            for (name, _), visits in sorted(self.visits.items())
            if name == source
        ]


def _anthropic_day(request: Request) -> date:
    return date.fromisoformat(request.query["starting_at"][0][:10])


def _openai_day(request: Request) -> date:
    return datetime.fromtimestamp(int(request.query["start_time"][0]), UTC).date()


def _overlapping(spans: list[tuple[float, float]]) -> list[tuple[int, int]]:
    return [
        (i, j)
        for i, (start, end) in enumerate(spans)
        for j, (other_start, other_end) in enumerate(spans)
        if i < j and start < other_end and other_start < end
    ]


def _blocked_steps(instance: dg.DagsterInstance, pool: str) -> dict[str, float]:
    """Partition -> when its run's step first reported waiting for a slot of `pool`."""
    blocked: dict[str, float] = {}
    for run in instance.get_runs():
        for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
            message = entry.dagster_event.message or ""
            if message == f"Step blocked by limit for pool {pool}":
                day = run.tags["dagster/partition"]
                blocked[day] = min(blocked.get(day, entry.timestamp), entry.timestamp)
    return blocked


def _shipped_pools() -> dict:
    shipped = yaml.safe_load((REPO_ROOT / "deploy" / "dagster.yaml").read_text())
    return shipped["concurrency"]["pools"]


def _instance_yaml(home: Path, url: str) -> None:
    """The deployment's instance in a folder of its own: its concurrency pools as shipped,
    its run storage in a PostgreSQL database (as the deployment's is)."""
    parts = urlsplit(url)
    config = {
        "storage": {
            "postgres": {
                "postgres_db": {
                    "hostname": parts.hostname,
                    "port": parts.port,
                    "username": parts.username,
                    "password": parts.password or "",
                    "db_name": parts.path.lstrip("/"),
                    "scheme": "postgresql+psycopg2",
                }
            }
        },
        "concurrency": {"pools": _shipped_pools()},
        "telemetry": {"enabled": False},
    }
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))


# One run of one partition, as the run launcher starts it: a process of its own on the
# instance in DAGSTER_HOME. It says "ready" once loaded and starts when told to, so that the
# runs begin together.
_RUN = """
import sys
from datetime import date

import dagster as dg

from assets.anthropic import anthropic_cost_report
from assets.openai import openai_costs
from orchestration.clients.anthropic import AnthropicAdminClient
from orchestration.clients.openai import OpenAIAdminClient
from orchestration.collectors.framework import build_collector_asset
from orchestration.warehouse.connection import WarehouseResource

day, sandbox_url, warehouse_url, anthropic_key, openai_key = sys.argv[1:6]
assets = [
    build_collector_asset(
        spec, start_date=date(2026, 11, 1), retry_policy=dg.RetryPolicy(max_retries=0)
    )
    for spec in (anthropic_cost_report, openai_costs)
]
resources = {
    "warehouse": WarehouseResource(url=warehouse_url),
    "anthropic": AnthropicAdminClient(base_url=sandbox_url, api_key=anthropic_key),
    "openai": OpenAIAdminClient(base_url=sandbox_url, api_key=openai_key),
}
with dg.DagsterInstance.get() as instance:
    print("ready", flush=True)
    sys.stdin.readline()
    result = dg.materialize(
        assets, partition_key=day, instance=instance, resources=resources, raise_on_error=False
    )
sys.exit(0 if result.success else 1)
"""


def test_a_sources_pool_keeps_its_steps_one_at_a_time_across_runs(server_url, company, tmp_path):
    pools = _shipped_pools()
    assert pools["default_limit"] == 1
    timeline = Timeline()
    routes = dict(DEFAULT_ROUTES)
    # Anthropic's cost report takes four pages a day and OpenAI's three: each answer paused
    # so that a step lasts a second or two.
    for source, path, day_of, pause in (
        ("anthropic", ANTHROPIC_COSTS_PATH, _anthropic_day, 0.25),
        ("openai", OPENAI_COSTS_PATH, _openai_day, 0.6),
    ):
        routes[("GET", path)] = timeline.route(source, routes[("GET", path)], day_of, pause)
    days = [_day(n).date().isoformat() for n in range(3)]
    with (
        SandboxServer(company, routes=routes) as sandbox,
        scratch_database(server_url) as warehouse_url,
        scratch_database(server_url) as dagster_url,
    ):
        _instance_yaml(tmp_path, dagster_url)
        with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
            assert instance.get_concurrency_config().pool_config.default_pool_limit == 1
            # The first run to use a pool creates it with the default limit; two runs doing so
            # at the same moment collide on its row (Dagster inserts it unguarded), so the
            # pools are created here, as any earlier run of the source would have.
            storage = instance.event_log_storage
            for pool in ("source_anthropic", "source_openai"):
                assert storage.initialize_concurrency_limit_to_default(pool)
                assert storage.get_concurrency_info(pool).slot_count == 1
            env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
            runs = [
                subprocess.Popen(
                    [sys.executable, "-c", _RUN, day, sandbox.url, warehouse_url, *KEYS],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    env=env,
                    cwd=REPO_ROOT,
                )
                for day in days
            ]
            try:
                for run in runs:
                    assert run.stdout.readline().strip() == "ready", run.stderr.read()
                for run in runs:
                    run.stdin.write("go\n")
                    run.stdin.flush()
                for run in runs:
                    _, err = run.communicate(timeout=180)
                    assert run.returncode == 0, err[-3000:]
            finally:
                for run in runs:
                    if run.poll() is None:
                        run.kill()
            info = storage.get_concurrency_info("source_anthropic")
            assert info.slot_count == 1, "the pool kept the shipped default limit"
            assert not info.claimed_slots and not info.pending_steps, "every slot was freed"
            blocked = _blocked_steps(instance, "source_anthropic")
        with psycopg.connect(warehouse_url) as conn:
            loaded = conn.execute(
                "select partition_key, count(*) from raw.anthropic_cost_report group by 1"
            ).fetchall()
        assert sorted(key for key, _ in loaded) == days

    anthropic, openai = timeline.spans("anthropic"), timeline.spans("openai")
    assert len(anthropic) == len(openai) == len(days)
    assert _overlapping(anthropic) == [], "a source with limit 1 ran one step at a time"
    # The runs did want the pool at the same time: a step waited for its slot...
    assert blocked, "no run ever waited for the anthropic pool: the runs did not overlap"
    # ...and while it waited, the other source's steps went on.
    started = dict(zip(days, (start for start, _ in anthropic), strict=True))
    assert any(
        waiting_since < end and start < started[day]
        for day, waiting_since in blocked.items()
        for start, end in openai
    ), "openai's steps ran while an anthropic step waited for its pool"
