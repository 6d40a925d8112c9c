"""Finds the collectors that the source modules under `assets/` declare."""

import importlib
import pkgutil

import assets
from orchestration.collectors.framework import Collector


def discover_collectors() -> list[Collector]:
    """Every `Collector` defined at the top level of a module in the `assets` package."""
    found: list[Collector] = []
    for module_info in sorted(pkgutil.iter_modules(assets.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"assets.{module_info.name}")
        found.extend(value for value in vars(module).values() if isinstance(value, Collector))
    tables = [spec.table for spec in found]
    duplicates = sorted({table for table in tables if tables.count(table) > 1})
    if duplicates:
        raise ValueError(f"more than one collector writes raw table(s) {', '.join(duplicates)}")
    return found
