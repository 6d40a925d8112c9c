"""The raw loader against a real PostgreSQL: idempotence, atomicity, rejections, memory."""

import threading
import tracemalloc

import psycopg
import pytest

from orchestration.warehouse.loader import (
    RawTableError,
    Rejected,
    encode_record,
    key_function,
    read_state,
    replace_partition,
)


def _load(conn, records, *, partition="2026-11-01", run_id="run-1", table="events", state=None):
    return replace_partition(
        conn,
        source="test",
        table=table,
        partition_key=partition,
        run_id=run_id,
        records=records,
        natural_key=("id",),
        state=state,
    )


def _rows(conn, table="events"):
    return conn.execute(
        f"select partition_key, natural_key, load_seq, run_id, record from raw.{table} "
        "order by partition_key, load_seq"
    ).fetchall()


def test_replacing_a_partition_twice_keeps_one_copy(conn):
    records = [{"id": 1, "v": "a"}, {"id": 2, "v": "b"}]
    _load(conn, records, run_id="first")
    _load(conn, records, run_id="second")
    rows = _rows(conn)
    assert [(r[1], r[3], r[4]) for r in rows] == [
        ("1", "second", {"id": 1, "v": "a"}),
        ("2", "second", {"id": 2, "v": "b"}),
    ]


def test_other_partitions_are_untouched(conn):
    _load(conn, [{"id": 1}], partition="2026-11-01")
    _load(conn, [{"id": 2}], partition="2026-11-02")
    _load(conn, [{"id": 3}], partition="2026-11-01")
    assert [(r[0], r[1]) for r in _rows(conn)] == [("2026-11-01", "3"), ("2026-11-02", "2")]


def test_a_failing_source_leaves_the_previous_rows(conn):
    _load(conn, [{"id": 1}, {"id": 2}])

    def broken():
        yield {"id": 10}
        raise ConnectionError("vendor went away")

    with pytest.raises(ConnectionError):
        _load(conn, broken(), run_id="broken", state={"cursor": "new"})
    assert [r[1] for r in _rows(conn)] == ["1", "2"]
    assert read_state(conn, "events") == {}


def test_bad_records_are_rejected_with_a_reason_and_the_rest_load(conn):
    records = [
        {"id": 1},
        {"id": 2, "x": float("nan")},
        {"id": 3, "x": "nul\x00byte"},
        {"id": 4, "x": "lone \ud800 surrogate"},
        ["not", "an", "object"],
        {"id": 5, "x": {1, 2}},
        Rejected("the vendor sent garbage", b'{"truncated": \xff'),
        {"id": 6},
    ]
    result = _load(conn, records)
    assert (result.rows, result.rejected) == (2, 6)
    assert [r[1] for r in _rows(conn)] == ["1", "6"]
    rejected = conn.execute(
        "select source, table_name, partition_key, reason, raw_text from raw._rejected "
        "order by reason"
    ).fetchall()
    reasons = " | ".join(row[3] for row in rejected)
    assert "NaN" in reasons or "nan" in reasons
    assert "NUL" in reasons
    assert "surrogate" in reasons
    assert "JSON object" in reasons
    assert "not JSON-serialisable" in reasons
    assert "the vendor sent garbage" in reasons
    assert all(row[:3] == ("test", "events", "2026-11-01") for row in rejected)
    garbage = next(row[4] for row in rejected if row[3] == "the vendor sent garbage")
    assert garbage == '{"truncated": \\xff'


def test_rejections_are_replaced_with_their_partition(conn):
    _load(conn, [Rejected("bad", "x")])
    _load(conn, [{"id": 1}])
    assert conn.execute("select count(*) from raw._rejected").fetchone() == (0,)


def test_state_is_saved_with_the_load(conn):
    _load(conn, [{"id": 1}], state={"file:/a": {"size": 3}})
    _load(conn, [{"id": 1}], partition="2026-11-02", state={"file:/b": {"size": 4}})
    assert read_state(conn, "events") == {"file:/a": {"size": 3}, "file:/b": {"size": 4}}


def test_concurrent_loads_of_one_partition_never_duplicate(database_url, conn):
    _load(conn, [{"id": 0}])
    errors = []

    def load(run_id):
        try:
            with psycopg.connect(database_url, autocommit=True) as own:
                _load(own, ({"id": n} for n in range(2000)), run_id=run_id)
        except Exception as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=load, args=(f"run-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    count, distinct, runs = conn.execute(
        "select count(*), count(distinct natural_key), count(distinct run_id) from raw.events"
    ).fetchone()
    assert (count, distinct, runs) == (2000, 2000, 1)


def test_memory_stays_flat_however_many_records(conn):
    def records(n):
        for i in range(n):
            yield {"id": i, "model": "claude-sonnet-4-5", "tokens": i * 7, "pad": "x" * 200}

    def peak(n):
        tracemalloc.start()
        _load(conn, records(n), partition=f"p{n}")
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = peak(2_000), peak(40_000)
    # Twenty times the records (about 10 MB of JSON) must not need much more memory.
    assert large < small * 2 + 1_000_000, (small, large)


def test_table_names_are_checked(conn):
    with pytest.raises(RawTableError):
        replace_partition(
            conn,
            source="x",
            table='events"; drop table x; --',
            partition_key="p",
            run_id="r",
            records=[],
            natural_key=("id",),
        )


def test_natural_key_paths_and_missing_fields():
    extract = key_function(("bucket", "group.model", "missing"))
    assert extract({"bucket": "2026-11-01", "group": {"model": "m"}}) == "2026-11-01|m|"
    assert extract({"bucket": None, "group": "not a mapping"}) == "||"


def test_encode_record_keeps_unicode():
    assert encode_record({"name": "Zoë 🚀"}) == '{"name":"Zoë 🚀"}'


def test_a_connection_inside_a_transaction_is_refused(database_url):
    with psycopg.connect(database_url) as plain, pytest.raises(ValueError, match="autocommit"):
        _load(plain, [{"id": 1}])
