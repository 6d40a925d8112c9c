"""The collector framework: a generator of records for a window becomes a raw-layer asset.

A source module writes only what is particular to its source:

    @collector(source="anthropic", table="anthropic_cost_report",
               natural_key=("starting_at", "workspace_id", "description"))
    def anthropic_cost_report(window: Window, anthropic: AnthropicAdminClient):
        yield from anthropic.cost_report(window.start, window.end)

Parameters after `window` name Dagster resources. `build_collector_asset` turns the spec into
an asset keyed `["raw", table]`, grouped by source, time-partitioned, with a retry policy and a
concurrency pool per source; the asset hands the records to the raw loader, which replaces the
partition in one transaction, and reports row count, window and duration as metadata.
"""

import dataclasses
import inspect
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

import dagster as dg

from orchestration.warehouse.connection import WarehouseResource
from orchestration.warehouse.loader import LoadResult, NaturalKey, read_state, replace_partition

Partitioning = Literal["daily", "hourly"]
WAREHOUSE_KEY = "warehouse"
_SCOPE = re.compile(r"^[a-z0-9_]+$")

# Vendor APIs fail transiently (rate limits beyond the client's own retries, restarts); a run
# retried a few minutes later usually succeeds, and loads are idempotent, so retrying is safe.
DEFAULT_RETRY_POLICY = dg.RetryPolicy(
    max_retries=3,
    delay=60,
    backoff=dg.Backoff.EXPONENTIAL,
    jitter=dg.Jitter.PLUS_MINUS,
)


@dataclass
class Window:
    """The slice of time a collector fetches: [start, end), in UTC, for one partition."""

    start: datetime
    end: datetime
    partition_key: str
    log: Any
    state: dict[str, Any] = field(default_factory=dict)
    _state_updates: dict[str, Any] = field(default_factory=dict, repr=False)

    def save_state(self, key: str, value: Any) -> None:
        """Remember `value` under `key`; saved only if this partition's load commits."""
        self.state[key] = value
        self._state_updates[key] = value


CollectFn = Callable[..., Iterable[Any]]
StalePartitionsFn = Callable[[Any], Iterable[str]]
"""`fn(conn)`: partition keys to reload beyond the lookback (a psycopg connection to the warehouse)."""


@dataclass(frozen=True)
class Collector:
    """What a source module declares; `build_collector_asset` makes the asset from it."""

    fn: CollectFn
    source: str
    table: str
    natural_key: NaturalKey
    partitioning: Partitioning
    description: str
    resource_keys: tuple[str, ...]
    enabled_if: Callable[[Any], bool] | None = None
    stale_partitions: StalePartitionsFn | None = None
    partition_scope: str | None = None
    """Set when several collectors share one raw table (the generic sources' entries): the
    raw rows of a partition are kept under `<scope>:<partition key>`, so reloading one
    collector's partition never replaces another's rows."""
    asset_name: str | None = None
    """The asset's name under `raw/` when it is not the table's (collectors sharing one)."""

    def __post_init__(self) -> None:
        if self.partition_scope is not None and not _SCOPE.match(self.partition_scope):
            raise ValueError(
                f"partition_scope {self.partition_scope!r} of {self.table} must be lower-case "
                "letters, digits and _ (no ':', which separates it from the partition key)"
            )

    @property
    def asset_key(self) -> dg.AssetKey:
        return dg.AssetKey(["raw", self.asset_name or self.table])

    def raw_partition_key(self, partition_key: str) -> str:
        """The partition key the raw table stores for this collector's `partition_key`."""
        if self.partition_scope is None:
            return partition_key
        return f"{self.partition_scope}:{partition_key}"

    def is_enabled(self, section: Any) -> bool:
        """Whether the source's `vault.yaml` section asks for this collector."""
        return self.enabled_if is None or self.enabled_if(section)


def collector(
    *,
    source: str,
    table: str,
    natural_key: NaturalKey,
    partitioning: Partitioning = "daily",
    description: str | None = None,
    enabled_if: Callable[[Any], bool] | None = None,
    stale_partitions: StalePartitionsFn | None = None,
) -> Callable[[CollectFn], Collector]:
    """Declare a collector: `fn(window, **resources)` yields the records of one window.

    `enabled_if(section)`, given the source's `vault.yaml` section, can leave the collector out
    of the definitions (one endpoint of a source that the deployment does not collect): no
    asset, no schedule entry, and no run that would replace its partitions with nothing.

    `stale_partitions(conn)` names partitions older than the schedule's lookback that still
    need a reload: days a vendor marked estimated, or days that received late rows. The
    source's schedule tick asks it (with a connection to the warehouse) and reloads them too.
    """

    def wrap(fn: CollectFn) -> Collector:
        parameters = list(inspect.signature(fn).parameters)
        if not parameters or parameters[0] != "window":
            raise TypeError(f"collector {fn.__name__} must take `window` as its first parameter")
        return Collector(
            fn=fn,
            source=source,
            table=table,
            natural_key=natural_key,
            partitioning=partitioning,
            description=description or inspect.getdoc(fn) or f"Raw {table} from {source}.",
            resource_keys=tuple(parameters[1:]),
            enabled_if=enabled_if,
            stale_partitions=stale_partitions,
        )

    return wrap


def partitions_for(partitioning: Partitioning, start: date) -> dg.TimeWindowPartitionsDefinition:
    """The partitions every collector and windowed dbt model of that grain share."""
    if partitioning == "hourly":
        return dg.HourlyPartitionsDefinition(start_date=f"{start.isoformat()}-00:00")
    return dg.DailyPartitionsDefinition(start_date=start.isoformat())


def build_collector_asset(
    spec: Collector,
    *,
    start_date: date,
    retry_policy: dg.RetryPolicy = DEFAULT_RETRY_POLICY,
) -> dg.AssetsDefinition:
    """The Dagster asset that runs `spec` for one partition and loads its raw table."""

    @dg.asset(
        key=spec.asset_key,
        group_name=spec.source,
        description=spec.description,
        partitions_def=partitions_for(spec.partitioning, start_date),
        retry_policy=retry_policy,
        required_resource_keys={WAREHOUSE_KEY, *spec.resource_keys},
        kinds={"python", "postgres"},
        pool=f"source_{spec.source}",
        metadata={"natural_key": _describe_key(spec.natural_key), "source": spec.source},
    )
    def _collect(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        window = context.partition_time_window
        warehouse: WarehouseResource = getattr(context.resources, WAREHOUSE_KEY)
        resources = {key: getattr(context.resources, key) for key in spec.resource_keys}
        result, window_obj = run_collector(
            spec,
            warehouse,
            start=window.start,
            end=window.end,
            partition_key=context.partition_key,
            run_id=context.run.run_id,
            log=context.log,
            resources=resources,
        )
        if result.rejected:
            context.log.warning(
                f"{result.rejected} record(s) of {spec.table} for {context.partition_key} "
                "could not be stored and were kept in raw._rejected"
            )
        context.log.info(
            f"loaded {result.rows} row(s) into raw.{spec.table} for {context.partition_key} "
            f"in {result.seconds:.2f}s"
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": result.rows,
                "rejected": result.rejected,
                "window_start": window_obj.start.isoformat(),
                "window_end": window_obj.end.isoformat(),
                "duration_s": round(result.seconds, 3),
            }
        )

    return _collect


def run_collector(
    spec: Collector,
    warehouse: WarehouseResource,
    *,
    start: datetime,
    end: datetime,
    partition_key: str,
    run_id: str,
    log: Any,
    resources: dict[str, Any],
) -> tuple[LoadResult, Window]:
    """Fetch one window and replace its partition; usable without Dagster (tests, CLI).

    The result's `seconds` covers fetching and loading together.
    """
    with warehouse.connect(autocommit=True) as conn:
        window = Window(
            start=start.astimezone(UTC),
            end=end.astimezone(UTC),
            partition_key=partition_key,
            log=log,
            state=read_state(conn, spec.table),
        )
        started = time.perf_counter()
        records: Iterator[Any] = iter(spec.fn(window, **resources))
        # The loader consumes `records` (fetching as it goes) before it writes the state, so
        # the bookmarks the collector saves while yielding are in `_state_updates` by then.
        result = replace_partition(
            conn,
            source=spec.source,
            table=spec.table,
            partition_key=spec.raw_partition_key(partition_key),
            run_id=run_id,
            records=records,
            natural_key=spec.natural_key,
            state=window._state_updates,
        )
    return dataclasses.replace(result, seconds=time.perf_counter() - started), window


def _describe_key(natural_key: NaturalKey) -> str:
    if callable(natural_key):
        return getattr(natural_key, "__doc__", None) or getattr(natural_key, "__name__", "custom")
    return ", ".join(natural_key)
