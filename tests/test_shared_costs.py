"""Shared costs handed on to departments, projects and customers, on a real PostgreSQL.

dbt builds everything under the shared-cost marts with `--empty` (the pool seed and the
taxonomy seeds in full), the test writes a small hand-made ledger into cost_attribution
and fct_costs, and dbt then builds shared_cost_allocations and shared_cost_totals with their
unit tests, column tests and the two reconciliation tests. The expected shares below were
worked out by hand from those rows and the demo's pools in seeds/shared_cost_pools.csv.
"""

import re
import subprocess
from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pytest
from conftest import run_dbt

from orchestration.dbt.assets import ensure_sources_exist
from orchestration.warehouse.connection import WarehouseResource

MARTS = ("shared_cost_allocations", "shared_cost_totals")
# The reconciliations read the ledger as well as the marts, so they are selected by name.
CHECKS = (
    "assert_shared_cost_totals_equal_the_ledger",
    "assert_shared_cost_allocations_add_up_to_each_shared_line",
)
JULY, AUGUST = "2026-07-01", "2026-08-01"

# x_cost_id, source, kind, month, USD, counts in totals, department, project, customer.
LEDGER = [
    ("dd-july", "datadog", "saas", JULY, "120", True, "engineering", "unallocated", "unallocated"),
    ("aws-shared", "aws", "cloud", JULY, "50", True, "engineering", "unallocated", "unallocated"),
    ("claude", "anthropic", "ai", JULY, "300", True, "engineering", "checkout-assistant", "unallocated"),
    ("no-key", "anthropic", "ai", JULY, "8", True, "unallocated", "unallocated", "unallocated"),
    ("time", "engineer_time", "engineer_time", JULY, "100", True, "product", "knowledge-search", "unallocated"),
    ("pods", "kubernetes", "infrastructure", JULY, "999", False, "customer-success", "checkout-assistant", "unallocated"),
    ("dd-august", "datadog", "saas", AUGUST, "10", True, "engineering", "unallocated", "unallocated"),
]  # fmt: skip


def _write_ledger(url: str) -> None:
    """The hand-made ledger lines, into the tables dbt built empty."""
    with psycopg.connect(url) as connection:
        for cost_id, source, kind, month, usd, counts, department, project, customer in LEDGER:
            connection.execute(
                "insert into marts.cost_attribution (x_cost_id, x_source_system, cost_kind,"
                " charge_month, billed_cost_usd, counts_in_totals, department, project,"
                " customer, cost_category) values (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'OpEx')",
                (cost_id, source, kind, month, Decimal(usd), counts, department, project, customer),
            )
            connection.execute(
                "insert into marts.fct_costs (x_cost_id, tags) values (%s, '{}')", (cost_id,)
            )


@pytest.fixture(scope="module")
def built(module_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple]:
    """The marts' upstream built empty, the ledger written, then the marts and their tests;
    yields the database URL and the dbt target folder."""
    target = tmp_path_factory.mktemp("dbt")
    ensure_sources_exist(WarehouseResource(url=module_database))
    upstream = run_dbt(
        module_database,
        target,
        "build",
        "--select",
        *(f"+{mart}" for mart in MARTS),
        "--exclude",
        *MARTS,
        "--resource-type",
        "seed",
        "--resource-type",
        "model",
        "--empty",
    )
    assert upstream.returncode == 0, upstream.stdout[-4000:]
    _write_ledger(module_database)
    yield module_database, target


@pytest.fixture(scope="module")
def marts_build(built: tuple) -> subprocess.CompletedProcess:
    """dbt build of the two marts: unit tests first, then each model and its data tests."""
    url, target = built
    return run_dbt(url, target, "build", "--select", *MARTS, *CHECKS)


def _rows(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url) as connection:
        return connection.execute(sql).fetchall()


def test_the_marts_build_and_every_unit_and_reconciliation_test_passes(marts_build):
    assert marts_build.returncode == 0, marts_build.stdout[-6000:]
    for name in (
        "test_shared_cost_allocations_even_split",
        "test_shared_cost_allocations_weighted_split",
        "test_shared_cost_allocations_month_without_targets",
        "test_shared_cost_allocations_rounding_adds_up",
        "test_shared_cost_allocations_pool_matching",
        "test_shared_cost_totals_direct_and_received",
        "assert_shared_cost_totals_equal_the_ledger",
        "assert_shared_cost_allocations_add_up_to_each_shared_line",
    ):
        assert re.search(rf"PASS (\w+::)?{name} ", marts_build.stdout), (
            f"{name} did not run and pass:\n{marts_build.stdout[-6000:]}"
        )


def test_the_demo_pools_split_by_direct_cost(built, marts_build):
    """July's direct cost: engineering 350 (50 + 300) and product 100 by department;
    checkout-assistant 300 and knowledge-search 100 by project. Datadog's 120 goes 7:2 to
    engineering and product (93.333333, 26.666667: the larger share takes the remainder);
    the shared AWS account's 50 and the AI usage of no project (8) go 3:1 to the projects.
    In August nobody has direct cost: Datadog's 10 stays on engineering with method none."""
    assert marts_build.returncode == 0, marts_build.stdout[-6000:]
    url, _ = built
    rows = _rows(
        url,
        "select x_cost_id, pool, target_dimension, allocated_method_id, allocated_resource_id,"
        " allocated_resource_name, allocated_cost_usd,"
        " (allocated_method_details ->> 'basis_total')::numeric"
        " from marts.shared_cost_allocations",
    )
    assert sorted(rows) == [
        ("aws-shared", "shared-aws-accounts", "project", "weighted", "checkout-assistant",
         "Checkout Assistant", Decimal("37.5"), Decimal("400")),
        ("aws-shared", "shared-aws-accounts", "project", "weighted", "knowledge-search",
         "Knowledge Search", Decimal("12.5"), Decimal("400")),
        ("dd-august", "monitoring", "department", "none", "engineering", "Engineering",
         Decimal("10"), None),
        ("dd-july", "monitoring", "department", "weighted", "engineering", "Engineering",
         Decimal("93.333333"), Decimal("450")),
        ("dd-july", "monitoring", "department", "weighted", "product", "Product",
         Decimal("26.666667"), Decimal("450")),
        ("no-key", "unattributed-ai", "project", "weighted", "checkout-assistant",
         "Checkout Assistant", Decimal("6"), Decimal("400")),
        ("no-key", "unattributed-ai", "project", "weighted", "knowledge-search",
         "Knowledge Search", Decimal("2"), Decimal("400")),
    ]  # fmt: skip


def test_each_view_after_allocation_adds_up_to_the_ledger(built, marts_build):
    """The Kubernetes line (999) counts nowhere; every dimension's July totals add up to the
    578 the counted lines hold, the AI line of nobody (8) on unallocated by department."""
    assert marts_build.returncode == 0, marts_build.stdout[-6000:]
    url, _ = built
    rows = _rows(
        url,
        "select target_dimension, target_id, direct_cost_usd, shared_cost_usd, total_cost_usd"
        f" from marts.shared_cost_totals where charge_month = '{JULY}'",
    )
    assert sorted(rows) == [
        ("customer", "unallocated", Decimal("578"), Decimal("0"), Decimal("578")),
        ("department", "engineering", Decimal("350"), Decimal("93.333333"),
         Decimal("443.333333")),
        ("department", "product", Decimal("100"), Decimal("26.666667"), Decimal("126.666667")),
        ("department", "unallocated", Decimal("8"), Decimal("0"), Decimal("8")),
        ("project", "checkout-assistant", Decimal("300"), Decimal("43.5"), Decimal("343.5")),
        ("project", "knowledge-search", Decimal("100"), Decimal("14.5"), Decimal("114.5")),
        ("project", "unallocated", Decimal("120"), Decimal("0"), Decimal("120")),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("changed", "check"),
    [
        (
            "update marts.shared_cost_totals set total_cost_usd = total_cost_usd + %(cents)s"
            " where target_dimension = 'department' and target_id = 'engineering'"
            f" and charge_month = '{JULY}'",
            "assert_shared_cost_totals_equal_the_ledger",
        ),
        (
            "update marts.shared_cost_allocations"
            " set allocated_cost_usd = allocated_cost_usd + %(cents)s"
            " where x_cost_id = 'dd-july' and allocated_resource_id = 'product'",
            "assert_shared_cost_allocations_add_up_to_each_shared_line",
        ),
    ],
)
def test_the_reconciliation_tests_catch_a_lost_cent(built, marts_build, changed, check):
    """A cent too many on one row of a mart makes its reconciliation test fail."""
    assert marts_build.returncode == 0, marts_build.stdout[-6000:]
    url, target = built
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(changed, {"cents": Decimal("0.01")})
        try:
            done = run_dbt(url, target, "test", "--select", check)
        finally:
            connection.execute(changed, {"cents": Decimal("-0.01")})
    assert done.returncode != 0, done.stdout[-4000:]
    assert f"FAIL 1 {check}" in done.stdout, done.stdout[-4000:]
