"""The `marts/cost_forecasts` asset: next quarter's cost per cost category and source.

It reads the daily cost history from `marts.cost_attribution` (lines that count in money
totals only), forecasts each series with `orchestration.forecast.model`, and replaces every
row of `marts.cost_forecasts` in one transaction, so a reader sees the previous forecasts or
the new ones, never a mix. The table is created on the first run.
"""

import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

import dagster as dg
import pandas as pd
import psycopg
from dagster_dbt import get_asset_key_for_model
from psycopg import sql

from orchestration.forecast.model import (
    DEFAULT_INTERVAL_LEVEL,
    DEFAULT_SIMULATIONS,
    SeriesForecast,
    forecast_costs,
)
from orchestration.warehouse.connection import WarehouseResource

COST_FORECASTS_KEY = dg.AssetKey(["marts", "cost_forecasts"])
SOURCE_MODEL = "cost_attribution"

HISTORY_SQL = """
select
    charge_day,
    cost_category,
    x_source_system,
    sum(billed_cost_usd)::float8 as cost_usd
from marts.cost_attribution
-- Lines that re-divide money another line holds (Kubernetes allocations) would count it twice.
where counts_in_totals
group by charge_day, cost_category, x_source_system
order by cost_category, x_source_system, charge_day
"""

CREATE_SQL = """
create schema if not exists marts;
create table if not exists marts.cost_forecasts (
    forecast_quarter date not null,
    cost_category text not null,
    x_source_system text not null,
    forecast_usd numeric(18, 2) not null,
    lower_usd numeric(18, 2),
    upper_usd numeric(18, 2),
    interval_level numeric(4, 3) not null,
    model text not null,
    history_from date not null,
    history_to date not null,
    history_days integer not null,
    backtest_quarter date,
    backtest_actual_usd numeric(18, 2),
    backtest_forecast_usd numeric(18, 2),
    backtest_mape double precision,
    backtest_note text,
    generated_at timestamptz not null,
    primary key (forecast_quarter, cost_category, x_source_system)
)
"""

# What a reader of the table sees in a BI tool's column notes; the table is written here,
# not by dbt, so its documentation lives with it.
TABLE_COMMENT = (
    "Next calendar quarter's cost per cost category and source system, in US dollars, with "
    "an interval and a backtest on the last full quarter. Written by the cost_forecasts "
    "asset from marts.cost_attribution; every run replaces all rows."
)
COLUMN_COMMENTS = {
    "forecast_quarter": "First day of the quarter forecast: the calendar quarter after the "
    "last day of history.",
    "cost_category": "COGS, OpEx, R&D or unallocated, as in marts.cost_attribution.",
    "x_source_system": "The system the costs come from (aws, anthropic, engineer_time, ...).",
    "forecast_usd": "Expected total cost of the quarter in US dollars.",
    "lower_usd": "Low end of the interval for the quarter's total (the 10th percentile at "
    "level 0.8); empty when a single day of history gives no spread.",
    "upper_usd": "High end of the interval for the quarter's total (the 90th percentile at "
    "level 0.8); empty when a single day of history gives no spread.",
    "interval_level": "Share of simulated quarter totals between lower_usd and upper_usd.",
    "model": "How the forecast was made: ETS(A,Ad,A) (trend and weekly pattern), ETS(A,N,N) "
    "(level only, two to three weeks of history), mean (under two weeks), constant (the "
    "same cost every day).",
    "history_from": "First day of this series' history.",
    "history_to": "Last day of history (the last day in marts.cost_attribution).",
    "history_days": "Days of history the forecast was made from, days without cost included.",
    "backtest_quarter": "The last full quarter of the history, forecast from the days before "
    "it only, to show how well the model does; empty when there was none.",
    "backtest_actual_usd": "What was spent in the backtest quarter.",
    "backtest_forecast_usd": "What the model forecast for the backtest quarter.",
    "backtest_mape": "Mean absolute percentage error of the backtest over its three months, as "
    "a fraction (0.12 = 12 %): the average of |actual - forecast| / actual over the months "
    "with any cost.",
    "backtest_note": "Why there is no backtest or no backtest_mape, when there is not.",
    "generated_at": "When the forecasts were computed.",
}

COLUMNS = (
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


class CostForecastConfig(dg.Config):
    interval_level: float = DEFAULT_INTERVAL_LEVEL
    """Share of simulated quarter totals the interval holds (0.8: 10th to 90th percentile)."""
    simulations: int = DEFAULT_SIMULATIONS
    """Simulated paths per series; more gives steadier interval ends and takes longer."""


def read_history(conn: psycopg.Connection) -> pd.DataFrame:
    """Cost per day, cost category and source system, from `marts.cost_attribution`."""
    rows = conn.execute(HISTORY_SQL).fetchall()
    return pd.DataFrame(
        rows, columns=["charge_day", "cost_category", "x_source_system", "cost_usd"]
    )


def forecast_row(forecast: SeriesForecast, generated_at: datetime) -> tuple:
    """The `marts.cost_forecasts` row of one series, in `COLUMNS` order."""
    quarter, held_out = forecast.forecast, forecast.backtest
    return (
        quarter.quarter,
        forecast.cost_category,
        forecast.source_system,
        _cents(quarter.total_usd),
        _cents(quarter.lower_usd),
        _cents(quarter.upper_usd),
        forecast.interval_level,
        quarter.model,
        forecast.history_from,
        forecast.history_to,
        forecast.history_days,
        held_out.quarter,
        _cents(held_out.actual_usd),
        _cents(held_out.forecast_usd),
        held_out.mape,
        held_out.note,
        generated_at,
    )


def _cents(amount: float | None) -> float | None:
    return None if amount is None else round(amount, 2)


def replace_forecasts(conn: psycopg.Connection, rows: Sequence[tuple]) -> None:
    """Create `marts.cost_forecasts` if needed and replace all its rows, in one transaction."""
    with conn.transaction():
        conn.execute(CREATE_SQL)
        # Two runs at once would each delete the other's rows and insert their own twice.
        conn.execute("lock table marts.cost_forecasts in exclusive mode")
        conn.execute(
            sql.SQL("comment on table marts.cost_forecasts is {}").format(
                sql.Literal(TABLE_COMMENT)
            )
        )
        for column, comment in COLUMN_COMMENTS.items():
            conn.execute(
                sql.SQL("comment on column marts.cost_forecasts.{} is {}").format(
                    sql.Identifier(column), sql.Literal(comment)
                )
            )
        conn.execute("delete from marts.cost_forecasts")
        placeholders = ", ".join(["%s"] * len(COLUMNS))
        with conn.cursor() as cursor:
            cursor.executemany(
                f"insert into marts.cost_forecasts ({', '.join(COLUMNS)}) values ({placeholders})",
                rows,
            )


def build_cost_forecast_asset(dbt_assets: Sequence[dg.AssetsDefinition]) -> dg.AssetsDefinition:
    """The forecast asset, downstream of the dbt model `cost_attribution` and in its group."""
    # Every dbt asset set carries the whole manifest and the one translator, so any of them
    # names the model's key; the group comes from the set that materialises it.
    upstream = get_asset_key_for_model(dbt_assets[:1], SOURCE_MODEL)
    group = next(
        assets.group_names_by_key[upstream] for assets in dbt_assets if upstream in assets.keys
    )

    @dg.asset(
        key=COST_FORECASTS_KEY,
        deps=[upstream],
        group_name=group,
        kinds={"python", "postgres"},
    )
    def cost_forecasts(
        context: dg.AssetExecutionContext,
        config: CostForecastConfig,
        warehouse: WarehouseResource,
    ) -> dg.MaterializeResult:
        """Next calendar quarter's cost per cost category and source system, in US dollars.

        The history is each day's billed cost in marts.cost_attribution, leaving out lines
        that re-divide money another line holds. Each series (a cost category from one
        source) is forecast with exponential smoothing (ETS, a damped trend and a weekly
        pattern when there are three weeks of history; simpler models for less), from the
        day after the history to the end of the next quarter. The forecast is the average of
        simulated quarter totals and the interval (lower_usd to upper_usd) the central
        `interval_level` share of them. The backtest forecasts the last full quarter of the
        history from the days before it; backtest_mape is the mean of |actual - forecast| /
        actual over its three months (those with any cost). Series that never cost anything
        are left out.
        """
        started = time.perf_counter()
        # Read, then let go of the connection while fitting: an open transaction on
        # cost_attribution would hold up the next dbt build replacing it.
        with warehouse.connect() as conn:
            history = read_history(conn)
        forecasts, without_cost = forecast_costs(
            history, interval_level=config.interval_level, simulations=config.simulations
        )
        generated_at = datetime.now(UTC)
        with warehouse.connect() as conn:
            replace_forecasts(conn, [forecast_row(f, generated_at) for f in forecasts])
        if history.empty:
            context.log.warning("marts.cost_attribution has no costs: no forecasts written")
        if without_cost:
            names = ", ".join(f"{category}/{source}" for category, source in without_cost)
            context.log.info(f"left out series without any cost: {names}")
        models = Counter(forecast.forecast.model for forecast in forecasts)
        context.log.info(
            f"forecast {len(forecasts)} series in {time.perf_counter() - started:.1f}s "
            f"({', '.join(f'{model}: {count}' for model, count in sorted(models.items()))})"
        )
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": len(forecasts),
                "series_without_cost": len(without_cost),
                "series_by_model": dict(sorted(models.items())),
                "history_to": str(history["charge_day"].max()) if not history.empty else "",
                "forecast_quarter": str(forecasts[0].forecast.quarter) if forecasts else "",
                "duration_s": round(time.perf_counter() - started, 3),
            }
        )

    return cost_forecasts
