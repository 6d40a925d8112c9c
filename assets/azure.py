"""Azure Cost Management: each configured scope's cost per day, cost type and group."""

from collections.abc import Mapping
from typing import Any

from orchestration.clients.azure import AMOUNT_COLUMNS, AzureCostClient
from orchestration.collectors.framework import Window, collector

# What a row is about rather than how much it cost: the scope and query, the day, and every
# grouping column (the columns that are not amounts), plus the filter of a split query.
_QUERY_FIELDS = ("scope", "query_type", "UsageDate")


def cost_row_key(record: Mapping[str, Any]) -> str:
    """scope | query_type | UsageDate | filter | every grouping column, by name (amounts left out)"""
    parts = [str(record.get(field, "")) for field in _QUERY_FIELDS]
    filtered = record.get("filter") or {}
    parts.extend(f"{name}={value}" for name, value in sorted(filtered.items()))
    parts.extend(
        f"{name}={'' if value is None else value}"
        for name, value in sorted(record.items())
        if name not in (*_QUERY_FIELDS, "filter", *AMOUNT_COLUMNS)
    )
    return "|".join(parts)


@collector(source="azure", table="azure_cost_query", natural_key=cost_row_key)
def azure_cost_query(window: Window, azure: AzureCostClient):
    """Cost Management Query rows per day, scope, cost type and group, keyed by column name."""
    yield from azure.cost_rows(window.start, window.end, log=window.log)
