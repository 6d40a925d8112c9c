"""The Dagster code location: collectors, dbt, schedules and resources, from `vault.yaml`."""

import dagster as dg

from orchestration.alerts.sensors import build_alert_sensors
from orchestration.collectors.files import (
    FileCollector,
    build_file_collector_asset,
    build_file_schedule,
)
from orchestration.collectors.framework import build_collector_asset, partitions_for
from orchestration.collectors.registry import enabled_collectors
from orchestration.config import VaultConfig, load_config
from orchestration.custom.collectors import shared_table_assets
from orchestration.dbt.assets import build_dbt_assets
from orchestration.dbt.project import ensure_manifest
from orchestration.forecast.asset import build_cost_forecast_asset
from orchestration.monitoring.freshness import (
    build_freshness_sensor,
    collector_freshness,
    mart_freshness,
)
from orchestration.resources import build_resources
from orchestration.schedules import build_source_schedule, build_transform_schedule
from orchestration.warehouse.push import PUSH_TABLES


def build_definitions(config: VaultConfig) -> dg.Definitions:
    enabled = config.enabled_sources()
    specs = enabled_collectors(config)
    # File collectors import files as they arrive: unpartitioned, on their own schedule.
    file_specs = [spec for spec in specs if isinstance(spec, FileCollector)]
    window_specs = [spec for spec in specs if not isinstance(spec, FileCollector)]
    collector_assets = [
        *(build_collector_asset(spec, start_date=config.start_date) for spec in window_specs),
        *(build_file_collector_asset(spec) for spec in file_specs),
    ]

    daily = partitions_for("daily", config.start_date)
    dbt_assets = build_dbt_assets(daily)
    # Computed from the marts after each dbt build: next quarter's cost forecasts.
    mart_assets = [build_cost_forecast_asset(dbt_assets)]

    jobs, schedules = [], []
    for source in sorted({spec.source for spec in window_specs}):
        source_specs = [spec for spec in window_specs if spec.source == source]
        job, schedule = build_source_schedule(
            source,
            source_specs,
            partitions_for(source_specs[0].partitioning, config.start_date),
            hour_utc=config.schedules.collect_hour_utc,
            lookback=getattr(enabled[source], "lookback_days", 1),
        )
        jobs.append(job)
        schedules.append(schedule)
    for source in sorted({spec.source for spec in file_specs}):
        source_specs = [spec for spec in file_specs if spec.source == source]
        job, schedule = build_file_schedule(
            source, source_specs, cron=getattr(enabled.get(source), "schedule", "17 * * * *")
        )
        jobs.append(job)
        schedules.append(schedule)
    max_lookback = max((getattr(s, "lookback_days", 1) for s in enabled.values()), default=1)
    job, schedule = build_transform_schedule(
        dbt_assets,
        daily,
        hour_utc=config.schedules.transform_hour_utc,
        lookback=max_lookback,
        raw_asset_keys=[spec.asset_key for spec in specs],
        mart_assets=mart_assets,
    )
    jobs.append(job)
    schedules.append(schedule)
    # Budget and feature-health alerts after each transform run; an alert for every failed run.
    sensors = build_alert_sensors(config.alerts, job)
    # Hourly: sources whose raw tables had no load within freshness.raw_max_age_hours.
    sensors.append(build_freshness_sensor(config))

    # Push sources have no collector: clients insert their events (orchestration/warehouse/push.py).
    push_tables = [
        dg.AssetSpec(
            ["raw", table],
            group_name=source,
            description=f"Events pushed by clients into raw.{table} through the ingest role.",
            kinds={"postgres"},
        )
        for table, source in PUSH_TABLES.items()
    ]

    return dg.Definitions(
        assets=[
            *collector_freshness(collector_assets, config.freshness),
            *shared_table_assets(specs),
            *push_tables,
            *mart_freshness([*dbt_assets, *mart_assets], config.freshness),
        ],
        jobs=jobs,
        schedules=schedules,
        sensors=sensors,
        resources=build_resources(config),
    )


def _load() -> dg.Definitions:
    # Not `DBT_PROJECT.prepare_if_dev()`: it looks for `dbt` on PATH, which a code server
    # started outside the activated venv lacks; `ensure_manifest` uses the venv's dbt and
    # parses only when the manifest is missing or stale.
    ensure_manifest()
    return build_definitions(load_config())


defs = _load()
