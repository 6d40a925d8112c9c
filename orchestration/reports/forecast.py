"""Next quarter's cost by category and source, its likely range, and the method's track record.

Reads `marts.cost_forecasts`: one row per forecast quarter, cost category and source system,
with the forecast, the bounds of its interval, and a backtest (the same method forecasting the
last full quarter of history, against what was actually spent). MAPE is shown as a percentage:
12.0% means the backtest's monthly figures were off by 12 % on average.

The totals per category add the series' forecasts. They also add the series' bounds, which
gives a range wider than the true interval of the total (series rarely all miss the same way):
read it as a cautious range.

JSON, beside the common keys (`rows` are the forecast rows):

    "totals_by_category": [{"forecast_quarter", "cost_category", "series", "forecast_usd",
                            "lower_usd", "upper_usd"}],
    "total": [{"forecast_quarter", "forecast_usd", "lower_usd", "upper_usd"}]
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from orchestration.reports.cfo import CATEGORY_ORDER
from orchestration.reports.model import (
    Chart,
    Column,
    Options,
    Report,
    Section,
    Series,
    Table,
    Text,
    as_float,
    cents,
    money,
)
from orchestration.reports.periods import quarter_label
from orchestration.reports.reading import Marts

MARTS = ("cost_forecasts",)
OPTIONS: tuple[str, ...] = ()
KEYS = (
    "forecast_quarter",
    "cost_category",
    "x_source_system",
    "forecast_usd",
    "lower_usd",
    "upper_usd",
    "interval_level",
    "model",
    "history_from",
    "history_to",
    "history_days",
    "backtest_quarter",
    "backtest_actual_usd",
    "backtest_forecast_usd",
    "backtest_mape",
    "backtest_note",
    "generated_at",
)
ROW_COLUMNS = [Column(key, key) for key in KEYS]
TABLE_COLUMNS = [
    Column("cost_category", "cost category"),
    Column("x_source_system", "source"),
    Column("forecast_usd", "forecast USD", "usd"),
    Column("lower_usd", "low USD", "usd"),
    Column("upper_usd", "high USD", "usd"),
    Column("interval_level", "interval", "percent"),
    Column("model", "model"),
    Column("backtest_quarter", "backtest", "quarter", missing="none"),
    Column("backtest_actual_usd", "actual USD", "usd"),
    Column("backtest_forecast_usd", "forecast then USD", "usd"),
    Column("backtest_mape", "MAPE", "percent"),
]
TOTAL_COLUMNS = [
    Column("cost_category", "cost category"),
    Column("series", "series", "count"),
    Column("forecast_usd", "forecast USD", "usd"),
    Column("lower_usd", "sum of lows USD", "usd"),
    Column("upper_usd", "sum of highs USD", "usd"),
]
ADDED = ("forecast_usd", "lower_usd", "upper_usd")


def build(marts: Marts, options: Options) -> Report:
    marts.require(*MARTS)
    rows = sorted(_rows(marts), key=_order)
    title = "Cost forecasts (from marts.cost_forecasts)"
    if not rows:
        return Report(
            name="forecast",
            title=title,
            filters={},
            main=Table("", ROW_COLUMNS, []),
            data={"totals_by_category": [], "total": []},
            no_data="marts.cost_forecasts has no rows yet",
        )
    quarters = sorted({row["forecast_quarter"] for row in rows})
    by_category = category_totals(rows)
    grand = [_grand_total(quarter, by_category) for quarter in quarters]
    sections = [_section(quarter, rows, by_category, grand) for quarter in quarters]
    return Report(
        name="forecast",
        title=title,
        filters={"forecast_quarters": [quarter_label(quarter) for quarter in quarters]},
        main=Table("", ROW_COLUMNS, rows),
        sections=sections,
        charts=_charts(rows, by_category, len(quarters) > 1),
        data={"totals_by_category": by_category, "total": grand},
    )


def category_totals(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per forecast quarter and cost category: the number of series and their added figures."""
    grouped: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[(row["forecast_quarter"], row["cost_category"])].append(row)
    return [
        {
            "forecast_quarter": quarter,
            "cost_category": category,
            "series": len(members),
            **{key: _sum(members, key) for key in ADDED},
        }
        for (quarter, category), members in grouped.items()
    ]


def _untested(rows: list[dict[str, Any]]) -> list[str]:
    """Why the series without a backtest have none, one line per reason."""
    reasons: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        if row["backtest_quarter"] is None and row.get("backtest_note"):
            reasons[row["backtest_note"]].append(f"{row['cost_category']} {row['x_source_system']}")
    return [f"no backtest for {', '.join(series)}: {note}" for note, series in reasons.items()]


def _rows(marts: Marts) -> list[dict[str, Any]]:
    return marts.rows(f"select {', '.join(KEYS)} from marts.cost_forecasts")


def _section(
    quarter: Any,
    rows: list[dict[str, Any]],
    by_category: list[dict[str, Any]],
    grand: list[dict[str, Any]],
) -> Section:
    mine = [row for row in rows if row["forecast_quarter"] == quarter]
    total = next(item for item in grand if item["forecast_quarter"] == quarter)
    forecasts = Table(
        "By cost category and source",
        TABLE_COLUMNS,
        mine,
        notes=[
            "low and high: the bounds of the interval the quarter's total falls in with the "
            "interval's probability",
            "backtest: the same method forecasting the last full quarter it had history for; "
            "MAPE: how far its monthly figures were off, on average",
            *_untested(mine),
        ],
    )
    categories = Table(
        "Totals per cost category",
        TOTAL_COLUMNS,
        [item for item in by_category if item["forecast_quarter"] == quarter],
        total={"cost_category": "total", **total},
        notes=["sums of lows and highs: a cautious range, wider than the total's interval"],
    )
    return Section(
        f"Forecast for {quarter_label(quarter)}", [_provenance(mine), forecasts, categories]
    )


def _provenance(rows: list[dict[str, Any]]) -> Text:
    """When the forecasts were made, and from which days of history."""
    made = max((row["generated_at"] for row in rows if row["generated_at"]), default=None)
    start = min((row["history_from"] for row in rows if row["history_from"]), default=None)
    end = max((row["history_to"] for row in rows if row["history_to"]), default=None)
    parts = []
    if made is not None:
        utc = made.astimezone(UTC) if isinstance(made, datetime) and made.tzinfo else made
        parts.append(f"made {utc:%Y-%m-%d %H:%M} UTC")
    if start is not None and end is not None:
        parts.append(f"from daily history {start:%Y-%m-%d} to {end:%Y-%m-%d}")
    return Text([" ".join(parts) or "when and from what history: not recorded"])


def _grand_total(quarter: Any, by_category: list[dict[str, Any]]) -> dict[str, Any]:
    mine = [item for item in by_category if item["forecast_quarter"] == quarter]
    return {
        "forecast_quarter": quarter,
        "series": sum(item["series"] for item in mine),
        **{key: _sum(mine, key) for key in ADDED},
    }


def _charts(
    rows: list[dict[str, Any]], by_category: list[dict[str, Any]], several: bool
) -> list[Chart]:
    def name(item: dict[str, Any]) -> str:
        category = item["cost_category"]
        return f"{category} {quarter_label(item['forecast_quarter'])}" if several else category

    forecast = Chart(
        key="forecast-by-category",
        title="Forecast by cost category, with its range",
        kind="bar",
        categories=[name(item) for item in by_category],
        series=[
            Series(
                "forecast",
                [as_float(item["forecast_usd"]) for item in by_category],
                low=[as_float(item["lower_usd"]) for item in by_category],
                high=[as_float(item["upper_usd"]) for item in by_category],
            )
        ],
        x_label="cost category",
        y_label="USD next quarter",
        caption="whiskers: the sums of the series' lows and highs",
    )
    tested: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in rows:
        if row["backtest_quarter"] is not None:
            tested[row["cost_category"]]["actual"] += money(row["backtest_actual_usd"])
            tested[row["cost_category"]]["forecast"] += money(row["backtest_forecast_usd"])
    backtest = Chart(
        key="forecast-backtest",
        title="Backtest: actual and forecast cost of the held-out quarter",
        kind="bar",
        categories=list(tested),
        series=[
            Series(label, [as_float(tested[category][label]) for category in tested])
            for label in ("actual", "forecast")
        ],
        x_label="cost category",
        y_label="USD",
    )
    return [forecast, backtest]


def _sum(rows: list[dict[str, Any]], key: str) -> Decimal:
    return cents(sum((money(row[key]) for row in rows), Decimal(0)))


def _order(row: dict[str, Any]) -> tuple:
    category = row["cost_category"]
    rank = CATEGORY_ORDER.index(category) if category in CATEGORY_ORDER else len(CATEGORY_ORDER)
    return (row["forecast_quarter"], rank, category, row["x_source_system"])
