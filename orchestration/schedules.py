"""Jobs and schedules: each source collects on its own schedule, dbt transforms after them.

A collection tick loads the last complete partition and `lookback_days` partitions before it,
because vendors restate recent days; loads are idempotent, so reloading costs only the fetch.
A collector may also name older partitions that are still provisional (`stale_partitions`:
days a cloud marks estimated, days that received late rows); the tick reloads those too.

The transform tick runs dbt once (a single run over a partition range) from the oldest day
any raw load since the previous tick touched, or the lookback if that is later, to the last
complete day: a late reload of an old day reaches the marts the same night.
"""

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, time, timedelta
from typing import Any

import dagster as dg
import psycopg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from orchestration.collectors.framework import Collector
from orchestration.warehouse.connection import warehouse_url

logger = logging.getLogger(__name__)

# A tick reloads at most this many provisional partitions per collector, oldest first, so a
# collector that reports a long stale history cannot flood the run queue in one night.
MAX_STALE_PARTITIONS = 62

# Materialisation metadata by which an unpartitioned raw asset (a file import) says which
# days its rows cover, so the transform rebuilds them.
CHARGE_PERIOD_START_KEY = "vault/charge_period_start"
CHARGE_PERIOD_END_KEY = "vault/charge_period_end"

# Run tag naming the source a collect run loads; the run queue's tag_concurrency_limits
# (deploy/dagster.yaml, deploy/helm/values.yaml) cap how many runs of one source run at once.
SOURCE_TAG = "vault/source"


def partitions_to_refresh(
    partitions_def: dg.TimeWindowPartitionsDefinition, now: datetime, lookback: int
) -> list[str]:
    """The last complete partition at `now` and `lookback` partitions before it, oldest first."""
    keys = partitions_def.get_partition_keys(current_time=now)
    return list(keys[-(lookback + 1) :]) if keys else []


def collect_job_name(source: str) -> str:
    return f"collect_{source}"


def build_source_schedule(
    source: str,
    specs: Sequence[Collector],
    partitions_def: dg.TimeWindowPartitionsDefinition,
    *,
    hour_utc: int,
    lookback: int,
) -> tuple[Any, dg.ScheduleDefinition]:
    job = dg.define_asset_job(
        collect_job_name(source),
        selection=dg.AssetSelection.assets(*(spec.asset_key for spec in specs)),
        description=f"Collect every {source} raw table for one partition.",
        tags={SOURCE_TAG: source},
    )
    cron = "5 * * * *" if specs[0].partitioning == "hourly" else f"0 {hour_utc} * * *"

    @dg.schedule(
        name=f"{collect_job_name(source)}_schedule",
        job=job,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        now = context.scheduled_execution_time
        recent = partitions_to_refresh(partitions_def, now, lookback)
        for key in recent:
            yield dg.RunRequest(run_key=f"{source}:{key}:{now.isoformat()}", partition_key=key)
        valid = set(partitions_def.get_partition_keys(current_time=now))
        for spec in specs:
            if spec.stale_partitions is None:
                continue
            for key in stale_partitions(spec, valid - set(recent)):
                yield dg.RunRequest(
                    run_key=f"{source}:{spec.table}:stale:{key}:{now.isoformat()}",
                    partition_key=key,
                    asset_selection=[spec.asset_key],
                )

    return job, _schedule


def stale_partitions(spec: Collector, allowed: Iterable[str]) -> list[str]:
    """The collector's provisional partitions among `allowed`, oldest first, at most a few dozen.

    A warehouse that cannot be reached leaves them for the next tick: the regular lookback
    still runs, and a stale day is never lost, only reloaded later.
    """
    allowed = set(allowed)
    try:
        with psycopg.connect(warehouse_url(), connect_timeout=10) as conn:
            keys = sorted({str(key) for key in spec.stale_partitions(conn)} & allowed)
    except (psycopg.Error, OSError) as error:
        logger.warning("raw.%s: could not ask for stale partitions: %s", spec.table, error)
        return []
    return keys[:MAX_STALE_PARTITIONS]


def touched_days(
    instance: dg.DagsterInstance, asset_keys: Iterable[dg.AssetKey], since: datetime
) -> list[str]:
    """UTC days (ISO dates) that raw loads materialised after `since` cover.

    A partitioned load covers its partition's day; an unpartitioned one (a file import)
    covers the charge periods its metadata names.
    """
    days: set[str] = set()
    for asset_key in asset_keys:
        cursor = None
        while True:
            result = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=asset_key, after_timestamp=since.timestamp()),
                limit=1000,
                cursor=cursor,
            )
            for record in result.records:
                if record.partition_key:
                    days.add(record.partition_key[:10])
                    continue
                materialization = record.asset_materialization
                metadata = materialization.metadata if materialization else {}
                start = metadata.get(CHARGE_PERIOD_START_KEY)
                end = metadata.get(CHARGE_PERIOD_END_KEY)
                if start is not None and end is not None:
                    days.update(_days_between(str(start.value), str(end.value)))
            if not result.has_more:
                break
            cursor = result.cursor
    return sorted(days)


def _days_between(start: str, end: str) -> list[str]:
    """ISO dates from `start`'s day to `end`'s, where an end at midnight excludes its own day."""
    first = datetime.fromisoformat(start).date()
    end_at = datetime.fromisoformat(end)
    last = end_at.date()
    if end_at.time() == time(0) and last > first:
        last -= timedelta(days=1)
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def build_transform_schedule(
    dbt_assets: Sequence[dg.AssetsDefinition],
    partitions_def: dg.TimeWindowPartitionsDefinition,
    *,
    hour_utc: int,
    lookback: int,
    raw_asset_keys: Sequence[dg.AssetKey] = (),
    mart_assets: Sequence[dg.AssetsDefinition] = (),
) -> tuple[Any, dg.ScheduleDefinition]:
    """The transform job and its nightly schedule; `mart_assets` (computed from the marts,
    such as the cost forecasts) run in the same run, after the dbt models they read."""
    job = dg.define_asset_job(
        "transform",
        selection=dg.AssetSelection.assets(*dbt_assets, *mart_assets),
        description=(
            "dbt build: staging, intermediate and marts, for a partition window; then what "
            "is computed from the marts (cost forecasts)."
        ),
    )

    @dg.schedule(
        name="transform_schedule",
        job=job,
        cron_schedule=f"0 {hour_utc} * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    def _schedule(context: dg.ScheduleEvaluationContext):
        now = context.scheduled_execution_time
        keys = transform_window(
            context.instance, partitions_def, now, lookback=lookback, raw_asset_keys=raw_asset_keys
        )
        if not keys:
            return
        yield dg.RunRequest(
            run_key=f"transform:{keys[0]}:{keys[-1]}:{now.isoformat()}",
            tags={
                ASSET_PARTITION_RANGE_START_TAG: keys[0],
                ASSET_PARTITION_RANGE_END_TAG: keys[-1],
            },
        )

    return job, _schedule


def transform_window(
    instance: dg.DagsterInstance,
    partitions_def: dg.TimeWindowPartitionsDefinition,
    now: datetime,
    *,
    lookback: int,
    raw_asset_keys: Sequence[dg.AssetKey],
) -> list[str]:
    """[first, last] partition keys the transform tick at `now` rebuilds; empty before any day.

    The lookback span, widened back to the oldest day that a raw load since the previous
    tick (a day ago, with an hour's slack) covered.
    """
    keys = partitions_to_refresh(partitions_def, now, lookback)
    if not keys:
        return []
    valid = partitions_def.get_partition_keys(current_time=now)
    since = now - timedelta(hours=25)
    earlier = [
        day for day in touched_days(instance, raw_asset_keys, since) if valid[0] <= day < keys[0]
    ]
    return [earlier[0] if earlier else keys[0], keys[-1]]
