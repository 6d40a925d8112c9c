"""Push tables and the insert-only role, on a real PostgreSQL."""

import uuid
from urllib.parse import urlsplit

import psycopg
import pytest

from orchestration.warehouse.push import copy_events, event_partition, grant_ingest


@pytest.fixture
def ingest_url(conn, database_url):
    role = f"vault_ingest_{uuid.uuid4().hex[:8]}"
    grant_ingest(conn, role)
    yield (
        urlsplit(database_url)
        ._replace(netloc=f"{role}@{urlsplit(database_url).netloc.split('@')[-1]}")
        .geturl()
    )
    conn.execute(f'drop owned by "{role}"')
    conn.execute(f'drop role "{role}"')


def test_the_ingest_role_appends_events_and_can_read_nothing(conn, ingest_url):
    events = [
        {"event_id": "e1", "occurred_at": "2026-11-30T23:59:59Z", "kind": "prompt"},
        {"event_id": "e2", "occurred_at": "2026-12-01T00:00:00+00:00", "kind": "prompt"},
    ]
    with psycopg.connect(ingest_url, autocommit=True) as ingest:
        assert copy_events(ingest, "claude_code_hook_events", events, client_id="hook:laptop") == 2
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            ingest.execute("select count(*) from raw.claude_code_hook_events")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            copy_events(ingest, "product_usage_events", events, client_id="x")  # granted
            ingest.execute("delete from raw.product_usage_events")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            ingest.execute("create table raw.mine (n int)")
    rows = conn.execute(
        "select partition_key, natural_key, run_id, record ->> 'kind' "
        "from raw.claude_code_hook_events order by natural_key"
    ).fetchall()
    assert rows == [
        ("2026-11-30", "e1", "hook:laptop", "prompt"),
        ("2026-12-01", "e2", "hook:laptop", "prompt"),
    ]


def test_only_push_tables_take_pushed_events(conn):
    with pytest.raises(ValueError, match="not a push table"):
        copy_events(conn, "anthropic_cost_report", [], client_id="x")


def test_event_partition_is_the_utc_date():
    assert event_partition("2026-12-01T01:30:00+02:00") == "2026-11-30"
    assert event_partition("2026-12-01T01:30:00") == "2026-12-01"
