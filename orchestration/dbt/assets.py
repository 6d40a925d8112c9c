"""dbt as Dagster assets: one lineage from the collectors' raw tables to the marts.

Two asset sets come from the one dbt project:

- the windowed set (incremental models and everything downstream of them) shares the
  collectors' daily partitions; a run gets its partition window as the dbt vars
  `min_date`/`max_date`, and a backfill of N days runs dbt once for the whole range
  (single-run backfill policy);
- everything else (seeds, staging and intermediate views, dimensions) is unpartitioned: it does
  not depend on a window.

dbt sources are mapped to the collectors' asset keys (`["raw", <table>]`), so the UI shows each
raw table feeding its staging models, and dbt tests appear as asset checks.
"""

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
)

from orchestration.collectors.registry import discover_collectors
from orchestration.custom.collectors import ensure_custom_tables
from orchestration.dbt.project import DBT_PROJECT, manifest_path
from orchestration.warehouse.connection import WarehouseResource
from orchestration.warehouse.loader import ensure_raw_tables
from orchestration.warehouse.push import ensure_push_tables

# Incremental models are the ones a partition window rebuilds, and everything built on them
# must follow them (a mart over fct_metrics is stale the moment a window is replaced); the
# rest (seeds, staging and intermediate views, dimensions) does not depend on a window.
WINDOWED_SELECT = "config.materialized:incremental+"


def dbt_vars(start: datetime, end: datetime) -> dict[str, str]:
    """The dbt vars for a partition window: `min_date` inclusive, `max_date` exclusive.

    Both are ISO 8601 timestamps in UTC, compared against `timestamptz` columns by the models.
    """
    return {"min_date": start.isoformat(), "max_date": end.isoformat()}


def dbt_build_args(
    window: tuple[datetime, datetime] | None, *, full_refresh: bool = False
) -> list[str]:
    """The `dbt build` arguments for a run; `window` is None for the unpartitioned set."""
    args = ["build"]
    if window is not None:
        args += ["--vars", json.dumps(dbt_vars(*window))]
    if full_refresh:
        args.append("--full-refresh")
    return args


class VaultDbtTranslator(DagsterDbtTranslator):
    """Keys and groups follow the dbt folders; sources are the collectors' raw tables."""

    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return dg.AssetKey(["raw", dbt_resource_props["identifier"]])
        return dg.AssetKey([_layer(dbt_resource_props), dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "seed":
            return "taxonomy"
        folders = dbt_resource_props["fqn"][1:-1]
        return "_".join(folders) if folders else "dbt"


def _layer(props: Mapping[str, Any]) -> str:
    """`staging`, `intermediate`, `marts` or `seeds`: the first folder under the project."""
    if props["resource_type"] == "seed":
        return "seeds"
    folders = props["fqn"][1:-1]
    return folders[0] if folders else "models"


def ensure_sources_exist(warehouse: WarehouseResource) -> None:
    """Create every collector's raw table, so dbt builds even before a source first loads.

    dbt's sources are the raw tables; a source that is disabled, or has not run yet, would
    otherwise break every staging model (and the unit tests, which read their column types).
    """
    with warehouse.connect(autocommit=True) as conn:
        for spec in discover_collectors():
            ensure_raw_tables(conn, spec.table)
        ensure_custom_tables(conn)
        ensure_push_tables(conn)


class DbtRunConfig(dg.Config):
    full_refresh: bool = False
    """Rebuild incremental models from all history instead of the partition window."""


def _run_dbt(
    context: dg.AssetExecutionContext,
    dbt: DbtCliResource,
    warehouse: WarehouseResource,
    config: DbtRunConfig,
    *,
    windowed: bool,
):
    warehouse.export_dbt_env()
    ensure_sources_exist(warehouse)
    window = None
    if windowed:
        time_window = context.partition_time_window
        window = (time_window.start, time_window.end)
        context.log.info(f"dbt window {window[0].isoformat()} .. {window[1].isoformat()}")
    args = dbt_build_args(window, full_refresh=config.full_refresh)
    yield from dbt.cli(args, context=context).stream()


def build_dbt_assets(
    partitions_def: dg.PartitionsDefinition,
) -> list[dg.AssetsDefinition]:
    translator = VaultDbtTranslator()
    manifest = manifest_path()

    @dbt_assets(
        manifest=manifest,
        project=DBT_PROJECT,
        select=WINDOWED_SELECT,
        name="vault_dbt_windowed",
        partitions_def=partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        dagster_dbt_translator=translator,
        pool="dbt",
    )
    def windowed(
        context: dg.AssetExecutionContext,
        dbt: DbtCliResource,
        warehouse: WarehouseResource,
        config: DbtRunConfig,
    ):
        yield from _run_dbt(context, dbt, warehouse, config, windowed=True)

    @dbt_assets(
        manifest=manifest,
        project=DBT_PROJECT,
        exclude=WINDOWED_SELECT,
        name="vault_dbt",
        dagster_dbt_translator=translator,
        pool="dbt",
    )
    def whole(
        context: dg.AssetExecutionContext,
        dbt: DbtCliResource,
        warehouse: WarehouseResource,
        config: DbtRunConfig,
    ):
        yield from _run_dbt(context, dbt, warehouse, config, windowed=False)

    return [whole, windowed]
