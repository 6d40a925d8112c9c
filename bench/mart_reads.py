"""Read latency of the reading marts over a warehouse of 10,000,000 metric rows.

    .venv/bin/python bench/mart_reads.py [--rows 10000000] [--runs 50] [--url postgresql://...]
        [--keep]

The queries are the ones a BI tool sends when finance, a department lead or a project owner
opens a dashboard: a quarter by cost category (cfo_cost_by_quarter), a quarter's P&L lines
(pnl_by_month), a department's months (department_ai_monthly, team_ai_roi), a project's
lifecycle and return (project_lifecycle, project_roi), a month of customer unit economics
(customer_feature_unit_economics), and two drill-downs into the daily rollups (a
department's AI cost, billed and estimated, by month over a year from fct_metrics_daily, a
quarter's ledger by service category from fct_costs_daily). The two drill-downs are timed
against the fact tables too (`--fact-runs` times, as each takes seconds at full size),
outside the target, to show what the rollups are for. Each query runs `--runs` times after
three unmeasured runs, its parameter (quarter, month, department, project) taken in turn
from the values the marts hold; the median and 95th percentile are printed against the
200 ms target. About 35 minutes at full size when the warehouse has to be built, a minute
when it is reused.

The warehouse is the one bench/incremental.py builds (bench/_history.py), reused when a run
with `--keep` left it on the server, else built here (most of the run time at full size).
Reads go through the reader role (var reader_role, `vault_reader`) when it exists on the
server, as a BI tool's would; otherwise as the connecting user, which the output says.
`--url` is a server, else `VAULT_DATABASE_URL`, else the embedded server; the database is
dropped at the end unless `--keep` is given.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._history import build_warehouse, drop_database, positive, server_url, warehouse_name

READER_ROLE = "vault_reader"
TARGET_MS = 200.0

# (label, query with one %s, query listing the values that parameter takes)
QUERIES = [
    (
        "CFO: a quarter by cost category",
        "select cost_category, detail_kind, detail, cost_usd, estimated_cost_usd"
        " from marts.cfo_cost_by_quarter where quarter = %s and scope = 'all'"
        " order by cost_category, cost_usd desc",
        "select distinct quarter from marts.cfo_cost_by_quarter",
    ),
    (
        "CFO: a quarter's P&L lines",
        "select month, sort_order, label, cost_usd from marts.pnl_by_month"
        " where month >= %s::date and month < %s::date + interval '3 months'"
        " order by month, sort_order",
        "select distinct quarter from marts.cfo_cost_by_quarter",
    ),
    (
        "department: its months by task class",
        "select month, task_class_label, sessions, ai_cost_usd, hours_saved, roi"
        " from marts.department_ai_monthly where department = %s order by month, task_class",
        "select distinct department from marts.department_ai_monthly",
    ),
    (
        "department: its teams ranked by ROI",
        "select month, team, ai_cost_usd, value_saved_usd, roi, roi_rank_in_department"
        " from marts.team_ai_roi where department = %s"
        " order by month desc, roi_rank_in_department",
        "select distinct department from marts.team_ai_roi",
    ),
    (
        "project: its lifecycle by phase",
        "select scope, phase, phase_started_on, ai_tool_cost_usd, engineer_time_cost_usd,"
        " infrastructure_cost_usd, margin_usd from marts.project_lifecycle"
        " where project = %s order by scope, phase_started_on",
        "select distinct project from marts.project_lifecycle",
    ),
    (
        "project: investment, revenue, payback",
        "select scope, total_investment_usd, revenue_to_date_usd, roi_to_date, payback_months"
        " from marts.project_roi where project = %s",
        "select distinct project from marts.project_roi",
    ),
    (
        "customers: a month's unit economics",
        "select customer_name, feature, requests, ai_cost_usd, revenue_usd, margin_usd"
        " from marts.customer_feature_unit_economics where month = %s order by margin_usd",
        "select distinct month from marts.customer_feature_unit_economics",
    ),
    (
        "fct_metrics_daily: a department's AI cost by month",
        "select date_trunc('month', observed_day) as month, sum(value_sum)"
        " from marts.fct_metrics_daily"
        " where metric_type in ('ai.cost', 'ai.cost_estimated') and department = %s"
        " and observed_day >= (select max(observed_day) from marts.fct_metrics_daily)"
        " - interval '1 year' group by 1 order by 1",
        "select distinct department from marts.department_ai_monthly",
    ),
    (
        "fct_costs_daily: a quarter by service category",
        "select service_category, sum(billed_cost), sum(effective_cost)"
        " from marts.fct_costs_daily where charge_day >= %s::date"
        " and charge_day < %s::date + interval '3 months' group by 1 order by 2 desc",
        "select distinct quarter from marts.cfo_cost_by_quarter",
    ),
]

# The same two questions asked of the fact tables themselves, which a BI tool should not:
# shown for how much the rollups save, and left out of the target.
FACT_QUERIES = [
    (
        "fct_metrics: a department's AI cost by month",
        "select date_trunc('month', observed_at) as month, sum(value) from marts.fct_metrics"
        " where metric_type in ('ai.cost', 'ai.cost_estimated') and department = %s"
        " and observed_at >= (select max(observed_at) from marts.fct_metrics)"
        " - interval '1 year' group by 1 order by 1",
        "select distinct department from marts.department_ai_monthly",
    ),
    (
        "fct_costs: a quarter by service category",
        "select service_category, sum(billed_cost), sum(effective_cost) from marts.fct_costs"
        " where charge_period_start >= %s::date"
        " and charge_period_start < %s::date + interval '3 months' group by 1 order by 2 desc",
        "select distinct quarter from marts.cfo_cost_by_quarter",
    ),
]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=positive, default=10_000_000)
    parser.add_argument("--runs", type=positive, default=50)
    parser.add_argument(
        "--fact-runs", type=positive, default=5, help="runs of each query on the fact tables"
    )
    parser.add_argument("--url", default=None)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = parser.parse_args()
    server = server_url(args.url)
    warehouse = build_warehouse(server, warehouse_name(args.rows), args.rows, reuse=True)
    results = []
    try:
        metric_rows = warehouse.metric_rows()
        with psycopg.connect(warehouse.url, autocommit=True) as conn:
            reader = conn.execute(
                "select 1 from pg_roles where rolname = %s", (READER_ROLE,)
            ).fetchone()
            if reader:
                conn.execute(f"set role {READER_ROLE}")
            as_whom = READER_ROLE if reader else f"{conn.info.user} (no role {READER_ROLE})"
            plan = [(query, args.runs) for query in QUERIES]
            plan += [(query, args.fact_runs) for query in FACT_QUERIES]
            for (label, query, values_query), runs in plan:
                values = [row[0] for row in conn.execute(values_query).fetchall()]
                if not values:
                    raise SystemExit(f"{label}: the mart holds no rows to read")
                values.sort()
                placeholders = query.count("%s")
                timings = []
                rows = 0
                for run in range(runs + 3):
                    value = values[run % len(values)]
                    started = time.perf_counter()
                    fetched = conn.execute(query, (value,) * placeholders).fetchall()
                    elapsed = (time.perf_counter() - started) * 1000
                    if run >= 3:
                        timings.append(elapsed)
                        rows += len(fetched)
                if not rows:
                    raise SystemExit(f"{label}: every run returned no rows")
                results.append(
                    (label, statistics.median(timings), percentile(timings, 0.95), rows / runs)
                )
    finally:
        if not args.keep:
            drop_database(server, warehouse.name)

    print(f"warehouse: {metric_rows:,} metric rows; {args.runs} runs a query, read as {as_whom}")
    print(f"{'query':<54}{'median ms':>10}{'p95 ms':>10}{'rows':>8}")
    for label, median, p95, rows in results:
        print(f"{label:<54}{median:>10.2f}{p95:>10.2f}{rows:>8.0f}")
    worst = max(median for _, median, _, _ in results[: len(QUERIES)])
    verdict = "within" if worst < TARGET_MS else "above"
    print(
        f"slowest median of the marts and rollups {worst:.1f} ms: {verdict} the"
        f" {TARGET_MS:.0f} ms target (the last {len(FACT_QUERIES)} rows read the facts)"
    )


if __name__ == "__main__":
    main()
