"""`vault doctor` against a real warehouse and the sandbox's vendor APIs over HTTP."""

import socket
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from psycopg import sql

from orchestration.cli import main
from orchestration.monitoring.doctor import check_roles, render, run_checks
from orchestration.sandbox.company import build_company
from orchestration.sandbox.server import SandboxServer
from orchestration.warehouse.loader import ensure_raw_tables
from orchestration.warehouse.push import PUSH_TABLES, grant_ingest

NOW = datetime(2026, 11, 4, 6, tzinfo=UTC)
ADMIN_KEY = "sk-ant-admin01-doctor-test"
ANTHROPIC_TABLES = (
    "anthropic_claude_code_usage",
    "anthropic_cost_report",
    "anthropic_messages_usage",
)


@pytest.fixture(scope="module")
def sandbox():
    with SandboxServer(build_company(7)) as server:
        yield server


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _config(tmp_path, anthropic_url: str):
    path = tmp_path / "vault.yaml"
    path.write_text(f"sources:\n  anthropic:\n    base_url: {anthropic_url}\n")
    return path


def _by_area(findings):
    return {finding.area: finding for finding in findings}


def _load(conn, table: str, loaded_at: datetime) -> None:
    ensure_raw_tables(conn, table)
    conn.execute(
        sql.SQL(
            "insert into {} (partition_key, natural_key, load_seq, run_id, record, loaded_at)"
            " values ('2026-11-03', 'k', 0, 'r', '{{}}', %s)"
        ).format(sql.Identifier("raw", table)),
        (loaded_at,),
    )


def test_a_healthy_source_and_fresh_tables_pass(conn, database_url, sandbox, tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_ADMIN_API_KEY", ADMIN_KEY)
    for table in ANTHROPIC_TABLES:
        _load(conn, table, NOW - timedelta(hours=5))
    findings = _by_area(
        run_checks(config_path=_config(tmp_path, sandbox.url), url=database_url, now=NOW)
    )
    assert findings["config"].status == "ok"
    assert findings["warehouse"].status == "ok"
    assert "PostgreSQL" in findings["warehouse"].message
    source = findings["source anthropic"]
    assert source.status == "ok", source
    assert source.message == "credentials accepted; yesterday's data answered"
    fresh = findings["fresh anthropic"]
    assert (fresh.status, fresh.message) == ("ok", "3 raw table(s), newest load 5 h ago")


def test_a_refused_key_a_missing_key_and_an_unreachable_api_fail_with_a_fix(
    database_url, sandbox, tmp_path, monkeypatch
):
    config = _config(tmp_path, sandbox.url)
    monkeypatch.setenv("ANTHROPIC_ADMIN_API_KEY", "sk-ant-api03-not-an-admin-key")
    refused = _by_area(run_checks(config_path=config, url=database_url, now=NOW))
    assert refused["source anthropic"].status == "fail"
    assert "credentials refused (HTTP 401)" in refused["source anthropic"].message

    monkeypatch.delenv("ANTHROPIC_ADMIN_API_KEY")
    missing = _by_area(run_checks(config_path=config, url=database_url, now=NOW))
    assert missing["source anthropic"].status == "fail"
    assert "ANTHROPIC_ADMIN_API_KEY" in missing["source anthropic"].message
    assert missing["source anthropic"].fix.startswith("export the variable")

    monkeypatch.setenv("ANTHROPIC_ADMIN_API_KEY", ADMIN_KEY)
    closed = _config(tmp_path, f"http://127.0.0.1:{_closed_port()}")
    down = _by_area(run_checks(config_path=closed, url=database_url, now=NOW))
    assert down["source anthropic"].status == "fail"
    assert down["source anthropic"].message.startswith("unreachable")
    assert "base_url" in down["source anthropic"].fix


def test_stale_and_missing_raw_tables_are_named_with_the_schedule_to_start(
    conn, database_url, sandbox, tmp_path, monkeypatch
):
    monkeypatch.setenv("ANTHROPIC_ADMIN_API_KEY", ADMIN_KEY)
    _load(conn, "anthropic_cost_report", NOW - timedelta(days=3))
    findings = _by_area(
        run_checks(
            config_path=_config(tmp_path, sandbox.url),
            url=database_url,
            now=NOW,
            probe_sources=False,
        )
    )
    stale = findings["fresh anthropic"]
    assert stale.status == "fail"
    assert stale.message == (
        "raw.anthropic_claude_code_usage never loaded; raw.anthropic_messages_usage never loaded; "
        "raw.anthropic_cost_report last loaded 3 days ago (limit 36 h)"
    )
    assert "turn on collect_anthropic_schedule" in stale.fix
    assert "source anthropic" not in findings


def test_a_bad_configuration_or_an_unreachable_warehouse_stops_early(tmp_path):
    bad = tmp_path / "vault.yaml"
    bad.write_text("sources:\n  anthropic:\n    timeout_s: -1\n")
    (config,) = run_checks(config_path=bad, url="postgresql://nobody@127.0.0.1:1/none")
    assert config.status == "fail"
    assert "sources.anthropic.timeout_s" in config.message

    empty = tmp_path / "empty.yaml"
    empty.write_text("{}\n")
    findings = _by_area(
        run_checks(config_path=empty, url=f"postgresql://nobody@127.0.0.1:{_closed_port()}/x")
    )
    assert findings["config"].status == "warn"
    assert findings["warehouse"].status == "fail"
    assert "VAULT_DATABASE_URL" in findings["warehouse"].fix


@pytest.fixture
def roles(conn):
    reader, ingest = (f"vault_{kind}_{uuid.uuid4().hex[:8]}" for kind in ("reader", "ingest"))
    conn.execute("create schema if not exists marts")
    conn.execute("create table if not exists marts.doctor_probe (x int)")
    conn.execute(f'create role "{reader}" login')
    grant_ingest(conn, ingest)
    yield reader, ingest
    conn.execute("drop table if exists marts.doctor_probe")
    for role in (reader, ingest):
        conn.execute(f'drop owned by "{role}"')
        conn.execute(f'drop role "{role}"')


def test_roles_are_judged_by_what_they_can_read_and_write(conn, roles):
    reader, ingest = roles
    (superuser,) = conn.execute("select current_user").fetchone()
    owner = next(check_roles(conn, owner=superuser, reader=reader, ingest=ingest))
    assert (owner.status, owner.message) == (
        "fail",
        "is a superuser: a leaked collector credential would own the server",
    )
    findings = list(check_roles(conn, owner=reader, reader=reader, ingest=ingest))
    assert [f.status for f in findings] == ["ok", "fail", "ok"]
    assert "cannot read 1 mart(s): marts.doctor_probe" in findings[1].message

    conn.execute(f'grant usage on schema marts to "{reader}"')
    conn.execute(f'grant select on marts.doctor_probe to "{reader}"')
    assert [f.status for f in check_roles(conn, owner=reader, reader=reader, ingest=ingest)] == [
        "ok",
        "ok",
        "ok",
    ]

    table = next(iter(PUSH_TABLES))
    conn.execute(f'grant usage on schema raw to "{reader}"')
    conn.execute(f'grant select on raw.{table} to "{reader}"')
    conn.execute(f'grant select on raw.{table} to "{ingest}"')
    _, leaky, reading = check_roles(conn, owner=reader, reader=reader, ingest=ingest)
    assert leaky.status == "fail" and f"raw.{table}" in leaky.message
    assert reading.status == "fail" and f"reads raw.{table}" in reading.message


def test_vault_doctor_prints_each_problem_with_its_fix_and_fails(
    database_url, tmp_path, monkeypatch, capsys
):
    config = _config(tmp_path, f"http://127.0.0.1:{_closed_port()}")
    monkeypatch.setenv("VAULT_CONFIG", str(config))
    monkeypatch.setenv("VAULT_DATABASE_URL", database_url)
    monkeypatch.delenv("ANTHROPIC_ADMIN_API_KEY", raising=False)
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "FAIL  source anthropic" in out
    assert "fix: export the variable it names" in out
    failures = sum(line.startswith("FAIL") for line in out.splitlines())
    assert failures >= 2  # the source and its raw tables
    assert f"\n{failures} problem(s)," in out


def test_render_lists_fixes_only_for_problems():
    from orchestration.monitoring.doctor import Finding

    text = render(
        [
            Finding("warehouse", "ok", "PostgreSQL 15", "never shown"),
            Finding("source x", "fail", "down", "bring it up"),
        ]
    )
    assert text.splitlines() == [
        "ok    warehouse  PostgreSQL 15",
        "FAIL  source x   down",
        "                 fix: bring it up",
        "",
        "1 problem(s), 0 warning(s)",
    ]
