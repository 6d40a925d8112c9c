"""Claude Code session transcripts: the `*.jsonl` files under `~/.claude/projects`.

Each assistant line carries `message.usage` (uncached input, output, cache read and cache write
tokens), the model, the session and the working directory. Transcripts carry no user identity,
so each configured folder says whose transcripts it holds.

Reading is incremental. For each file the collector remembers its size, modification time and
the first and last timestamps it holds; a window skips, without opening them, files modified
before the window began and unchanged files whose timestamps all fall outside it. A file that
grew is read again. Lines are chronological, so a line that is not valid JSON is rejected in the
partition of the line before it (or after it, at the top of a file), exactly once.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from orchestration.collectors.framework import Window
from orchestration.warehouse.loader import Rejected

# A transcript's mtime is at least its last line's timestamp, give or take clock resolution.
_MTIME_SLACK = timedelta(minutes=5)


class TranscriptFolderResource(dg.Config):
    path: str
    user_email: str | None = None


class ClaudeCodeTranscripts(dg.ConfigurableResource):
    """The transcript folders to read, each with the email of the person they belong to."""

    folders: list[TranscriptFolderResource] = []

    def messages(self, window: Window) -> Iterator[dict[str, Any] | Rejected]:
        """Usage-bearing lines whose timestamp falls in the window, once per message."""
        seen: set[str] = set()
        for folder in self.folders:
            root = Path(folder.path).expanduser()
            if not root.is_dir():
                window.log.warning(f"Claude Code transcript folder {root} does not exist; skipped")
                continue
            for file in sorted(root.rglob("*.jsonl")):
                yield from _read_file(file, root, folder.user_email, window, seen)


@dataclass(frozen=True)
class _FileState:
    size: int
    mtime_ns: int
    first_at: str | None
    last_at: str | None


def _state_key(file: Path) -> str:
    return f"file:{file.resolve()}"


def _must_read(file: Path, stat_size: int, mtime_ns: int, window: Window) -> bool:
    modified = datetime.fromtimestamp(mtime_ns / 1e9, UTC)
    if modified + _MTIME_SLACK < window.start:
        return False
    saved = window.state.get(_state_key(file))
    if not saved or saved.get("size") != stat_size or saved.get("mtime_ns") != mtime_ns:
        return True
    return (
        _parse_time(saved["first_at"]) < window.end
        and _parse_time(saved["last_at"]) >= window.start
    )


def _read_file(
    file: Path, root: Path, user_email: str | None, window: Window, seen: set[str]
) -> Iterator[dict[str, Any] | Rejected]:
    stat = file.stat()
    if not _must_read(file, stat.st_size, stat.st_mtime_ns, window):
        return
    project_dir = file.relative_to(root).parts[0] if file.parent != root else ""
    first_at: datetime | None = None
    last_at: datetime | None = None
    pending_bad: list[tuple[int, bytes]] = []  # bad lines waiting for a datable neighbour
    with file.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                try:
                    line = json.loads(raw)
                except RecursionError:
                    raise ValueError("nested too deeply to parse") from None
                if not isinstance(line, dict):
                    raise ValueError("not a JSON object")
            except ValueError as error:
                if last_at is None:
                    pending_bad.append((number, raw))
                elif window.start <= last_at < window.end:
                    yield _bad_line(file, number, raw, error)
                continue
            moment = _line_time(line)
            if moment is None:
                continue
            first_at = first_at or moment
            last_at = moment
            if pending_bad:
                if window.start <= moment < window.end:
                    for bad_number, bad_raw in pending_bad:
                        yield _bad_line(file, bad_number, bad_raw, None)
                pending_bad.clear()
            if not window.start <= moment < window.end:
                continue
            message = line.get("message")
            if not isinstance(message, dict) or not isinstance(message.get("usage"), dict):
                continue
            key = message_key(line)
            if key in seen:
                continue
            seen.add(key)
            line["_vault"] = {
                "file": str(file),
                "line": number,
                "project_dir": project_dir,
                "user_email": user_email,
            }
            yield line
    if first_at is None or last_at is None:
        # Nothing datable: the file's bad lines, if any, belong to when it was written.
        first_at = last_at = datetime.fromtimestamp(stat.st_mtime_ns / 1e9, UTC)
        if window.start <= last_at < window.end:
            for bad_number, bad_raw in pending_bad:
                yield _bad_line(file, bad_number, bad_raw, None)
    window.save_state(
        _state_key(file),
        {
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "first_at": first_at.isoformat(),
            "last_at": last_at.isoformat(),
        },
    )


def message_key(line: dict[str, Any]) -> str:
    """The natural key of a transcript message: `message.id:requestId`, else the line's uuid.

    Claude Code writes the same API response again when a conversation is resumed or replayed
    in a side chain; the pair identifies the response, so duplicates collapse to one.
    """
    message = line.get("message") if isinstance(line.get("message"), dict) else {}
    message_id, request_id = message.get("id"), line.get("requestId")
    if message_id and request_id:
        return f"{message_id}:{request_id}"
    if message_id:
        return str(message_id)
    return str(line.get("uuid") or "")


def _bad_line(file: Path, number: int, raw: bytes, error: Exception | None) -> Rejected:
    reason = f"{file}:{number}: not a valid transcript line"
    if error is not None:
        reason += f" ({error})"
    return Rejected(reason, raw.rstrip(b"\r\n"))


def _line_time(line: dict[str, Any]) -> datetime | None:
    value = line.get("timestamp")
    if not isinstance(value, str):
        return None
    try:
        return _parse_time(value)
    except ValueError:
        return None


def _parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
