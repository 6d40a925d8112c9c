"""Shared fixtures: a real PostgreSQL for every test that touches the warehouse.

By default the embedded server (kept in `.vault/test-postgres`, started on demand and reused
by later runs) holds the test databases; `VAULT_TEST_DATABASE_URL` points the suite at another
server instead (CI runs it once more against PostgreSQL 15 that way). Each test session works
in a database of its own, created at the start and dropped at the end, so nothing a test does
can touch the demo's warehouse or another run's data.
"""

import os
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from orchestration.dbt.project import DBT_PROJECT_DIR, dbt_executable
from orchestration.warehouse.connection import dbt_env
from orchestration.warehouse.embedded import EmbeddedPostgres

REPO_ROOT = Path(__file__).resolve().parents[1]


def _server_url() -> str:
    url = os.environ.get("VAULT_TEST_DATABASE_URL")
    if url:
        return url
    return EmbeddedPostgres(REPO_ROOT / ".vault" / "test-postgres").ensure_running()


def _with_database(url: str, database: str) -> str:
    return urlsplit(url)._replace(path=f"/{database}").geturl()


@pytest.fixture(scope="session")
def server_url() -> str:
    return _server_url()


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the test server, dropped afterwards; yields its URL."""
    name = f"vault_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'create database "{name}"')
    try:
        yield _with_database(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="session")
def database_url(server_url: str) -> Iterator[str]:
    """A fresh database for this test session."""
    with scratch_database(server_url) as url:
        yield url


@pytest.fixture
def conn(database_url: str) -> Iterator[psycopg.Connection]:
    """An autocommit connection to the session's database, with a clean `raw` schema."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("drop schema if exists raw cascade")
        yield connection


@pytest.fixture(scope="module")
def module_database(server_url: str) -> Iterator[str]:
    """A database of the test module's own, for tests that build whole schemas."""
    with scratch_database(server_url) as url:
        yield url


def build_models_then_test(url: str, target: Path, fact: str, tests: Sequence[str]) -> None:
    """Build the seeds and models `fact` needs in the database at `url`, then run the dbt tests
    of `tests` (selectors) and of `fact`; fails with dbt's output if either step fails.

    Models first and tests apart: building every test upstream of a fact table runs the whole
    project's tests, which a source's own module need not pay for.
    """
    for args in (
        ["build", "--select", f"+{fact}", "--resource-type", "seed", "--resource-type", "model"],
        ["test", "--select", *tests, fact],
    ):
        done = run_dbt(url, target, *args)
        assert done.returncode == 0, done.stdout[-4000:]


def run_dbt(url: str, target: Path, *args: str) -> subprocess.CompletedProcess:
    """Run dbt with `args` against the database at `url`, its files under `target`."""
    env = {
        **os.environ,
        **dbt_env(url),
        "DBT_TARGET_PATH": str(target / "target"),
        "DBT_LOG_PATH": str(target / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    return subprocess.run(
        [
            dbt_executable(),
            *args,
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
