"""Stripe: cash (balance transactions), billed revenue (invoices), MRR (subscription snapshots).

Balance transactions and invoices are events, partitioned by the day they were created.
Subscriptions and customers are state Stripe keeps no history of, so each day's partition is a
snapshot: the subscriptions that existed that day and the customers created by its end, as
Stripe shows them when the day is loaded.

An invoice changes after the day it was created (paid, voided) for longer than any nightly
lookback should reload, so the invoices collector names, through `stale_partitions`, the days
whose latest load still held a draft or open invoice, and the schedule reloads just those
until every invoice of the day is settled (or `open_invoice_refetch_days` have passed).
"""

from datetime import UTC, date, datetime, timedelta

import psycopg

from orchestration.clients.stripe import StripeBilling
from orchestration.collectors.framework import Window, collector
from orchestration.config import StripeConfig, load_config

INVOICES_TABLE = "stripe_invoices"


def unsettled_invoice_partitions(
    conn: psycopg.Connection, *, refetch_days: int | None = None, today: date | None = None
) -> list[str]:
    """Partitions of raw.stripe_invoices whose latest load holds a draft or open invoice.

    Only those of the last `refetch_days` days count (default: the stripe section's
    `open_invoice_refetch_days`), so an invoice left open for ever is not fetched for ever.
    """
    if refetch_days is None:
        section = load_config().sources.stripe
        refetch_days = (section or StripeConfig()).open_invoice_refetch_days
    today = today or datetime.now(UTC).date()
    if conn.execute("select to_regclass(%s)", (f"raw.{INVOICES_TABLE}",)).fetchone()[0] is None:
        return []
    rows = conn.execute(
        f"""
        with latest as (
            select partition_key, max(loaded_at) as loaded_at
            from raw.{INVOICES_TABLE}
            where partition_key >= %s
            group by partition_key
        )
        select raw.partition_key
        from raw.{INVOICES_TABLE} as raw
        inner join latest using (partition_key, loaded_at)
        group by raw.partition_key
        having bool_or(raw.record ->> 'status' in ('draft', 'open'))
        order by raw.partition_key
        """,
        ((today - timedelta(days=refetch_days)).isoformat(),),
    ).fetchall()
    return [key for (key,) in rows]


@collector(source="stripe", table="stripe_balance_transactions", natural_key=("id",))
def stripe_balance_transactions(window: Window, stripe: StripeBilling):
    """Every movement of the balance (charges, refunds, fees, payouts), its source expanded."""
    yield from stripe.balance_transactions(window.start, window.end)


@collector(
    source="stripe",
    table=INVOICES_TABLE,
    natural_key=("id",),
    stale_partitions=unsettled_invoice_partitions,
)
def stripe_invoices(window: Window, stripe: StripeBilling):
    """Invoices created that day, with every line (the lines past the first page in
    `more_lines`)."""
    yield from stripe.invoices(window.start, window.end)


@collector(source="stripe", table="stripe_subscriptions", natural_key=("snapshot_date", "id"))
def stripe_subscriptions(window: Window, stripe: StripeBilling):
    """The subscriptions that existed that day, with every item, for the day's MRR."""
    yield from stripe.subscriptions(window.start, window.end)


@collector(source="stripe", table="stripe_customers", natural_key=("id",))
def stripe_customers(window: Window, stripe: StripeBilling):
    """Every customer created by the end of the day, for the house-customer metadata."""
    yield from stripe.customers(window.end)
