"""The daily rebuild of the fact tables over a large warehouse against a small one, in one run.

    .venv/bin/python bench/incremental.py [--rows 10000000] [--small-rows 100000]
        [--repeats 3] [--url postgresql://...] [--keep]

Two scratch databases hold the same daily records (bench/_history.py): the large one about
`--rows` metric rows of history (two years by default), the small one about `--small-rows`
(a week). Both raw tables hold all their history and one full `dbt run` built the facts and
marts from it, as in production. One more day of raw records is then loaded into each, and
the daily job's rebuild of the incremental facts runs for that day, the way Dagster runs a
partition: `dbt run --select fct_metrics fct_ai_usage fct_costs` with vars min_date and
max_date of the day (fct_costs prices AI usage through fct_ai_usage, so the three go
together). The runs alternate between the two warehouses; the medians and their ratio are
printed, for the whole dbt invocation and for the three models' own SQL.

`--url` is a server (a database in it is replaced by scratch databases), else
`VAULT_DATABASE_URL`, else the embedded server. `--keep` keeps both databases, so that
bench/mart_reads.py can read the large one without building it again; it reuses a kept
warehouse of the same size itself too. At full size the run takes about 40 minutes on a
2-core machine, nearly all of it the large warehouse's raw records (7 minutes) and its first
full `dbt run` (28 minutes); reusing kept warehouses, about 4 minutes.
"""

import argparse
import statistics
import sys
from datetime import timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._history import (
    NEW_DAY,
    Warehouse,
    build_warehouse,
    drop_database,
    load_days,
    positive,
    server_url,
    warehouse_name,
    window_vars,
)

MODELS = ("fct_metrics", "fct_ai_usage", "fct_costs")


def new_day_rows(warehouse: Warehouse) -> tuple[int, int]:
    """Rows of NEW_DAY in fct_metrics and fct_costs."""
    bounds = (NEW_DAY, NEW_DAY + timedelta(days=1))
    with psycopg.connect(warehouse.url) as conn:
        metrics = conn.execute(
            "select count(*) from marts.fct_metrics where observed_at >= %s and observed_at < %s",
            bounds,
        ).fetchone()[0]
        costs = conn.execute(
            "select count(*) from marts.fct_costs"
            " where charge_period_start >= %s and charge_period_start < %s",
            bounds,
        ).fetchone()[0]
    return metrics, costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=positive, default=10_000_000)
    parser.add_argument("--small-rows", type=positive, default=100_000)
    parser.add_argument("--repeats", type=positive, default=3)
    parser.add_argument("--url", default=None)
    parser.add_argument("--keep", action="store_true", help="keep both scratch databases")
    args = parser.parse_args()
    if args.small_rows >= args.rows:
        parser.error("--small-rows must be below --rows")
    server = server_url(args.url)

    warehouses = [
        build_warehouse(server, warehouse_name(rows), rows, reuse=True)
        for rows in (args.small_rows, args.rows)
    ]
    try:
        for warehouse in warehouses:
            with psycopg.connect(warehouse.url, autocommit=True) as conn:
                for table in (
                    "anthropic_messages_usage",
                    "anthropic_cost_report",
                    "claude_code_messages",
                ):
                    conn.execute(
                        f"delete from raw.{table} where partition_key = %s",
                        (NEW_DAY.isoformat(),),
                    )
                load_days(conn, NEW_DAY, NEW_DAY)
        vars_ = window_vars(NEW_DAY)
        walls: list[list[float]] = [[], []]
        sqls: list[list[float]] = [[], []]
        per_model: list[dict[str, list[float]]] = [{m: [] for m in MODELS} for _ in warehouses]
        # One warm-up run each (the first run after a full build also pays for cold caches),
        # then the repeats, the order swapped each time.
        for repeat in range(args.repeats + 1):
            order = (0, 1) if repeat % 2 == 0 else (1, 0)
            for index in order:
                wall, nodes = warehouses[index].dbt("run", "--select", *MODELS, "--vars", vars_)
                if repeat == 0:
                    continue
                walls[index].append(wall)
                sqls[index].append(sum(nodes[m] for m in MODELS))
                for model in MODELS:
                    per_model[index][model].append(nodes[model])
        counts = [new_day_rows(warehouse) for warehouse in warehouses]
        if counts[0] != counts[1] or not counts[0][0] or not counts[0][1]:
            raise SystemExit(f"the rebuilt day differs between the warehouses: {counts}")
        sizes = [(warehouse.metric_rows(), warehouse.cost_rows()) for warehouse in warehouses]
    finally:
        if not args.keep:
            for warehouse in warehouses:
                drop_database(server, warehouse.name)

    print(
        f"one day rebuilt: {counts[0][0]:,} fct_metrics rows, {counts[0][1]:,} fct_costs rows;"
        f" median of {args.repeats} runs each, alternating"
    )
    print(
        f"{'warehouse':<34}{'dbt run (s)':>12}{'models SQL (s)':>16}  "
        + "  ".join(f"{m:>12}" for m in MODELS)
    )
    for index in range(len(warehouses)):
        metric_rows, cost_rows = sizes[index]
        label = f"{metric_rows:,} metric, {cost_rows:,} cost rows"
        print(
            f"{label:<34}{statistics.median(walls[index]):>12.1f}"
            f"{statistics.median(sqls[index]):>16.1f}  "
            + "  ".join(f"{statistics.median(per_model[index][m]):>12.2f}" for m in MODELS)
        )
    print(
        f"ratio large / small: {statistics.median(walls[1]) / statistics.median(walls[0]):.2f}"
        f" (dbt run), {statistics.median(sqls[1]) / statistics.median(sqls[0]):.2f}"
        " (models SQL)"
    )


if __name__ == "__main__":
    main()
