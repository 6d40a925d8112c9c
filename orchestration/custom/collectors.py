"""The collectors of the vault.yaml-only sources, built from the configuration.

`custom_collectors(config)` gives one `Collector` per configured entry; the definitions add
them to the ones `assets/` declares. They are ordinary collectors (the framework makes the
asset, the schedule and the load), with two differences: the asset is named after the entry
(`raw/http_api_<name>`) while the table is the kind's shared one, and `partition_scope` keeps
each entry's rows under its own partition keys.
"""

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import dagster as dg

from orchestration.collectors.framework import Collector, Window, collector
from orchestration.config import ConfigError
from orchestration.custom import http_api, log_files, sql
from orchestration.custom.entries import HttpApiEntry, LogSourceEntry, SqlQueryEntry
from orchestration.custom.mapping import NATURAL_KEY
from orchestration.warehouse.connection import WarehouseResource
from orchestration.warehouse.loader import ensure_raw_tables

# Source (vault.yaml section) -> the raw table all its entries share.
CUSTOM_TABLES: dict[str, str] = {
    "http_api": "custom_http",
    "sql": "custom_sql",
    "log_files": log_files.TABLE,
}


def _scoped(spec: Collector, kind: str, name: str) -> Collector:
    return dataclasses.replace(spec, partition_scope=name, asset_name=f"{kind}_{name}")


def http_api_collector(entry: HttpApiEntry) -> Collector:
    """The collector of one `http_api.apis` entry."""

    def collect(window: Window):
        yield from http_api.collect(entry, window)

    spec = collector(
        source="http_api",
        table=CUSTOM_TABLES["http_api"],
        natural_key=NATURAL_KEY,
        description=(
            f"{entry.method} {entry.url} ({entry.pagination.style} paging), mapped to metrics "
            f"{', '.join(m.name for m in entry.mapping.metrics)}; rows in raw.custom_http."
        ),
    )(collect)
    return _scoped(spec, "http_api", entry.name)


def sql_collector(entry: SqlQueryEntry) -> Collector:
    """The collector of one `sql.queries` entry."""

    def collect(window: Window):
        yield from sql.collect(entry, window)

    spec = collector(
        source="sql",
        table=CUSTOM_TABLES["sql"],
        natural_key=NATURAL_KEY,
        description=(
            f"A read-only query on the database in ${entry.url_env}, mapped to metrics "
            f"{', '.join(m.name for m in entry.mapping.metrics)}; rows in raw.custom_sql."
        ),
    )(collect)
    return _scoped(spec, "sql", entry.name)


def log_files_collector(entry: LogSourceEntry) -> Collector:
    """The collector of one `log_files.sources` entry."""

    def collect(window: Window, warehouse: WarehouseResource):
        yield from log_files.collect(entry, window, warehouse)

    spec = collector(
        source="log_files",
        table=CUSTOM_TABLES["log_files"],
        natural_key=NATURAL_KEY,
        description=(
            f"{entry.format} files at {entry.path}, mapped to metrics "
            f"{', '.join(m.name for m in entry.mapping.metrics)}; rows in raw.custom_logs."
        ),
        stale_partitions=lambda conn: log_files.stale_days(conn, entry.name),
    )(collect)
    return _scoped(spec, "log_files", entry.name)


def custom_collectors(config: Any) -> list[Collector]:
    """One collector per entry of every enabled generic source in `config` (a VaultConfig)."""
    enabled = config.enabled_sources()
    specs: list[Collector] = []
    if "http_api" in enabled:
        specs += [http_api_collector(entry) for entry in enabled["http_api"].apis]
    if "sql" in enabled:
        specs += [sql_collector(entry) for entry in enabled["sql"].queries]
    if "log_files" in enabled:
        specs += [log_files_collector(entry) for entry in enabled["log_files"].sources]
    check_entries_agree(config)
    return specs


def check_entries_agree(config: Any) -> None:
    """Refuse, naming both entries, one entry name in two kinds (the seed mappings and the
    `entry` tag name entries alone) or a metric given different units by two entries."""
    seen: dict[str, tuple[str, str]] = {}
    names: dict[str, str] = {}
    sources = config.sources
    entries: list[tuple[str, Any]] = []
    if sources.http_api is not None:
        entries += [(f"http_api.apis[{e.name}]", e) for e in sources.http_api.apis]
    if sources.sql is not None:
        entries += [(f"sql.queries[{e.name}]", e) for e in sources.sql.queries]
    if sources.log_files is not None:
        entries += [(f"log_files.sources[{e.name}]", e) for e in sources.log_files.sources]
    for where, entry in entries:
        kind = where.split(".")[0]
        other = names.setdefault(entry.name, kind)
        if other != kind:
            raise ConfigError(
                f"sources.{where}: entry name {entry.name} is also used by {other}; "
                "give entries of different kinds different names"
            )
        for metric in entry.mapping.metrics:
            first = seen.setdefault(metric.name, (metric.unit, where))
            if first[0] != metric.unit:
                raise ConfigError(
                    f"sources.{where}: metric {metric.name} has unit {metric.unit}, but "
                    f"sources.{first[1]} gives it unit {first[0]}: one metric, one unit"
                )


def shared_table_assets(specs: Sequence[Collector]) -> list[dg.AssetSpec]:
    """The shared raw tables as assets fed by their entries, so lineage reaches dbt."""
    assets = []
    for source, table in CUSTOM_TABLES.items():
        feeding = [spec for spec in specs if spec.source == source and spec.table == table]
        if not feeding:
            continue
        assets.append(
            dg.AssetSpec(
                ["raw", table],
                group_name=source,
                description=(
                    f"The rows of every {source} entry of vault.yaml, each entry under its own "
                    "partition keys (<entry>:<day>): "
                    + ", ".join(spec.asset_key.to_user_string() for spec in feeding)
                ),
                deps=[spec.asset_key for spec in feeding],
                kinds={"postgres"},
            )
        )
    return assets


def ensure_custom_tables(conn: Any, tables: Iterable[str] = CUSTOM_TABLES.values()) -> None:
    """Create the shared raw tables, configured entries or not: dbt's sources read them."""
    for table in tables:
        ensure_raw_tables(conn, table)
