"""The tracker's local folder: batches the warehouse could not take yet, and refused calls.

Every batch is one file, `batch-<time>-<pid>-<seq>-<count>.jsonl`, one JSON event per line. A
file is written under a temporary name, synced and renamed, so it is either complete or
absent; it is mode 0600 in a folder created 0700, because events name customers.

Several processes may share a folder (gunicorn workers, a service restarted while its
predecessor still drains). A process sends a file only after claiming it with an atomic
rename to `<name>.sending-<pid>`, so two processes never send the same file. A claim whose
process has died is returned to the queue by the next scan, and so is a half-written file
of a dead process: its complete lines are events like any other.

Calls that failed validation are appended to `rejected.jsonl` in the same folder, with the
reason. The warehouse keeps collector rejections in `raw._rejected`, but the ingest role may
only insert into the push tables, so refused calls stay here for a person to read.
"""

import contextlib
import itertools
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SPOOL_ENV = "VAULT_TRACKING_SPOOL"
REJECTED_FILE = "rejected.jsonl"

_PREFIX = "batch-"
_SUFFIX = ".jsonl"
_CLAIM = ".sending-"
_PARTIAL = ".tmp"


def default_spool_dir() -> Path:
    """`VAULT_TRACKING_SPOOL`, else `$XDG_STATE_HOME/vault/tracking` (`~/.local/state/...`)."""
    explicit = os.environ.get(SPOOL_ENV)
    if explicit:
        return Path(explicit).expanduser()
    state = os.environ.get("XDG_STATE_HOME") or "~/.local/state"
    return Path(state).expanduser() / "vault" / "tracking"


def _is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _event_count(name: str) -> int:
    """The event count a batch file's name carries (0 for a name of another shape)."""
    stem = name.split(_SUFFIX, 1)[0]
    try:
        return int(stem.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return 0


class Spool:
    """Batch files in one folder, created on first use."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self._seq = itertools.count()

    @property
    def rejected_path(self) -> Path:
        return self.folder / REJECTED_FILE

    def _ensure_folder(self) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _names(self) -> list[str]:
        try:
            return os.listdir(self.folder)
        except FileNotFoundError:
            return []

    def write(self, lines: Iterable[str], count: int) -> Path:
        """A new batch file of `count` events, one JSON text per line; complete or absent."""
        self._ensure_folder()
        name = f"{_PREFIX}{time.time_ns():020d}-{os.getpid()}-{next(self._seq):06d}-{count}"
        path = self.folder / f"{name}{_SUFFIX}"
        partial = self.folder / f".{name}{_SUFFIX}{_PARTIAL}"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                for line in lines:
                    out.write(line)
                    out.write("\n")
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, path)
        except BaseException:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise
        return path

    def ready(self) -> list[Path]:
        """Batch files waiting to be sent, oldest first."""
        names = (n for n in self._names() if n.startswith(_PREFIX) and n.endswith(_SUFFIX))
        return [self.folder / name for name in sorted(names)]

    def claim(self, path: Path) -> Path | None:
        """Take `path` for sending; None when another process took it first."""
        claimed = path.with_name(f"{path.name}{_CLAIM}{os.getpid()}")
        try:
            os.rename(path, claimed)
        except FileNotFoundError:
            return None
        return claimed

    def release(self, claimed: Path) -> None:
        """Put a claimed file back in the queue (its send failed)."""
        os.rename(claimed, claimed.with_name(claimed.name.split(_CLAIM, 1)[0]))

    def finish(self, claimed: Path) -> None:
        """Forget a claimed file: its events are in the warehouse."""
        claimed.unlink(missing_ok=True)

    def read(self, claimed: Path) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
        """The events of a batch file, and (reason, line) for lines that are not events."""
        events: list[dict[str, Any]] = []
        bad: list[tuple[str, str]] = []
        with claimed.open(encoding="utf-8", errors="backslashreplace") as lines:
            for line in lines:
                line = line.rstrip("\n")
                if not line:
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    bad.append(("a spilled line is not JSON (cut short by a crash?)", line))
                    continue
                if not isinstance(event, dict) or not {"event_id", "occurred_at"} <= set(event):
                    bad.append(("a spilled line lacks event_id or occurred_at", line))
                    continue
                events.append(event)
        return events, bad

    def reclaim_abandoned(self) -> int:
        """Requeue files that processes now dead claimed or were writing; returns how many."""
        reclaimed = 0
        for name in self._names():
            if _CLAIM in name:
                original, _, pid = name.rpartition(_CLAIM)
                target = original
            elif name.startswith(f".{_PREFIX}") and name.endswith(_PARTIAL):
                target = name[1 : -len(_PARTIAL)]
                pid = target[len(_PREFIX) :].split("-")[1] if target.count("-") >= 3 else ""
            else:
                continue
            if not pid.isdigit() or int(pid) == os.getpid() or _is_alive(int(pid)):
                continue
            with contextlib.suppress(FileNotFoundError):
                os.rename(self.folder / name, self.folder / target)
                reclaimed += 1
        return reclaimed

    def pending(self) -> int:
        """Events in batch files, queued or being sent, by any process using the folder."""
        return sum(
            _event_count(name)
            for name in self._names()
            if name.startswith(_PREFIX) and (name.endswith(_SUFFIX) or _CLAIM in name)
        )

    def reject(self, entries: Iterable[dict[str, Any]]) -> None:
        """Append refused calls to `rejected.jsonl`, one JSON object per line."""
        text = "".join(
            json.dumps(entry, ensure_ascii=True, default=repr) + "\n" for entry in entries
        )
        if not text:
            return
        self._ensure_folder()
        fd = os.open(self.rejected_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
