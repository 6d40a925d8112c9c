"""The vault.yaml-only sources: configuration, paths and mappings, the partition scope that
keeps entries of one raw table apart, the definitions, and the HTTP JSON API collector.

The HTTP collector runs through the real `HttpSource` against the sandbox server over loopback
HTTP (the company's internal service-metrics API, `sandbox/internal_metrics.py`). Where a test
needs an answer that API never gives (a garbled page, a record with a bad value, an echo of the
request), it adds its own route to the sandbox server: that route is the only fake seam, and the
request still travels through httpx, the server and back. The SQL and log-file collectors have
their own modules (test_custom_sql.py, test_custom_logs.py), and the dbt build into fct_metrics
is test_custom_sources_e2e.py.
"""

import json
import logging
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import httpx
import psycopg
import pytest

from orchestration.collectors.framework import Collector, collector, run_collector
from orchestration.collectors.http import MissingCredentialError, SourceError
from orchestration.config import ConfigError, VaultConfig, load_config
from orchestration.custom.collectors import (
    CUSTOM_TABLES,
    custom_collectors,
    http_api_collector,
)
from orchestration.custom.entries import HttpApiEntry, JsonMapping
from orchestration.custom.http_api import next_link
from orchestration.custom.jsonpath import JsonPathError, parse
from orchestration.custom.mapping import compile_json_mapping, parse_time
from orchestration.dbt.assets import ensure_sources_exist
from orchestration.dbt.project import DBT_PROJECT_DIR, ensure_manifest
from orchestration.definitions import build_definitions
from orchestration.sandbox import internal_metrics
from orchestration.sandbox.company import build_company
from orchestration.sandbox.custom_sources import (
    METRICS_TOKEN_ENV,
    custom_source_mappings_csv,
    custom_sources,
    service_metrics_entry,
)
from orchestration.sandbox.routing import Response, Route
from orchestration.sandbox.server import SandboxServer
from orchestration.warehouse.connection import WarehouseResource
from orchestration.warehouse.loader import Rejected

LOG = logging.getLogger("test")
DAY = date(2026, 3, 3)  # a Tuesday
TOKEN = f"{internal_metrics.TOKEN_PREFIX}test-RECOGNISABLE"


@pytest.fixture(scope="module")
def company():
    return build_company(7)


@pytest.fixture
def sandbox(company):
    with SandboxServer(company) as server:
        yield server


@pytest.fixture
def token(monkeypatch):
    monkeypatch.setenv(METRICS_TOKEN_ENV, TOKEN)
    return TOKEN


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _run(spec: Collector, database_url: str, day: date = DAY, run_id: str = "r1"):
    warehouse = WarehouseResource(url=database_url)
    result, _ = run_collector(
        spec,
        warehouse,
        start=_midnight(day),
        end=_midnight(day + timedelta(days=1)),
        partition_key=day.isoformat(),
        run_id=run_id,
        log=LOG,
        resources={key: warehouse for key in spec.resource_keys},
    )
    return result


def _entry(**changes) -> HttpApiEntry:
    """The sandbox's service-metrics entry (as the demo configures it), with `changes`."""
    return HttpApiEntry.model_validate({**service_metrics_entry("http://unused"), **changes})


def _served(company, day: date = DAY) -> set[tuple[str, str, str, Decimal]]:
    """(time, service, metric, value) of every point the sandbox serves for `day`."""
    served = set()
    for point in internal_metrics.points_for_day(company, day):
        moment = datetime.fromisoformat(point["ts"]).isoformat()
        stats = point["stats"]
        for metric, value in (
            ("service.requests", stats["requests"]),
            ("service.requests_failed", stats["errors"]),
            ("service.latency_p95", stats["latency_ms"]["p95"]),
        ):
            served.add((moment, point["service"], metric, Decimal(str(value))))
    return served


def _loaded(conn, table: str = "custom_http") -> set[tuple[str, str, str, Decimal]]:
    rows = conn.execute(
        f"select record ->> 'observed_at', record -> 'tags' ->> 'service', record ->> 'metric', "
        f"(record ->> 'value')::numeric from raw.{table}"
    ).fetchall()
    return {(observed, service, metric, value) for observed, service, metric, value in rows}


# -- configuration ---------------------------------------------------------------------------


def _config_error(tmp_path: Path, sources: dict) -> str:
    path = tmp_path / "vault.yaml"
    path.write_text(json.dumps({"sources": sources}))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return str(caught.value)


def _api(**changes) -> dict:
    return {**service_metrics_entry("https://metrics.example"), **changes}


def test_a_bad_json_path_is_refused_with_its_key_and_position(tmp_path):
    message = _config_error(tmp_path, {"http_api": {"apis": [_api(records="data[*")]}})
    assert "sources.http_api.apis.0.records" in message
    assert "bad JSON path 'data[*': expected an index, * or a quoted name at position 5" in message


def test_a_field_path_must_reach_one_value(tmp_path):
    mapping = {**_api()["mapping"], "time": "items[*].ts"}
    message = _config_error(tmp_path, {"http_api": {"apis": [_api(mapping=mapping)]}})
    assert "sources.http_api.apis.0.mapping.time" in message
    assert "must reach one value; [*] belongs in `records`" in message


def test_an_unknown_pagination_style_is_refused(tmp_path):
    message = _config_error(
        tmp_path, {"http_api": {"apis": [_api(pagination={"style": "scroll"})]}}
    )
    assert "sources.http_api.apis.0.pagination" in message
    assert "'scroll'" in message and "'cursor'" in message and "'link'" in message


@pytest.mark.parametrize("header", ["Authorization", "X-Api-Key", "Cookie"])
def test_a_literal_credential_header_is_refused_without_echoing_it(tmp_path, header):
    secret = "Bearer sk-live-RECOGNISABLE"
    message = _config_error(tmp_path, {"http_api": {"apis": [_api(headers={header: secret})]}})
    assert f"header {header} looks like a credential: a literal value is refused" in message
    assert "RECOGNISABLE" not in message


def test_a_literal_credential_parameter_is_refused(tmp_path):
    message = _config_error(
        tmp_path, {"http_api": {"apis": [_api(params={"api_key": "abc123secret"})]}}
    )
    assert "parameter api_key looks like a credential" in message
    assert "abc123secret" not in message


_QUERY_MAPPING = {"time": "day", "metrics": [{"name": "a.b", "value": "n", "unit": "x"}]}


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("delete from t where d >= :window_start and d < :window_end", "starts with DELETE"),
        (
            "select * from t where d >= :window_start and d < :window_end; drop table t",
            "more than one statement",
        ),
        (
            "/* looks harmless */ update t set n = 0 where d >= :window_start and d < :window_end",
            "starts with UPDATE",
        ),
        (
            "select * into t2 from t where d >= :window_start and d < :window_end",
            "uses INTO",
        ),
        ("select * from t where d >= :window_start", "must bind :window_end"),
        (
            "select * from t where d >= :window_start and d < :window_end and q = :queue",
            "binds :queue, which params does not give",
        ),
    ],
)
def test_sql_that_is_not_a_single_windowed_select_is_refused(tmp_path, query, reason):
    entry = {"name": "tickets", "url_env": "DB_URL", "query": query, "mapping": _QUERY_MAPPING}
    message = _config_error(tmp_path, {"sql": {"queries": [entry]}})
    assert "sources.sql.queries.0" in message
    assert reason in message


def test_a_semicolon_or_keyword_inside_a_string_or_comment_is_not_a_statement(tmp_path):
    query = (
        "select n, 'a;b' as s, \"into\" as q -- delete; from\n"
        "from t where d >= :window_start and d < :window_end;"
    )
    entry = {"name": "tickets", "url_env": "DB_URL", "query": query, "mapping": _QUERY_MAPPING}
    config = VaultConfig.model_validate({"sources": {"sql": {"queries": [entry]}}})
    assert config.sources.sql.queries[0].query == query


def test_entries_of_one_kind_need_their_own_names(tmp_path):
    message = _config_error(tmp_path, {"http_api": {"apis": [_api(), _api()]}})
    assert "entry name(s) service_metrics used twice" in message


def test_a_metric_given_two_units_by_two_entries_is_refused():
    mapping = {
        "time": "day",
        "metrics": [{"name": "service.requests", "value": "n", "unit": "calls"}],
    }
    query = "select * from t where d >= :window_start and d < :window_end"
    config = VaultConfig.model_validate(
        {
            "sources": {
                "http_api": {"apis": [_api()]},
                "sql": {
                    "queries": [{"name": "t", "url_env": "U", "query": query, "mapping": mapping}]
                },
            }
        }
    )
    with pytest.raises(ConfigError, match=r"metric service\.requests has unit calls, but "):
        custom_collectors(config)


def test_one_entry_name_in_two_kinds_is_refused():
    query = "select * from t where d >= :window_start and d < :window_end"
    entry = {"name": "service_metrics", "url_env": "U", "query": query, "mapping": _QUERY_MAPPING}
    config = VaultConfig.model_validate(
        {"sources": {"http_api": {"apis": [_api()]}, "sql": {"queries": [entry]}}}
    )
    with pytest.raises(ConfigError, match="entry name service_metrics is also used by http_api"):
        custom_collectors(config)


def test_the_mapping_seed_describes_the_sandbox_company(company):
    seed = DBT_PROJECT_DIR / "seeds" / "custom_source_mappings.csv"
    assert seed.read_text() == custom_source_mappings_csv(company)


# -- JSON paths and mappings -------------------------------------------------------------------


def test_json_paths_reach_fields_indexes_quoted_names_and_every_item():
    document = {
        "data": [{"id": 1, "v": {"p-95": 7}}, {"id": 2, "v": {"p-95": 9}}],
        "meta": {"next": None},
    }
    assert parse("data[*].id").find(document) == [1, 2]
    assert parse('data[-1].v["p-95"]').get(document) == (True, 9)
    assert parse("$.data[0].id").get(document) == (True, 1)
    assert parse("meta.next").get(document) == (True, None)
    assert parse("meta.missing").get(document) == (False, None)
    assert parse("data[5].id").get(document) == (False, None)
    assert parse("$").find(document) == [document]
    for bad in ("data..id", "data[", "data[x]", "$data", "a b", "data[''"):
        with pytest.raises(JsonPathError, match="bad JSON path"):
            parse(bad)


@pytest.mark.parametrize(
    ("value", "time_format", "expected"),
    [
        ("2026-03-03T05:00:00Z", "auto", datetime(2026, 3, 3, 5, tzinfo=UTC)),
        ("2026-03-03T07:00:00+02:00", "iso", datetime(2026, 3, 3, 5, tzinfo=UTC)),
        ("2026-03-03", "auto", datetime(2026, 3, 3, tzinfo=UTC)),
        ("2026-03-03 05:00:00", "iso", datetime(2026, 3, 3, 5, tzinfo=UTC)),
        (1772514000, "auto", datetime(2026, 3, 3, 5, tzinfo=UTC)),
        (1772514000000, "auto", datetime(2026, 3, 3, 5, tzinfo=UTC)),
        ("1772514000", "unix_s", datetime(2026, 3, 3, 5, tzinfo=UTC)),
        (1772514000500, "unix_ms", datetime(2026, 3, 3, 5, 0, 0, 500000, tzinfo=UTC)),
        (date(2026, 3, 3), "auto", datetime(2026, 3, 3, tzinfo=UTC)),
    ],
)
def test_times_are_read_as_iso_or_unix_seconds_or_milliseconds(value, time_format, expected):
    assert parse_time(value, time_format) == expected


@pytest.mark.parametrize(
    ("value", "time_format", "reason"),
    [
        ("yesterday", "auto", "'yesterday' is not an ISO 8601 time"),
        (1772514000, "iso", "is a number, not ISO 8601 text"),
        (True, "auto", "True is not a time"),
        ("12:00", "unix_s", "'12:00' is not a unix time"),
    ],
)
def test_an_unreadable_time_says_why(value, time_format, reason):
    with pytest.raises(ValueError, match=reason):
        parse_time(value, time_format)


def test_a_record_gives_a_row_per_metric_and_an_unreadable_value_is_rejected_alone():
    mapping = compile_json_mapping(
        JsonMapping.model_validate(
            {
                "time": "at",
                "metrics": [
                    {"name": "x.good", "value": "n.good", "unit": "u"},
                    {"name": "x.text", "value": "n.text", "unit": "u"},
                    {"name": "x.absent", "value": "n.absent", "unit": "u"},
                    {"name": "x.flag", "value": "n.flag", "unit": "u"},
                    {"name": "x.decimal", "value": "n.decimal", "unit": "u"},
                ],
                "tags": {"host": "host", "code": "code", "none": "nothing"},
                "taxonomy": {"team": "owner"},
            }
        ),
        entry="probe",
        source_system="probe",
    )
    record = {
        "at": "2026-03-03T01:00:00Z",
        "n": {"good": 3, "text": "n/a", "flag": True, "decimal": " 12.50 "},
        "host": "web-1",
        "code": 200,
        "owner": "platform",
    }
    out = mapping.observations(record, mapping.observed_at(record), {"page": 1})
    stored = [item for item in out if not isinstance(item, Rejected)]
    reasons = sorted(item.reason for item in out if isinstance(item, Rejected))
    assert [(row["metric"], row["value"]) for row in stored] == [
        ("x.good", 3),
        ("x.decimal", "12.50"),
    ]
    assert reasons == [
        "probe: metric x.absent: no value at 'n.absent'",
        "probe: metric x.flag: True is a boolean, not a number",
        "probe: metric x.text: 'n/a' is not a number",
    ]
    assert stored[0]["tags"] == {"host": "web-1", "code": "200"}
    assert stored[0]["taxonomy"] == {"team": "platform"}
    assert stored[0]["source"] is record
    assert stored[0]["key"] == stored[1]["key"], "one record, one key; the metric tells them apart"


# -- the partition scope -------------------------------------------------------------------------


def _shared(scope: str | None, values: list[int], bad: bool = False) -> Collector:
    def rows(window):
        for value in values:
            yield {"entry": scope or "plain", "metric": "m.n", "key": str(value), "value": value}
        if bad:
            yield Rejected(f"{scope}: unreadable", "???")

    spec = collector(source="scoped", table="scoped_rows", natural_key=("entry", "metric", "key"))(
        rows
    )
    return Collector(**{**spec.__dict__, "partition_scope": scope, "asset_name": f"s_{scope}"})


def test_a_partition_scope_keeps_collectors_of_one_table_apart(conn, database_url):
    first, second = _shared("alpha", [1, 2, 3], bad=True), _shared("beta", [10, 20], bad=True)
    assert _run(first, database_url).rows == 3
    assert _run(second, database_url).rows == 2
    assert _run(_shared("alpha", [4]), database_url, run_id="r2").rows == 1
    rows = conn.execute(
        "select partition_key, run_id, (record ->> 'value')::int from raw.scoped_rows order by 3"
    ).fetchall()
    assert rows == [
        ("alpha:2026-03-03", "r2", 4),
        ("beta:2026-03-03", "r1", 10),
        ("beta:2026-03-03", "r1", 20),
    ]
    rejected = conn.execute(
        "select partition_key, reason from raw._rejected where table_name = 'scoped_rows'"
    ).fetchall()
    assert rejected == [("beta:2026-03-03", "beta: unreadable")], "alpha's reload took its own"


def test_without_a_scope_a_collector_keeps_plain_partition_keys_and_its_table_name():
    plain = _shared(None, [1])
    assert plain.raw_partition_key("2026-03-03") == "2026-03-03"
    assert plain.asset_key == dg.AssetKey(["raw", "s_None"])
    unnamed = Collector(**{**plain.__dict__, "asset_name": None})
    assert unnamed.asset_key == dg.AssetKey(["raw", "scoped_rows"])
    assert _shared("alpha", []).raw_partition_key("2026-03-03") == "alpha:2026-03-03"
    with pytest.raises(ValueError, match="no ':', which separates it"):
        _shared("a:b", [])


# -- definitions and the shared tables ------------------------------------------------------------


def _three_kinds(tmp_path: Path) -> VaultConfig:
    sections, _ = custom_sources(build_company(7), tmp_path, "http://127.0.0.1:9", DAY, DAY)
    second = {**sections["http_api"]["apis"][0], "name": "service_metrics_eu"}
    sections["http_api"]["apis"].append(second)
    return VaultConfig.model_validate({"start_date": "2026-03-01", "sources": sections})


def test_each_entry_is_its_own_partitioned_asset_and_the_tables_are_shared(tmp_path):
    ensure_manifest()
    defs = build_definitions(_three_kinds(tmp_path))
    graph = defs.resolve_asset_graph()
    entries = {
        "raw/http_api_service_metrics": "http_api",
        "raw/http_api_service_metrics_eu": "http_api",
        "raw/sql_support_tickets": "sql",
        "raw/log_files_api_gateway": "log_files",
    }
    for name, group in entries.items():
        node = graph.get(dg.AssetKey.from_user_string(name))
        assert node.is_materializable and node.group_name == group
        assert isinstance(node.partitions_def, dg.DailyPartitionsDefinition)
        assert node.pools == {f"source_{group}"}
    http_table = graph.get(dg.AssetKey(["raw", "custom_http"]))
    assert not http_table.is_materializable
    assert http_table.parent_keys == {
        dg.AssetKey(["raw", "http_api_service_metrics"]),
        dg.AssetKey(["raw", "http_api_service_metrics_eu"]),
    }
    staging = graph.get(dg.AssetKey(["staging", "stg_custom__http_metrics"]))
    assert staging.parent_keys == {dg.AssetKey(["raw", "custom_http"])}
    for source in ("http_api", "sql", "log_files"):
        assert defs.resolve_job_def(f"collect_{source}") is not None


def test_the_shared_tables_exist_before_any_entry_is_configured(server_url, monkeypatch):
    from conftest import scratch_database

    from orchestration.cli import main

    def custom_tables(url: str) -> list[str]:
        with psycopg.connect(url) as check:
            rows = check.execute(
                "select table_name from information_schema.tables where table_schema = 'raw' "
                "and table_name = any(%s) order by 1",
                (list(CUSTOM_TABLES.values()),),
            ).fetchall()
        return [table for (table,) in rows]

    expected = sorted(CUSTOM_TABLES.values())
    with scratch_database(server_url) as url:
        ensure_sources_exist(WarehouseResource(url=url))
        assert custom_tables(url) == expected
    with scratch_database(server_url) as url:
        monkeypatch.setenv("VAULT_DATABASE_URL", url)
        assert main(["db", "init"]) == 0
        assert custom_tables(url) == expected


# -- the HTTP JSON API collector --------------------------------------------------------------------


def test_cursor_pages_are_all_read_and_every_served_point_lands(
    conn, database_url, sandbox, company, token
):
    entry = _entry(url=f"{sandbox.url}{internal_metrics.CURSOR_PATH}")
    result = _run(http_api_collector(entry), database_url)
    served = _served(company)
    assert result.rows == len(served) == 360 and result.rejected == 0
    assert _loaded(conn) == served
    pages = [r for r in sandbox.requests if r.path == internal_metrics.CURSOR_PATH]
    assert len(pages) == 2, "120 points at 100 a page"
    assert pages[0].query["from"] == ("2026-03-03T00:00:00Z",)
    assert pages[0].query["to"] == ("2026-03-04T00:00:00Z",)
    assert "cursor" not in pages[0].query and pages[1].query["cursor"]
    assert {r.headers["authorization"] for r in pages} == {f"Bearer {TOKEN}"}
    record = conn.execute(
        "select partition_key, natural_key, record from raw.custom_http "
        "where record ->> 'metric' = 'service.requests' order by load_seq limit 1"
    ).fetchone()
    assert record[0] == "service_metrics:2026-03-03"
    assert record[1].startswith("service_metrics|service.requests|")
    assert record[2]["source"] == internal_metrics.points_for_day(company, DAY)[0]
    assert record[2]["origin"] == {"url": entry.url, "page": 1, "index": 0}
    assert record[2]["taxonomy"]["team"] == "checkout"


_STYLES = {
    "page": (
        internal_metrics.PAGES_PATH,
        {"params": {"from": "{start}", "to": "{end}"}, "records": "items",
         "pagination": {"style": "page", "size_param": "per_page", "size": 25}},
        5,
    ),
    "page without a size": (
        internal_metrics.PAGES_PATH,
        {"params": {"from": "{start}", "to": "{end}", "per_page": 40}, "records": "items[*]",
         "pagination": {"style": "page"}},
        4,
    ),
    "offset": (
        internal_metrics.OFFSET_PATH,
        {"params": {"start": "{start}", "end": "{end}"}, "window_format": "unix_s",
         "records": "results[*]", "pagination": {"style": "offset", "limit": 50}},
        3,
    ),
    "link": (
        internal_metrics.LINKED_PATH,
        {"params": {"from": "{start}", "to": "{end}", "per_page": 30}, "records": "$",
         "pagination": {"style": "link"}},
        4,
    ),
    "cursor in a POST body": (
        internal_metrics.QUERY_PATH,
        {"method": "POST", "params": {}, "window_format": "unix_ms",
         "body": {"window": {"from": "{start}", "to": "{end}"}, "limit": 70},
         "records": "data[*]",
         "pagination": {"style": "cursor", "cursor_path": "next"}},
        2,
    ),
}  # fmt: skip


@pytest.mark.parametrize("style", list(_STYLES))
def test_each_paging_style_reads_every_page(conn, database_url, sandbox, company, token, style):
    path, changes, pages = _STYLES[style]
    entry = _entry(url=f"{sandbox.url}{path}", **changes)
    result = _run(http_api_collector(entry), database_url)
    assert (result.rows, result.rejected) == (360, 0)
    assert _loaded(conn) == _served(company)
    assert len([r for r in sandbox.requests if r.path == path]) == pages


def test_the_window_reaches_the_api_as_values_and_hostile_text_stays_one_value(
    conn, database_url, sandbox, token
):
    seen = []

    def echo(company, request):
        seen.append(request)
        return Response(200, {"data": []})

    sandbox.routes[("GET", "/echo/{start}")] = Route(echo, internal_metrics.fault)
    sandbox.routes[("POST", "/echo")] = Route(echo, internal_metrics.fault)
    hostile = "x&to=1999-01-01&cursor=1#'); drop table t; --"
    get = _entry(
        url=f"{sandbox.url}/echo/{{start}}",
        params={"from": "{start}", "to": "{end}", "note": hostile, "limit": 5},
        window_format="unix_s",
    )
    post = _entry(
        url=f"{sandbox.url}/echo",
        method="POST",
        params={},
        body={"window": ["{start}", "at {end}"], "note": hostile, "n": 1},
        window_format="unix_ms",
    )
    assert _run(http_api_collector(get), database_url).rows == 0
    assert _run(http_api_collector(post), database_url).rows == 0
    start = int(_midnight(DAY).timestamp())
    assert seen[0].path == f"/echo/{start}"
    assert seen[0].query == {
        "from": (str(start),),
        "to": (str(start + 86400),),
        "note": (hostile,),
        "limit": ("5",),
    }
    assert json.loads(seen[1].body) == {
        "window": [start * 1000, f"at {(start + 86400) * 1000}"],
        "note": hostile,
        "n": 1,
    }


def test_a_missing_token_variable_is_named_and_no_request_is_made(
    database_url, sandbox, monkeypatch
):
    monkeypatch.delenv(METRICS_TOKEN_ENV, raising=False)
    entry = _entry(url=f"{sandbox.url}{internal_metrics.CURSOR_PATH}")
    with pytest.raises(MissingCredentialError, match=f"variable {METRICS_TOKEN_ENV} is not set"):
        _run(http_api_collector(entry), database_url)
    assert sandbox.requests == []


def test_a_refused_token_fails_without_showing_it(database_url, sandbox, monkeypatch):
    monkeypatch.setenv(METRICS_TOKEN_ENV, "wrong-RECOGNISABLE")
    entry = _entry(url=f"{sandbox.url}{internal_metrics.CURSOR_PATH}")
    with pytest.raises(SourceError) as caught:
        _run(http_api_collector(entry), database_url)
    assert "HTTP 401 unauthorized: a bearer token nw-internal-... is required" in str(caught.value)
    assert "http_api service_metrics: GET" in str(caught.value)
    assert "RECOGNISABLE" not in str(caught.value)


def test_rate_limits_and_server_errors_are_retried(conn, database_url, sandbox, company, token):
    sandbox.faults[internal_metrics.CURSOR_PATH] = [429, 503]
    entry = _entry(url=f"{sandbox.url}{internal_metrics.CURSOR_PATH}")
    spec = http_api_collector(entry)
    # HttpSource backs off between retries; the sandbox's 429 says Retry-After: 0.
    assert _run(spec, database_url).rows == 360
    assert len(sandbox.requests) == 4


def test_a_malformed_page_fails_the_partition_and_keeps_the_previous_rows(
    conn, database_url, sandbox, company, token
):
    entry = _entry(url=f"{sandbox.url}{internal_metrics.CURSOR_PATH}", max_retries=1)
    assert _run(http_api_collector(entry), database_url, run_id="good").rows == 360
    real = sandbox.routes[("GET", internal_metrics.CURSOR_PATH)]

    def garbled_second_page(company, request):
        if "cursor" in request.query:
            return Response(200, b'{"data": [{"ts": "2026-03-03T01:00:00Z", "serv')
        return real.handler(company, request)

    sandbox.routes[("GET", internal_metrics.CURSOR_PATH)] = Route(
        garbled_second_page, internal_metrics.fault
    )
    with pytest.raises(SourceError) as caught:
        _run(http_api_collector(entry), database_url, run_id="bad")
    message = str(caught.value)
    assert "http_api service_metrics: GET" in message
    assert "the response is not valid JSON" in message and "gave up after 2 attempts" in message
    rows = conn.execute("select count(*), min(run_id), max(run_id) from raw.custom_http").fetchone()
    assert rows == (360, "good", "good")


def test_unreadable_records_are_rejected_with_reasons_and_the_rest_load(
    conn, database_url, sandbox, token
):
    answer = {
        "data": [
            {"ts": "2026-03-03T01:00:00Z", "service": "a", "stats": {"requests": 5, "errors": 0,
             "latency_ms": {"p95": 12.5}}},
            {"ts": "2026-03-03T02:00:00Z", "service": "b", "stats": {"requests": "lots",
             "errors": 1, "latency_ms": {}}},
            {"service": "c", "stats": {"requests": 1}},
            "not an object",
        ],
        "meta": {"next_cursor": None},
    }  # fmt: skip
    sandbox.routes[("GET", "/odd")] = Route(
        lambda c, r: Response(200, answer), internal_metrics.fault
    )
    result = _run(http_api_collector(_entry(url=f"{sandbox.url}/odd")), database_url)
    assert (result.rows, result.rejected) == (4, 4)
    loaded = conn.execute(
        "select record -> 'tags' ->> 'service', record ->> 'metric' from raw.custom_http order by 1, 2"
    ).fetchall()
    assert loaded == [
        ("a", "service.latency_p95"),
        ("a", "service.requests"),
        ("a", "service.requests_failed"),
        ("b", "service.requests_failed"),
    ]
    reasons = conn.execute(
        "select partition_key, reason from raw._rejected order by reason"
    ).fetchall()
    partition = "service_metrics:2026-03-03"
    assert reasons == [
        (partition, "service_metrics: page 1 record 1: metric service.latency_p95: "
                    "no value at 'stats.latency_ms.p95'"),
        (partition, "service_metrics: page 1 record 1: metric service.requests: "
                    "'lots' is not a number"),
        (partition, "service_metrics: page 1 record 2: no time at 'ts'"),
        (partition, "service_metrics: page 1 record 3 is not a JSON object"),
    ]  # fmt: skip


def test_records_outside_the_window_are_left_to_their_own_partition(
    conn, database_url, sandbox, token
):
    points = [
        {"ts": f"2026-03-0{day}T12:00:00Z", "service": "a",
         "stats": {"requests": day, "errors": 0, "latency_ms": {"p95": 1}}}
        for day in (2, 3, 4)
    ]  # fmt: skip
    sandbox.routes[("GET", "/all")] = Route(
        lambda c, r: Response(200, {"data": points, "meta": {}}), internal_metrics.fault
    )
    assert _run(http_api_collector(_entry(url=f"{sandbox.url}/all")), database_url).rows == 3
    kept = _entry(url=f"{sandbox.url}/all", keep_outside_window=True)
    assert _run(http_api_collector(kept), database_url).rows == 9


def test_a_repeated_cursor_and_a_link_to_another_origin_are_refused(database_url, sandbox, token):
    sandbox.routes[("GET", "/loop")] = Route(
        lambda c, r: Response(200, {"data": [], "meta": {"next_cursor": "same"}}),
        internal_metrics.fault,
    )
    with pytest.raises(SourceError, match="page 2 repeats cursor 'same'; refusing to loop"):
        _run(http_api_collector(_entry(url=f"{sandbox.url}/loop")), database_url)
    sandbox.routes[("GET", "/away")] = Route(
        lambda c, r: Response(200, [], {"link": '<https://elsewhere.example/p2>; rel="next"'}),
        internal_metrics.fault,
    )
    away = _entry(url=f"{sandbox.url}/away", records="$", pagination={"style": "link"})
    with pytest.raises(SourceError, match="another origin than the configured URL's"):
        _run(http_api_collector(away), database_url)
    assert [r.path for r in sandbox.requests] == ["/loop", "/loop", "/away"]


def test_link_headers_are_read_as_rfc_8288_says():
    assert next_link(['<https://a/p?page=2>; rel="next", <https://a/p?page=9>; rel="last"']) == (
        "https://a/p?page=2"
    )
    assert (
        next_link(['<https://a/p?page=1>; rel="prev"', "<https://a/x>; rel=next"]) == "https://a/x"
    )
    assert next_link(['<https://a/p>; rel="prev next"']) == "https://a/p"
    assert next_link(['<https://a/p>; rel="last"']) is None
    assert next_link([]) is None


# -- the sandbox's service-metrics API on the wire ---------------------------------------------------


def test_the_metrics_api_refuses_a_foreign_cursor_and_unknown_parameters(sandbox, company):
    headers = {"authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=sandbox.url, headers=headers, timeout=10) as api:
        day = {"from": "2026-03-03T00:00:00Z", "to": "2026-03-04T00:00:00Z", "limit": 50}
        first = api.get(internal_metrics.CURSOR_PATH, params=day).json()
        other = {**day, "from": "2026-03-02T00:00:00Z", "cursor": first["meta"]["next_cursor"]}
        refused = api.get(internal_metrics.CURSOR_PATH, params=other)
        assert (refused.status_code, refused.json()["error"]["code"]) == (400, "invalid_cursor")
        unknown = api.get(internal_metrics.CURSOR_PATH, params={**day, "region": "eu"})
        assert unknown.json() == {
            "error": {"code": "invalid_parameter", "message": "unknown parameter region"}
        }
        assert (
            api.get(
                internal_metrics.CURSOR_PATH, params=day, headers={"authorization": ""}
            ).status_code
            == 401
        )


def test_the_metrics_api_answers_a_day_the_same_whatever_else_is_asked(company):
    one = internal_metrics.points_for_day(company, DAY)
    assert one == internal_metrics.points_for_day(build_company(7), DAY)
    assert one != internal_metrics.points_for_day(build_company(8), DAY)
    window = internal_metrics.points_between(
        company, _midnight(DAY - timedelta(days=1)), _midnight(DAY + timedelta(days=1))
    )
    assert window[len(window) // 2 :] == one
    assert all(point["stats"]["errors"] <= point["stats"]["requests"] for point in one)


def test_the_demo_configures_all_three_kinds_from_the_sandbox(tmp_path):
    from orchestration.demo import prepare_sandbox

    workspace = prepare_sandbox(tmp_path, "http://127.0.0.1:9", DAY, DAY + timedelta(days=1))
    config = load_config(workspace.config_path)
    names = [spec.asset_key.to_user_string() for spec in custom_collectors(config)]
    assert names == [
        "raw/http_api_service_metrics",
        "raw/sql_support_tickets",
        "raw/log_files_api_gateway",
    ]
    assert workspace.env[METRICS_TOKEN_ENV].startswith(internal_metrics.TOKEN_PREFIX)
    database = workspace.env[config.sources.sql.queries[0].url_env].removeprefix("sqlite:///")
    assert Path(database).is_file()
    assert (tmp_path / "gateway" / "access.jsonl").is_file()
    # vault.yaml names the variables; their values are only in the environment.
    written = workspace.config_path.read_text()
    assert "env: NORTHWIND_METRICS_TOKEN" in written and "sqlite:///" not in written
    assert internal_metrics.TOKEN_PREFIX not in workspace.config_path.read_text()
