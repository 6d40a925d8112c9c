"""JSON-lines or CSV log files described in vault.yaml, read by file and byte offset.

A partition is a window of time, and its raw rows are replaced whole on every load, so a load
must hand over every line of its window, not only the lines written since the previous run. To
do that without reading whole files again, each file has an index in `raw._collector_state`:

- `indexed_to`: the byte offset after the last complete line read; bytes after it are new.
- `partitions`: for each day, the byte range [first, end) holding its lines (and the lines
  rejected beside them), with the line number at `first`.

A load reads the window's range of each file (seeking to it) and then the new bytes (indexing
them as it goes); nothing else. A last line without its newline is left for the next run. The
lines of other days found among the new bytes mark those days as needing a reload, which the
schedule picks up (`stale_partitions`): a late line is never lost.

Files are recognised by device and inode, so a rotated file (renamed, even out of the glob, in
the same folder) keeps its index and its tail is read before the new file at its old path. A
file that shrank, or whose first bytes changed (copytruncate, an in-place rewrite), starts over
under a new identity. A file that disappeared (deleted, or compressed into a new file) is
remembered: a reload of a day it held carries its rows and rejections over from the raw table,
so a reload never loses what is no longer on disk. Compressed files are not read.

A line that is not a JSON object (or, for CSV, has the wrong number of fields), or whose time
cannot be read, is rejected with file and line number, in the partition of the line before it
(for the first lines of a file, the line after; with none, the file's modification day).

Two loads of the same entry running at once may each save their own index of a file; the later
one wins, which costs a re-read, never a row.
"""

import copy
import csv
import hashlib
import os
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from glob import glob
from pathlib import Path
from typing import Any

from orchestration.collectors.framework import Window
from orchestration.collectors.http import SourceError, parse_json
from orchestration.custom.entries import LogSourceEntry
from orchestration.custom.mapping import CompiledMapping, compile_json_mapping
from orchestration.warehouse.connection import WarehouseResource
from orchestration.warehouse.loader import RAW_SCHEMA, REJECTED_TABLE, STATE_TABLE, Rejected

TABLE = "custom_logs"
_HEAD_BYTES = 256
_COMPRESSED = (".gz", ".bz2", ".xz", ".zst", ".zip", ".lz4")


def vendor(entry: LogSourceEntry) -> str:
    """How messages name the entry."""
    return f"log_files {entry.name}"


def file_state_prefix(entry_name: str) -> str:
    return f"{entry_name}:file:"


def pending_key(entry_name: str) -> str:
    """The state key listing the days that received lines after they were loaded."""
    return f"{entry_name}:pending"


@dataclass
class _Index:
    """What is remembered of one file, as saved in the collector state."""

    id: str
    path: str
    dev: int
    ino: int
    head_len: int
    head: str
    indexed_to: int = 0
    lines: int = 0  # complete lines before indexed_to
    last_day: str | None = None  # day of the last line with a time before indexed_to
    header: list[str] | None = None
    partitions: dict[str, list[int]] = field(default_factory=dict)  # day -> [first, line, end]
    gone: bool = False  # no longer on disk: reloads carry its rows over
    replaced: bool = False  # shrank or rewritten: what it held is elsewhere now, or nowhere

    @classmethod
    def load(cls, value: dict[str, Any]) -> "_Index":
        return cls(**value)

    def dump(self) -> dict[str, Any]:
        return copy.deepcopy(self.__dict__)

    def extend(self, day: str, start: int, line: int, end: int) -> None:
        """Let `day`'s range cover the line at [start, end)."""
        known = self.partitions.get(day)
        if known is None:
            self.partitions[day] = [start, line, end]
            return
        if start < known[0]:
            known[0], known[1] = start, line
        known[2] = max(known[2], end)


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


def _window_days(window: Window) -> list[str]:
    days, day = [], window.start.astimezone(UTC).date()
    last = (window.end - timedelta(microseconds=1)).astimezone(UTC).date()
    while day <= last:
        days.append(day.isoformat())
        day += timedelta(days=1)
    return days


def _head(handle: Any, length: int) -> str:
    handle.seek(0)
    return hashlib.sha256(handle.read(length)).hexdigest()


def matched_files(entry: LogSourceEntry) -> list[Path]:
    """The regular files the entry's path names (a folder: the files directly in it)."""
    root = Path(entry.path).expanduser()
    if root.is_dir():
        candidates = [str(child) for child in root.iterdir()]
    else:
        candidates = glob(str(root), recursive=True)
    files = []
    for name in sorted(candidates):
        path = Path(name)
        if path.is_file() and not path.name.lower().endswith(_COMPRESSED):
            files.append(path)
    return files


def _find_inode(folder: Path, dev: int, ino: int) -> Path | None:
    """The file in `folder` with that device and inode (a rotated file's new name)."""
    try:
        with os.scandir(folder) as entries:
            for item in entries:
                if (
                    item.is_file(follow_symlinks=False)
                    and item.inode() == ino
                    and item.stat(follow_symlinks=False).st_dev == dev
                ):
                    return Path(item.path)
    except OSError:
        return None
    return None


@dataclass(frozen=True)
class _Bad:
    """A line that could not be read: where it is, its bytes, and why."""

    start: int
    line: int
    end: int
    raw: bytes
    reason: str


class _Reader:
    """One load of one entry: which files to read, and their lines in the window."""

    def __init__(
        self, entry: LogSourceEntry, window: Window, warehouse: WarehouseResource | None
    ) -> None:
        self.entry = entry
        self.window = window
        self.warehouse = warehouse
        self.mapping: CompiledMapping = compile_json_mapping(
            entry.mapping, entry=entry.name, source_system=entry.system
        )
        self.days = _window_days(window)
        pending = window.state.get(pending_key(entry.name)) or []
        self.saved_pending = sorted(pending)
        self.pending: set[str] = set(pending) - set(self.days)

    def collect(self) -> Iterator[dict[str, Any] | Rejected]:
        prefix = file_state_prefix(self.entry.name)
        saved = {
            key: _Index.load(value)
            for key, value in self.window.state.items()
            if key.startswith(prefix)
        }
        before = {key: index.dump() for key, index in saved.items()}
        current = matched_files(self.entry)
        stats = {}
        for path in current:
            try:
                stats[path] = path.stat()
            except OSError:
                continue
        by_inode = {(st.st_dev, st.st_ino): path for path, st in stats.items()}
        to_read: list[tuple[_Index, Path]] = []
        claimed: set[tuple[int, int]] = set()
        gone: list[_Index] = []
        for key in sorted(saved, key=lambda k: (saved[k].path, saved[k].id)):
            index = saved[key]
            if index.replaced:
                continue
            if index.gone:
                gone.append(index)
                continue
            path = by_inode.get((index.dev, index.ino)) or _find_inode(
                Path(index.path).parent, index.dev, index.ino
            )
            if path is None:
                index.gone = True
                gone.append(index)
                continue
            if not self._same_content(index, path):
                # Shrunk or rewritten in place: what it held was copied elsewhere (and is
                # read there) or is gone by intent; the file at this path starts over.
                index.replaced = True
                continue
            index.path = str(path)
            claimed.add((index.dev, index.ino))
            to_read.append((index, path))
        fresh = [path for path, st in stats.items() if (st.st_dev, st.st_ino) not in claimed]
        for path in sorted(fresh, key=lambda p: (stats[p].st_mtime_ns, str(p))):
            index = self._new_index(path)
            if index is not None:
                saved[file_state_prefix(self.entry.name) + index.id] = index
                to_read.append((index, path))
        for index, path in to_read:
            yield from self._read(index, path)
        yield from self._carried(gone)
        for key, index in saved.items():
            if before.get(key) != index.dump():
                self.window.save_state(key, index.dump())
        if sorted(self.pending) != self.saved_pending:
            self.window.save_state(pending_key(self.entry.name), sorted(self.pending))

    def _same_content(self, index: _Index, path: Path) -> bool:
        try:
            with path.open("rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if size < index.indexed_to or size < index.head_len:
                    return False
                if _head(handle, index.head_len) != index.head:
                    return False
                if index.head_len < _HEAD_BYTES and size > index.head_len:
                    index.head_len = min(size, _HEAD_BYTES)
                    index.head = _head(handle, index.head_len)
        except OSError:
            return False
        return True

    def _new_index(self, path: Path) -> _Index | None:
        try:
            with path.open("rb") as handle:
                st = os.fstat(handle.fileno())
                if not stat.S_ISREG(st.st_mode):
                    return None
                length = min(st.st_size, _HEAD_BYTES)
                head = _head(handle, length)
        except FileNotFoundError:
            return None  # rotated away between listing and opening: the next run finds it
        except OSError as error:
            raise SourceError(f"{vendor(self.entry)}: cannot read {path}: {error}") from None
        return _Index(
            id=uuid.uuid4().hex[:16],
            path=str(path),
            dev=st.st_dev,
            ino=st.st_ino,
            head_len=length,
            head=head,
        )

    def _read(self, index: _Index, path: Path) -> Iterator[dict[str, Any] | Rejected]:
        ranges = [index.partitions[day] for day in self.days if day in index.partitions]
        ranges = [r for r in ranges if r[0] < index.indexed_to]
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            # Rotated away since it was listed: the next tick reloads the window, and finds
            # the file by its inode then.
            self.pending.update(self.days)
            return
        except OSError as error:
            raise SourceError(f"{vendor(self.entry)}: cannot read {path}: {error}") from None
        with handle:
            if ranges:
                first = min(ranges, key=lambda r: r[0])
                end = min(max(r[2] for r in ranges), index.indexed_to)
                start_day = next(day for day in self.days if index.partitions.get(day) == first)
                yield from self._lines(index, handle, first[0], first[1], end, start_day, False)
            yield from self._lines(
                index, handle, index.indexed_to, index.lines + 1, None, index.last_day, True
            )

    def _lines(
        self,
        index: _Index,
        handle: Any,
        start: int,
        line: int,
        end: int | None,
        previous_day: str | None,
        indexing: bool,
    ) -> Iterator[dict[str, Any] | Rejected]:
        """The window's observations and rejections among the lines of [start, end).

        With `indexing`, the lines are new: read to the last complete one, recorded in the
        index, and their days outside the window marked for a reload.
        """
        handle.seek(start)
        offset = start
        waiting: list[_Bad] = []  # bad lines before any line with a time
        while end is None or offset < end:
            raw = handle.readline()
            if not raw:
                break
            if not raw.endswith(b"\n"):
                break  # a line still being written: the next run reads it whole
            line_start, offset = offset, offset + len(raw)
            number, line = line, line + 1
            if indexing:
                index.indexed_to, index.lines = offset, number
            if not raw.strip():
                continue
            if indexing and self.entry.format == "csv" and index.header is None:
                index.header = self._csv_fields(raw)
                continue
            try:
                record = self._parse(index, raw)
                observed_at = self.mapping.observed_at(record)
            except ValueError as error:
                bad = _Bad(line_start, number, offset, raw, str(error))
                if previous_day is None:
                    waiting.append(bad)
                else:
                    yield from self._bad(index, previous_day, bad, indexing)
                continue
            day = _day(observed_at)
            for bad in waiting:
                yield from self._bad(index, day, bad, indexing)
            waiting = []
            previous_day = day
            if indexing:
                index.extend(day, line_start, number, offset)
                index.last_day = day
            if not self.window.start <= observed_at < self.window.end:
                if indexing:
                    self.pending.add(day)
                continue
            origin = {
                "file": index.path,
                "file_id": index.id,
                "line": number,
                "offset": line_start,
            }
            for item in self.mapping.observations(
                record,
                observed_at,
                origin,
                default_key=f"{index.id}:{line_start}",
                where=f"{index.path}:{number}",
            ):
                if isinstance(item, Rejected):
                    # Tagged with the file's identity, so a reload can carry it over.
                    item = Rejected(f"{item.reason} [file {index.id}]", item.raw)
                yield item
        if indexing and waiting:
            # Nothing datable follows yet: the lines belong to when the file was last written.
            modified = datetime.fromtimestamp(os.fstat(handle.fileno()).st_mtime, UTC)
            day = _day(modified)
            for bad in waiting:
                yield from self._bad(index, day, bad, indexing)
            index.last_day = day

    def _bad(self, index: _Index, day: str, bad: "_Bad", indexing: bool) -> Iterator[Rejected]:
        if indexing:
            index.extend(day, bad.start, bad.line, bad.end)
        if day in self.days:
            yield Rejected(
                f"{self.entry.name}: {index.path}:{bad.line}: {bad.reason} [file {index.id}]",
                bad.raw.rstrip(b"\r\n"),
            )
        elif indexing:
            self.pending.add(day)

    def _parse(self, index: _Index, raw: bytes) -> dict[str, Any]:
        try:
            text = raw.decode(self.entry.encoding)
        except UnicodeDecodeError as error:
            raise ValueError(f"not {self.entry.encoding} text ({error.reason})") from None
        if self.entry.format == "csv":
            if index.header is None:
                raise ValueError("no header line before it")
            fields = self._csv_fields(raw)
            if len(fields) != len(index.header):
                raise ValueError(f"has {len(fields)} fields, the header has {len(index.header)}")
            return dict(zip(index.header, fields, strict=True))
        try:
            value = parse_json(text)
        except ValueError as error:
            raise ValueError(f"not valid JSON ({error})") from None
        if not isinstance(value, dict):
            raise ValueError(f"not a JSON object but {type(value).__name__}")
        return value

    def _csv_fields(self, raw: bytes) -> list[str]:
        text = raw.decode(self.entry.encoding, errors="replace").rstrip("\r\n")
        return next(csv.reader([text], delimiter=self.entry.delimiter), [])

    def _carried(self, gone: list[_Index]) -> Iterator[dict[str, Any] | Rejected]:
        """The stored rows and rejections of this window from files no longer on disk."""
        holding = [index for index in gone if any(day in index.partitions for day in self.days)]
        if not holding or self.warehouse is None:
            return
        partition = f"{self.entry.name}:{self.window.partition_key}"
        patterns = [f"%[file {index.id}]" for index in holding]
        with self.warehouse.connect() as conn:
            rows = conn.execute(
                f"select record from {RAW_SCHEMA}.{TABLE} where partition_key = %s "
                "and record -> 'origin' ->> 'file_id' = any(%s) order by load_seq",
                (partition, [index.id for index in holding]),
            )
            count = 0
            for (record,) in rows:
                count += 1
                yield record
            rejected = conn.execute(
                f"select reason, raw_text from {RAW_SCHEMA}.{REJECTED_TABLE} "
                "where table_name = %s and partition_key = %s and reason like any(%s)",
                (TABLE, partition, patterns),
            ).fetchall()
            for reason, raw_text in rejected:
                yield Rejected(reason, raw_text)
        self.window.log.info(
            f"{vendor(self.entry)}: {count} row(s) of {len(holding)} file(s) no longer on disk "
            f"kept from the previous load of {self.window.partition_key}"
        )


def collect(
    entry: LogSourceEntry, window: Window, warehouse: WarehouseResource | None = None
) -> Iterator[dict[str, Any] | Rejected]:
    """Every observation in the entry's files for the window (see the module's docstring)."""
    yield from _Reader(entry, window, warehouse).collect()


def stale_days(conn: Any, entry_name: str) -> list[str]:
    """Days of the entry that received lines after they were loaded (for the schedule)."""
    exists = conn.execute("select to_regclass(%s)", (f"{RAW_SCHEMA}.{STATE_TABLE}",)).fetchone()
    if not exists or exists[0] is None:
        return []
    row = conn.execute(
        f"select value from {RAW_SCHEMA}.{STATE_TABLE} where table_name = %s and state_key = %s",
        (TABLE, pending_key(entry_name)),
    ).fetchone()
    return [str(day) for day in row[0]] if row and isinstance(row[0], list) else []
