"""Jobs and schedules: each source collects on its own schedule, dbt transforms after them.

A collection tick loads the last complete partition and `lookback_days` partitions before it,
because vendors restate recent days; loads are idempotent, so reloading costs only the fetch.
The transform tick runs dbt once over the same span (a single run over a partition range).
"""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import dagster as dg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from orchestration.collectors.framework import Collector


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
        for key in partitions_to_refresh(partitions_def, now, lookback):
            yield dg.RunRequest(run_key=f"{source}:{key}:{now.isoformat()}", partition_key=key)

    return job, _schedule


def build_transform_schedule(
    dbt_assets: Sequence[dg.AssetsDefinition],
    partitions_def: dg.TimeWindowPartitionsDefinition,
    *,
    hour_utc: int,
    lookback: int,
) -> tuple[Any, dg.ScheduleDefinition]:
    job = dg.define_asset_job(
        "transform",
        selection=dg.AssetSelection.assets(*dbt_assets),
        description="dbt build: staging, intermediate and marts, for a partition window.",
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
        keys = partitions_to_refresh(partitions_def, now, lookback)
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
