"""The customer and feature unit economics mart, built by dbt in a database of its own.

The models the mart reads are built empty (`--empty`), so dbt's unit tests find every input
relation, and the two views it reads directly are built again in full; then a month of one
feature is put in: requests through the real tracker (and so
through staging), its costs as cost_attribution lines and its customers' MRR as Stripe rows of
fct_metrics. dbt then builds the mart and runs its unit tests and data tests, and the rows are
compared with figures worked out by hand.
"""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from conftest import run_dbt

from orchestration.dbt.assets import ensure_sources_exist
from orchestration.tracking import Tracker
from orchestration.warehouse.connection import WarehouseResource

MART = "customer_feature_unit_economics"
FEATURE = "support-copilot"
LUMEN = "cus_Nw2mF6tYw3QbKe"  # seeds/customers.csv: Lumen Health Partners
KESTREL = "cus_Nw7pR2vXc9HdJa"  # seeds/customers.csv: Kestrel Freight
NOVEMBER = datetime(2026, 11, 1, tzinfo=UTC)
FULL_VIEWS = ("stg_product__usage_events", "int_fx_rates")


def _track_requests(url: str, spool: Path) -> None:
    """Four requests of the feature in November: three of Lumen's, one failed one of Kestrel's.

    Lumen's reported cost is 0.08 and Kestrel's 0.02; Lumen's answers took 800, 900 and
    1,000 ms. One event is sent twice, as a tracker does when it cannot confirm a commit.
    """
    calls = [
        (LUMEN, "0.02", 800.0, True, None),
        (LUMEN, "0.02", 900.0, True, None),
        (LUMEN, "0.04", 1000.0, True, None),
        (KESTREL, "0.02", 40.0, False, "rate_limited"),
    ]
    with Tracker(url, spool_dir=spool, flush_interval=0.05) as tracker:
        for n, (customer, cost, latency, success, error) in enumerate(calls):
            accepted = tracker.track(
                customer=customer,
                feature=FEATURE,
                model="claude-sonnet-4-5-20250929",
                provider="anthropic",
                tokens_in=1200,
                tokens_out=300,
                latency_ms=latency,
                success=success,
                error_type=error,
                cost_usd=Decimal(cost),
                occurred_at=NOVEMBER + timedelta(days=n, hours=14),
                event_id=f"unit-economics-{n}",
            )
            assert accepted
        assert tracker.flush(timeout=10)
        assert tracker.track(
            customer=LUMEN,
            feature=FEATURE,
            model="claude-sonnet-4-5-20250929",
            provider="anthropic",
            tokens_in=1200,
            tokens_out=300,
            latency_ms=800.0,
            success=True,
            cost_usd=Decimal("0.02"),
            occurred_at=NOVEMBER + timedelta(hours=14),
            event_id="unit-economics-0",
        )
        assert tracker.flush(timeout=10)


# The feature's November in the cost ledger: what counts and what does not.
COST_LINES = [
    # x_cost_id, x_source_system, cost_kind, counts_in_totals, feature, environment, usd
    ("anthropic-1", "anthropic", "ai", True, FEATURE, "unallocated", "50.00"),
    ("aws-ml-prod", "aws", "cloud", True, FEATURE, "production", "30.00"),
    ("k8s-copilot", "kubernetes", "infrastructure", False, FEATURE, "production", "10.00"),
    # the shared nodes' bill, which the allocation above re-divides: no feature
    ("aws-platform", "aws", "cloud", True, "unallocated", "production", "100.00"),
    # engineers trying the feature in a development account: not serving customers
    ("anthropic-dev", "anthropic", "ai", True, FEATURE, "development", "7.00"),
]


def _insert_costs_and_revenue(url: str) -> None:
    """The cost lines above, and 30 days of MRR: Lumen 3,000 USD, Kestrel 500 EUR."""
    with psycopg.connect(url) as conn:
        for cost_id, system, kind, counts, feature, environment, usd in COST_LINES:
            conn.execute(
                "insert into marts.cost_attribution (x_cost_id, x_source_system, charge_day,"
                " charge_month, cost_kind, counts_in_totals, feature, project, project_phase,"
                " environment, billed_cost_usd) values"
                " (%s, %s, %s, %s, %s, %s, %s, %s, 'production', %s, %s)",
                (
                    cost_id,
                    system,
                    NOVEMBER.date() + timedelta(days=9),
                    NOVEMBER.date(),
                    kind,
                    counts,
                    feature,
                    FEATURE if feature == FEATURE else "unallocated",
                    environment,
                    Decimal(usd),
                ),
            )
        for customer, mrr, currency in ((LUMEN, 3000, "USD"), (KESTREL, 500, "EUR")):
            conn.execute(
                "insert into marts.fct_metrics (metric_id, observed_at, source_system,"
                " metric_type, value, unit, tags, department, team, user_email, project,"
                " customer, feature, cost_category, environment, service, region)"
                " select md5(%(customer)s || day::text), day, 'stripe', 'business.mrr',"
                " %(mrr)s, %(currency)s, '{}'::jsonb, 'engineering', 'ml', 'unallocated',"
                " %(feature)s, %(customer)s, %(feature)s, 'unallocated', 'production',"
                " 'Stripe', 'unallocated'"
                " from generate_series(%(first)s, %(last)s, interval '1 day') as days (day)",
                {
                    "customer": customer,
                    "mrr": mrr,
                    "currency": currency,
                    "feature": FEATURE,
                    "first": NOVEMBER,
                    "last": NOVEMBER + timedelta(days=29),
                },
            )


@pytest.fixture(scope="module")
def built(module_database, tmp_path_factory):
    """The mart built over the hand-made month; yields (database URL, dbt's run results)."""
    target = tmp_path_factory.mktemp("dbt")
    ensure_sources_exist(WarehouseResource(url=module_database))
    upstream = run_dbt(
        module_database,
        target,
        "build",
        "--empty",
        "--select",
        f"+{MART}",
        "--exclude",
        MART,
        "--resource-type",
        "seed",
        "--resource-type",
        "model",
    )
    assert upstream.returncode == 0, upstream.stdout[-4000:]
    # An --empty view stays empty: the views the mart reads are made again in full.
    views = run_dbt(module_database, target, "run", "--select", *FULL_VIEWS)
    assert views.returncode == 0, views.stdout[-4000:]
    _track_requests(module_database, tmp_path_factory.mktemp("spool"))
    _insert_costs_and_revenue(module_database)
    # The reconciliation reads cost_attribution as well as the mart: selected by name.
    check = "assert_unit_economics_keeps_every_feature_cost"
    mart = run_dbt(module_database, target, "build", "--select", MART, check)
    assert mart.returncode == 0, mart.stdout[-4000:]
    results = json.loads((target / "target" / "run_results.json").read_text())
    yield module_database, results["results"]


def test_the_unit_tests_and_the_data_tests_run_and_pass(built):
    _, results = built
    statuses = {result["unique_id"]: result["status"] for result in results}
    unit_tests = {key for key in statuses if key.startswith(f"unit_test.vault.{MART}.")}
    assert len(unit_tests) == 3
    data_tests = {key for key in statuses if key.startswith("test.vault.")}
    assert "test.vault.assert_unit_economics_keeps_every_feature_cost" in data_tests
    assert len(data_tests) >= 15, "every column's tests, the grain and the reconciliation"
    assert {statuses[key] for key in unit_tests | data_tests} == {"pass"}


def _rows(url: str) -> dict[str, tuple]:
    with psycopg.connect(url) as conn:
        found = conn.execute(
            "select customer, customer_name, feature, month, requests, failed_requests,"
            " success_rate, p95_latency_ms, ai_cost_usd, infrastructure_cost_usd, revenue_usd,"
            " margin_usd, cost_per_request_usd from marts.customer_feature_unit_economics"
        ).fetchall()
    return {row[0]: row[1:] for row in found}


def test_each_customer_gets_its_share_of_the_feature_s_month(built):
    url, _ = built
    rows = _rows(url)
    assert set(rows) == {LUMEN, KESTREL}
    # AI: 50.00 of production cost by reported cost 0.08 : 0.02. Infrastructure: the cloud
    # line's 30.00 and the allocation's 10.00, by requests 3 : 1 (the resent event once).
    # Revenue: 3,000 x 12 / 365 a day for 30 days; Kestrel's euros at the seed's 1.08.
    assert rows[LUMEN] == (
        "Lumen Health Partners",
        FEATURE,
        NOVEMBER.date(),
        3,
        0,
        Decimal("1.0000"),
        Decimal("990.000"),  # of 800, 900 and 1,000 ms: 0.95 x 2 = 1.9 along, 900 + 0.9 x 100
        Decimal("40.00"),
        Decimal("30.00"),
        Decimal("2958.90"),
        Decimal("2888.90"),
        Decimal("23.333333"),
    )
    assert rows[KESTREL] == (
        "Kestrel Freight",
        FEATURE,
        NOVEMBER.date(),
        1,
        1,
        Decimal("0.0000"),
        None,
        Decimal("10.00"),
        Decimal("10.00"),
        Decimal("532.60"),
        Decimal("512.60"),
        Decimal("20.000000"),
    )
