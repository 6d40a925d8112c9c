"""The semantic layer: named metrics asked of MetricFlow equal the marts they are defined on.

The sandbox's company is collected for two days either side of a quarter's end (so that
months and quarters each have two values) through the real collectors, and dbt builds the
marts the semantic models read. The real `mf query` (a subprocess, as a user runs it) and
`vault query` then answer each question, and every row of their answers is compared with the
same figures read from the marts with SQL, to the cent where the figure is money. dbt and MetricFlow write under the test's own temporary
directory (DBT_TARGET_PATH, DBT_LOG_PATH).
"""

import csv
import subprocess
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from conftest import run_dbt, scratch_database

from orchestration import cli
from orchestration.config import load_config
from orchestration.dbt.assets import ensure_sources_exist
from orchestration.dbt.project import ensure_manifest
from orchestration.definitions import build_definitions
from orchestration.demo import daily_keys, load_hook_events, prepare_sandbox, replay_product_usage
from orchestration.query import semantic
from orchestration.sandbox.company import build_company
from orchestration.sandbox.server import SandboxServer
from orchestration.warehouse.connection import WarehouseResource

# The last day of the third quarter and the first of the fourth.
START, END = date(2026, 9, 30), date(2026, 10, 2)
CENT = Decimal("0.01")
# mf hands numbers over as floating point: hours (summed at 20 digits in the marts) are
# compared to the millionth of an hour, ROI to the mart's four decimals.
HOUR_PART = Decimal("0.000001")


class Warehouse:
    """The built warehouse, and the semantic manifest parsed into the test's target path."""

    def __init__(self, url: str, target: Path, logs: Path) -> None:
        self.url = url
        self.target = target
        self.logs = logs

    def env(self) -> dict[str, str]:
        return {"DBT_TARGET_PATH": str(self.target), "DBT_LOG_PATH": str(self.logs)}

    def rows(self, sql: str, *params: object) -> list[tuple]:
        with psycopg.connect(self.url) as conn:
            return conn.execute(sql, params).fetchall()

    def start_mf(self, *arguments: str, out: Path) -> subprocess.Popen:
        """Start the real `mf query` with `arguments`, writing its rows to `out`."""
        project = semantic.metricflow_project(self.target)
        return subprocess.Popen(
            [semantic.mf_executable(), "query", *arguments, "--csv", str(out)],
            cwd=project,
            env={**semantic.mf_environment(self.url, project), **self.env()},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def mf(self, *arguments: str, out: Path) -> list[dict[str, str]]:
        """Run the real `mf query` with `arguments`; returns the rows of its CSV."""
        return _finish(self.start_mf(*arguments, out=out), out)

    def vault(self, *arguments: str, out: Path) -> list[dict[str, str]]:
        """Run `vault query` with `arguments`; returns the rows of the CSV it wrote."""
        code = _vault(self, "query", *arguments, "--csv", str(out))
        assert code == 0
        return _read_csv(out)


def _vault(warehouse: Warehouse, *argv: str, url: str | None = None) -> int:
    mp = pytest.MonkeyPatch()
    for key, value in {**warehouse.env(), "VAULT_DATABASE_URL": url or warehouse.url}.items():
        mp.setenv(key, value)
    try:
        return cli.main(list(argv))
    finally:
        mp.undo()


def _finish(process: subprocess.Popen, out: Path) -> list[dict[str, str]]:
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output[-4000:]
    return _read_csv(out)


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as file:
        return list(csv.DictReader(file))


# The marts the semantic models read, and the semantic layer's own nodes.
MARTS = (
    "+cost_attribution",
    "+cfo_cost_by_quarter",
    "+pnl_by_month",
    "+fct_ai_usage",
    "+customer_feature_unit_economics",
    "+team_ai_roi",
    "metricflow_time_spine",
)
OWN_TESTS = ("metricflow_time_spine", "assert_time_spine_covers_every_fact_day")


def _collect(defs: dg.Definitions, instance: dg.DagsterInstance) -> None:
    """Run the file imports once and every daily collector for each day, as the demo does.

    The hourly collectors (Prometheus, Kubernetes) are left out: 24 runs a day for figures no
    metric here needs beyond the cloud bills.
    """
    collectors = [
        asset
        for asset in defs.assets or []
        if isinstance(asset, dg.AssetsDefinition)
        and all(key.path[0] == "raw" for key in asset.keys)
        and not isinstance(asset.partitions_def, dg.HourlyPartitionsDefinition)
    ]
    runs = [([a for a in collectors if a.partitions_def is None], None)]
    runs += [([a for a in collectors if a.partitions_def], key) for key in daily_keys(START, END)]
    for assets, key in runs:
        result = dg.materialize(
            assets,
            partition_key=key,
            instance=instance,
            resources=defs.resources,
            run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
            raise_on_error=False,
        )
        assert result.success, key


@pytest.fixture(scope="module")
def warehouse(module_database, tmp_path_factory) -> Warehouse:
    """The marts after collecting START..END and one dbt run, with a semantic manifest."""
    with (
        SandboxServer(build_company(7)) as sandbox,
        dg.DagsterInstance.ephemeral() as instance,
    ):
        workspace = prepare_sandbox(tmp_path_factory.mktemp("sandbox"), sandbox.url, START, END)
        mp = pytest.MonkeyPatch()
        for key, value in {**workspace.env, "VAULT_DATABASE_URL": module_database}.items():
            mp.setenv(key, value)
        try:
            ensure_manifest()
            defs = build_definitions(load_config(workspace.config_path))
            spool = workspace.config_path.parent / "claude-hook.jsonl"
            load_hook_events(module_database, spool, START, END)
            replay_product_usage(
                module_database, START, END, spool_dir=workspace.config_path.parent / "tracking"
            )
            _collect(defs, instance)
        finally:
            mp.undo()
    # The raw tables of the hourly collectors left out, empty, so that staging builds.
    ensure_sources_exist(WarehouseResource(url=module_database))
    dbt_dir = tmp_path_factory.mktemp("dbt")
    for args in (
        ["build", "--select", *MARTS, "--resource-type", "seed", "--resource-type", "model"],
        ["test", "--select", *OWN_TESTS],
    ):
        done = run_dbt(module_database, dbt_dir, *args)
        assert done.returncode == 0, done.stdout[-4000:]
    built = Warehouse(module_database, dbt_dir / "target", dbt_dir / "logs")
    mp = pytest.MonkeyPatch()
    for key, value in built.env().items():
        mp.setenv(key, value)
    try:
        semantic.ensure_semantic_manifest(built.target)
    finally:
        mp.undo()
    return built


def _day(value: str) -> date:
    """A metric_time value of mf's CSV (a timestamp at midnight) as its date."""
    return date.fromisoformat(value[:10])


def _money(value: str | None) -> Decimal | None:
    # Half up, as Postgres' round() does.
    return None if value in (None, "") else Decimal(value).quantize(CENT, ROUND_HALF_UP)


def _both(warehouse: Warehouse, tmp_path: Path, *arguments: str) -> list[list[dict[str, str]]]:
    """The rows of `mf query` and of `vault query` for the same arguments (run side by side)."""
    mf = warehouse.start_mf(*arguments, out=tmp_path / "mf.csv")
    vault = warehouse.vault(*arguments, out=tmp_path / "vault.csv")
    return [_finish(mf, tmp_path / "mf.csv"), vault]


def _nonempty(expected: dict) -> dict:
    assert expected, "the marts hold no rows for this question: the comparison would be empty"
    return expected


# -- the answers equal the marts -----------------------------------------------------------


def test_ai_cost_by_quarter_and_cost_category_equals_the_ledger_and_the_cfo_view(
    warehouse, tmp_path
):
    expected = _nonempty(
        {
            (quarter, category): usd
            for quarter, category, usd in warehouse.rows(
                "select charge_quarter, cost_category, round(sum(billed_cost_usd), 2)"
                " from marts.cost_attribution where counts_in_totals and cost_kind = 'ai'"
                " group by 1, 2"
            )
        }
    )
    assert len({quarter for quarter, _ in expected}) == 2
    cfo = {
        (quarter, category): (usd, leaves)
        for quarter, category, usd, leaves in warehouse.rows(
            "select quarter, cost_category, sum(cost_usd), count(*)"
            " from marts.cfo_cost_by_quarter where scope = 'ai' group by 1, 2"
        )
    }
    for rows in _both(
        warehouse,
        tmp_path,
        "--metrics",
        "ai_cost",
        "--group-by",
        "metric_time__quarter,cost_line__cost_category",
    ):
        got = {
            (_day(row["metric_time__quarter"]), row["cost_line__cost_category"]): _money(
                row["ai_cost"]
            )
            for row in rows
        }
        assert got == expected
    # The CFO view rounds each leaf to the cent: its sums are within half a cent a leaf.
    assert cfo.keys() == expected.keys()
    for key, (usd, leaves) in cfo.items():
        assert abs(usd - expected[key]) <= Decimal("0.005") * leaves


def test_total_cost_by_month_and_department_equals_the_ledger_and_the_pnl(warehouse, tmp_path):
    expected = _nonempty(
        {
            (month, department): usd
            for month, department, usd in warehouse.rows(
                "select charge_month, department, round(sum(billed_cost_usd), 2)"
                " from marts.cost_attribution where counts_in_totals group by 1, 2"
            )
        }
    )
    assert len({month for month, _ in expected}) == 2
    pnl = dict(warehouse.rows("select month, sum(cost_usd) from marts.pnl_by_month group by month"))
    for rows in _both(
        warehouse,
        tmp_path,
        "--metrics",
        "total_cost",
        "--group-by",
        "metric_time__month,department",
    ):
        got = {
            (_day(row["metric_time__month"]), row["department"]): _money(row["total_cost"])
            for row in rows
        }
        assert got == expected
    for month, usd in pnl.items():
        month_total = sum(value for (each, _), value in expected.items() if each == month)
        assert abs(usd - month_total) <= CENT * len(expected)


def test_tokens_by_type_and_model_equal_fct_ai_usage(warehouse, tmp_path):
    expected = _nonempty(
        {
            (token_type, model): tokens
            for token_type, model, tokens in warehouse.rows(
                "select token_type, model, sum(tokens) from marts.fct_ai_usage group by 1, 2"
            )
        }
    )
    assert {"input_uncached", "output", "cache_read"} <= {kind for kind, _ in expected}
    for rows in _both(
        warehouse,
        tmp_path,
        "--metrics",
        "tokens",
        "--group-by",
        "ai_usage__token_type,ai_usage__model",
    ):
        got = {
            (row["ai_usage__token_type"], row["ai_usage__model"]): Decimal(row["tokens"])
            for row in rows
        }
        assert got == expected
    # One metric per type gives the same counts as the token_type dimension.
    per_type = warehouse.mf(
        "--metrics",
        "input_tokens,output_tokens,cache_read_tokens,cache_write_tokens",
        "--group-by",
        "ai_usage__model",
        out=tmp_path / "per_type.csv",
    )
    for row in per_type:
        model = row["ai_usage__model"]
        for metric, types in {
            "input_tokens": ("input_uncached",),
            "output_tokens": ("output",),
            "cache_read_tokens": ("cache_read",),
            "cache_write_tokens": ("cache_write_5m", "cache_write_1h"),
        }.items():
            want = sum(expected.get((kind, model), 0) for kind in types)
            assert Decimal(row[metric] or 0) == want, (metric, model)


def test_cost_per_request_by_feature_equals_the_unit_economics(warehouse, tmp_path):
    expected = _nonempty(
        {
            feature: per_request
            for feature, per_request in warehouse.rows(
                "select feature, sum(ai_cost_usd + infrastructure_cost_usd)"
                " / nullif(sum(requests), 0)"
                " from marts.customer_feature_unit_economics group by feature"
            )
        }
    )
    assert any(value for value in expected.values())
    for rows in _both(
        warehouse, tmp_path, "--metrics", "cost_per_request", "--group-by", "feature"
    ):
        got = {row["feature"]: row["cost_per_request"] for row in rows}
        assert got.keys() == expected.keys()
        for feature, value in expected.items():
            if value is None:
                assert got[feature] == ""
            else:
                assert Decimal(got[feature]) == pytest.approx(value, rel=Decimal("1e-9"))
    # At the mart's own grain the ratio is the mart's cost_per_request_usd.
    mart = {
        (customer, feature, month): per_request
        for customer, feature, month, per_request in warehouse.rows(
            "select customer, feature, month, cost_per_request_usd"
            " from marts.customer_feature_unit_economics"
        )
    }
    rows = warehouse.mf(
        "--metrics",
        "cost_per_request",
        "--group-by",
        "customer,feature,metric_time__month",
        out=tmp_path / "grain.csv",
    )
    got = {
        (row["customer"], row["feature"], _day(row["metric_time__month"])): (
            None
            if row["cost_per_request"] == ""
            else Decimal(row["cost_per_request"]).quantize(Decimal("0.000001"))
        )
        for row in rows
    }
    assert got == mart


def test_revenue_and_margin_by_month_equal_the_unit_economics(warehouse, tmp_path):
    expected = _nonempty(
        {
            month: (revenue, margin)
            for month, revenue, margin in warehouse.rows(
                "select month, sum(revenue_usd), sum(margin_usd)"
                " from marts.customer_feature_unit_economics group by month"
            )
        }
    )
    assert len(expected) == 2 and all(revenue > 0 for revenue, _ in expected.values())
    for rows in _both(
        warehouse, tmp_path, "--metrics", "revenue,margin", "--group-by", "metric_time__month"
    ):
        got = {
            _day(row["metric_time__month"]): (_money(row["revenue"]), _money(row["margin"]))
            for row in rows
        }
        assert got == expected


def test_roi_and_hours_saved_by_team_and_month_equal_team_ai_roi(warehouse, tmp_path):
    expected = _nonempty(
        {
            (department, team, month): (hours.quantize(HOUR_PART), roi)
            for department, team, month, hours, roi in warehouse.rows(
                "select department, team, month, hours_saved, roi from marts.team_ai_roi"
            )
        }
    )
    assert any(roi is not None for _, roi in expected.values())
    for rows in _both(
        warehouse,
        tmp_path,
        "--metrics",
        "roi,hours_saved",
        "--group-by",
        "department,team,metric_time__month",
    ):
        got = {
            (row["department"], row["team"], _day(row["metric_time__month"])): (
                Decimal(row["hours_saved"]).quantize(HOUR_PART),
                None if row["roi"] == "" else Decimal(row["roi"]).quantize(Decimal("0.0001")),
            )
            for row in rows
        }
        assert got == expected


def _observed(warehouse: Warehouse, group: str, *metric_types: str) -> dict:
    """fct_metrics' values per (UTC day, `group`) and metric type, summed."""
    return {
        (day, key, metric_type): value
        for day, key, metric_type, value in warehouse.rows(
            f"select (observed_at at time zone 'UTC')::date, {group}, metric_type, sum(value)"
            " from marts.fct_metrics where metric_type = any(%s) group by 1, 2, 3",
            list(metric_types),
        )
    }


def test_commits_and_merged_pull_requests_by_day_and_team_equal_fct_metrics(warehouse, tmp_path):
    types = {"commits": "dev.commits", "merged_pull_requests": "dev.pull_requests.merged"}
    observed = _nonempty(_observed(warehouse, "team", *types.values()))
    assert {metric_type for _, _, metric_type in observed} == set(types.values())
    assert len({team for _, team, _ in observed}) > 1
    expected = {
        (day, team): tuple(observed.get((day, team, kind)) for kind in types.values())
        for day, team, _ in observed
    }
    for rows in _both(
        warehouse,
        tmp_path,
        "--metrics",
        ",".join(types),
        "--group-by",
        "metric_time__day,team",
    ):
        got = {
            (_day(row["metric_time__day"]), row["team"]): tuple(
                Decimal(row[metric]) if row[metric] else None for metric in types
            )
            for row in rows
        }
        assert got == expected


def test_product_events_and_failed_ai_requests_by_day_and_source_equal_fct_metrics(
    warehouse, tmp_path
):
    types = {"product_events": "product.events", "failed_ai_requests": "ai.requests_failed"}
    observed = _nonempty(_observed(warehouse, "source_system", *types.values()))
    assert {metric_type for _, _, metric_type in observed} == set(types.values())
    expected = {
        (day, source): tuple(observed.get((day, source, kind)) for kind in types.values())
        for day, source, _ in observed
    }
    rows = warehouse.mf(
        "--metrics",
        ",".join(types),
        "--group-by",
        "metric_time__day,observation__source",
        out=tmp_path / "observations.csv",
    )
    got = {
        (_day(row["metric_time__day"]), row["observation__source"]): tuple(
            Decimal(row[metric]) if row[metric] else None for metric in types
        )
        for row in rows
    }
    assert got == expected


@pytest.fixture
def allocation_line(warehouse):
    """A Kubernetes-style allocation line in fct_costs: a copy of the dearest USD charge,
    tagged x_allocated_from, that re-divides money the charge already holds.

    The fixture collects no hourly sources, so the ledger has no allocations of its own; the
    line is deleted again after the test.
    """
    with psycopg.connect(warehouse.url, autocommit=True) as conn:
        conn.execute(
            "insert into marts.fct_costs select (jsonb_populate_record(fct_costs,"
            " jsonb_build_object('x_cost_id', md5(x_cost_id || ':allocation'),"
            " 'tags', tags || jsonb_build_object('x_allocated_from', x_cost_id)))).*"
            " from marts.fct_costs where billing_currency = 'USD'"
            " order by billed_cost desc limit 1"
        )
    try:
        yield
    finally:
        with psycopg.connect(warehouse.url, autocommit=True) as conn:
            conn.execute("delete from marts.fct_costs where tags ? 'x_allocated_from'")


def test_billed_cost_by_currency_provider_and_month_equals_fct_costs(
    warehouse, allocation_line, tmp_path
):
    """In the billing currency, each charge once: allocation lines are left out."""
    expected = _nonempty(
        {
            (month, currency, provider): (billed, effective)
            for month, currency, provider, billed, effective in warehouse.rows(
                "select date_trunc('month', charge_period_start, 'UTC')::date,"
                " billing_currency, provider_name,"
                " round(sum(billed_cost), 2), round(sum(effective_cost), 2)"
                " from marts.fct_costs where not tags ? 'x_allocated_from' group by 1, 2, 3"
            )
        }
    )
    assert len({month for month, _, _ in expected}) == 2
    allocations = "select count(*) from marts.fct_costs where tags ? 'x_allocated_from'"
    assert warehouse.rows(allocations) == [(1,)]
    for rows in _both(
        warehouse,
        tmp_path,
        "--metrics",
        "billed_cost,effective_cost",
        "--group-by",
        "metric_time__month,charge__billing_currency,charge__provider",
    ):
        got = {
            (
                _day(row["metric_time__month"]),
                row["charge__billing_currency"],
                row["charge__provider"],
            ): (_money(row["billed_cost"]), _money(row["effective_cost"]))
            for row in rows
        }
        assert got == expected
    # The charges billed in US dollars are total_cost's lines in that currency (the ledger as
    # cost_attribution was built, before the allocation line).
    usd = warehouse.mf(
        "--metrics",
        "total_cost",
        "--group-by",
        "metric_time__month,cost_line__billing_currency",
        "--where",
        "{{ Dimension('cost_line__billing_currency') }} = 'USD'",
        out=tmp_path / "usd.csv",
    )
    assert {_day(row["metric_time__month"]): _money(row["total_cost"]) for row in usd} == dict(
        warehouse.rows(
            "select date_trunc('month', charge_period_start, 'UTC')::date,"
            " round(sum(billed_cost), 2) from marts.fct_costs"
            " where billing_currency = 'USD' and not tags ? 'x_allocated_from' group by 1"
        )
    )


def test_cost_and_tokens_by_person_share_the_user_entity(warehouse, tmp_path):
    """`user` (a reserved word in Postgres) groups metrics of two semantic models together."""
    costs = dict(
        warehouse.rows(
            "select user_email, round(sum(billed_cost_usd), 2) from marts.cost_attribution"
            " where counts_in_totals group by 1"
        )
    )
    tokens = dict(
        warehouse.rows("select user_email, sum(tokens) from marts.fct_ai_usage group by 1")
    )
    rows = warehouse.vault(
        "--metrics", "total_cost,tokens", "--group-by", "user", out=tmp_path / "user.csv"
    )
    got = {row["user"]: (_money(row["total_cost"]), row["tokens"]) for row in rows}
    assert got.keys() == _nonempty(costs).keys() | _nonempty(tokens).keys()
    for user, (cost, count) in got.items():
        assert cost == costs.get(user)
        assert (Decimal(count) if count else None) == tokens.get(user)


# -- what vault query says when it cannot answer ---------------------------------------------


def test_an_unknown_metric_is_refused_with_the_metrics_there_are(warehouse, capsys):
    assert _vault(warehouse, "query", "--metrics", "ai_costs") == 2
    error = capsys.readouterr().err
    assert "unknown metric 'ai_costs'" in error
    assert "ai_cost, " in error and "total_cost" in error and "roi" in error


def test_an_unknown_dimension_is_refused_with_those_the_metrics_take(warehouse, capsys):
    code = _vault(
        warehouse, "query", "--metrics", "ai_cost", "--group-by", "metric_time__quarter,category"
    )
    assert code == 2
    error = capsys.readouterr().err
    assert "unknown dimension 'category' for ai_cost" in error
    assert "cost_line__cost_category" in error and "metric_time__quarter" in error
    # A dimension of another metric's semantic model is not one of ai_cost's.
    assert _vault(warehouse, "query", "--metrics", "ai_cost", "--group-by", "ai_usage__model") == 2
    assert "unknown dimension 'ai_usage__model'" in capsys.readouterr().err


def test_a_query_without_metrics_or_ordered_by_a_stranger_is_refused(warehouse, capsys):
    assert _vault(warehouse, "query", "--group-by", "metric_time__month") == 2
    assert "name at least one metric with --metrics" in capsys.readouterr().err
    code = _vault(
        warehouse, "query", "--metrics", "revenue", "--group-by", "feature", "--order=-margin"
    )
    assert code == 2
    assert "cannot order by 'margin'" in capsys.readouterr().err


def test_no_warehouse_and_a_warehouse_without_marts_are_told_apart(warehouse, server_url, capsys):
    closed = "postgresql://postgres@127.0.0.1:1/vault"
    assert _vault(warehouse, "query", "--metrics", "revenue", url=closed) == 1
    assert "cannot reach the warehouse at postgresql://postgres@127.0.0.1:1/vault" in (
        capsys.readouterr().err
    )
    with scratch_database(server_url) as empty:
        assert _vault(warehouse, "query", "--metrics", "revenue,roi", url=empty) == 1
    error = capsys.readouterr().err
    assert "has no marts.customer_feature_unit_economics, marts.team_ai_roi yet" in error
    assert "`vault demo`" in error


def test_list_describes_every_metric_and_what_metrics_group_by(warehouse, capsys):
    assert _vault(warehouse, "query", "--list") == 0
    listing = capsys.readouterr().out
    catalogue = semantic.Catalogue(warehouse.target / semantic.SEMANTIC_MANIFEST)
    metrics = catalogue.metrics()
    assert {"total_cost", "ai_cost", "tokens", "cost_per_request", "revenue", "margin"} <= {
        metric.name for metric in metrics
    }
    for metric in metrics:
        assert f"{metric.name} ({metric.kind})" in listing
        assert len(metric.description) > 40, metric.name
    assert _vault(warehouse, "query", "--list", "--metrics", "revenue,margin") == 0
    group_bys = capsys.readouterr().out.split()
    assert {"customer", "feature", "metric_time__month", "metric_time__quarter"} <= set(group_bys)
    assert "metric_time__day" not in group_bys  # the mart's grain is the month


def test_a_where_filter_reaches_metricflow(warehouse, tmp_path):
    expected = dict(
        warehouse.rows(
            "select charge_month, round(sum(billed_cost_usd), 2) from marts.cost_attribution"
            " where counts_in_totals and cost_category = 'R&D' group by 1"
        )
    )
    rows = warehouse.vault(
        "--metrics",
        "total_cost",
        "--group-by",
        "metric_time__month",
        "--where",
        "{{ Dimension('cost_line__cost_category') }} = 'R&D'",
        out=tmp_path / "where.csv",
    )
    assert {_day(row["metric_time__month"]): _money(row["total_cost"]) for row in rows} == (
        _nonempty(expected)
    )


def test_mf_validate_configs_finds_nothing_wrong_in_the_definitions_or_the_warehouse(warehouse):
    """The semantic checks (names, references, time spine) and those against the warehouse
    (every semantic model, dimension, entity, measure and metric queried)."""
    project = semantic.metricflow_project(warehouse.target)
    done = subprocess.run(
        [semantic.mf_executable(), "validate-configs"],
        cwd=project,
        env={**semantic.mf_environment(warehouse.url, project), **warehouse.env()},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    # One line for the semantic checks, five for the warehouse (models to metrics).
    assert output.count("(ERRORS: 0, FUTURE_ERRORS: 0, WARNINGS: 0)") == 6, output[-4000:]


def test_vault_query_options_become_the_same_mf_query_options(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = cli.parser().parse_args(
        [
            "query",
            "--metrics",
            "revenue, margin",
            "--group-by",
            "metric_time__month,feature",
            "--where",
            "{{ Dimension('feature') }} = 'support-copilot'",
            "--order=-revenue",
            "--limit",
            "5",
            "--start-time",
            "2026-09-01",
            "--end-time",
            "2026-10-31",
            "--csv",
            "out.csv",
        ]
    )
    assert semantic.query_from(args).mf_arguments() == [
        "--metrics",
        "revenue,margin",
        "--group-by",
        "metric_time__month,feature",
        "--where",
        "{{ Dimension('feature') }} = 'support-copilot'",
        "--order",
        "-revenue",
        "--limit",
        "5",
        "--start-time",
        "2026-09-01",
        "--end-time",
        "2026-10-31",
        "--csv",
        str(tmp_path / "out.csv"),  # mf runs in the project: the path is made absolute
    ]
    with pytest.raises(semantic.BadQuery, match="--limit must be a positive"):
        semantic.query_from(cli.parser().parse_args(["query", "--metrics", "roi", "--limit", "0"]))


def test_mf_runs_in_the_project_or_in_links_to_it_whose_target_is_dbt_target_path(tmp_path):
    assert semantic.metricflow_project(semantic.DBT_PROJECT_DIR / "target") == (
        semantic.DBT_PROJECT_DIR
    )
    target = tmp_path / "target"
    target.mkdir()
    view = semantic.metricflow_project(target)
    assert view.parent == target
    assert (view / "target").resolve() == target.resolve()
    assert (view / "dbt_project.yml").resolve() == semantic.DBT_PROJECT_DIR / "dbt_project.yml"
    assert (view / "models" / "semantic" / "_semantic__costs.yml").is_file()
    assert semantic.metricflow_project(target) == view  # a second time, the links stand
