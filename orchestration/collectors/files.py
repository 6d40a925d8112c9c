"""File collectors: each new or changed file at a source's locations becomes one raw partition.

A source whose data arrives as files (cloud cost exports, log files, CSV drops) declares what
one file yields, and the framework does the rest:

    @file_collector(source="focus", table="focus_rows", natural_key=("_import.file", "_import.row"))
    def focus_rows(file: DeliveredFile):
        yield from read_focus(file)

`fn(file)` yields the records of one file (and `Rejected` items for records it cannot take). It
raises `FileRefused` when the file must not be loaded at all, even after it has yielded rows.

A run lists every location of the source's `FileStore` resource and, for each matching file:

1. skips it when its version token (S3 ETag, GCS generation, local size and mtime) and the
   collector's settings are those of its last load, or of its last refusal;
2. otherwise fetches it to local disk and hashes it (sha256, streamed); a file whose content is
   the one already loaded is skipped as well, and only the token is remembered;
3. loads it as partition `<file URI>` of `raw.<table>` with `replace_partition`: one
   transaction deletes the rows of the file's earlier delivery and COPYs the new ones in, and
   records `loaded:<uri>` in `raw._collector_state` with them;
4. when `fn` raises `FileRefused`, that transaction rolls back, so the earlier delivery's rows
   stay; the refusal (file, reason, first offending rows) goes to `raw._rejected` with
   `refused:<uri>` state, and the same content is not read again until it changes. The next
   delivery that loads clears the refusal.

A file that disappears from its location keeps its rows: exports are often cleaned up by a
lifecycle rule long after their charges were loaded. A location that cannot be listed, or a
file that fails for another reason (a network error, a bug), does not stop the other files;
the run fails at the end, naming them, and they are tried again by the next run.

The asset is unpartitioned: a file is its own unit of work, whatever days it covers. Its
materialisation names the charge periods the run's rows cover (old and new deliveries), so the
transform schedule can rebuild those days.
"""

import hashlib
import inspect
import json
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import psycopg
from psycopg import sql

from orchestration.clients.file_store import FileLocation, FileStore, LocationError, StoredFile
from orchestration.collectors.framework import DEFAULT_RETRY_POLICY, WAREHOUSE_KEY
from orchestration.schedules import CHARGE_PERIOD_END_KEY, CHARGE_PERIOD_START_KEY, SOURCE_TAG
from orchestration.warehouse.connection import WarehouseResource
from orchestration.warehouse.loader import (
    RAW_SCHEMA,
    REJECTED_TABLE,
    NaturalKey,
    read_state,
    rejected_text,
    replace_partition,
    write_state,
)

MAX_REFUSED_ROWS = 10
REFUSAL_PREFIX = "file refused: "
_HASH_CHUNK = 1024 * 1024

FileFn = Callable[["DeliveredFile"], Iterable[Any]]


class FileRefused(Exception):
    """A file that must not be loaded at all: why, and the first rows that show it."""

    def __init__(self, reason: str, rows: Sequence[Any] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.rows = list(rows)[:MAX_REFUSED_ROWS]


@dataclass
class DeliveredFile:
    """One file to read: its identity, a local copy of its content, and its location's options."""

    uri: str
    name: str
    path: Path
    size: int
    sha256: str
    options: Mapping[str, str]
    log: Any
    period_start: datetime | None = None
    period_end: datetime | None = None

    def covers(self, start: datetime, end: datetime) -> None:
        """Note that rows of this file fall in [start, end); the run reports the union."""
        self.period_start = start if self.period_start is None else min(self.period_start, start)
        self.period_end = end if self.period_end is None else max(self.period_end, end)


@dataclass(frozen=True)
class FileCollector:
    """What a file-based source declares; `build_file_collector_asset` makes the asset."""

    fn: FileFn
    source: str
    table: str
    natural_key: NaturalKey
    description: str
    store_key: str
    revision: int = 1
    enabled_if: Callable[[Any], bool] | None = None

    @property
    def asset_key(self) -> dg.AssetKey:
        return dg.AssetKey(["raw", self.table])

    @property
    def resource_keys(self) -> tuple[str, ...]:
        return (self.store_key,)

    def is_enabled(self, section: Any) -> bool:
        return self.enabled_if is None or self.enabled_if(section)


def file_collector(
    *,
    source: str,
    table: str,
    natural_key: NaturalKey,
    store: str | None = None,
    description: str | None = None,
    revision: int = 1,
    enabled_if: Callable[[Any], bool] | None = None,
) -> Callable[[FileFn], FileCollector]:
    """Declare a file collector: `fn(file)` yields the records of one delivered file.

    `store` names the `FileStore` resource with the locations (default: the source's name).
    Raise `revision` when `fn` starts producing different records from the same file: every
    file is then loaded again on the next run.
    """

    def wrap(fn: FileFn) -> FileCollector:
        parameters = list(inspect.signature(fn).parameters)
        if parameters != ["file"]:
            raise TypeError(f"file collector {fn.__name__} must take exactly one parameter, `file`")
        return FileCollector(
            fn=fn,
            source=source,
            table=table,
            natural_key=natural_key,
            description=description or inspect.getdoc(fn) or f"Raw {table} from {source} files.",
            store_key=store or source,
            revision=revision,
            enabled_if=enabled_if,
        )

    return wrap


@dataclass
class FileRunReport:
    """What one run of a file collector did."""

    loaded: list[str] = field(default_factory=list)
    unchanged: int = 0
    refused: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    """URI (a file's or a location's) -> why it could not be read; tried again next run."""
    rows: int = 0
    rejected: int = 0
    period_start: datetime | None = None
    period_end: datetime | None = None
    seconds: float = 0.0

    def _covers(self, start: datetime | None, end: datetime | None) -> None:
        if start is not None:
            self.period_start = (
                start if self.period_start is None else min(self.period_start, start)
            )
        if end is not None:
            self.period_end = end if self.period_end is None else max(self.period_end, end)


def settings_fingerprint(spec: FileCollector, location: FileLocation) -> str:
    """What besides a file's content decides its records: the location's options, the revision."""
    text = json.dumps({"options": location.options, "revision": spec.revision}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def run_file_collector(
    spec: FileCollector,
    warehouse: WarehouseResource,
    store: FileStore,
    *,
    run_id: str,
    log: Any,
) -> FileRunReport:
    """Load every new or changed file at `store`'s locations; usable without Dagster."""
    report = FileRunReport()
    started = time.perf_counter()
    with warehouse.connect(autocommit=True) as conn:
        state = read_state(conn, spec.table)
        for location in store.locations:
            try:
                files = store.list_files(location)
            except LocationError as error:
                log.error(str(error))
                report.failed[location.uri] = str(error)
                continue
            for file in files:
                try:
                    _collect_file(spec, conn, store, file, state, report, run_id=run_id, log=log)
                except psycopg.Error:
                    raise  # the warehouse itself failed: no other file would load either
                except Exception as error:  # this file only; the others still load
                    message = (
                        str(error)
                        if isinstance(error, LocationError)
                        else (f"{file.uri}: {type(error).__name__}: {error}")
                    )
                    log.error(message)
                    report.failed[file.uri] = message
    report.seconds = time.perf_counter() - started
    return report


def _collect_file(
    spec: FileCollector,
    conn: psycopg.Connection,
    store: FileStore,
    file: StoredFile,
    state: dict[str, Any],
    report: FileRunReport,
    *,
    run_id: str,
    log: Any,
) -> None:
    settings = settings_fingerprint(spec, file.location)
    loaded_key, refused_key = f"loaded:{file.uri}", f"refused:{file.uri}"
    loaded, refused = state.get(loaded_key), state.get(refused_key)

    def same(entry: Any, **fields: str) -> bool:
        return bool(entry) and all(entry.get(name) == value for name, value in fields.items())

    if same(loaded, version=file.version, settings=settings):
        if refused:  # an older refused delivery was replaced by the content already loaded
            _clear_refusal(conn, spec, file.uri, state)
        report.unchanged += 1
        return
    if same(refused, version=file.version, settings=settings):
        report.unchanged += 1
        return

    with tempfile.TemporaryDirectory(prefix="vault-file-") as folder:
        path = store.fetch(file, Path(folder))
        sha256 = sha256_of(path)
        for key, entry in ((loaded_key, loaded), (refused_key, refused)):
            if same(entry, sha256=sha256, settings=settings):
                # The same content under a new version token (rewritten, copied, touched).
                state[key] = {**entry, "version": file.version}
                write_state(conn, spec.table, {key: state[key]})
                if key == loaded_key and refused:
                    _clear_refusal(conn, spec, file.uri, state)
                report.unchanged += 1
                return
        delivered = DeliveredFile(
            uri=file.uri,
            name=file.name,
            path=path,
            size=file.size,
            sha256=sha256,
            options=dict(file.location.options),
            log=log,
        )
        entry = {"sha256": sha256, "version": file.version, "settings": settings}
        # The loader asks for the state after it has consumed the records, when the file's
        # charge periods are known; it commits it with the rows.
        new_state = _LazyState(lambda: _new_state(loaded_key, refused_key, entry, delivered))
        try:
            result = replace_partition(
                conn,
                source=spec.source,
                table=spec.table,
                partition_key=file.uri,
                run_id=run_id,
                records=iter(spec.fn(delivered)),
                natural_key=spec.natural_key,
                state=new_state,
            )
        except FileRefused as refusal:
            _record_refusal(conn, spec, file, refusal, entry, run_id=run_id)
            state[refused_key] = entry
            report.refused[file.uri] = refusal.reason
            log.warning(
                f"{file.uri} refused: {refusal.reason}; its earlier rows, if any, are kept "
                "(see raw._rejected)"
            )
            return

    state.update(new_state)
    report.loaded.append(file.uri)
    report.rows += result.rows
    report.rejected += result.rejected
    report._covers(delivered.period_start, delivered.period_end)
    if loaded:  # the days the earlier delivery's rows covered changed too
        report._covers(
            _parse_time(loaded.get("period_start")), _parse_time(loaded.get("period_end"))
        )
    log.info(f"{file.uri}: loaded {result.rows} row(s) into raw.{spec.table}")


class _LazyState(Mapping[str, Any]):
    """State computed when the loader writes it, after the records (and periods) are known."""

    def __init__(self, build: Callable[[], dict[str, Any]]) -> None:
        self._build = build
        self._value: dict[str, Any] | None = None

    def _state(self) -> dict[str, Any]:
        if self._value is None:
            self._value = self._build()
        return self._value

    def __getitem__(self, key: str) -> Any:
        return self._state()[key]

    def __iter__(self):
        return iter(self._state())

    def __len__(self) -> int:
        return len(self._state())


def _new_state(
    loaded_key: str, refused_key: str, entry: dict[str, Any], file: DeliveredFile
) -> dict[str, Any]:
    return {
        loaded_key: {
            **entry,
            "period_start": file.period_start.isoformat() if file.period_start else None,
            "period_end": file.period_end.isoformat() if file.period_end else None,
            "loaded_at": datetime.now(UTC).isoformat(),
        },
        refused_key: None,
    }


def _record_refusal(
    conn: psycopg.Connection,
    spec: FileCollector,
    file: StoredFile,
    refusal: FileRefused,
    entry: dict[str, Any],
    *,
    run_id: str,
) -> None:
    """One raw._rejected row for the file (replacing an earlier refusal) and its state."""
    raw_text = rejected_text(
        {
            "file": file.uri,
            "sha256": entry["sha256"],
            "reason": refusal.reason,
            "rows": refusal.rows,
        }
    )
    rejected = sql.Identifier(RAW_SCHEMA, REJECTED_TABLE)
    with conn.transaction():
        conn.execute(
            "select pg_advisory_xact_lock(hashtext(%s))",
            (f"vault.raw.{spec.table}.{file.uri}",),
        )
        _delete_refusals(conn, spec.table, file.uri)
        conn.execute(
            sql.SQL(
                "insert into {} (source, table_name, partition_key, run_id, reason, raw_text) "
                "values (%s, %s, %s, %s, %s, %s)"
            ).format(rejected),
            (
                spec.source,
                spec.table,
                file.uri,
                run_id,
                f"{REFUSAL_PREFIX}{file.uri}: {refusal.reason}",
                raw_text,
            ),
        )
        write_state(conn, spec.table, {f"refused:{file.uri}": entry})


def _clear_refusal(
    conn: psycopg.Connection, spec: FileCollector, uri: str, state: dict[str, Any]
) -> None:
    with conn.transaction():
        _delete_refusals(conn, spec.table, uri)
        write_state(conn, spec.table, {f"refused:{uri}": None})
    state[f"refused:{uri}"] = None


def _delete_refusals(conn: psycopg.Connection, table: str, uri: str) -> None:
    # Only refusals: records the loader rejected from the delivery still loaded stay.
    conn.execute(
        sql.SQL(
            "delete from {} where table_name = %s and partition_key = %s and reason like %s"
        ).format(sql.Identifier(RAW_SCHEMA, REJECTED_TABLE)),
        (table, uri, f"{REFUSAL_PREFIX}%"),
    )


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def build_file_collector_asset(
    spec: FileCollector, *, retry_policy: dg.RetryPolicy = DEFAULT_RETRY_POLICY
) -> dg.AssetsDefinition:
    """The unpartitioned asset that imports `spec`'s new and changed files."""

    @dg.asset(
        key=spec.asset_key,
        group_name=spec.source,
        description=spec.description,
        retry_policy=retry_policy,
        required_resource_keys={WAREHOUSE_KEY, spec.store_key},
        kinds={"python", "postgres"},
        pool=f"source_{spec.source}",
        metadata={"natural_key": _describe_key(spec.natural_key), "source": spec.source},
    )
    def _collect(context: dg.AssetExecutionContext):
        report = run_file_collector(
            spec,
            getattr(context.resources, WAREHOUSE_KEY),
            getattr(context.resources, spec.store_key),
            run_id=context.run.run_id,
            log=context.log,
        )
        context.log.info(
            f"{len(report.loaded)} file(s) loaded ({report.rows} row(s)), {report.unchanged} "
            f"unchanged, {len(report.refused)} refused, {len(report.failed)} failed, "
            f"in {report.seconds:.2f}s"
        )
        yield dg.MaterializeResult(metadata=file_run_metadata(report))
        if report.failed:
            raise dg.Failure(
                description=f"{len(report.failed)} location(s) or file(s) of {spec.source} "
                "could not be read; the others were imported",
                metadata={"failed": dg.MetadataValue.md(_bullets(report.failed))},
            )

    return _collect


def file_run_metadata(report: FileRunReport) -> dict[str, Any]:
    """The materialisation metadata of a run: counts, and the charge periods it touched."""
    metadata: dict[str, Any] = {
        "dagster/row_count": report.rows,
        "files_loaded": len(report.loaded),
        "files_unchanged": report.unchanged,
        "files_refused": len(report.refused),
        "files_failed": len(report.failed),
        "rejected": report.rejected,
        "duration_s": round(report.seconds, 3),
    }
    if report.refused:
        metadata["refused"] = dg.MetadataValue.md(_bullets(report.refused))
    if report.period_start is not None and report.period_end is not None:
        metadata[CHARGE_PERIOD_START_KEY] = report.period_start.astimezone(UTC).isoformat()
        metadata[CHARGE_PERIOD_END_KEY] = report.period_end.astimezone(UTC).isoformat()
    return metadata


def build_file_schedule(
    source: str, specs: Sequence[FileCollector], *, cron: str
) -> tuple[Any, dg.ScheduleDefinition]:
    """A job importing every file collector of `source`, and the schedule that runs it."""
    job = dg.define_asset_job(
        f"collect_{source}_files",
        selection=dg.AssetSelection.assets(*(spec.asset_key for spec in specs)),
        description=f"Import the new and changed {source} files.",
        tags={SOURCE_TAG: source},
    )
    schedule = dg.ScheduleDefinition(
        name=f"collect_{source}_files_schedule",
        job=job,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    return job, schedule


def _bullets(items: Mapping[str, str]) -> str:
    return "\n".join(f"- `{uri}`: {reason}" for uri, reason in items.items())


def _describe_key(natural_key: NaturalKey) -> str:
    if callable(natural_key):
        return getattr(natural_key, "__doc__", None) or getattr(natural_key, "__name__", "custom")
    return ", ".join(natural_key)
