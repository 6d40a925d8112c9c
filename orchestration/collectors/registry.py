"""Finds the collectors that the source modules under `assets/` declare.

Two kinds: time-partitioned `Collector`s (an API queried per window) and `FileCollector`s
(files imported as they are delivered). Both write one raw table each.
"""

import importlib
import pkgutil

import assets
from orchestration.collectors.files import FileCollector
from orchestration.collectors.framework import Collector
from orchestration.config import VaultConfig
from orchestration.custom.collectors import custom_collectors


def discover_collectors() -> list[Collector | FileCollector]:
    """Every collector of either kind defined at the top level of a module in `assets`."""
    found: list[Collector | FileCollector] = []
    for module_info in sorted(pkgutil.iter_modules(assets.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"assets.{module_info.name}")
        found.extend(
            value for value in vars(module).values() if isinstance(value, Collector | FileCollector)
        )
    tables = [spec.table for spec in found]
    duplicates = sorted({table for table in tables if tables.count(table) > 1})
    if duplicates:
        raise ValueError(f"more than one collector writes raw table(s) {', '.join(duplicates)}")
    return found


def enabled_collectors(config: VaultConfig) -> list[Collector | FileCollector]:
    """The collectors `config` turns on: each enabled source's own (those its section does
    not switch off), then one per vault.yaml-only entry (HTTP APIs, SQL queries, log files)."""
    enabled = config.enabled_sources()
    specs = [
        spec
        for spec in discover_collectors()
        if spec.source in enabled and spec.is_enabled(enabled[spec.source])
    ]
    return [*specs, *custom_collectors(config)]
