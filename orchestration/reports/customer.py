"""What serving each customer with each AI feature cost and earned in one month.

Reads `marts.customer_feature_unit_economics`. The total line adds what can be added
(requests, cost, revenue, margin); rates and latencies are per row only.

JSON, beside the common keys (`rows` are the month's customer and feature rows):

    "total": {"requests", "failed_requests", "ai_cost_usd", "infrastructure_cost_usd",
              "revenue_usd", "margin_usd"}
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from orchestration.reports.model import (
    Chart,
    Column,
    Options,
    Report,
    Section,
    Series,
    Table,
    as_float,
    cents,
    money,
)
from orchestration.reports.periods import choose, month_label, parse_month
from orchestration.reports.reading import Marts

MARTS = ("customer_feature_unit_economics",)
OPTIONS = ("month",)
MART = "customer_feature_unit_economics"

ROW_COLUMNS = [
    Column("customer", "customer id"),
    Column("customer_name", "customer"),
    Column("feature", "feature"),
    Column("month", "month", "month"),
    Column("requests", "requests", "count"),
    Column("failed_requests", "failed", "count"),
    Column("success_rate", "success", "percent"),
    Column("p95_latency_ms", "p95 ms", "ms"),
    Column("ai_cost_usd", "AI cost USD", "usd"),
    Column("infrastructure_cost_usd", "infra USD", "usd"),
    Column("revenue_usd", "revenue USD", "usd"),
    Column("margin_usd", "margin USD", "usd"),
    Column("cost_per_request_usd", "cost/request USD", "unit_usd"),
]
TABLE_COLUMNS = [ROW_COLUMNS[1], ROW_COLUMNS[2], *ROW_COLUMNS[4:]]
COUNTS = ("requests", "failed_requests")
AMOUNTS = ("ai_cost_usd", "infrastructure_cost_usd", "revenue_usd", "margin_usd")


def build(marts: Marts, options: Options) -> Report:
    marts.require(*MARTS)
    wanted = parse_month(options.month) if options.month else None
    months = [row["month"] for row in marts.rows(f"select distinct month from marts.{MART}")]
    if not months:
        return _empty(options)
    month = choose(wanted, months, month_label, mart=MART, plural="months")
    rows = _rows(marts, month)
    total = totals(rows)
    label = month_label(month)
    table = Table(
        "",
        TABLE_COLUMNS,
        rows,
        total={"customer_name": "total", **total},
        notes=["cost/request: this row's AI and infrastructure cost per request"],
    )
    return Report(
        name="customer",
        title=f"Customer and feature unit economics, {label} (from marts.{MART})",
        filters={"month": label},
        main=Table("", ROW_COLUMNS, rows),
        sections=[Section(f"Customers and features, {label}", [table])],
        charts=_charts(marts, rows, label),
        data={"total": total},
    )


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The month's sums of what adds up across customers and features."""
    total: dict[str, Any] = {key: sum(row[key] or 0 for row in rows) for key in COUNTS}
    for key in AMOUNTS:
        total[key] = cents(sum((money(row[key]) for row in rows), Decimal(0)))
    return total


def _rows(marts: Marts, month: date) -> list[dict[str, Any]]:
    return marts.rows(
        f"""
        select {", ".join(column.key for column in ROW_COLUMNS)}
        from marts.{MART}
        where month = %s
        order by customer_name, customer, feature
        """,
        (month,),
    )


def _history(marts: Marts) -> list[dict[str, Any]]:
    return marts.rows(
        f"""
        select
            month,
            sum(ai_cost_usd + infrastructure_cost_usd) as cost_usd,
            sum(revenue_usd) as revenue_usd,
            sum(margin_usd) as margin_usd
        from marts.{MART}
        group by month
        order by month
        """
    )


def _charts(marts: Marts, rows: list[dict[str, Any]], month: str) -> list[Chart]:
    margins: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        margins[row["customer_name"] or row["customer"]] += money(row["margin_usd"])
    by_customer = Chart(
        key="customer-margin",
        title=f"Margin by customer, {month}",
        kind="bar",
        categories=list(margins),
        series=[Series("margin", [as_float(amount) for amount in margins.values()])],
        x_label="customer",
        y_label="margin (USD)",
    )
    history = _history(marts)
    over_time = Chart(
        key="customer-cost-over-time",
        title="Cost over time: cost, revenue and margin of the AI features",
        kind="line",
        categories=[month_label(row["month"]) for row in history],
        series=[
            Series(name, [as_float(row[key]) for row in history])
            for name, key in (
                ("cost", "cost_usd"),
                ("revenue", "revenue_usd"),
                ("margin", "margin_usd"),
            )
        ],
        x_label="month",
        y_label="USD",
    )
    return [by_customer, over_time]


def _empty(options: Options) -> Report:
    return Report(
        name="customer",
        title=f"Customer and feature unit economics (from marts.{MART})",
        filters={"month": options.month},
        main=Table("", ROW_COLUMNS, []),
        data={"total": None},
        no_data=f"marts.{MART} has no rows yet",
    )
