"""`vault serve` answering Prometheus's read API, over real HTTP, from a real warehouse.

The twin's sample set (`tests/promql_twin.py`) is built into `marts.fct_metrics` of a module
database, the roles are set up with a random suffix (dropped at the end), and the server is
started in this process with uvicorn on a free loopback port, reading as the suffixed reader.
The tests call it as Grafana and prometheus-api-client do: each endpoint's JSON shape, GET
and POST forms, every error type with its status code, the 11,000-point limit, a query cut
off by its timeout, the bearer token, the reader's rights, and a warehouse that went away.
Finally the same sample set is served by Debian's Prometheus 2.42, and a handful of requests
must give the same JSON from both, key order and value strings included, once the result
lists are sorted.

`vault serve` itself runs as a subprocess where only starting matters: it refuses a public
address without a token and a warehouse without the reader role.
"""

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
import yaml
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from promql_twin import END, SAMPLES, START, load_into_warehouse, needs_prometheus, start_prometheus

from orchestration.config import ConfigError, ServeConfig, load_config
from orchestration.query import promql
from orchestration.query.server import (
    BUILD_VERSION,
    ReaderPool,
    ServeError,
    Settings,
    build_app,
    check_exposure,
    format_time,
    format_value,
    parse_duration,
    parse_time,
    prepare,
    start_in_thread,
)
from orchestration.warehouse.roles import RoleNames, setup_roles

REPO_ROOT = Path(__file__).resolve().parents[1]
TOKEN = "t0ken-" + uuid.uuid4().hex
AT = END - timedelta(hours=12)
"""An instant inside the sample set: the daily samples of END are 12 hours ahead."""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class Warehouse:
    url: str
    names: RoleNames


@pytest.fixture(scope="module")
def warehouse(module_database, tmp_path_factory) -> Iterator[Warehouse]:
    names = RoleNames().with_suffix(f"_{uuid.uuid4().hex[:8]}")
    roles = [names.reader, names.ingest, names.owner, names.department_group]
    try:
        load_into_warehouse(module_database, SAMPLES, tmp_path_factory.mktemp("serve_dbt"))
        with psycopg.connect(module_database, autocommit=True) as admin:
            setup_roles(admin, names, environ={})
        yield Warehouse(module_database, names)
    finally:
        with psycopg.connect(module_database, autocommit=True) as admin:
            for role in roles:
                if admin.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone():
                    admin.execute(f'drop owned by "{role}" cascade')
            for role in roles:
                admin.execute(f'drop role if exists "{role}"')


def _start(warehouse: Warehouse, environ: dict, **config) -> Iterator[str]:
    app, pool = prepare(
        ServeConfig(**config),
        "127.0.0.1",
        environ,
        url=warehouse.url,
        role=warehouse.names.reader,
    )
    running = start_in_thread(app, pool, "127.0.0.1", _free_port())
    try:
        yield running.url
    finally:
        running.stop()


@pytest.fixture(scope="module")
def served(warehouse) -> Iterator[str]:
    """The server without a token, as on loopback by default."""
    yield from _start(warehouse, {})


@pytest.fixture(scope="module")
def guarded(warehouse) -> Iterator[str]:
    """The server with a token in its variable."""
    yield from _start(warehouse, {"VAULT_SERVE_TOKEN": TOKEN})


def get(url: str, path: str, params=None, **kwargs) -> httpx.Response:
    return httpx.get(f"{url}{path}", params=params, timeout=60, **kwargs)


def post(url: str, path: str, form, **kwargs) -> httpx.Response:
    return httpx.post(f"{url}{path}", data=form, timeout=60, **kwargs)


def data(response: httpx.Response):
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["status"] == "success", body
    return body["data"]


def _sorted(result: list) -> list:
    return sorted(result, key=lambda item: json.dumps(item.get("metric", item), sort_keys=True))


# -- rendering and parameters, as Prometheus writes and reads them -----------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        # Each pair is what Prometheus 2.42 itself answered for the value as a scalar.
        (1.5, "1.5"),
        (2.0, "2"),
        (0.1 + 0.2, "0.30000000000000004"),
        (1e21, "1000000000000000000000"),
        (1e-7, "0.0000001"),
        (123456789012345678.0, "123456789012345680"),
        (-0.0, "-0"),
        (-3.5, "-3.5"),
        (float("inf"), "+Inf"),
        (float("-inf"), "-Inf"),
        (float("nan"), "NaN"),
    ],
)
def test_values_are_written_as_go_formats_them(value, text):
    assert format_value(value) == text


def test_timestamps_are_seconds_with_milliseconds_only_when_there_are_some():
    assert format_time(1700000000.0) == 1700000000
    assert isinstance(format_time(1700000000.0), int)
    assert format_time(1700000000.5) == 1700000000.5
    assert format_time(1.234) == 1.234


def test_times_and_durations_parse_as_prometheus_parses_them():
    # Prometheus rounds fractions of unix seconds to milliseconds (1.2345 -> 1.234 there too).
    assert parse_time("1.2345") == datetime(1970, 1, 1, 0, 0, 1, 234000, tzinfo=UTC)
    assert parse_time("1700000000.0006").timestamp() == 1700000000.001
    assert parse_time("2026-12-01T00:00:00.5+01:00") == datetime(
        2026, 11, 30, 23, 0, 0, 500000, UTC
    )
    assert parse_time("2026-12-01T00:00:00.123456789Z").microsecond == 123000
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("90") == timedelta(seconds=90)
    assert parse_duration("0.25") == timedelta(milliseconds=250)
    for bad in ("2026-12-01", "yesterday", "1.5.2"):
        with pytest.raises(ValueError, match="to a valid timestamp"):
            parse_time(bad)
    for bad in ("1.5m", "5x", "m5", ""):
        with pytest.raises(ValueError, match="to a valid duration"):
            parse_duration(bad)


# -- each endpoint's answer ------------------------------------------------------------------


def test_an_instant_query_answers_a_vector_with_each_series_value_at_the_time(served):
    answer = data(
        get(
            served,
            "/api/v1/query",
            {"query": 'ai_cost{project="checkout-assistant"}', "time": AT.timestamp()},
        )
    )
    assert answer["resultType"] == "vector"
    expected = {
        series.labels["model"]: [value for at, value in series.samples if at <= AT][-1]
        for series in SAMPLES
        if series.name == "ai_cost" and series.labels["project"] == "checkout-assistant"
    }
    assert {
        item["metric"]["model"]: float(item["value"][1]) for item in answer["result"]
    } == expected
    for item in answer["result"]:
        assert item["metric"]["__name__"] == "ai_cost"
        assert item["value"][0] == int(AT.timestamp())
        assert isinstance(item["value"][1], str)


def test_a_scalar_answers_time_and_value_as_grafana_s_health_check_asks(served):
    answer = data(get(served, "/api/v1/query", {"query": "1+1", "time": "1700000000.5"}))
    assert answer == {"resultType": "scalar", "result": [1700000000.5, "2"]}


def test_a_bare_range_selector_answers_a_matrix_of_raw_samples(served):
    answer = data(
        get(
            served,
            "/api/v1/query",
            {"query": 'business_revenue_billed{customer="cus_lumen"}[3d]', "time": END.isoformat()},
        )
    )
    assert answer["resultType"] == "matrix"
    (series,) = answer["result"]
    lumen = next(s for s in SAMPLES if s.labels.get("customer") == "cus_lumen")
    # Prometheus 2.42's windows hold both ends.
    window = [(at, value) for at, value in lumen.samples if at >= END - timedelta(days=3)]
    assert [(t, float(v)) for t, v in series["values"]] == [
        (int(at.timestamp()), value) for at, value in window
    ]


def test_a_range_query_answers_a_matrix_with_one_point_per_step(served):
    start, end = START + timedelta(days=3), START + timedelta(days=4)
    answer = data(
        get(
            served,
            "/api/v1/query_range",
            {
                "query": "sum by (service) (infra_cpu_usage_cores)",
                "start": start.isoformat(),
                "end": end.isoformat(),
                "step": "1h",
            },
        )
    )
    assert answer["resultType"] == "matrix"
    assert {item["metric"]["service"] for item in answer["result"]} == {
        "checkout-api",
        "support-api",
        "batch-worker",
    }
    for item in answer["result"]:
        assert set(item["metric"]) == {"service"}
        assert [t for t, _ in item["values"]] == list(
            range(int(start.timestamp()), int(end.timestamp()) + 1, 3600)
        )


def test_post_forms_answer_as_get_does_and_the_body_wins_over_the_url(served):
    params = {
        "query": "sum(ai_tokens_output)",
        "start": START.timestamp(),
        "end": (START + timedelta(days=1)).timestamp(),
        "step": "3h",
    }
    by_get = data(get(served, "/api/v1/query_range", params))
    by_post = data(post(served, "/api/v1/query_range", params))
    assert by_post == by_get and by_get["result"]
    # Go's request.FormValue takes the body's value before the URL's.
    body_first = data(
        httpx.post(
            f"{served}/api/v1/query",
            params={"query": "1", "time": "5"},
            data={"query": "2", "time": "7"},
            timeout=30,
        )
    )
    assert body_first == {"resultType": "scalar", "result": [7, "2"]}


def test_series_lists_the_label_sets_of_every_matcher_given(served):
    by_get = data(
        get(
            served,
            "/api/v1/series",
            [
                ("match[]", "business_revenue_billed"),
                ("match[]", 'ai_cost{source_system="openai"}'),
            ],
        )
    )
    expected = [
        series.prometheus_labels
        for series in SAMPLES
        if series.name == "business_revenue_billed"
        or (series.name == "ai_cost" and series.labels["source_system"] == "openai")
    ]
    assert _sorted(by_get) == _sorted(expected)
    by_post = data(post(served, "/api/v1/series", {"match[]": "business_revenue_billed"}))
    assert len(by_post) == 3


def test_labels_and_label_values_list_names_and_values_sorted(served):
    names = data(get(served, "/api/v1/labels"))
    assert names == sorted({label for s in SAMPLES for label in s.prometheus_labels})
    assert "__name__" in names and "namespace" in names
    metrics = data(get(served, "/api/v1/label/__name__/values"))
    assert metrics == sorted({s.name for s in SAMPLES})
    customers = data(
        post(served, "/api/v1/label/customer/values", {"match[]": "business_revenue_billed"})
    )
    assert customers == ["cus_kestrel", "cus_lumen", "cus_orbit"]
    narrowed = data(
        get(
            served,
            "/api/v1/labels",
            {"match[]": "business_revenue_billed", "start": START.timestamp()},
        )
    )
    assert narrowed == ["__name__", "customer", "department", "project", "source_system", "unit"]


def test_metadata_calls_each_metric_a_gauge_with_its_type_sources_and_unit(served):
    metadata = data(get(served, "/api/v1/metadata"))
    assert set(metadata) == {s.name for s in SAMPLES}
    (cost,) = metadata["ai_cost"]
    assert cost == {
        "type": "gauge",
        "help": "ai.cost from marts.fct_metrics (source systems: anthropic, openai)",
        "unit": "USD",
    }
    # Revenue comes in two currencies: one entry per unit, as Prometheus lists each distinct
    # metadata of a metric.
    assert sorted(entry["unit"] for entry in metadata["business_revenue_billed"]) == ["EUR", "USD"]
    assert list(data(get(served, "/api/v1/metadata", {"metric": "infra_cpu_usage_cores"}))) == [
        "infra_cpu_usage_cores"
    ]
    assert len(data(get(served, "/api/v1/metadata", {"limit": "2"}))) == 2
    assert data(get(served, "/api/v1/metadata", {"metric": "nothing_here"})) == {}


def test_buildinfo_reports_the_prometheus_version_the_engine_implements(served):
    info = data(get(served, "/api/v1/status/buildinfo"))
    assert info["version"] == BUILD_VERSION == "2.42.0"
    assert set(info) == {"version", "revision", "branch", "buildUser", "buildDate", "goVersion"}
    assert info["revision"].startswith("observability-vault ")


def test_what_grafana_asks_on_the_way_gets_an_empty_success(served):
    assert data(get(served, "/api/v1/query_exemplars", {"query": "ai_cost"})) == []
    assert data(post(served, "/api/v1/query_exemplars", {"query": "ai_cost"})) == []
    assert data(get(served, "/api/v1/rules")) == {"groups": []}
    assert data(get(served, "/api/v1/alerts")) == {"alerts": []}
    assert get(served, "/-/ready").text == "Prometheus Server is Ready.\n"


@pytest.mark.parametrize("path", ["/api/v1/targets", "/api/v1/nope", "/graph", "/"])
def test_other_paths_are_not_found_as_prometheus_says_it(served, path):
    response = get(served, path)
    assert (response.status_code, response.text) == (404, "404 page not found\n")


def test_a_method_other_than_get_and_post_is_not_allowed(served):
    response = httpx.put(f"{served}/api/v1/query", params={"query": "1"}, timeout=30)
    assert response.status_code == 405


# -- errors ----------------------------------------------------------------------------------

RANGE = {"query": "sum(ai_cost)", "start": "1700000000", "end": "1700003600", "step": "60"}


BAD_PARAMETERS = [
    # Prometheus 2.42's messages, word for word (compared with the binary below).
    (
        "/api/v1/query_range",
        {**RANGE, "start": "yesterday"},
        'invalid parameter "start": cannot parse "yesterday" to a valid timestamp',
    ),
    (
        "/api/v1/query_range",
        {**RANGE, "end": "2026-13-01T00:00:00Z"},
        'invalid parameter "end": cannot parse "2026-13-01T00:00:00Z" to a valid timestamp',
    ),
    (
        "/api/v1/query_range",
        {**RANGE, "end": "1699999999"},
        'invalid parameter "end": end timestamp must not be before start time',
    ),
    (
        "/api/v1/query_range",
        {**RANGE, "step": "5 minutes"},
        'invalid parameter "step": cannot parse "5 minutes" to a valid duration',
    ),
    (
        "/api/v1/query_range",
        {**RANGE, "step": "0"},
        'invalid parameter "step": zero or negative query resolution step widths are not '
        "accepted. Try a positive integer",
    ),
    (
        "/api/v1/query_range",
        {**RANGE, "step": "-1m"},
        'invalid parameter "step": cannot parse "-1m" to a valid duration',
    ),
    (
        "/api/v1/query_range",
        {**RANGE, "end": str(1700000000 + 11_001), "step": "1"},
        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the "
        "query resolution (?step=XX)",
    ),
    (
        "/api/v1/query",
        {"query": "1", "time": "noon"},
        'invalid parameter "time": Invalid time value for \'time\': cannot parse "noon" '
        "to a valid timestamp",
    ),
    (
        "/api/v1/query",
        {"query": "1", "timeout": "soon"},
        'invalid parameter "timeout": cannot parse "soon" to a valid duration',
    ),
    ("/api/v1/series", {}, "no match[] parameter provided"),
    (
        "/api/v1/labels",
        {"start": "x"},
        'invalid parameter "start": Invalid time value for \'start\': cannot parse "x" '
        "to a valid timestamp",
    ),
    ("/api/v1/label/not-a-label/values", {}, 'invalid label name: "not-a-label"'),
    ("/api/v1/metadata", {"limit": "ten"}, "limit must be a number"),
]


@pytest.mark.parametrize(("path", "params", "message"), BAD_PARAMETERS)
def test_bad_parameters_are_bad_data_with_prometheus_s_message(served, path, params, message):
    for response in (get(served, path, params), post(served, path, params)):
        assert response.status_code == 400
        assert response.json() == {"status": "error", "errorType": "bad_data", "error": message}


def test_exactly_11000_points_are_allowed(served):
    params = {**RANGE, "end": str(1700000000 + 11_000), "step": "1", "query": "1"}
    (series,) = data(get(served, "/api/v1/query_range", params))["result"]
    assert len(series["values"]) == 11_001


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("sum(ai_cost", 'invalid parameter "query": parse error'),
        ("", 'invalid parameter "query": parse error'),
        ('label_replace(ai_cost, "a", "b", "c", "d")', "label_replace"),
        ("ai_cost @ 1700000000", "@"),
    ],
)
def test_unparsable_and_unsupported_queries_are_bad_data(served, query, names):
    for path, params in (
        ("/api/v1/query", {"query": query, "time": AT.timestamp()}),
        ("/api/v1/query_range", {**RANGE, "query": query}),
    ):
        response = get(served, path, params)
        assert response.status_code == 400, response.text
        body = response.json()
        assert (body["status"], body["errorType"]) == ("error", "bad_data")
        assert names in body["error"]


def test_a_bad_series_matcher_is_bad_data_naming_the_parameter(served):
    response = get(served, "/api/v1/series", {"match[]": "ai_cost{"})
    assert response.status_code == 400
    assert response.json()["error"].startswith('invalid parameter "match[]": ')


def test_a_query_the_warehouse_fails_is_an_execution_error(served, warehouse):
    """The reader losing its grant on fct_metrics is a warehouse failure the request sees."""
    table = "marts.fct_metrics"
    with psycopg.connect(warehouse.url, autocommit=True) as admin:
        admin.execute(f'revoke select on {table} from "{warehouse.names.reader}"')
        try:
            response = get(served, "/api/v1/query", {"query": "ai_cost", "time": AT.timestamp()})
            with pytest.raises(
                ServeError, match=r"may not read marts\.fct_metrics; run `vault db roles`"
            ):
                prepare(
                    ServeConfig(), "127.0.0.1", {}, url=warehouse.url, role=warehouse.names.reader
                )
        finally:
            admin.execute(f'grant select on {table} to "{warehouse.names.reader}"')
    assert response.status_code == 422, response.text
    body = response.json()
    assert (body["status"], body["errorType"]) == ("error", "execution")
    assert "permission denied" in body["error"]


def test_a_heavy_query_past_its_timeout_is_a_timeout(served):
    heavy = {
        "query": 'count(sum_over_time({__name__=~".+"}[10d]))',
        "start": START.timestamp(),
        "end": (START + timedelta(seconds=60 * 11_000)).timestamp(),
        "step": "60",
    }
    response = get(served, "/api/v1/query_range", {**heavy, "timeout": "0.02"})
    assert response.status_code == 503, response.text
    body = response.json()
    assert (body["status"], body["errorType"]) == ("error", "timeout")
    # A timeout of zero never starts, with Prometheus's own message.
    response = get(served, "/api/v1/query", {"query": "1", "timeout": "0"})
    assert (response.status_code, response.json()) == (
        503,
        {"status": "error", "errorType": "timeout", "error": "query timed out in query queue"},
    )
    # The pool is still fine afterwards.
    assert data(get(served, "/api/v1/query", {"query": "1+1", "time": "1"}))["result"] == [1, "2"]


def test_the_configured_timeout_bounds_a_query_that_sets_none(warehouse):
    for url in _start(warehouse, {}, query_timeout="20ms"):
        heavy = {
            "query": 'count(sum_over_time({__name__=~".+"}[10d]))',
            "start": START.timestamp(),
            "end": (START + timedelta(seconds=60 * 11_000)).timestamp(),
            "step": "60",
        }
        response = get(url, "/api/v1/query_range", heavy)
        assert (response.status_code, response.json()["errorType"]) == (503, "timeout")


def test_the_configured_lookback_is_how_far_an_instant_selector_looks(warehouse, served):
    """At AT the daily samples are 12 hours old: found with the default day, not with 1h."""
    params = {"query": "business_revenue_billed", "time": AT.timestamp()}
    assert len(data(get(served, "/api/v1/query", params))["result"]) == 3
    for url in _start(warehouse, {}, lookback="1h"):
        assert data(get(url, "/api/v1/query", params))["result"] == []
        later = {**params, "time": (END + timedelta(minutes=30)).timestamp()}
        assert len(data(get(url, "/api/v1/query", later))["result"]) == 3


def test_connections_the_warehouse_dropped_are_replaced_on_the_next_request(served, warehouse):
    assert data(get(served, "/api/v1/query", {"query": "ai_cost", "time": AT.timestamp()}))
    with psycopg.connect(warehouse.url, autocommit=True) as admin:
        killed = admin.execute(
            "select count(pg_terminate_backend(pid)) from pg_stat_activity "
            "where application_name = 'vault serve' and datname = current_database()"
        ).fetchone()[0]
    assert killed >= 1
    answer = data(get(served, "/api/v1/query", {"query": "ai_cost", "time": AT.timestamp()}))
    assert len(answer["result"]) == 4


def test_an_unreachable_warehouse_is_an_internal_error(warehouse):
    port = _free_port()  # nothing listens there
    pool = ReaderPool(f"postgresql://nobody:secret@127.0.0.1:{port}/vault", warehouse.names.reader)
    running = start_in_thread(build_app(pool, Settings()), pool, "127.0.0.1", _free_port())
    try:
        response = get(running.url, "/api/v1/query", {"query": "ai_cost"})
    finally:
        running.stop()
    assert response.status_code == 500
    body = response.json()
    assert (body["status"], body["errorType"]) == ("error", "internal")
    assert "cannot connect to the warehouse" in body["error"]
    assert "secret" not in body["error"]


# -- the token -------------------------------------------------------------------------------


def test_a_public_address_without_a_token_is_refused():
    with pytest.raises(ServeError, match="without a token: set VAULT_SERVE_TOKEN"):
        check_exposure(ServeConfig(), "0.0.0.0", {})
    with pytest.raises(ServeError, match="set MY_TOKEN"):
        check_exposure(ServeConfig(token_env="MY_TOKEN"), "192.0.2.10", {"VAULT_SERVE_TOKEN": "x"})
    check_exposure(ServeConfig(), "0.0.0.0", {"VAULT_SERVE_TOKEN": TOKEN})
    for loopback in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        check_exposure(ServeConfig(), loopback, {})


def _vault(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "orchestration.cli", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _plain_env(tmp_path: Path) -> dict:
    env = {key: value for key, value in os.environ.items() if not key.startswith("VAULT_")}
    env["VAULT_CONFIG"] = str(tmp_path / "vault.yaml")
    (tmp_path / "vault.yaml").write_text("serve:\n  query_timeout: 30s\n")
    return env


def test_vault_serve_refuses_a_public_address_without_a_token(tmp_path):
    done = _vault(
        "serve", "--host", "0.0.0.0", "--port", str(_free_port()), env=_plain_env(tmp_path)
    )
    assert done.returncode == 2
    assert "refusing to listen on 0.0.0.0 without a token: set VAULT_SERVE_TOKEN" in done.stderr


def test_vault_serve_refuses_a_warehouse_without_the_reader_role(tmp_path, module_database):
    """The module's roles carry a suffix, so a plain vault_reader does not exist here."""
    with psycopg.connect(module_database) as admin:
        if admin.execute("select from pg_roles where rolname = 'vault_reader'").fetchone():
            pytest.skip("the test server has a vault_reader role of its own")
    env = _plain_env(tmp_path) | {
        "VAULT_READER_DATABASE_URL": module_database,
        "VAULT_SERVE_TOKEN": TOKEN,
    }
    done = _vault("serve", "--host", "0.0.0.0", "--port", str(_free_port()), env=env)
    assert done.returncode == 2
    assert "cannot act as the reader role vault_reader" in done.stderr
    assert "run `vault db roles`" in done.stderr
    assert TOKEN not in done.stdout + done.stderr


def test_with_a_token_a_request_needs_the_bearer_header(guarded):
    params = {"query": "1+1", "time": "1"}
    for headers in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
    ):
        response = get(guarded, "/api/v1/query", params, headers=headers)
        assert response.status_code == 401
        assert response.json() == {
            "status": "error",
            "errorType": "unauthorized",
            "error": "missing or wrong bearer token in the Authorization header",
        }
        assert TOKEN not in response.text
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert data(get(guarded, "/api/v1/query", params, headers=headers))["result"] == [1, "2"]
    assert data(post(guarded, "/api/v1/labels", {}, headers=headers))


# -- the reader's rights ---------------------------------------------------------------------


@pytest.mark.parametrize("login", ["superuser", "reader"])
def test_the_server_reads_as_the_reader_in_read_only_transactions(warehouse, login):
    """Logged in as the test server's superuser it becomes the reader for the session; logged
    in as the reader (VAULT_READER_DATABASE_URL) it stays one. Either way the reader's rights."""
    url = warehouse.url
    if login == "reader":
        parts = urlsplit(url)
        url = parts._replace(
            netloc=f"{warehouse.names.reader}@{parts.hostname}:{parts.port}"
        ).geturl()
    pool = ReaderPool(url, warehouse.names.reader)
    try:
        with pool.connection(wait_s=10) as conn:
            who = conn.execute("select current_user, session_user").fetchone()
            assert who == (warehouse.names.reader, warehouse.names.reader)
            # Every row: row-level security shows the reader all departments.
            rows = conn.execute("select count(*) from marts.fct_metrics").fetchone()[0]
            assert rows == sum(len(s.samples) + len(s.split) for s in SAMPLES)
            raw = conn.execute(
                "select format('%I.%I', schemaname, tablename) from pg_tables "
                "where schemaname = 'raw' order by 1"
            ).fetchall()
            assert raw, "the twin's dbt build creates the raw tables"
            for (table,) in raw:
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    conn.execute(f"select 1 from {table} limit 1")
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                conn.execute("delete from marts.fct_metrics")
    finally:
        pool.close()


def test_a_missing_reader_role_refuses_to_start_saying_what_to_run(warehouse):
    with pytest.raises(
        ServeError, match=r"cannot act as the reader role vault_nobody_\w+ .*vault db roles"
    ):
        prepare(
            ServeConfig(),
            "127.0.0.1",
            {},
            url=warehouse.url,
            role=f"vault_nobody_{uuid.uuid4().hex[:6]}",
        )


# -- clients ---------------------------------------------------------------------------------


def test_prometheus_api_client_reads_it_with_the_bearer_header(guarded):
    prom = PrometheusConnect(
        guarded, headers={"Authorization": f"Bearer {TOKEN}"}, disable_ssl=True
    )
    vector = prom.custom_query("sum by (team) (ai_cost)", params={"time": AT.timestamp()})
    assert {item["metric"]["team"] for item in vector} == {"platform", "ml", "growth"}
    matrix = prom.custom_query_range(
        "max(infra_cpu_usage_cores)", START, START + timedelta(hours=6), step="1h"
    )
    assert len(matrix) == 1 and len(matrix[0]["values"]) == 7
    assert prom.all_metrics() == sorted({s.name for s in SAMPLES})
    assert prom.get_label_values("team") == ["growth", "ml", "platform"]
    ranged = prom.get_metric_range_data(
        "business_revenue_billed",
        label_config={"customer": "cus_kestrel"},
        start_time=END - timedelta(days=4),
        end_time=END,
    )
    kestrel = next(s for s in SAMPLES if s.labels.get("customer") == "cus_kestrel")
    # One query of `[345600s]` at the end: five daily samples, both ends included.
    assert [float(v) for _, v in ranged[0]["values"]] == [v for _, v in kestrel.samples[-5:]]
    with pytest.raises(PrometheusApiClientException, match="401"):
        PrometheusConnect(guarded, disable_ssl=True).custom_query("1")


# -- against the real Prometheus -------------------------------------------------------------


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory) -> Iterator[str]:
    with start_prometheus(SAMPLES, tmp_path_factory.mktemp("serve_prometheus")) as url:
        yield url


def _normalised(text: str) -> str:
    """The JSON text re-serialised compactly with its result list sorted; the order of keys,
    labels and points is left as the server wrote it."""
    body = json.loads(text)
    answer = body.get("data")
    if isinstance(answer, dict) and isinstance(answer.get("result"), list):
        answer["result"] = sorted(answer["result"], key=json.dumps)
    elif isinstance(answer, list):
        answer.sort(key=json.dumps)
    return json.dumps(body, separators=(",", ":"))


COMPARED = [
    ("/api/v1/query", {"query": "ai_cost", "time": AT.timestamp()}),
    ("/api/v1/query", {"query": 'ai_cost{source_system!="anthropic"} * 2', "time": AT.isoformat()}),
    (
        "/api/v1/query",
        {"query": "max by (department) (business_revenue_billed)", "time": END.timestamp()},
    ),
    (
        "/api/v1/query",
        {
            "query": "topk(2, infra_cpu_usage_cores)",
            "time": (END - timedelta(minutes=30)).timestamp(),
        },
    ),
    (
        "/api/v1/query",
        {
            "query": 'business_revenue_billed{customer=~"cus_(lumen|orbit)"}[2d]',
            "time": END.timestamp(),
        },
    ),
    ("/api/v1/query", {"query": "count(ai_tokens_output offset 1d)", "time": END.timestamp()}),
    (
        "/api/v1/query_range",
        {
            "query": 'infra_cpu_usage_cores{service="support-api"}',
            "start": (START + timedelta(days=2)).timestamp(),
            "end": (START + timedelta(days=3)).timestamp(),
            "step": "90m",
        },
    ),
    (
        "/api/v1/query_range",
        {
            "query": "min without (model) (ai_cost)",
            "start": START.isoformat(),
            "end": END.isoformat(),
            "step": "1d",
        },
    ),
    (
        "/api/v1/query_range",
        {
            "query": "business_revenue_billed / business_revenue_billed - 1 / 0",
            "start": (END - timedelta(days=6)).timestamp(),
            "end": END.timestamp(),
            "step": "1d",
        },
    ),
    (
        "/api/v1/query_range",
        {
            "query": "sum by (team) (rate(ai_tokens_output[1d]))",
            "start": (START + timedelta(days=9, minutes=7)).timestamp(),
            "end": (START + timedelta(days=11)).timestamp(),
            "step": "5h",
        },
    ),
    ("/api/v1/series", {"match[]": "ai_cost"}),
    ("/api/v1/labels", {}),
    ("/api/v1/label/project/values", {}),
    ("/api/v1/query_range", {**RANGE, "step": "0"}),
]


@needs_prometheus
@pytest.mark.parametrize(
    ("path", "params"), COMPARED, ids=[f"{p} {q.get('query', q)}" for p, q in COMPARED]
)
def test_both_servers_give_the_same_json(served, prometheus, path, params):
    ours, theirs = get(served, path, params), get(prometheus, path, params)
    assert ours.status_code == theirs.status_code
    assert _normalised(ours.text) == _normalised(theirs.text)


@needs_prometheus
@pytest.mark.parametrize(("path", "params", "message"), BAD_PARAMETERS)
def test_bad_parameters_get_the_same_answer_from_prometheus(
    served, prometheus, path, params, message
):
    ours, theirs = get(served, path, params), get(prometheus, path, params)
    assert (ours.status_code, ours.json()) == (theirs.status_code, theirs.json())


# -- configuration ---------------------------------------------------------------------------


def test_the_example_file_s_serve_section_is_valid_and_says_the_defaults():
    text = (REPO_ROOT / "vault.example.yaml").read_text()
    commented = text[text.index("# serve:") : text.index("\nsources:")]
    section = yaml.safe_load("\n".join(line[2:] for line in commented.splitlines()))["serve"]
    defaults = ServeConfig().model_dump()
    assert ServeConfig.model_validate(section).model_dump() == {
        **defaults,
        "lookback": timedelta(days=1),
    }
    assert timedelta(days=1) == promql.DEFAULT_LOOKBACK  # the engine's default


def test_the_serve_section_has_defaults_and_names_a_bad_key(tmp_path):
    config = tmp_path / "vault.yaml"
    config.write_text("{}\n")
    serve = load_config(config).serve
    assert (serve.host, serve.port, serve.token_env) == ("127.0.0.1", 9097, "VAULT_SERVE_TOKEN")
    assert (serve.lookback, serve.query_timeout) == (None, timedelta(minutes=2))
    config.write_text("serve:\n  lookback: 1h30m\n  query_timeout: 45\n  port: 9200\n")
    serve = load_config(config).serve
    assert (serve.lookback, serve.query_timeout, serve.port) == (
        timedelta(minutes=90),
        timedelta(seconds=45),
        9200,
    )
    for text, key in [
        ("serve:\n  port: 70000\n", "serve.port"),
        ("serve:\n  lookback: a day\n", "serve.lookback"),
        ("serve:\n  query_timeout: 0s\n", "serve.query_timeout"),
        ("serve:\n  token_env: my token\n", "serve.token_env"),
        ("serve:\n  tls: true\n", "serve.tls: unknown key"),
    ]:
        config.write_text(text)
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            load_config(config)
