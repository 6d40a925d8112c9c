"""AWS Cost Explorer: daily cost and usage per group, and reloads of days still estimated.

Cost Explorer marks the days it has not finalised `Estimated`, and keeps revising them for
weeks after the month closes (credits, refunds, discounts applied late), longer than any
lookback a schedule should reload every night. So the collector names, through
`stale_partitions`, the days whose latest load it was still told were estimated, and the
schedule reloads just those until Cost Explorer calls them final.
"""

from datetime import UTC, date, datetime, timedelta

import psycopg

from orchestration.clients.aws import AwsCostExplorerClient, natural_key
from orchestration.collectors.framework import Window, collector
from orchestration.config import AwsConfig, load_config

TABLE = "aws_cost_explorer"


def estimated_partitions(
    conn: psycopg.Connection, *, refetch_days: int | None = None, today: date | None = None
) -> list[str]:
    """Partitions of raw.aws_cost_explorer whose latest load has a day still Estimated.

    Only those of the last `refetch_days` days (default: the aws section's
    `estimated_refetch_days` in vault.yaml) count, so a day Cost Explorer never finalises is
    not fetched for ever. Nothing before the first load, when the table does not exist yet.
    """
    if refetch_days is None:
        section = load_config().sources.aws
        refetch_days = (section or AwsConfig()).estimated_refetch_days
    today = today or datetime.now(UTC).date()
    if conn.execute("select to_regclass(%s)", (f"raw.{TABLE}",)).fetchone()[0] is None:
        return []
    rows = conn.execute(
        f"""
        with latest as (
            select partition_key, max(loaded_at) as loaded_at
            from raw.{TABLE}
            where partition_key >= %s
            group by partition_key
        )
        select raw.partition_key
        from raw.{TABLE} as raw
        inner join latest using (partition_key, loaded_at)
        group by raw.partition_key
        having bool_or(raw.record -> 'estimated' = 'true'::jsonb)
        order by raw.partition_key
        """,
        ((today - timedelta(days=refetch_days)).isoformat(),),
    ).fetchall()
    return [key for (key,) in rows]


@collector(
    source="aws",
    table=TABLE,
    natural_key=natural_key,
    stale_partitions=estimated_partitions,
)
def aws_cost_explorer(window: Window, aws: AwsCostExplorerClient):
    """Cost Explorer's daily metrics per group (service and linked account by default)."""
    yield from aws.cost_and_usage(window.start.date(), window.end.date())
