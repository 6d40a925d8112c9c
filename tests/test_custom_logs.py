"""The log_files source: JSON-lines and CSV files read by file and byte offset.

Real files in a temporary folder, rotated the ways logrotate and friends rotate them (rename,
copy and truncate, delete), and a real PostgreSQL for the raw table and the collector state.
"""

import json
import logging
import os
import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from orchestration.collectors.framework import run_collector
from orchestration.custom.collectors import log_files_collector
from orchestration.custom.entries import LogSourceEntry
from orchestration.custom.log_files import pending_key, stale_days
from orchestration.warehouse.connection import WarehouseResource
from orchestration.warehouse.loader import read_state

LOG = logging.getLogger("test")
D1, D2, D3 = date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)


def _line(day: date, second: int, latency: float = 10.0, **extra) -> str:
    moment = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=second)
    record = {"ts": moment.isoformat().replace("+00:00", "Z"), "latency_ms": latency, **extra}
    return json.dumps(record) + "\n"


def _entry(folder: Path, pattern: str = "access.log*", **changes) -> LogSourceEntry:
    return LogSourceEntry.model_validate(
        {
            "name": "gateway",
            "path": str(folder / pattern),
            "mapping": {
                "time": "ts",
                "metrics": [{"name": "gateway.latency", "value": "latency_ms", "unit": "ms"}],
                "tags": {"route": "route"},
            },
            **changes,
        }
    )


def _run(entry: LogSourceEntry, database_url: str, day: date, run_id: str = "r"):
    warehouse = WarehouseResource(url=database_url)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    result, _ = run_collector(
        log_files_collector(entry),
        warehouse,
        start=start,
        end=start + timedelta(days=1),
        partition_key=day.isoformat(),
        run_id=run_id,
        log=LOG,
        resources={"warehouse": warehouse},
    )
    return result


def _values(conn, day: date) -> list[float]:
    """The latencies loaded for `day`, in time order."""
    rows = conn.execute(
        "select (record ->> 'value')::float from raw.custom_logs where partition_key = %s "
        "order by record ->> 'observed_at', record -> 'origin' ->> 'offset'",
        (f"gateway:{day.isoformat()}",),
    ).fetchall()
    return [value for (value,) in rows]


def _append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    logs = tmp_path / "logs"
    logs.mkdir()
    return logs


def test_each_day_gets_its_own_lines_and_a_later_day_waits_for_its_run(conn, database_url, folder):
    log = folder / "access.log"
    log.write_text(_line(D1, 10, 1) + _line(D1, 86_000, 2) + _line(D2, 5, 3))
    assert _run(_entry(folder), database_url, D1).rows == 2
    assert _values(conn, D1) == [1, 2]
    assert _values(conn, D2) == []
    assert stale_days(conn, "gateway") == ["2026-03-03"], "D2 has lines but no load yet"
    assert _run(_entry(folder), database_url, D2).rows == 1
    assert _values(conn, D2) == [3]
    assert stale_days(conn, "gateway") == []


def test_a_partial_last_line_waits_for_its_newline(conn, database_url, folder):
    log = folder / "access.log"
    whole = _line(D1, 20, 2)
    log.write_text(_line(D1, 10, 1) + whole[:15])
    result = _run(_entry(folder), database_url, D1)
    assert (result.rows, result.rejected) == (1, 0)
    _append(log, whole[15:])
    result = _run(_entry(folder), database_url, D1, run_id="r2")
    assert (result.rows, result.rejected) == (2, 0)
    assert _values(conn, D1) == [1, 2]


def test_reading_resumes_at_the_saved_offset_and_seeks_to_the_window(conn, database_url, folder):
    log = folder / "access.log"
    padding = "x" * 300  # keeps the bytes changed below out of the file's fingerprint
    day_one = _line(D1, 10, 1, pad=padding) + _line(D1, 20, 2)
    log.write_text(day_one + _line(D2, 10, 3))
    assert _run(_entry(folder), database_url, D1).rows == 2
    assert _run(_entry(folder), database_url, D2).rows == 1
    # Garble D1's second line in place (same length): a D2 reload must not read it, and
    # the lines appended after the saved offset are read.
    garbled = log.read_bytes().replace(b'"latency_ms": 2}', b'"latency_ms": ?}')
    assert garbled != log.read_bytes()
    log.write_bytes(garbled)
    _append(log, _line(D2, 30, 4))
    result = _run(_entry(folder), database_url, D2, run_id="r2")
    assert (result.rows, result.rejected) == (2, 0)
    assert _values(conn, D2) == [3, 4]
    # A reload of D1 reads D1's range again, and finds the garbled line.
    result = _run(_entry(folder), database_url, D1, run_id="r3")
    assert (result.rows, result.rejected) == (1, 1)


def test_a_renamed_file_is_finished_before_the_new_one_and_keeps_its_index(
    conn, database_url, folder
):
    log = folder / "access.log"
    log.write_text(_line(D1, 10, 1))
    entry = _entry(folder, pattern="access.log")  # the rotated name is outside the glob
    assert _run(entry, database_url, D1).rows == 1
    _append(log, _line(D1, 20, 2) + _line(D1, 30, 3)[:10])  # a tail, its last line cut
    log.rename(folder / "access.log.1")
    _append(folder / "access.log.1", _line(D1, 30, 3)[10:])  # the writer finishes it
    (folder / "access.log").write_text(_line(D1, 40, 4))
    result = _run(entry, database_url, D1, run_id="r2")
    assert (result.rows, result.rejected) == (4, 0)
    assert _values(conn, D1) == [1, 2, 3, 4]
    files = conn.execute(
        "select distinct record -> 'origin' ->> 'file' from raw.custom_logs order by 1"
    ).fetchall()
    assert files == [(str(folder / "access.log"),), (str(folder / "access.log.1"),)]
    state = read_state(conn, "custom_logs")
    indexed = sorted(v["path"] for k, v in state.items() if k.startswith("gateway:file:"))
    assert indexed == [str(folder / "access.log"), str(folder / "access.log.1")]


def test_a_copied_and_truncated_file_starts_over_without_doubling_a_line(
    conn, database_url, folder
):
    log = folder / "access.log"
    log.write_text(_line(D1, 10, 1) + _line(D1, 20, 2))
    assert _run(_entry(folder), database_url, D1).rows == 2
    shutil.copy(log, folder / "access.log.1")  # copytruncate: copy, then truncate in place
    with log.open("w") as handle:
        handle.write(_line(D1, 30, 3))
    result = _run(_entry(folder), database_url, D1, run_id="r2")
    assert result.rows == 3
    assert _values(conn, D1) == [1, 2, 3]


def test_a_deleted_file_keeps_its_rows_and_rejections_when_its_day_is_reloaded(
    conn, database_url, folder
):
    old = folder / "access.log.1"
    old.write_text(_line(D1, 10, 1) + "not json at all\n" + _line(D1, 20, 2))
    (folder / "access.log").write_text(_line(D1, 30, 3))
    result = _run(_entry(folder), database_url, D1)
    assert (result.rows, result.rejected) == (3, 1)
    old.unlink()  # compressed away, or deleted by the retention policy
    result = _run(_entry(folder), database_url, D1, run_id="r2")
    assert (result.rows, result.rejected) == (3, 1)
    assert _values(conn, D1) == [1, 2, 3]
    assert conn.execute("select distinct run_id from raw.custom_logs").fetchall() == [("r2",)]
    (reason,) = conn.execute("select reason from raw._rejected").fetchone()
    assert reason.startswith(f"gateway: {old}:2: not valid JSON")


def test_a_line_that_is_not_json_is_rejected_with_file_and_line_and_the_rest_load(
    conn, database_url, folder
):
    log = folder / "access.log"
    log.write_text(
        "garbage before anything\n"
        + _line(D1, 10, 1)
        + "[1, 2]\n"
        + _line(D1, 20, "slow")
        + json.dumps({"latency_ms": 3}) + "\n"
        + "\n"
        + _line(D1, 30, 4)
    )  # fmt: skip
    result = _run(_entry(folder), database_url, D1)
    assert (result.rows, result.rejected) == (2, 4)
    reasons = [r for (r,) in conn.execute("select reason from raw._rejected order by reason")]
    prefix = f"gateway: {log}:"
    assert all(reason.endswith("]") and " [file " in reason for reason in reasons)
    assert [reason.split(" [file")[0] for reason in reasons] == [
        f"{prefix}1: not valid JSON (Expecting value: line 1 column 1 (char 0))",
        f"{prefix}3: not a JSON object but list",
        f"{prefix}4: metric gateway.latency: 'slow' is not a number",
        f"{prefix}5: no time at 'ts'",
    ]
    raw = conn.execute(
        "select raw_text from raw._rejected where reason like %s", (f"{prefix}3:%",)
    ).fetchone()[0]
    assert raw == "[1, 2]"


def test_bad_lines_belong_to_the_day_of_the_line_before_them(conn, database_url, folder):
    log = folder / "access.log"
    log.write_text(_line(D1, 86_000, 1) + "cut off\n" + _line(D2, 10, 2))
    assert _run(_entry(folder), database_url, D2).rejected == 0
    assert stale_days(conn, "gateway") == ["2026-03-02"]
    result = _run(_entry(folder), database_url, D1)
    assert (result.rows, result.rejected) == (1, 1)


def test_a_file_with_nothing_datable_is_rejected_on_the_day_it_was_written(
    conn, database_url, folder
):
    notes = folder / "access.log.notes"
    notes.write_text("rotated by logrotate\nnothing else\n")
    stamp = datetime(2026, 3, 3, 12, tzinfo=UTC).timestamp()
    os.utime(notes, (stamp, stamp))
    assert _run(_entry(folder), database_url, D1).rejected == 0
    assert _run(_entry(folder), database_url, D2).rejected == 2


def test_late_lines_make_their_day_stale_until_it_is_reloaded(conn, database_url, folder):
    log = folder / "access.log"
    log.write_text(_line(D1, 10, 1) + _line(D2, 10, 2))
    _run(_entry(folder), database_url, D1)
    _run(_entry(folder), database_url, D2)
    assert stale_days(conn, "gateway") == []
    _append(log, _line(D1, 50, 5) + _line(D3, 10, 3))  # a line that arrived late for D1
    _run(_entry(folder), database_url, D3)
    assert stale_days(conn, "gateway") == ["2026-03-02"]
    # What the schedule asks the collector, beyond its lookback.
    assert list(log_files_collector(_entry(folder)).stale_partitions(conn)) == ["2026-03-02"]
    assert _values(conn, D1) == [1], "D1 is not reloaded by another day's run"
    _run(_entry(folder), database_url, D1, run_id="stale")
    assert _values(conn, D1) == [1, 5]
    assert stale_days(conn, "gateway") == []
    assert read_state(conn, "custom_logs")[pending_key("gateway")] == []


def test_csv_files_are_read_by_their_header(conn, database_url, folder):
    log = folder / "access.csv"
    log.write_text(
        "ts;route;latency_ms\n"
        "2026-03-02T01:00:00Z;/a;12.5\n"
        "2026-03-02T02:00:00Z;/b\n"
        "2026-03-02T03:00:00Z;/c;n/a\n"
        "1772427600;/d;7\n"
    )
    entry = _entry(folder, pattern="*.csv", format="csv", delimiter=";")
    result = _run(entry, database_url, D1)
    assert (result.rows, result.rejected) == (2, 2)
    rows = conn.execute(
        "select record -> 'tags' ->> 'route', record ->> 'value' from raw.custom_logs order by 1"
    ).fetchall()
    assert rows == [("/a", "12.5"), ("/d", "7")]
    reasons = sorted(
        r.split(" [file")[0] for (r,) in conn.execute("select reason from raw._rejected")
    )
    assert reasons == [
        f"gateway: {log}:3: has 2 fields, the header has 3",
        f"gateway: {log}:4: metric gateway.latency: 'n/a' is not a number",
    ]


def test_compressed_and_unmatched_files_are_not_read(conn, database_url, folder):
    (folder / "access.log").write_text(_line(D1, 10, 1))
    (folder / "access.log.2.gz").write_bytes(b"\x1f\x8b\x08\x00binary")
    (folder / "error.log").write_text(_line(D1, 20, 9))
    result = _run(_entry(folder), database_url, D1)
    assert (result.rows, result.rejected) == (1, 0)


def test_two_entries_reading_one_folder_keep_their_rows_and_indexes_apart(
    conn, database_url, folder
):
    (folder / "access.log").write_text(_line(D1, 10, 1) + _line(D1, 20, 2))
    first = _entry(folder)
    second = _entry(folder, name="gateway_copy")
    assert _run(first, database_url, D1).rows == 2
    assert _run(second, database_url, D1).rows == 2
    (folder / "access.log").write_text(_line(D1, 10, 1))  # rewritten: starts over
    assert _run(first, database_url, D1, run_id="r2").rows == 1
    counts = conn.execute(
        "select partition_key, count(*) from raw.custom_logs group by 1 order by 1"
    ).fetchall()
    assert counts == [("gateway:2026-03-02", 1), ("gateway_copy:2026-03-02", 2)]


def test_a_relative_path_is_refused():
    with pytest.raises(ValueError, match="must be an absolute path"):
        LogSourceEntry.model_validate(
            {
                "name": "x",
                "path": "logs/*.log",
                "mapping": {"time": "t", "metrics": [{"name": "a.b", "value": "v", "unit": "u"}]},
            }
        )
