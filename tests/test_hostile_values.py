"""Hostile values in tags, names and configuration stay data: never SQL, never a template.

Quotes, `'; drop table x; --`, Jinja's `{{ }}` and `{% %}`, control characters, very long
strings and unusual Unicode travel from a vendor (the real Prometheus client against a
sandbox route), a tracked product call and a seed row through the raw loader and dbt into
`marts.fct_metrics`, and must come out byte-equal. Canary tables named in the hostile SQL
must still be there afterwards. Values Postgres cannot hold (a NUL character, a lone
surrogate) are rejected with a reason, beside the rows that load. Configuration with hostile
names is refused with a clear error naming the key; hostile values where a value belongs are
sent and stored as they are.
"""

import csv
import io
import json
import logging
import os
import shutil
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from assets.prometheus import prometheus_series
from orchestration.clients.prometheus import QUERY_RANGE_PATH, PrometheusClient, PrometheusQuerySpec
from orchestration.collectors.framework import Window, run_collector
from orchestration.config import ConfigError, load_config
from orchestration.custom import http_api
from orchestration.custom.entries import HttpApiEntry
from orchestration.dbt.assets import ensure_sources_exist
from orchestration.dbt.project import DBT_PROJECT_DIR, dbt_executable
from orchestration.hook import main as hook
from orchestration.sandbox.company import build_company
from orchestration.sandbox.routing import Response, Route
from orchestration.sandbox.server import SandboxServer
from orchestration.tracking import Tracker
from orchestration.warehouse.connection import WarehouseResource, dbt_env
from orchestration.warehouse.push import grant_ingest

LOG = logging.getLogger("test_hostile_values")
HOUR = datetime(2026, 11, 3, 14, tzinfo=UTC)
METRIC = "infra.test.hostile_labels"

DROP_X = "'; drop table x; --"
HOSTILE = {
    "quotes": 'it\'s "quoted" `backticked`',
    "sql": DROP_X,
    "sql_double": 'x"); drop table y; --',
    "jinja_expression": "{{ this }} {{ run_query('drop table x') }}",
    "jinja_statement": "{% set x = 1 %}{% raw %}{% endraw %}{# comment #}",
    "control": "a\x01b\x1fc\x7fd\ttab\r\nnewline\\backslash\\u0000escaped",
    "long": "ł" * 5000 + "x" * 5000,
    "unicode": "日本語 🚀 e\u0301 \u202eRTL\u202c \ufeffBOM \U0010fffd",
    "dollar": "$$ drop table x $$ $tag$",
    DROP_X: "a key that closes a quote",
    "{{ key }}": "{% if true %}key braces{% endif %}",
    "é ✓ spaced key": "\u00a0non-breaking",
}
HOSTILE_SERVICE = "svc'; drop table x; -- {{ service }}"
HOSTILE_TEAM = 'team "{% raw %}" \'; drop table y; --'
HOSTILE_PROJECT = "project {{ var('x') }} ✓"


def _label_series(labels: dict[str, str], value: str = "1") -> dict:
    return {"metric": labels, "values": [[HOUR.timestamp(), value]]}


SERIES = [
    _label_series({"__name__": "up", "service": HOSTILE_SERVICE, **HOSTILE}),
    _label_series({"__name__": "up", "service": "nul", "bad": "before\x00after"}),
    _label_series({"__name__": "up", "service": "surrogate", "bad": "lone \ud800 half"}),
]


def _answer(company, request) -> Response:
    body = {"status": "success", "data": {"resultType": "matrix", "result": SERIES}}
    # ensure_ascii: the NUL and the lone surrogate travel as JSON escapes, as a vendor sends them.
    return Response(200, json.dumps(body, ensure_ascii=True).encode())


def _dbt(project: Path, url: str, target: Path, *args: str) -> subprocess.CompletedProcess:
    """dbt with `args` in the project at `project`, its files under `target`."""
    env = {
        **os.environ,
        **dbt_env(url),
        "DBT_TARGET_PATH": str(target / "target"),
        "DBT_LOG_PATH": str(target / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    command = [dbt_executable(), *args, "--project-dir", str(project)]
    return subprocess.run(
        [*command, "--profiles-dir", str(project)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _project_with_hostile_seed(folder: Path) -> Path:
    """A copy of the dbt project whose source_mappings seed maps the hostile service."""
    project = folder / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    seed = project / "seeds" / "source_mappings.csv"
    text = seed.read_text(encoding="utf-8")
    row = io.StringIO()
    csv.writer(row, lineterminator="\n").writerow(
        ["prometheus", "service", HOSTILE_SERVICE, "", HOSTILE_TEAM, HOSTILE_PROJECT, ""]
    )
    seed.write_text(text.rstrip("\n") + "\n" + row.getvalue(), encoding="utf-8")
    return project


@pytest.fixture(scope="module")
def built(module_database, tmp_path_factory):
    """Hostile labels collected into raw, a hostile tracked call, then fct_metrics built."""
    with psycopg.connect(module_database, autocommit=True) as conn:
        conn.execute("create table public.x (id int)")
        conn.execute("create table public.y (id int)")
    route = Route(_answer, lambda status: Response(status, {"error": "fault"}))
    with SandboxServer(build_company(7), routes={("GET", QUERY_RANGE_PATH): route}) as server:
        client = PrometheusClient(
            base_url=server.url,
            max_retries=0,
            queries=[
                PrometheusQuerySpec(
                    name=METRIC, query=f'up{{job="{DROP_X}"}}', unit="requests", step="1h"
                )
            ],
        )
        result, _ = run_collector(
            prometheus_series,
            WarehouseResource(url=module_database),
            start=HOUR,
            end=HOUR + timedelta(hours=1),
            partition_key="2026-11-03-14:00",
            run_id="hostile",
            log=LOG,
            resources={"prometheus": client},
        )
        promql_sent = [r.query["query"] for r in server.requests]
    folder = tmp_path_factory.mktemp("hostile")
    role = f"vault_ingest_{uuid.uuid4().hex[:8]}"
    tracked = _track_hostile_call(module_database, role, folder / "spool")
    ensure_sources_exist(WarehouseResource(url=module_database))
    project = _project_with_hostile_seed(folder)
    build = _dbt(
        project,
        module_database,
        folder,
        "build",
        "--select",
        "+fct_metrics",
        "--resource-type",
        "seed",
        "--resource-type",
        "model",
    )
    try:
        assert build.returncode == 0, build.stdout[-4000:]
        yield {"result": result, "promql_sent": promql_sent, "tracked": tracked}
    finally:
        with psycopg.connect(module_database, autocommit=True) as conn:
            conn.execute(f'drop owned by "{role}"')
            conn.execute(f'drop role "{role}"')


TRACKED_TAGS = {
    DROP_X: "{{ this }}",
    "team": HOSTILE_TEAM,
    "project": "{% do run_query('drop table y') %}",
    "quote'key\"": "\x01\x02 control",
}
TRACKED_CUSTOMER = "cus_'; drop table x; --"
TRACKED_FEATURE = "{{ feature }} {% raw %}"


def _track_hostile_call(url: str, role: str, spool: Path) -> dict[str, Any]:
    """A call with hostile tag keys and values through the ingest role, and one with a NUL."""
    with psycopg.connect(url, autocommit=True) as conn:
        grant_ingest(conn, role)
    host = url.split("@", 1)[1]
    ingest_url = f"postgresql://{role}@{host}"
    fields = {
        "feature": TRACKED_FEATURE,
        "model": "claude-haiku-4-5-20251001",
        "provider": "anthropic",
        "tokens_in": 10,
        "tokens_out": 5,
        "latency_ms": 120.0,
        "success": True,
        "occurred_at": HOUR,
    }
    with Tracker(ingest_url, spool_dir=spool, flush_interval=0.05) as tracker:
        accepted = tracker.track(customer=TRACKED_CUSTOMER, tags=TRACKED_TAGS, **fields)
        with_nul = tracker.track(customer="cus_nul", tags={"team": "a\x00b"}, **fields)
        assert tracker.flush(timeout=10)
        stats = tracker.stats()
    rejected = (spool / "rejected.jsonl").read_text(encoding="utf-8").splitlines()
    return {"accepted": accepted, "with_nul": with_nul, "sent": stats.sent, "rejected": rejected}


def _fct(url: str, metric_type: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select tags, team, project, service, customer, feature "
            "from marts.fct_metrics where metric_type = %s",
            (metric_type,),
        ).fetchall()


def test_hostile_labels_reach_fct_metrics_byte_equal(built, module_database):
    rows = _fct(module_database, METRIC)
    assert len(rows) == 1
    tags, team, project, service, _, _ = rows[0]
    assert tags == {"service": HOSTILE_SERVICE, **HOSTILE}
    assert (team, project, service) == (HOSTILE_TEAM, HOSTILE_PROJECT, HOSTILE_SERVICE)
    with psycopg.connect(module_database) as conn:
        texts = dict(
            conn.execute(
                "select tag.key, tag.value from marts.fct_metrics "
                "cross join lateral jsonb_each_text(tags) as tag (key, value) "
                "where metric_type = %s",
                (METRIC,),
            ).fetchall()
        )
        raw = conn.execute(
            "select record ->> 'promql', record -> 'metric' from raw.prometheus_series"
        ).fetchall()
    for key, value in HOSTILE.items():
        assert texts[key].encode() == value.encode(), key
    assert raw == [
        (f'up{{job="{DROP_X}"}}', {"__name__": "up", "service": HOSTILE_SERVICE, **HOSTILE})
    ]
    assert built["promql_sent"] == [(f'up{{job="{DROP_X}"}}',)]


def test_values_postgres_cannot_hold_are_rejected_with_a_reason_beside_the_rows(
    built, module_database
):
    assert (built["result"].rows, built["result"].rejected) == (1, 2)
    with psycopg.connect(module_database) as conn:
        reasons = conn.execute(
            "select reason, raw_text from raw._rejected where table_name = 'prometheus_series' "
            "order by reason"
        ).fetchall()
    assert [reason for reason, _ in reasons] == [
        "contains a NUL character, which Postgres jsonb cannot store",
        "contains a lone surrogate, which is not valid UTF-8",
    ]
    # The record as text, escaped where the database could not hold it.
    assert '"bad": "before\\u0000after"' in reasons[0][1]
    assert '"bad": "lone \\ud800 half"' in reasons[1][1]


def test_hostile_sql_in_values_never_ran(built, module_database):
    with psycopg.connect(module_database) as conn:
        tables = conn.execute(
            "select table_name from information_schema.tables where table_schema = 'public' "
            "and table_name in ('x', 'y') order by 1"
        ).fetchall()
    assert tables == [("x",), ("y",)]


def test_a_hostile_seed_row_is_stored_as_data(built, module_database):
    with psycopg.connect(module_database) as conn:
        rows = conn.execute(
            "select schemaname from pg_tables where tablename = 'source_mappings'"
        ).fetchall()
        schema = rows[0][0]
        stored = conn.execute(
            f'select team, project from "{schema}".source_mappings where key_value = %s',
            (HOSTILE_SERVICE,),
        ).fetchall()
    assert stored == [(HOSTILE_TEAM, HOSTILE_PROJECT)]


def test_a_tracked_call_with_hostile_tags_arrives_byte_equal(built, module_database):
    tracked = built["tracked"]
    assert tracked["accepted"] and not tracked["with_nul"] and tracked["sent"] == 1
    (refusal,) = [json.loads(line) for line in tracked["rejected"]]
    assert "NUL" in refusal["reason"]
    with psycopg.connect(module_database) as conn:
        record = conn.execute("select record from raw.product_usage_events").fetchone()[0]
    assert record["tags"] == TRACKED_TAGS and record["customer"] == TRACKED_CUSTOMER
    rows = [row for row in _fct(module_database, "ai.requests") if row[4] == TRACKED_CUSTOMER]
    assert len(rows) == 1
    _, team, project, _, _, feature = rows[0]
    assert (team, project, feature) == (HOSTILE_TEAM, TRACKED_TAGS["project"], TRACKED_FEATURE)


# --- the Claude Code hook ---------------------------------------------------------------------


def test_the_hook_keeps_hostile_input_as_data(tmp_path):
    spool = tmp_path / "hook.jsonl"
    env = {
        "VAULT_HOOK_SPOOL": str(spool),
        "HOME": str(tmp_path),
        "VAULT_USER_EMAIL": "dev@example.com",
        "VAULT_DEPARTMENT": HOSTILE_TEAM,
        "VAULT_PROJECT": HOSTILE_PROJECT,
        "VAULT_HOOK_STORE_PROMPT": "1",
    }
    prompt = f"fix {DROP_X} and {{{{ template }}}} {{% raw %}} \x01 ✓"
    payload = {
        "hook_event_name": "UserPromptSubmit",
        "prompt": prompt,
        "session_id": "s'; drop table x; --\x00",
        "cwd": "/work/{{ cwd }}/it's",
    }
    hook.run(io.BytesIO(json.dumps(payload).encode()), env)
    (line,) = spool.read_text(encoding="utf-8").splitlines()
    event = json.loads(line)
    assert event["prompt"] == prompt
    assert event["session_id"] == "s'; drop table x; --", "NUL removed, nothing else"
    assert event["cwd"] == payload["cwd"] and event["project_dir"] == "-work-{{ cwd }}-it's"
    assert (event["department"], event["project"]) == (HOSTILE_TEAM, HOSTILE_PROJECT)


# --- configuration ----------------------------------------------------------------------------


def _config(tmp_path: Path, sources: dict) -> Path:
    path = tmp_path / "vault.yaml"
    path.write_text(json.dumps({"sources": sources}), encoding="utf-8")  # JSON is YAML
    return path


def _api(**changes) -> dict:
    entry = {
        "name": "status_page",
        "url": "https://status.example.com/api/metrics",
        "records": "data[*]",
        "mapping": {
            "time": "ts",
            "metrics": [{"name": "service.requests", "value": "n", "unit": "requests"}],
        },
    }
    return {**entry, **changes}


@pytest.mark.parametrize(
    "sources, key",
    [
        ({"http_api": {"enabled": True, "apis": [_api(name=DROP_X)]}}, "name"),
        ({"http_api": {"enabled": True, "apis": [_api(name="{{ name }}")]}}, "name"),
        (
            {
                "http_api": {
                    "enabled": True,
                    "apis": [_api(mapping={**_api()["mapping"], "tags": {DROP_X: "a"}})],
                }
            },
            "tags",
        ),
        (
            {
                "http_api": {
                    "enabled": True,
                    "apis": [
                        _api(
                            mapping={
                                **_api()["mapping"],
                                "metrics": [{"name": "{% x %}", "value": "n", "unit": "u"}],
                            }
                        )
                    ],
                }
            },
            "name",
        ),
        (
            {"http_api": {"enabled": True, "apis": [_api(records="data[*]; drop table x")]}},
            "records",
        ),
        (
            {
                "sql": {
                    "enabled": True,
                    "queries": [
                        {
                            "name": "tickets",
                            "url_env": "TICKETS_DB_URL",
                            "query": "select 1 where :window_start < :window_end; drop table x",
                            "mapping": {
                                "time": "day",
                                "metrics": [
                                    {"name": "support.tickets", "value": "n", "unit": "tickets"}
                                ],
                            },
                        }
                    ],
                }
            },
            "query",
        ),
        (
            {
                "sql": {
                    "enabled": True,
                    "queries": [
                        {
                            "name": "tickets",
                            "url_env": "TICKETS_DB_URL; rm -rf /",
                            "query": "select 1 where :window_start < :window_end",
                            "mapping": {
                                "time": "day",
                                "metrics": [
                                    {"name": "support.tickets", "value": "n", "unit": "tickets"}
                                ],
                            },
                        }
                    ],
                }
            },
            "url_env",
        ),
        (
            {
                "prometheus": {
                    "enabled": True,
                    "queries": [{"name": DROP_X, "query": "up", "unit": "requests"}],
                }
            },
            "name",
        ),
    ],
)
def test_a_hostile_name_in_vault_yaml_is_refused_naming_the_key(tmp_path, sources, key):
    with pytest.raises(ConfigError) as refusal:
        load_config(_config(tmp_path, sources))
    message = str(refusal.value)
    assert "vault.yaml: sources." in message and key in message


def test_hostile_values_in_an_http_entry_are_sent_and_stored_as_they_are(tmp_path):
    seen = []

    def echo(company, request) -> Response:
        seen.append(request)
        note = request.query["note"][0]
        record = {
            "ts": "2026-11-03T14:30:00Z",
            "n": 1,
            "note": note,
            "header": request.headers["x-note"],
        }
        return Response(200, {"data": [record]})

    route = Route(echo, lambda status: Response(status, {"error": "fault"}))
    with SandboxServer(build_company(7), routes={("GET", "/metrics"): route}) as server:
        entry = HttpApiEntry.model_validate(
            _api(
                url=f"{server.url}/metrics",
                params={"note": f"{DROP_X} {{{{ start }}}} {{% end %}}", "from": "{start}"},
                headers={"X-Note": "it's {{ header }}"},
                mapping={**_api()["mapping"], "tags": {"note": "note", "header": "header"}},
                max_retries=0,
            )
        )
        window = Window(HOUR, HOUR + timedelta(hours=1), "2026-11-03", LOG)
        (record,) = list(http_api.collect(entry, window))
    assert seen[0].query["from"] == ("2026-11-03T14:00:00Z",), "only {start} is a placeholder"
    assert record["tags"] == {
        "note": f"{DROP_X} {{{{ start }}}} {{% end %}}",
        "header": "it's {{ header }}",
    }
