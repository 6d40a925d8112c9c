"""The Claude Code transcript collector on real files and a real PostgreSQL."""

import json
import logging
import os
from datetime import UTC, datetime, timedelta

import pytest

from assets.claude_code import claude_code_messages
from orchestration.clients.claude_code import ClaudeCodeTranscripts, TranscriptFolderResource
from orchestration.collectors.framework import run_collector
from orchestration.warehouse.connection import WarehouseResource

DAY1 = datetime(2026, 11, 1, tzinfo=UTC)
DAY2 = DAY1 + timedelta(days=1)
LOG = logging.getLogger("test")


def _assistant(message_id, request_id, at, *, model="claude-sonnet-4-5-20250929", tokens=100):
    return {
        "type": "assistant",
        "sessionId": "s-1",
        "cwd": "/home/ana/src/api",
        "gitBranch": "main",
        "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "requestId": request_id,
        "uuid": f"u-{message_id}-{request_id}",
        "message": {
            "id": message_id,
            "model": model,
            "role": "assistant",
            "usage": {
                "input_tokens": tokens,
                "output_tokens": 5,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        },
    }


def _user(at):
    return {
        "type": "user",
        "timestamp": at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "message": {"role": "user", "content": "hello"},
    }


def _write(path, lines, mtime=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        for line in lines:
            handle.write(line if isinstance(line, str) else json.dumps(line))
            handle.write("\n")
    if mtime is not None:
        os.utime(path, (mtime.timestamp(), mtime.timestamp()))


@pytest.fixture
def transcripts(tmp_path):
    root = tmp_path / "ana"
    return root, ClaudeCodeTranscripts(
        folders=[TranscriptFolderResource(path=str(root), user_email="ana@example.com")]
    )


def _collect(database_url, client, start, run_id="r1"):
    result, _ = run_collector(
        claude_code_messages,
        WarehouseResource(url=database_url),
        start=start,
        end=start + timedelta(days=1),
        partition_key=start.date().isoformat(),
        run_id=run_id,
        log=LOG,
        resources={"claude_code": client},
    )
    return result


def _loaded(conn):
    return conn.execute(
        "select partition_key, natural_key, record -> '_vault' ->> 'project_dir', "
        "record -> '_vault' ->> 'user_email' from raw.claude_code_messages "
        "order by partition_key, natural_key"
    ).fetchall()


def test_messages_land_in_the_partition_of_their_timestamp_once(conn, database_url, transcripts):
    root, client = transcripts
    late = DAY1 + timedelta(hours=23, minutes=50)
    _write(
        root / "-home-ana-src-api" / "s-1.jsonl",
        [
            _user(late),
            _assistant("msg_1", "req_1", late),
            _assistant("msg_1", "req_1", late),  # a second content block of the same response
            _assistant("msg_2", "req_2", late + timedelta(minutes=20), model="claude-opus-4-1"),
        ],
    )
    assert _collect(database_url, client, DAY1).rows == 1
    assert _collect(database_url, client, DAY2).rows == 1
    assert _loaded(conn) == [
        ("2026-11-01", "msg_1:req_1", "-home-ana-src-api", "ana@example.com"),
        ("2026-11-02", "msg_2:req_2", "-home-ana-src-api", "ana@example.com"),
    ]


def test_malformed_lines_are_rejected_once_and_never_crash(conn, database_url, transcripts):
    root, client = transcripts
    at = DAY1 + timedelta(hours=10)
    _write(
        root / "-p" / "s.jsonl",
        [
            '{"type": "assistant", "timestamp": "2026-11-01T09:00:00.000Z", "mess',
            _assistant("msg_1", "req_1", at),
            "[1, 2, 3]",
            _assistant("msg_2", "req_2", at + timedelta(days=1)),
            b"\xff\xfe not utf-8".decode("latin-1"),
        ],
    )
    assert _collect(database_url, client, DAY1).rejected == 2
    assert _collect(database_url, client, DAY2).rejected == 1
    rejected = conn.execute(
        "select partition_key, reason from raw._rejected order by partition_key, reason"
    ).fetchall()
    assert [row[0] for row in rejected] == ["2026-11-01", "2026-11-01", "2026-11-02"]
    assert all("s.jsonl:" in row[1] for row in rejected)
    assert [row[1] for row in _loaded(conn)] == ["msg_1:req_1", "msg_2:req_2"]


def test_unchanged_files_outside_the_window_are_not_reopened(
    conn, database_url, transcripts, monkeypatch
):
    root, client = transcripts
    old = root / "-p" / "old.jsonl"
    _write(
        old,
        [_assistant("msg_old", "req", DAY1 + timedelta(hours=1))],
        mtime=DAY1 + timedelta(hours=1, minutes=1),
    )
    spanning = root / "-p" / "spanning.jsonl"
    _write(
        spanning,
        [
            _assistant("msg_a", "req", DAY1 + timedelta(hours=23)),
            _assistant("msg_b", "req", DAY2 + timedelta(hours=1)),
        ],
        mtime=DAY2 + timedelta(hours=1, minutes=1),
    )
    later = root / "-p" / "later.jsonl"
    _write(
        later,
        [_assistant("msg_later", "req", DAY2 + timedelta(hours=5))],
        mtime=DAY2 + timedelta(hours=5, minutes=1),
    )
    assert _collect(database_url, client, DAY1).rows == 2
    assert _collect(database_url, client, DAY2).rows == 2

    opened = []
    real_open = type(old).open

    def spy(self, *args, **kwargs):
        opened.append(self.name)
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(type(old), "open", spy)
    # Day 2 again: the old file was last written before day 2 began.
    assert _collect(database_url, client, DAY2, run_id="r2").rows == 2
    assert sorted(opened) == ["later.jsonl", "spanning.jsonl"]
    opened.clear()
    # Day 1 again: the later file is unchanged and all its messages are after day 1.
    assert _collect(database_url, client, DAY1, run_id="r2").rows == 2
    assert sorted(opened) == ["old.jsonl", "spanning.jsonl"]
    assert [row[1] for row in _loaded(conn)] == [
        "msg_a:req",
        "msg_old:req",
        "msg_b:req",
        "msg_later:req",
    ]


def test_a_grown_file_is_read_again(conn, database_url, transcripts):
    root, client = transcripts
    file = root / "-p" / "s.jsonl"
    first = _assistant("msg_1", "req_1", DAY1 + timedelta(hours=1))
    _write(file, [first])
    assert _collect(database_url, client, DAY1).rows == 1
    _write(file, [first, _assistant("msg_2", "req_2", DAY1 + timedelta(hours=2))])
    assert _collect(database_url, client, DAY1, run_id="r2").rows == 2
    assert [row[1] for row in _loaded(conn)] == ["msg_1:req_1", "msg_2:req_2"]


def test_a_missing_folder_is_a_warning_not_a_failure(conn, database_url, tmp_path, caplog):
    client = ClaudeCodeTranscripts(folders=[TranscriptFolderResource(path=str(tmp_path / "no"))])
    with caplog.at_level(logging.WARNING):
        assert _collect(database_url, client, DAY1).rows == 0
    assert "does not exist" in caplog.text
