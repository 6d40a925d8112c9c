"""Google Cloud billing: the Cloud Billing export in BigQuery, and the catalog's list prices.

The export is append-only, and the rows of one usage day keep arriving for days: late usage,
then corrections as `adjustment` rows. So a raw partition is a *usage* day, and a run for day D
replaces D with every row whose usage_start_time falls in D, whatever its export_time. A late
or restated row is therefore picked up by the next load of its day, and nothing is counted
twice: the partition is replaced, never appended to.

The schedule reloads the last `lookback_days`; rows that arrive later than that are found
cheaply instead of by reloading everything. Each run first asks BigQuery which usage days
received rows exported after a bookmark (an aggregate over two columns), and remembers, in the
collector's state, per day:

- `pending:<day>`: the newest export_time the export is known to hold for that day;
- `loaded:<day>`: the newest export_time among the rows the day's last load stored;
- `export_time_bookmark`: the newest export_time that scan has seen (the first run starts it
  at the newest row it loaded, since nothing before that was ever loaded).

`pending_partitions` names the loaded days whose pending export time is newer than what they
loaded; the schedule reloads them, and the reload's own `loaded:<day>` clears them. Two keys per
day, each written by one kind of run, rather than one list: partition runs can overlap, and a
reload must not erase a day another run has just found stale. This relies on export_time
growing with every append, which is what the export documents it to be.

A row has no id in the export. Its natural key is a digest of its content plus an occurrence
counter (`occurrence`, 0 for the first of identical rows in the day), so two identical rows
both survive, and a reload gives every row the key it had before.
"""

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import psycopg

from orchestration.clients.gcp import GcpBillingClient, export_row_digest, json_safe, newest
from orchestration.collectors.framework import Window, collector
from orchestration.warehouse.loader import read_state

EXPORT_TABLE = "gcp_billing_export"
BOOKMARK = "export_time_bookmark"
PENDING = "pending:"
LOADED = "loaded:"
# The catalog snapshot covers the services the export used in this many days.
_CATALOG_SERVICE_DAYS = 30


def pending_partitions(conn: psycopg.Connection) -> list[str]:
    """Usage days already loaded that the export has received rows for since, oldest first."""
    state = read_state(conn, EXPORT_TABLE)
    stale = []
    for key, pending in state.items():
        if not key.startswith(PENDING) or not pending:
            continue
        day = key.removeprefix(PENDING)
        loaded_key = LOADED + day
        if loaded_key not in state:
            continue  # never loaded: a backfill's business, not a reload's
        loaded = state[loaded_key]
        if loaded is None or datetime.fromisoformat(pending) > datetime.fromisoformat(loaded):
            stale.append(day)
    return sorted(stale)


def export_row_key(record: dict[str, Any]) -> str:
    """Digest of the row's content and its occurrence among identical rows of the day."""
    return f"{export_row_digest(record)}:{record.get('occurrence', 0)}"


@collector(
    source="gcp",
    table=EXPORT_TABLE,
    natural_key=export_row_key,
    stale_partitions=pending_partitions,
)
def gcp_billing_export(window: Window, gcp: GcpBillingClient) -> Iterator[dict[str, Any]]:
    """Every Cloud Billing export row of one usage day (UTC), late and restated rows included."""
    bookmark = window.state.get(BOOKMARK)
    if bookmark:
        found = gcp.days_with_new_rows(datetime.fromisoformat(bookmark))
        for day in found:
            window.save_state(
                PENDING + day.usage_day.isoformat(), json_safe(day.newest_export_time)
            )
        if found:
            window.save_state(BOOKMARK, newest(json_safe(day.newest_export_time) for day in found))
    seen: Counter[str] = Counter()
    export_times = []
    for record in gcp.export_rows(window.start, window.end):
        digest = export_row_digest(record)
        record["occurrence"] = seen[digest]
        seen[digest] += 1
        export_times.append(record.get("export_time"))
        yield record
    loaded = newest(export_times)
    window.save_state(LOADED + window.start.date().isoformat(), loaded)
    if not bookmark and loaded:
        window.save_state(BOOKMARK, loaded)


@collector(
    source="gcp",
    table="gcp_catalog_prices",
    natural_key=("service_id", "skuId"),
    enabled_if=lambda section: section.catalog_prices,
)
def gcp_catalog_prices(window: Window, gcp: GcpBillingClient) -> Iterator[dict[str, Any]]:
    """A daily snapshot of the public list prices of the SKUs of the services in use."""
    since = window.end - timedelta(days=_CATALOG_SERVICE_DAYS)
    services = gcp.catalog_service_ids(since, window.end)
    window.log.info(f"catalog prices for {len(services)} service(s): {', '.join(services)}")
    for service_id in services:
        yield from gcp.catalog_skus(service_id)
