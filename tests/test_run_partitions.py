"""The run-partition floor: a windowed run of the fact tables reads only the raw partitions
it needs (dbt_project/macros/run_partitions.sql), on a real PostgreSQL and a real dbt build.

The raw rows are Anthropic cost report records as the collector stores them, one partition
per UTC day, loaded with the loader's own replace_partition.
"""

import json
from datetime import date, timedelta
from decimal import Decimal

import psycopg
import pytest
from conftest import run_dbt

from assets.anthropic import anthropic_cost_report
from orchestration.dbt.assets import ensure_sources_exist
from orchestration.warehouse.connection import WarehouseResource
from orchestration.warehouse.loader import replace_partition

OLD = date(2026, 11, 1)
NEW = date(2026, 11, 20)  # far more than the default margin of 7 days after OLD
SCOPED = "manual:2026-10-01"  # a scoped key sorts above every day
VIEW = "staging.stg_anthropic__cost_items"


def _item(day: date, workspace: str, amount: str, **fields) -> dict:
    """One cost report record of `day`, in the shape the Anthropic client yields."""
    return {
        "starting_at": f"{day.isoformat()}T00:00:00Z",
        "ending_at": f"{(day + timedelta(days=1)).isoformat()}T00:00:00Z",
        "currency": "USD",
        "amount": amount,
        "workspace_id": workspace,
        "description": fields.get("description", "Claude Sonnet 4.5 Usage - Output Tokens"),
        "cost_type": fields.get("cost_type", "tokens"),
        "context_window": fields.get("context_window", "0-200k"),
        "model": fields.get("model", "claude-sonnet-4-5-20250929"),
        "service_tier": fields.get("service_tier", "standard"),
        "token_type": fields.get("token_type", "output"),
    }


def _day_items(day: date, scale: int = 1) -> list[dict]:
    """Two line items of `day`: tokens in one workspace, web search in another."""
    return [
        _item(day, "wrkspc_prod", f"{1250 * scale}.50"),
        _item(
            day,
            "wrkspc_dev",
            f"{40 * scale}.00",
            description="Web Search",
            cost_type="web_search",
            context_window=None,
            model=None,
            service_tier=None,
            token_type=None,
        ),
    ]


def _load(url: str, partition_key: str, records: list[dict], run_id: str = "load") -> None:
    """Store `records` as partition `partition_key` of the cost report's raw table."""
    with psycopg.connect(url, autocommit=True) as conn:
        replace_partition(
            conn,
            source=anthropic_cost_report.source,
            table=anthropic_cost_report.table,
            partition_key=partition_key,
            run_id=run_id,
            records=records,
            natural_key=anthropic_cost_report.natural_key,
        )


def _dbt(url, target, *args):
    """Run dbt with `args`; fails the test with dbt's output if dbt fails."""
    done = run_dbt(url, target, *args)
    assert done.returncode == 0, done.stdout[-4000:]


def _window(start: date, end: date, **extra) -> str:
    """The --vars of a run over [start, end), as the Dagster asset passes them."""
    return json.dumps({"min_date": start.isoformat(), "max_date": end.isoformat(), **extra})


# The run of the new day, and a wider run reaching back to the old day with a larger margin.
# dbt parses the whole project again whenever its vars change, so each set of vars keeps a
# target directory of its own, and later runs with the same vars parse only what changed.
NEW_WINDOW = _window(NEW, NEW + timedelta(days=1))
WIDE_WINDOW = _window(OLD, NEW + timedelta(days=1), run_partition_margin_days=10)


@pytest.fixture(scope="module")
def built(module_database, tmp_path_factory):
    """Two far-apart days and a scoped partition of raw cost items, then the first build of
    fct_metrics and everything it needs; yields the database URL and a dbt target directory
    per window.

    The first build is given the new day's window, as the first scheduled run would be: a
    model that does not exist yet is built whole, so no floor is set and every row is read.
    """
    targets = {
        NEW_WINDOW: tmp_path_factory.mktemp("dbt"),
        WIDE_WINDOW: tmp_path_factory.mktemp("dbt"),
    }
    ensure_sources_exist(WarehouseResource(url=module_database))
    _load(module_database, OLD.isoformat(), _day_items(OLD))
    _load(module_database, NEW.isoformat(), _day_items(NEW))
    _load(module_database, SCOPED, [_item(date(2026, 10, 1), "wrkspc_ops", "7.25")])
    _dbt(
        module_database,
        targets[NEW_WINDOW],
        "build",
        "--select",
        "+fct_metrics",
        "--resource-type",
        "seed",
        "--resource-type",
        "model",
        "--vars",
        NEW_WINDOW,
    )
    return module_database, targets


def _partitions_read(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(f"select distinct partition_key from {VIEW} order by 1").fetchall()
    return [key for (key,) in rows]


def test_the_staging_view_reads_every_partition_unless_a_transaction_sets_the_floor(built):
    url, _ = built
    everything = sorted([OLD.isoformat(), NEW.isoformat(), SCOPED])
    with psycopg.connect(url, autocommit=True) as conn:
        assert _partitions_read(conn) == everything
        with conn.transaction():
            conn.execute("select set_config('vault.run_partition_floor', '2026-11-10', true)")
            assert _partitions_read(conn) == [NEW.isoformat(), SCOPED]
            count = conn.execute(f"select count(*) from {VIEW}").fetchone()[0]
            assert count == 3, "both items of the new day and the scoped one"
        # The setting was local to that transaction: reads after it see everything again.
        assert _partitions_read(conn) == everything
        with conn.transaction():
            # The bound is inclusive: a floor equal to a partition key keeps that partition.
            conn.execute(
                "select set_config('vault.run_partition_floor', %s, true)", (OLD.isoformat(),)
            )
            assert _partitions_read(conn) == everything
        with conn.transaction():
            # Above every day, only the scoped partition is left.
            conn.execute("select set_config('vault.run_partition_floor', '9999-12-31', true)")
            assert _partitions_read(conn) == [SCOPED]
        with conn.transaction():
            # An empty setting (what a full build's pre-hook leaves) means no floor.
            conn.execute("select set_config('vault.run_partition_floor', '', true)")
            assert _partitions_read(conn) == everything


def _costs(url: str) -> dict[tuple[date, str], Decimal]:
    """fct_metrics' Anthropic cost per (UTC day, workspace)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """
            select (observed_at at time zone 'UTC')::date, tags ->> 'workspace_id', sum(value)
            from marts.fct_metrics
            where source_system = 'anthropic' and metric_type = 'ai.cost'
            group by 1, 2
            """
        ).fetchall()
    return {(day, workspace): total for day, workspace, total in rows}


def _day_costs(day: date, scale: int = 1) -> dict[tuple[date, str], Decimal]:
    """What _day_items(day, scale) comes to in fct_metrics, in USD."""
    return {
        (day, "wrkspc_prod"): Decimal(f"{1250 * scale}.50") / 100,
        (day, "wrkspc_dev"): Decimal(40 * scale) / 100,
    }


def _fact_rows(url: str, where: str = "true") -> list[str]:
    """The rows of fct_metrics matching `where`, as sorted JSON text: equal lists are equal
    tables."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            f"select to_jsonb(f)::text from marts.fct_metrics as f where {where}"
        ).fetchall()
    return sorted(text for (text,) in rows)


def test_an_incremental_run_reads_only_the_partitions_from_its_floor(built):
    url, targets = built
    scoped = {(date(2026, 10, 1), "wrkspc_ops"): Decimal("0.0725")}
    assert _costs(url) == {**_day_costs(OLD), **_day_costs(NEW), **scoped}
    old_day = f"(observed_at at time zone 'UTC')::date = '{OLD.isoformat()}'"
    old_rows = _fact_rows(url, old_day)
    assert len(old_rows) == 2

    # Both days are reloaded with new amounts. Three more records lie in partitions below
    # the days they are observed on, as a late or misfiled load would leave them: one of the
    # new day ten days below it, two of the old day ten and eleven days below it.
    _load(url, OLD.isoformat(), _day_items(OLD, scale=3), run_id="reload")
    _load(url, NEW.isoformat(), _day_items(NEW, scale=2), run_id="reload")
    _load(url, (NEW - timedelta(days=10)).isoformat(), [_item(NEW, "wrkspc_late", "99.00")])
    _load(url, (OLD - timedelta(days=10)).isoformat(), [_item(OLD, "wrkspc_late", "98.00")])
    _load(url, (OLD - timedelta(days=11)).isoformat(), [_item(OLD, "wrkspc_lost", "97.00")])

    # The new day's run (floor: seven days before it) replaces the new day only, and does not
    # see the new day's record ten days down: the limit of the floor.
    _dbt(url, targets[NEW_WINDOW], "run", "--select", "fct_metrics", "--vars", NEW_WINDOW)
    assert _fact_rows(url, old_day) == old_rows
    assert _costs(url) == {**_day_costs(OLD), **_day_costs(NEW, 2), **scoped}

    # A run reaching back to the old day, with a margin of ten days, picks up its reload and
    # the records down to exactly ten days below its first day, and no further.
    _dbt(url, targets[WIDE_WINDOW], "run", "--select", "fct_metrics", "--vars", WIDE_WINDOW)
    assert _costs(url) == {
        **_day_costs(OLD, 3),
        (OLD, "wrkspc_late"): Decimal("0.98"),
        **_day_costs(NEW, 2),
        (NEW, "wrkspc_late"): Decimal("0.99"),
        **scoped,
    }
    reached = "coalesce(tags ->> 'workspace_id', '') <> 'wrkspc_lost'"
    incremental = _fact_rows(url)

    # A full rebuild reads every partition: the same table, plus the one record that no
    # run's floor has reached.
    _dbt(
        url,
        targets[NEW_WINDOW],
        "run",
        "--select",
        "fct_metrics",
        "--full-refresh",
        "--vars",
        NEW_WINDOW,
    )
    assert _fact_rows(url, reached) == incremental
    assert _costs(url)[(OLD, "wrkspc_lost")] == Decimal("0.97")
    assert len(_fact_rows(url)) == len(incremental) + 1
