"""The Stripe collectors through the real `stripe` library, against the sandbox over HTTP.

The seam: Stripe's API is played by `orchestration/sandbox/stripe_api.py` on the loopback
sandbox server, reached by the `stripe` library itself (`StripeClient` with `base_addresses`
pointing at it), so request encoding, the library's retries and its error classes are real.
The warehouse is a real PostgreSQL, and dbt builds fct_metrics from what was loaded.
"""

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import dagster as dg
import psycopg
import pytest
from conftest import build_models_then_test

from assets.stripe import (
    stripe_balance_transactions,
    stripe_customers,
    stripe_invoices,
    stripe_subscriptions,
    unsettled_invoice_partitions,
)
from orchestration.clients.stripe import StripeBilling
from orchestration.collectors.framework import run_collector
from orchestration.collectors.http import MissingCredentialError, SourceError
from orchestration.config import load_config
from orchestration.dbt.assets import ensure_sources_exist
from orchestration.dbt.project import ensure_manifest
from orchestration.definitions import build_definitions
from orchestration.sandbox import stripe_api
from orchestration.sandbox.company import build_company
from orchestration.sandbox.routing import Response, Route
from orchestration.sandbox.server import SandboxServer
from orchestration.sandbox.stripe_account import (
    account_for,
    balance_transactions,
    invoices,
)
from orchestration.warehouse.connection import WarehouseResource
from orchestration.warehouse.loader import replace_partition

KEY = "sk_test_RECOGNISABLE_0000000000000000"
DAY = datetime(2026, 11, 3, tzinfo=UTC)  # the billing day of most subscriptions
LOG = logging.getLogger("test")
EXPONENT = {"usd": 2, "eur": 2, "jpy": 0, "kwd": 3}
BRIGHTWATER, ORCHARD, KESTREL = "cus_Nw4kB8sQe2LmTz", "cus_Nw9sD4gHn7VcXu", "cus_Nw7pR2vXc9HdJa"
LUMEN, TALLGRASS = "cus_Nw2mF6tYw3QbKe", "cus_Nw5tL1kPz8RfGo"


@pytest.fixture(scope="module")
def company():
    return build_company(7)


@pytest.fixture(scope="module")
def account(company):
    return account_for(company)


@pytest.fixture
def sandbox(company):
    with SandboxServer(company) as server:
        yield server


def _client(url, **options):
    return StripeBilling(base_url=url, api_key=KEY, **options)


def _collect(spec, database_url, client, *, run_id="r1", day=DAY, days=1):
    result, _ = run_collector(
        spec,
        WarehouseResource(url=database_url),
        start=day,
        end=day + timedelta(days=days),
        partition_key=day.date().isoformat(),
        run_id=run_id,
        log=LOG,
        resources={"stripe": client},
    )
    return result


def _major(amount, currency):
    return Decimal(amount) / 10 ** EXPONENT[currency]


def _paths(server, path):
    return [request for request in server.requests if request.path == path]


def test_balance_transactions_follow_every_page_and_match_the_account(
    conn, database_url, sandbox, account
):
    now = datetime.now(UTC)
    result = _collect(
        stripe_balance_transactions, database_url, _client(sandbox.url, page_size=2), days=3
    )
    expected = balance_transactions(account, DAY, DAY + timedelta(days=3), now)
    assert result.rows == len(expected) > 4
    pages = _paths(sandbox, stripe_api.BALANCE_TRANSACTIONS_PATH)
    assert len(pages) == -(-len(expected) // 2)
    assert all("starting_after" in page.query for page in pages[1:])
    assert pages[0].query["expand[0]"] == ("data.source",)
    rows = conn.execute(
        "select record ->> 'currency', sum((record ->> 'amount')::bigint), "
        "sum((record ->> 'fee')::bigint) from raw.stripe_balance_transactions group by 1"
    ).fetchall()
    totals = {}
    for txn in expected:
        amount, fee = totals.get(txn.currency, (0, 0))
        totals[txn.currency] = (amount + txn.amount, fee + txn.fee)
    assert {currency: (amount, fee) for currency, amount, fee in rows} == totals
    kinds = conn.execute(
        "select distinct record -> 'source' ->> 'object' from raw.stripe_balance_transactions"
    ).fetchall()
    assert {kind for (kind,) in kinds} >= {"charge", "payout"}


def test_an_invoice_with_more_lines_than_its_first_page_gets_every_line(
    conn, database_url, sandbox, account
):
    result = _collect(stripe_invoices, database_url, _client(sandbox.url))
    expected = invoices(account, DAY, DAY + timedelta(days=1), datetime.now(UTC))
    assert result.rows == len(expected) == 6
    gulf = next(invoice for invoice in expected if invoice.customer.currency == "kwd")
    record = conn.execute(
        "select record from raw.stripe_invoices where natural_key = %s", (gulf.id,)
    ).fetchone()[0]
    assert len(record["lines"]["data"]) == stripe_api.EMBEDDED_LIST_SIZE
    assert record["lines"]["has_more"] is True
    assert [line["id"] for line in record["lines"]["data"] + record["more_lines"]] == [
        line.id for line in gulf.lines
    ]
    (more,) = [r for r in sandbox.requests if r.path == f"/v1/invoices/{gulf.id}/lines"]
    assert more.query["starting_after"] == (gulf.lines[9].id,)


def test_the_subscription_snapshot_holds_the_days_subscriptions_with_every_item(
    conn, database_url, sandbox, account
):
    result = _collect(stripe_subscriptions, database_url, _client(sandbox.url))
    canceled = [s for s in account.subscriptions if s.ended_at is not None]
    assert result.rows == len(account.subscriptions) - len(canceled) == 7
    stored = conn.execute(
        "select record ->> 'id', record ->> 'snapshot_date', "
        "jsonb_array_length(record -> 'items' -> 'data') "
        "+ coalesce(jsonb_array_length(record -> 'more_items'), 0) "
        "from raw.stripe_subscriptions"
    ).fetchall()
    assert {row[1] for row in stored} == {"2026-11-03"}
    items = {row[0]: row[2] for row in stored}
    assert items == {s.id: len(s.items) for s in account.subscriptions if s.ended_at is None}
    assert max(items.values()) == 12, "the Gulf subsidiary's items span two pages"
    assert _paths(sandbox, stripe_api.SUBSCRIPTIONS_PATH)[0].query["status"] == ("all",)


def test_a_rate_limit_and_a_server_error_are_retried(conn, database_url, sandbox):
    sandbox.faults[stripe_api.INVOICES_PATH] = [429, 500]
    faulted = _collect(stripe_invoices, database_url, _client(sandbox.url, max_retries=2))
    with_faults = len(_paths(sandbox, stripe_api.INVOICES_PATH))
    sandbox.requests.clear()
    clean = _collect(stripe_invoices, database_url, _client(sandbox.url), run_id="clean")
    assert faulted.rows == clean.rows == 6
    assert with_faults == len(_paths(sandbox, stripe_api.INVOICES_PATH)) + 2


def _loaded(conn, table):
    return conn.execute(f"select count(*), min(run_id), max(run_id) from raw.{table}").fetchone()


def test_an_invalid_key_names_stripe_api_key_and_keeps_the_loaded_rows(conn, database_url, sandbox):
    loaded = _collect(stripe_customers, database_url, _client(sandbox.url))
    bad = StripeBilling(base_url=sandbox.url, api_key="sk_live_RECOGNISABLE_WRONG_0001")
    with pytest.raises(SourceError) as failure:
        _collect(stripe_customers, database_url, bad, run_id="bad")
    message = str(failure.value)
    assert "HTTP 401" in message and "Invalid API Key provided" in message
    assert "STRIPE_API_KEY" in message and "GET /v1/customers" in message
    assert "RECOGNISABLE" not in message
    assert _loaded(conn, "stripe_customers") == (loaded.rows, "r1", "r1")


def test_a_rolled_key_is_refused_with_stripes_reason(conn, database_url, sandbox):
    rolled = StripeBilling(base_url=sandbox.url, api_key=stripe_api.REVOKED_KEY)
    with pytest.raises(SourceError, match="Expired API Key provided") as failure:
        _collect(stripe_invoices, database_url, rolled)
    assert "STRIPE_API_KEY" in str(failure.value)
    assert stripe_api.REVOKED_KEY not in str(failure.value)


def test_a_restricted_key_without_the_permission_is_told_which_one(conn, database_url, sandbox):
    restricted = StripeBilling(
        base_url=sandbox.url, api_key=stripe_api.RESTRICTED_KEY_WITHOUT_SUBSCRIPTIONS
    )
    assert _collect(stripe_invoices, database_url, restricted).rows == 6
    with pytest.raises(SourceError) as failure:
        _collect(stripe_subscriptions, database_url, restricted)
    message = str(failure.value)
    assert "HTTP 403" in message and "rak_subscription_read" in message
    assert "Read on 'Subscriptions'" in message and "STRIPE_API_KEY" in message


def test_a_missing_key_names_the_variable(conn, database_url, sandbox):
    with pytest.raises(MissingCredentialError, match="STRIPE_API_KEY is not set"):
        _collect(stripe_invoices, database_url, StripeBilling(base_url=sandbox.url))
    assert sandbox.requests == []


def test_a_garbled_page_fails_its_partition_and_keeps_the_previous_load(
    conn, database_url, company
):
    real = stripe_api.ROUTES[("GET", stripe_api.BALANCE_TRANSACTIONS_PATH)]
    garble = {"on": False}

    def answer(company, request):
        if garble["on"] and "starting_after" in request.query:
            return Response(200, b'{"object": "list", "data": [{"id": "txn_')
        return real.handler(company, request)

    routes = {("GET", stripe_api.BALANCE_TRANSACTIONS_PATH): Route(answer, real.fault)}
    with SandboxServer(company, routes=routes) as server:
        client = _client(server.url, page_size=2, max_retries=1, backoff_s=0)
        loaded = _collect(stripe_balance_transactions, database_url, client, days=3)
        garble["on"] = True
        with pytest.raises(SourceError) as failure:
            _collect(stripe_balance_transactions, database_url, client, run_id="r2", days=3)
    message = str(failure.value)
    assert "not valid JSON" in message and "page after txn_" in message
    assert '{"object"' not in message, "the garbled body is not echoed"
    assert _loaded(conn, "stripe_balance_transactions") == (loaded.rows, "r1", "r1")


def test_the_stripe_section_becomes_four_daily_collectors(tmp_path, monkeypatch):
    ensure_manifest()
    monkeypatch.setenv("STRIPE_API_KEY", KEY)
    config = tmp_path / "vault.yaml"
    config.write_text("sources:\n  stripe:\n    house_customer_metadata_key: crm_id\n")
    defs = build_definitions(load_config(config))
    graph = defs.resolve_asset_graph()
    stripe = {
        key.to_user_string(): graph.get(key)
        for key in graph.get_all_asset_keys()
        if graph.get(key).is_materializable and graph.get(key).group_name == "stripe"
    }
    assert set(stripe) == {
        "raw/stripe_balance_transactions",
        "raw/stripe_invoices",
        "raw/stripe_subscriptions",
        "raw/stripe_customers",
    }
    assert all(isinstance(n.partitions_def, dg.DailyPartitionsDefinition) for n in stripe.values())
    client = defs.resources["stripe"]
    assert client.house_customer_key == "crm_id" and client.base_url == "https://api.stripe.com"


def test_days_with_unsettled_invoices_are_named_for_a_reload(conn):
    def load(day, statuses):
        records = [{"id": f"in_{day}_{n}", "status": s} for n, s in enumerate(statuses)]
        replace_partition(
            conn,
            source="stripe",
            table="stripe_invoices",
            partition_key=day,
            run_id="r",
            records=records,
            natural_key=("id",),
        )

    assert unsettled_invoice_partitions(conn, refetch_days=30) == []
    load("2026-11-01", ["paid", "paid"])
    load("2026-11-02", ["paid", "open"])
    load("2026-11-03", ["draft"])
    load("2026-09-01", ["open"])  # too old to chase
    today = datetime(2026, 11, 20, tzinfo=UTC).date()
    assert unsettled_invoice_partitions(conn, refetch_days=30, today=today) == [
        "2026-11-02",
        "2026-11-03",
    ]


# --- end to end: fct_metrics holds what the account served --------------------------------

WINDOW = (DAY, DAY + timedelta(days=3))


@pytest.fixture(scope="module")
def built(module_database, company, tmp_path_factory):
    """Three days of every Stripe collector, then dbt; yields the database URL."""
    warehouse = WarehouseResource(url=module_database)
    with SandboxServer(company) as server:
        client = _client(server.url, page_size=3)
        for offset in range(3):
            day = DAY + timedelta(days=offset)
            for spec in (
                stripe_balance_transactions,
                stripe_invoices,
                stripe_subscriptions,
                stripe_customers,
            ):
                _collect(spec, module_database, client, day=day)
    ensure_sources_exist(warehouse)
    build_models_then_test(
        module_database, tmp_path_factory.mktemp("dbt"), "fct_metrics", ["+int_metrics__stripe"]
    )
    yield module_database


def _metrics(url, sql, params=()):
    with psycopg.connect(url) as connection:
        return connection.execute(sql, params).fetchall()


def test_cash_in_fct_metrics_equals_the_balance_transactions(built, account):
    expected: dict[tuple[str, str], Decimal] = {}
    for txn in balance_transactions(account, *WINDOW, datetime.now(UTC)):
        unit = txn.currency.upper()

        def add(metric, amount, unit=unit, currency=txn.currency):
            key = (metric, unit)
            expected[key] = expected.get(key, Decimal(0)) + _major(amount, currency)

        if txn.reporting_category in ("charge", "refund"):
            add("business.revenue.cash", txn.amount)
            add("business.revenue.cash_fee", txn.fee)
            add("business.revenue.cash_net", txn.net)
        elif txn.reporting_category == "fee":
            add("business.revenue.cash_fee", txn.fee - txn.amount)
            add("business.revenue.cash_net", txn.net)
        elif txn.reporting_category == "payout":
            add("business.payouts", -txn.amount)
    rows = _metrics(
        built,
        "select metric_type, unit, sum(value) from marts.fct_metrics "
        "where source_system = 'stripe' and metric_type not in "
        "('business.revenue.billed', 'business.mrr') group by 1, 2",
    )
    assert {(metric, unit): total for metric, unit, total in rows} == expected
    assert ("business.revenue.cash", "JPY") in expected, "a zero-decimal currency settles"


def test_billed_revenue_is_exact_in_zero_and_three_decimal_currencies(built, account):
    billed = dict(
        _metrics(
            built,
            "select unit, sum(value) from marts.fct_metrics "
            "where metric_type = 'business.revenue.billed' group by 1",
        )
    )
    expected: dict[str, Decimal] = {}
    for invoice in invoices(account, *WINDOW, datetime.now(UTC)):
        unit = invoice.subscription.currency.upper()
        major = _major(invoice.total, invoice.subscription.currency)
        expected[unit] = expected.get(unit, Decimal(0)) + major
    assert billed == expected
    # Tallgrass's ¥39,800 plan and eight ¥2,980 seats: yen have no cents.
    assert billed["JPY"] == Decimal("63640")
    # Twelve Gulf store licences, 45.500 KWD and less: dinars have three decimals.
    assert billed["KWD"] == Decimal("384.25")
    lines = _metrics(
        built,
        "select customer, feature, tags ->> 'period_end' from marts.fct_metrics "
        "where metric_type = 'business.revenue.billed' and unit = 'KWD'",
    )
    assert len(lines) == 12
    assert {(customer, feature) for customer, feature, _ in lines} == {
        (BRIGHTWATER, "checkout-assistant")
    }, "the seed maps the Gulf subsidiary to Brightwater"


def test_mrr_is_each_item_normalised_to_a_month(built):
    rows = _metrics(
        built,
        "select customer, unit, sum(value) from marts.fct_metrics "
        "where metric_type = 'business.mrr' and observed_at = %s group by 1, 2",
        (DAY,),
    )
    gulf_fils = (
        45_500 + 38_250 + 32_000 + 29_750 + 31_500 + 27_250
        + 30_000 + 26_500 + 28_750 + 33_250 + 36_000 + 25_500
    )  # fmt: skip
    assert {(customer, unit): value for customer, unit, value in rows} == {
        # yearly / 12: $36,000 + 40 seats at $1,140 + $18,000 a year
        (BRIGHTWATER, "USD"): Decimal(36_000 + 40 * 1_140 + 18_000) / 12,
        # monthly, in KWD, from the Gulf subsidiary the seed maps to Brightwater
        (BRIGHTWATER, "KWD"): Decimal(gulf_fils) / 1000,
        # quarterly (3 months) / 3: 30 seats at $270 + $4,500
        (LUMEN, "USD"): Decimal(30 * 270 + 4_500) / 3,
        # weekly * 52 / 12: $186 a week, mapped by the seed (no metadata)
        (ORCHARD, "USD"): Decimal(186 * 52) / 12,
        # monthly, in yen
        (TALLGRASS, "JPY"): Decimal(39_800 + 8 * 2_980),
        # monthly, in euros: 12 seats at €89 + €450
        (KESTREL, "EUR"): Decimal(12 * 89 + 450),
        # daily * 365 / 12: a $12 day pass, no house customer anywhere
        ("unallocated", "USD"): Decimal(12 * 365) / 12,
    }
    days = _metrics(
        built,
        "select count(distinct observed_at) from marts.fct_metrics "
        "where metric_type = 'business.mrr'",
    )
    assert days == [(3,)], "one MRR per day of the window"


def test_revenue_lines_up_with_the_features_customers_use(built):
    rows = _metrics(
        built,
        "select distinct customer, feature, team from marts.fct_metrics "
        "where metric_type = 'business.mrr' and customer = %s and unit = 'EUR'",
        (KESTREL,),
    )
    assert sorted(rows) == [(KESTREL, "knowledge-search", "ml"), (KESTREL, "support-copilot", "ml")]
