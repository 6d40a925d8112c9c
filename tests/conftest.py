"""Shared fixtures: a real PostgreSQL for every test that touches the warehouse.

By default the embedded server (kept in `.vault/test-postgres`, started on demand and reused
by later runs) holds the test databases; `VAULT_TEST_DATABASE_URL` points the suite at another
server instead (CI runs it once more against PostgreSQL 15 that way). Each test session works
in a database of its own, created at the start and dropped at the end, so nothing a test does
can touch the demo's warehouse or another run's data.
"""

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

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
