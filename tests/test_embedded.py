"""The embedded warehouse: started on demand, reused across processes, stopped on request."""

import subprocess
import sys

import psycopg
import pytest

from orchestration.warehouse.embedded import EmbeddedPostgres


@pytest.fixture
def server(tmp_path):
    embedded = EmbeddedPostgres(tmp_path / "postgres")
    yield embedded
    embedded.stop()


def _vault(*args, env):
    return subprocess.run(
        [sys.executable, "-m", "orchestration.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )


def test_started_on_demand_reused_and_stopped(server, tmp_path):
    assert not server.is_running()
    url = server.ensure_running()
    assert url.startswith("postgresql://postgres@127.0.0.1:") and url.endswith("/vault")
    with psycopg.connect(url, autocommit=True) as conn:
        pid = conn.execute("select pg_backend_pid()").fetchone()
        conn.execute("create table kept (n int)")
        conn.execute("insert into kept values (42)")
        postmaster = conn.execute("select pg_postmaster_start_time()").fetchone()
    assert pid
    # A second handle (as another command would have) reuses the running server.
    again = EmbeddedPostgres(server.root).ensure_running()
    assert again == url
    with psycopg.connect(again) as conn:
        assert conn.execute("select pg_postmaster_start_time()").fetchone() == postmaster
    assert server.stop()
    assert not server.is_running()
    assert not server.stop()
    # Restarting keeps the data and the port.
    assert server.ensure_running() == url
    with psycopg.connect(url) as conn:
        assert conn.execute("select n from kept").fetchone() == (42,)


def test_the_cli_prints_the_url_and_stops_the_server(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "VAULT_HOME": str(tmp_path / "home"), "HOME": str(tmp_path)}
    started = _vault("db", "url", env=env)
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip()
    with psycopg.connect(url) as conn:
        assert conn.execute("select current_database()").fetchone() == ("vault",)
    exported = _vault("db", "env", env=env).stdout
    assert "export VAULT_DB_NAME='vault'" in exported
    assert f"export VAULT_DATABASE_URL='{url}'" in exported
    assert _vault("db", "stop", env=env).stdout.strip() == "stopped"
    assert "stopped" in _vault("db", "status", env=env).stdout


def test_an_external_url_is_used_as_it_is_and_never_stopped(tmp_path, database_url):
    env = {"PATH": "/usr/bin:/bin", "VAULT_HOME": str(tmp_path), "VAULT_DATABASE_URL": database_url}
    assert _vault("db", "url", env=env).stdout.strip() == database_url
    stopped = _vault("db", "stop", env=env)
    assert stopped.returncode == 1 and "does not manage" in stopped.stderr
    assert not (tmp_path / "postgres").exists()
