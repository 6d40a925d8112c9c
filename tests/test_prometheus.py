"""The Prometheus collector against a real Prometheus scraping a real node-exporter.

The module starts Debian's `prometheus` and `prometheus-node-exporter` on free loopback ports
(a scrape every second, storage in a temporary folder), waits for a few scrapes, and collects
real series through the client code; what lands in raw is compared with what Prometheus's own
API answers for the same query and range. The scrape target carries `namespace` and `service`
labels, so the dbt build also shows the taxonomy mapping. Both processes are stopped by fixture
finalizers, whatever the tests do. Without the binaries those tests skip, naming the packages.

The remaining tests use the sandbox's Prometheus-shaped fake (`orchestration/sandbox/
prometheus_api.py`, which stands in for a server in the demo, over real HTTP): that it serves
the company's workloads, the authentication headers the client sends (a real server would
need a web config with bcrypt hashes), and what a healthy server cannot be made to do on
demand, answer 429 or 503. The splitting arithmetic and the configuration checks are pure.
"""

import base64
import json
import logging
import os
import shutil
import socket
import subprocess
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import httpx
import psycopg
import pytest

from assets.prometheus import prometheus_series
from orchestration.clients.prometheus import (
    QUERY_RANGE_PATH,
    PrometheusClient,
    PrometheusQuerySpec,
    grid_bounds,
    sub_ranges,
)
from orchestration.collectors.framework import run_collector
from orchestration.collectors.http import MissingCredentialError, SourceError
from orchestration.config import ConfigError, load_config
from orchestration.dbt.assets import ensure_sources_exist
from orchestration.dbt.project import DBT_PROJECT_DIR, dbt_executable, ensure_manifest
from orchestration.sandbox import prometheus_api
from orchestration.sandbox.company import build_company
from orchestration.sandbox.infrastructure import workloads
from orchestration.sandbox.server import SandboxServer
from orchestration.warehouse.connection import WarehouseResource, dbt_env

LOG = logging.getLogger("test")
PROMETHEUS = shutil.which("prometheus")
NODE_EXPORTER = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
needs_prometheus = pytest.mark.skipif(
    not (PROMETHEUS and NODE_EXPORTER),
    reason="needs Prometheus and node-exporter: apt-get install prometheus prometheus-node-exporter",
)
TARGET_LABELS = {"namespace": "checkout-assistant", "service": "checkout-api"}
MEMORY = PrometheusQuerySpec(
    name="infra.memory.available_bytes",
    query="node_memory_MemAvailable_bytes",
    unit="bytes",
    step="1s",
)
CPU = PrometheusQuerySpec(
    name="infra.cpu.usage_cores",
    query='sum by (mode, namespace, service) (rate(node_cpu_seconds_total{mode!="idle"}[5s]))',
    unit="cores",
    step="1s",
    tags=["mode", "namespace", "service"],
    value_kind="gauge",
)
# Real Prometheus arithmetic that yields NaN and +Inf for every sample.
NAN = PrometheusQuerySpec(
    name="infra.test.not_a_number",
    query="(node_memory_MemAvailable_bytes * 0) / 0",
    unit="ratio",
    step="1s",
)
INFINITY = PrometheusQuerySpec(
    name="infra.test.infinite", query="node_memory_MemAvailable_bytes / 0", unit="ratio", step="1s"
)
WINDOW_S = 7


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_for(predicate, *, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}")


@pytest.fixture(scope="module")
def prometheus_url(request, tmp_path_factory) -> str:
    """A running Prometheus that has scraped a node-exporter for a few seconds."""
    if not (PROMETHEUS and NODE_EXPORTER):
        pytest.skip(
            "needs Prometheus and node-exporter: apt-get install prometheus "
            "prometheus-node-exporter"
        )
    home = tmp_path_factory.mktemp("prometheus")
    exporter_port, prometheus_port = _free_port(), _free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "node",
                "scrape_timeout": "1s",
                "static_configs": [
                    {"targets": [f"127.0.0.1:{exporter_port}"], "labels": TARGET_LABELS}
                ],
            }
        ],
    }
    (home / "prometheus.yml").write_text(json.dumps(config))  # JSON is valid YAML
    logs = (home / "node-exporter.log").open("w"), (home / "prometheus.log").open("w")
    exporter = subprocess.Popen(
        [
            NODE_EXPORTER,
            f"--web.listen-address=127.0.0.1:{exporter_port}",
            "--collector.disable-defaults",
            "--collector.cpu",
            "--collector.meminfo",
        ],
        stdout=logs[0],
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    request.addfinalizer(lambda: _stop(exporter))
    server = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={home / 'prometheus.yml'}",
            f"--storage.tsdb.path={home / 'data'}",
            f"--web.listen-address=127.0.0.1:{prometheus_port}",
        ],
        stdout=logs[1],
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    request.addfinalizer(lambda: _stop(server))
    for log in logs:
        request.addfinalizer(log.close)
    url = f"http://127.0.0.1:{prometheus_port}"
    _wait_for(
        lambda: httpx.get(f"{url}/-/ready", timeout=2).status_code == 200,
        timeout_s=30,
        what=f"Prometheus to be ready (log: {home / 'prometheus.log'})",
    )

    def scraped_enough() -> bool:
        body = httpx.get(
            f"{url}/api/v1/query",
            params={"query": 'count_over_time(up{job="node"}[1m])'},
            timeout=2,
        ).json()
        result = body["data"]["result"]
        return bool(result) and int(result[0]["value"][1]) >= WINDOW_S + 6

    _wait_for(scraped_enough, timeout_s=40, what="a dozen scrapes of node-exporter")
    return url


@pytest.fixture(scope="module")
def window(prometheus_url) -> tuple[datetime, datetime]:
    """The last WINDOW_S whole seconds that Prometheus has fully scraped: [start, end)."""
    end = datetime.fromtimestamp(int(time.time()) - 2, UTC)
    return end - timedelta(seconds=WINDOW_S), end


def _collect(database_url, client, window, *, key="2026-12-03-14:00", run_id="r1"):
    result, _ = run_collector(
        prometheus_series,
        WarehouseResource(url=database_url),
        start=window[0],
        end=window[1],
        partition_key=key,
        run_id=run_id,
        log=LOG,
        resources={"prometheus": client},
    )
    return result


def _prometheus_answer(url, spec, window) -> set[tuple[str, str, float, str]]:
    """(query, labels, timestamp, value) for every sample Prometheus itself answers."""
    start, end = int(window[0].timestamp()), int(window[1].timestamp()) - 1
    body = httpx.get(
        f"{url}{QUERY_RANGE_PATH}",
        params={"query": spec.query, "start": start, "end": end, "step": spec.step},
    ).json()
    assert body["status"] == "success", body
    return {
        (spec.name, json.dumps(series["metric"], sort_keys=True), float(at), value)
        for series in body["data"]["result"]
        for at, value in series["values"]
    }


def _raw_samples(conn) -> list[tuple[str, str, float, str]]:
    rows = conn.execute(
        """
        select record ->> 'query_name', record -> 'metric', (pair ->> 0)::float, pair ->> 1
        from raw.prometheus_series
        cross join lateral jsonb_array_elements(record -> 'values') as pair
        """
    ).fetchall()
    return [
        (name, json.dumps(labels, sort_keys=True), at, value) for name, labels, at, value in rows
    ]


@needs_prometheus
def test_raw_holds_exactly_what_prometheus_answers_for_the_same_queries(
    conn, database_url, prometheus_url, window
):
    client = PrometheusClient(base_url=prometheus_url, queries=[MEMORY, CPU])
    result = _collect(database_url, client, window)
    expected = _prometheus_answer(prometheus_url, MEMORY, window) | _prometheus_answer(
        prometheus_url, CPU, window
    )
    samples = _raw_samples(conn)
    assert sorted(samples) == sorted(expected)
    assert len(expected) >= WINDOW_S * 2, "memory and at least one CPU mode, every second"
    assert {at for _, _, at, _ in samples} == {
        window[0].timestamp() + second for second in range(WINDOW_S)
    }, "one sample per step inside [start, end), the end itself excluded"
    assert result.rows == conn.execute("select count(*) from raw.prometheus_series").fetchone()[0]
    record = conn.execute(
        "select record from raw.prometheus_series where record ->> 'query_name' = %s limit 1",
        (MEMORY.name,),
    ).fetchone()[0]
    assert record["metric"]["__name__"] == "node_memory_MemAvailable_bytes"
    assert record["metric"]["namespace"] == "checkout-assistant"
    assert isinstance(record["values"][0][1], str), "values stay the strings Prometheus sent"
    assert (record["promql"], record["unit"], record["step_s"]) == (MEMORY.query, "bytes", 1)


@needs_prometheus
def test_a_tiny_point_limit_splits_the_range_with_no_sample_dropped_or_repeated(
    conn, database_url, prometheus_url, window
):
    client = PrometheusClient(base_url=prometheus_url, queries=[MEMORY], max_points_per_query=3)
    _collect(database_url, client, window)
    ranges = conn.execute(
        "select distinct (record ->> 'range_start')::int, (record ->> 'range_end')::int "
        "from raw.prometheus_series order by 1"
    ).fetchall()
    start = int(window[0].timestamp())
    assert ranges == [(start, start + 2), (start + 3, start + 5), (start + 6, start + 6)]
    samples = _raw_samples(conn)
    assert len(samples) == len(set(samples)), "no sample twice"
    assert set(samples) == _prometheus_answer(prometheus_url, MEMORY, window)


@needs_prometheus
def test_bad_promql_fails_the_partition_with_prometheus_error_and_keeps_earlier_rows(
    conn, database_url, prometheus_url, window
):
    loaded = _collect(
        database_url, PrometheusClient(base_url=prometheus_url, queries=[MEMORY]), window
    )
    broken = PrometheusQuerySpec(
        name="infra.cpu.broken",
        query="sum(rate(node_cpu_seconds_total[5s])",
        unit="cores",
        step="1s",
    )
    client = PrometheusClient(base_url=prometheus_url, queries=[MEMORY, broken])
    with pytest.raises(SourceError) as failure:
        _collect(database_url, client, window, run_id="bad")
    message = str(failure.value)
    assert "'infra.cpu.broken'" in message
    assert "PromQL: sum(rate(node_cpu_seconds_total[5s])" in message
    assert "HTTP 400" in message and "parse error: unclosed left parenthesis" in message
    assert conn.execute(
        "select count(*), min(run_id), max(run_id) from raw.prometheus_series"
    ).fetchone() == (loaded.rows, "r1", "r1")


def _dbt(url: str, target: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            dbt_executable(),
            *args,
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
        ],
        env={
            **os.environ,
            **dbt_env(url),
            "DBT_TARGET_PATH": str(target / "target"),
            "DBT_LOG_PATH": str(target / "logs"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        },
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _dbt_build(url: str, target: Path) -> subprocess.CompletedProcess:
    """fct_metrics and everything under it, then the tests of this source's models and the
    unit check on fct_metrics (every source's tests would take minutes; they have their own
    modules)."""
    build = _dbt(url, target, "build", "--select", "+fct_metrics", "--indirect-selection", "empty")
    if build.returncode:
        return build
    own = (
        "stg_prometheus__samples",
        "int_metrics__prometheus",
        "assert_metric_units_match_metric_types",
    )
    return _dbt(url, target, "test", "--select", *own)


@needs_prometheus
def test_dbt_build_puts_the_finite_samples_in_fct_metrics_with_their_taxonomy(
    module_database, prometheus_url, window, tmp_path
):
    client = PrometheusClient(base_url=prometheus_url, queries=[MEMORY, CPU, NAN, INFINITY])
    _collect(module_database, client, window)
    ensure_sources_exist(WarehouseResource(url=module_database))
    build = _dbt_build(module_database, tmp_path)
    assert build.returncode == 0, build.stdout[-4000:]

    with psycopg.connect(module_database) as conn:
        texts = conn.execute(
            "select record ->> 'query_name', pair ->> 1 from raw.prometheus_series "
            "cross join lateral jsonb_array_elements(record -> 'values') as pair "
            "where record ->> 'query_name' like 'infra.test.%%'"
        ).fetchall()
        assert {text for _, text in texts} == {"NaN", "+Inf"}, "raw keeps them as sent"
        staged = conn.execute(
            "select count(*) filter (where not is_finite), count(*) "
            "from staging.stg_prometheus__samples"
        ).fetchone()
        assert staged[0] == len(texts) > 0
        rows = conn.execute(
            """
            select metric_type, observed_at, value, unit, tags, team, department, project,
                environment, service, region
            from marts.fct_metrics where source_system = 'prometheus'
            """
        ).fetchall()
    assert len(rows) == staged[1] - staged[0], "every finite sample, and nothing else"
    expected = {
        (name, at, Decimal(value))
        for spec in (MEMORY, CPU)
        for name, _, at, value in _prometheus_answer(prometheus_url, spec, window)
    }
    assert {(row[0], row[1].timestamp(), row[2]) for row in rows} == expected
    assert {row[3] for row in rows} == {"bytes", "cores"}
    memory = next(row for row in rows if row[0] == MEMORY.name)
    assert memory[4] == {**TARGET_LABELS, "instance": memory[4]["instance"], "job": "node"}
    cpu = next(row for row in rows if row[0] == CPU.name)
    assert set(cpu[4]) == {"mode", "namespace", "service", "value_kind"}
    # source_mappings.csv maps the sandbox's namespace checkout-assistant to its team.
    assert {row[5:10] for row in rows} == {
        ("checkout", "engineering", "checkout-assistant", "production", "checkout-api")
    }
    assert {row[10] for row in rows} == {"unallocated"}


# -- against the sandbox's Prometheus-shaped fake -------------------------------------------

HOUR = datetime(2026, 11, 3, 14, tzinfo=UTC)
DEMO = PrometheusQuerySpec(
    name="infra.cpu.usage_cores", query=prometheus_api.CPU_QUERY, unit="cores", step="5m"
)


@pytest.fixture
def sandbox():
    with SandboxServer(build_company(7), routes=prometheus_api.ROUTES) as server:
        yield server


def test_the_sandbox_serves_every_workload_of_the_company(conn, database_url, sandbox):
    client = PrometheusClient(
        base_url=sandbox.url,
        queries=[DEMO],
        bearer_token_env="PROMETHEUS_TOKEN",
        bearer_token="token-RECOGNISABLE",
    )
    result = _collect(database_url, client, (HOUR, HOUR + timedelta(hours=1)))
    company = build_company(7)
    start = HOUR.timestamp()
    expected = prometheus_api.series_for(company, DEMO.query, start, start + 3300, 300)
    assert result.rows == len(workloads(company)) == len(expected)
    stored = conn.execute(
        "select record -> 'metric', record -> 'values' from raw.prometheus_series"
    )
    assert sorted(json.dumps(list(row), sort_keys=True) for row in stored) == sorted(
        json.dumps([series["metric"], series["values"]], sort_keys=True) for series in expected
    )
    assert [r.headers["authorization"] for r in sandbox.requests] == ["Bearer token-RECOGNISABLE"]


def test_basic_auth_is_sent_and_a_missing_password_variable_is_named(conn, database_url, sandbox):
    settings = {
        "base_url": sandbox.url,
        "queries": [DEMO],
        "basic_auth_username_env": "PROM_USER",
        "basic_auth_password_env": "PROM_PASSWORD",
        "basic_auth_username": "vault",
    }
    with pytest.raises(MissingCredentialError, match="PROM_PASSWORD is not set"):
        _collect(database_url, PrometheusClient(**settings), (HOUR, HOUR + timedelta(hours=1)))
    assert sandbox.requests == []
    client = PrometheusClient(**settings, basic_auth_password="pass-RECOGNISABLE")
    _collect(database_url, client, (HOUR, HOUR + timedelta(hours=1)))
    expected = "Basic " + base64.b64encode(b"vault:pass-RECOGNISABLE").decode()
    assert [r.headers["authorization"] for r in sandbox.requests] == [expected]


def test_overload_and_rate_limits_are_retried(conn, database_url, sandbox):
    sandbox.faults[QUERY_RANGE_PATH] = [503, 429]
    client = PrometheusClient(base_url=sandbox.url, queries=[DEMO])
    result = _collect(database_url, client, (HOUR, HOUR + timedelta(hours=1)))
    assert result.rows == len(workloads(build_company(7)))
    assert len(sandbox.requests) == 3, "each fault cost one more request"


def test_a_missing_token_variable_is_named_before_any_request(conn, database_url, sandbox):
    client = PrometheusClient(base_url=sandbox.url, queries=[DEMO], bearer_token_env="PROM_TOKEN")
    with pytest.raises(MissingCredentialError, match="PROM_TOKEN is not set"):
        _collect(database_url, client, (HOUR, HOUR + timedelta(hours=1)))
    assert sandbox.requests == []


@pytest.mark.parametrize(
    ("start_s", "end_s", "step_s", "max_points"),
    [(0, 3600, 60, 11_000), (0, 3600, 60, 7), (17, 3600, 420, 2), (30, 3570, 1, 1000)],
)
def test_sub_ranges_cover_each_grid_point_of_a_window_exactly_once(
    start_s, end_s, step_s, max_points
):
    base = HOUR.timestamp()
    start, end = HOUR + timedelta(seconds=start_s), HOUR + timedelta(seconds=end_s)
    first, last = grid_bounds(start, end, step_s)
    points = [
        at
        for range_start, range_end in sub_ranges(first, last, step_s, max_points)
        for at in range(range_start, range_end + 1, step_s)
    ]
    grid = [
        at
        for at in range(int(base) - 7200, int(base) + 7200)
        if at % step_s == 0 and start_s <= at - base < end_s
    ]
    assert points == grid
    ranges = sub_ranges(first, last, step_s, max_points)
    assert all((stop - begin) // step_s + 1 <= max_points for begin, stop in ranges)
    # The next hour starts on the next grid point: partitions meet without overlap.
    following = grid_bounds(end, end + timedelta(hours=1), step_s)
    assert following[0] == last + step_s


def test_a_step_longer_than_the_hour_asks_only_the_hours_holding_a_grid_point(sandbox):
    daily = PrometheusQuerySpec(name="infra.cpu.daily", query=DEMO.query, unit="cores", step="1d")
    client = PrometheusClient(base_url=sandbox.url, queries=[daily])
    midnight = datetime(2026, 11, 3, tzinfo=UTC)
    assert (
        list(client.range_records(midnight + timedelta(hours=1), midnight + timedelta(hours=2)))
        == []
    )
    assert len(list(client.range_records(midnight, midnight + timedelta(hours=1)))) > 0
    assert len(sandbox.requests) == 1


ONE_QUERY = "    queries: [{name: infra.up, query: up, unit: u}]\n"


def _config(tmp_path, body: str) -> Path:
    path = tmp_path / "vault.yaml"
    path.write_text("sources:\n  prometheus:\n" + body)
    return path


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("    base_url: http://p:9090\n", "sources.prometheus.queries: Field required"),
        (
            "    queries: [{name: CPU, query: up, unit: cores}]\n",
            "'CPU' is not a metric type",
        ),
        (
            "    queries: [{name: infra.up, query: up, unit: cores, step: 5 minutes}]\n",
            "step '5 minutes' is not a duration",
        ),
        (
            "    bearer_token_env: 'sk-abc 123'\n" + ONE_QUERY,
            "is not an environment variable name",
        ),
        (
            "    basic_auth_username_env: PROM_USER\n" + ONE_QUERY,
            "basic auth needs both",
        ),
        (
            "    queries:\n      - {name: infra.up, query: up, unit: u}\n"
            "      - {name: infra.up, query: x, unit: u}\n",
            "name infra.up is used twice",
        ),
        (
            "    max_points_per_query: 20000\n" + ONE_QUERY,
            "max_points_per_query: Input should be less than or equal to 11000",
        ),
    ],
)
def test_a_bad_prometheus_section_is_refused_with_the_key_and_reason(tmp_path, body, reason):
    with pytest.raises(ConfigError, match="prometheus") as failure:
        load_config(_config(tmp_path, body))
    assert reason in str(failure.value)


def test_the_collector_is_an_hourly_asset_with_its_client(tmp_path):
    ensure_manifest()
    # Imported here: importing the definitions module loads the project's own vault.yaml.
    from orchestration.definitions import build_definitions

    config = _config(
        tmp_path,
        "    bearer_token_env: PROMETHEUS_TOKEN\n"
        "    queries:\n"
        "      - {name: infra.cpu.usage_cores, query: 'sum(rate(x[5m]))', unit: cores,"
        " step: 5m, tags: [namespace]}\n",
    )
    defs = build_definitions(load_config(config))
    node = defs.resolve_asset_graph().get(dg.AssetKey(["raw", "prometheus_series"]))
    assert isinstance(node.partitions_def, dg.HourlyPartitionsDefinition)
    client = defs.resources["prometheus"]
    assert client.queries[0].tags == ["namespace"]
    assert (client.bearer_token_env, client.queries[0].step) == ("PROMETHEUS_TOKEN", "5m")
