"""Northwind Labs' Stripe account: what it sells, to whom, and the money that moves each day.

The catalog has one Stripe product per customer-facing feature (`product_usage.py`), so revenue
lines up with usage per customer and feature. The Stripe customers are the businesses whose
requests the product tracks (their Stripe ids are the ids the services report), plus two that
exercise attribution:

- Brightwater's Gulf subsidiary, billed in Kuwaiti dinars from its own Stripe customer, with no
  `house_customer` metadata: `seeds/stripe_customers.csv` maps it to Brightwater;
- Orchard & Vine's account, created before the metadata convention, mapped by the same seed;
- Harbor Light Café, a self-serve day-pass buyer that is no house customer at all
  (`unallocated`).

The others carry `metadata.house_customer`. Currencies cover Stripe's three minor-unit rules:
USD and EUR (two decimals), JPY (zero-decimal: ¥63,640 is `63640`) and KWD (three decimals:
45.500 KWD is `45500`). Billing intervals cover every normalisation MRR needs: yearly,
quarterly (3 months), monthly, weekly and daily.

Everything else follows from the subscriptions: an invoice at the start of each billing period,
paid an hour later by card or debit (12 days later for the customer paying by invoice), each
payment a charge and a balance transaction in the settlement currency (USD, EUR and JPY settle
as they are; KWD is converted to USD at `KWD_TO_USD`), Stripe's processing fee on it, refunds
of a few day passes, a monthly Billing fee, and a payout per currency of what became available.
The structure is fixed; ids and refunds come from `random.Random` seeded by the company's seed
and the object's coordinates, so the same inputs always give the same objects. Functions that
answer "what exists" take `now`: an invoice paid tomorrow is open today, and a charge that has
not happened yet does not exist.
"""

import functools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from orchestration.sandbox.company import PRODUCTION, Company
from orchestration.sandbox.product_usage import CUSTOMERS

ACCOUNT_ID = "acct_1NwLabsSandbox01"
# A Stripe customer's metadata key naming the house customer (the collectors' default).
HOUSE_CUSTOMER_KEY = "house_customer"
# USD per KWD for charges in dinars, which the account settles in dollars.
KWD_TO_USD = Decimal("3.26")
# The account settles these currencies as they are; any other is converted to USD.
SETTLEMENT_CURRENCIES = ("usd", "eur", "jpy")
# When automatic payouts leave: this long after a payment becomes available.
PAYOUT_TIME = time(8, 0)
AVAILABLE_AFTER = timedelta(days=2)
BILLING_FEE_USD_CENTS = 3500  # Stripe Billing's monthly fee, on the 1st
REFUND_RATE = 0.08  # share of day passes refunded the next morning
INVOICE_DUE_DAYS = 30
PAID_BY_INVOICE_AFTER = timedelta(days=12)
PAID_AFTER = timedelta(hours=1)

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def stripe_id(seed: int, prefix: str, *coordinates: object, length: int = 24) -> str:
    """A Stripe-looking id (`in_1...`), the same for the same seed and coordinates."""
    rng = random.Random("|".join(map(str, (seed, "stripe", prefix, *coordinates))))
    body = "".join(rng.choice(_ALPHABET) for _ in range(length - 1))
    return f"{prefix}_{'1' if length >= 24 else 'N'}{body}"


def _unix(moment: datetime) -> int:
    return int(moment.timestamp())


def _round(amount: Decimal) -> int:
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    feature: str  # the company project the product sells


@dataclass(frozen=True)
class Price:
    id: str
    product: Product
    currency: str  # lowercase, as Stripe writes it
    unit_amount: int  # in the currency's smallest unit
    interval: str  # day, week, month or year
    interval_count: int
    nickname: str


@dataclass(frozen=True)
class Item:
    id: str
    price: Price
    quantity: int


@dataclass(frozen=True)
class Customer:
    id: str
    name: str
    email: str
    currency: str
    created: datetime
    house_customer: str | None  # the metadata value, when the account has one


@dataclass(frozen=True)
class Subscription:
    id: str
    customer: Customer
    start: datetime  # also the billing cycle anchor
    interval: str
    interval_count: int
    items: tuple[Item, ...]
    payment_method: str  # card, us_bank_account or sepa_debit
    collection_method: str = "charge_automatically"
    ended_at: datetime | None = None  # set for a canceled subscription

    @property
    def currency(self) -> str:
        return self.customer.currency

    def period_start(self, index: int) -> datetime:
        """Start of the `index`-th billing period (0 is the first)."""
        if self.interval in ("day", "week"):
            days = {"day": 1, "week": 7}[self.interval] * self.interval_count * index
            return self.start + timedelta(days=days)
        months = {"month": 1, "year": 12}[self.interval] * self.interval_count * index
        year, month = divmod(self.start.month - 1 + months, 12)
        # Anchors fall on days every month has, so no period start is clamped.
        return self.start.replace(year=self.start.year + year, month=month + 1)

    def periods(self, start: datetime, end: datetime) -> Iterator[tuple[int, datetime]]:
        """(index, start) of the billing periods that start in [start, end)."""
        index = 0
        while (moment := self.period_start(index)) < end:
            if self.ended_at is not None and moment >= self.ended_at:
                return
            if moment >= start:
                yield index, moment
            index += 1


@dataclass(frozen=True)
class Line:
    id: str
    item: Item
    amount: int
    period_start: datetime
    period_end: datetime


@dataclass(frozen=True)
class Invoice:
    id: str
    number: str
    subscription: Subscription
    index: int
    created: datetime
    paid_at: datetime
    lines: tuple[Line, ...]

    @property
    def customer(self) -> Customer:
        return self.subscription.customer

    @property
    def total(self) -> int:
        return sum(line.amount for line in self.lines)

    def status(self, now: datetime) -> str:
        return "paid" if self.paid_at <= now else "open"


@dataclass(frozen=True)
class BalanceTransaction:
    """One movement of the account's balance, with the object behind it (`source`)."""

    id: str
    type: str  # charge, refund, stripe_fee or payout
    reporting_category: str
    created: datetime
    currency: str  # the settlement currency
    amount: int
    fee: int
    description: str | None
    source: dict = field(hash=False)
    exchange_rate: Decimal | None = None
    customer: str | None = None  # the Stripe customer behind a charge or refund

    @property
    def net(self) -> int:
        return self.amount - self.fee

    @property
    def available_on(self) -> datetime:
        day = self.created.date() + AVAILABLE_AFTER
        return datetime.combine(day, time(), UTC)


@dataclass(frozen=True)
class StripeAccount:
    seed: int
    products: tuple[Product, ...]
    customers: tuple[Customer, ...]
    subscriptions: tuple[Subscription, ...]

    def product_for(self, feature: str) -> Product:
        return next(product for product in self.products if product.feature == feature)


def _at(day: str, hour: int = 9) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(hour), UTC)


# Per Stripe customer: (name, email domain, currency, created, house metadata?, interval,
# interval_count, anchor, payment method, collection method, items as (feature, price
# nickname, unit amount in the smallest unit, quantity)). Customers with an id here are the
# product's; the others get a seeded id.
_PLAN = (
    (
        "cus_Nw4kB8sQe2LmTz", "Brightwater Outfitters", "brightwater.example", "usd",
        "2026-01-12", True, "year", 1, "2026-03-03", "us_bank_account", "charge_automatically",
        (
            ("checkout-assistant", "Checkout Assistant Enterprise (yearly)", 3_600_000, 1),
            ("support-copilot", "Support Copilot Enterprise seat (yearly)", 114_000, 40),
            ("knowledge-search", "Knowledge Search Enterprise (yearly)", 1_800_000, 1),
        ),
    ),
    (
        "cus_Nw7pR2vXc9HdJa", "Kestrel Freight", "kestrel-freight.example", "eur",
        "2026-01-20", True, "month", 1, "2026-02-03", "sepa_debit", "charge_automatically",
        (
            ("support-copilot", "Support Copilot Growth seat", 8_900, 12),
            ("knowledge-search", "Knowledge Search Growth", 45_000, 1),
        ),
    ),
    (
        "cus_Nw2mF6tYw3QbKe", "Lumen Health Partners", "lumen-health.example", "usd",
        "2026-01-28", True, "month", 3, "2026-02-03", "us_bank_account", "send_invoice",
        (
            ("support-copilot", "Support Copilot Enterprise seat (quarterly)", 27_000, 30),
            ("knowledge-search", "Knowledge Search Enterprise (quarterly)", 450_000, 1),
        ),
    ),
    (
        "cus_Nw9sD4gHn7VcXu", "Orchard & Vine Grocers", "orchardvine.example", "usd",
        "2025-09-02", False, "week", 1, "2026-01-06", "card", "charge_automatically",
        (("checkout-assistant", "Checkout Assistant Growth (weekly)", 18_600, 1),),
    ),
    (
        "cus_Nw5tL1kPz8RfGo", "Tallgrass Software", "tallgrass.example", "jpy",
        "2026-03-25", True, "month", 1, "2026-04-03", "card", "charge_automatically",
        (
            ("checkout-assistant", "Checkout Assistant Starter", 39_800, 1),
            ("knowledge-search", "Knowledge Search Starter seat", 2_980, 8),
        ),
    ),
    (
        None, "Brightwater Outfitters Gulf W.L.L.", "brightwater-gulf.example", "kwd",
        "2026-05-20", False, "month", 1, "2026-06-03", "card", "charge_automatically",
        tuple(
            ("checkout-assistant", f"Checkout Assistant store licence: {store}", fils, 1)
            for store, fils in (
                ("Kuwait City", 45_500), ("Salmiya", 38_250), ("Hawalli", 32_000),
                ("Jahra", 29_750), ("Fahaheel", 31_500), ("Mangaf", 27_250),
                ("Farwaniya", 30_000), ("Mishref", 26_500), ("Sabah Al Salem", 28_750),
                ("Jabriya", 33_250), ("Shuwaikh", 36_000), ("Ahmadi", 25_500),
            )
        ),
    ),
    (
        None, "Harbor Light Café", "harborlight.example", "usd",
        "2026-09-14", False, "day", 1, "2026-09-15", "card", "charge_automatically",
        (("knowledge-search", "Knowledge Search day pass", 1_200, 1),),
    ),
)  # fmt: skip

# Orchard & Vine paid monthly until it moved to the weekly plan.
_CANCELED = ("cus_Nw9sD4gHn7VcXu", "month", "2025-09-06", "2026-01-06", 79_000)

_PRODUCT_NAMES = {
    "checkout-assistant": "Checkout Assistant",
    "support-copilot": "Support Copilot",
    "knowledge-search": "Knowledge Search",
}


@functools.cache
def build_account(seed: int) -> StripeAccount:
    """The company's Stripe account for `seed`; equal seeds give equal accounts."""
    products = tuple(
        Product(stripe_id(seed, "prod", feature, length=14), name, feature)
        for feature, name in _PRODUCT_NAMES.items()
    )
    by_feature = {product.feature: product for product in products}
    customers: list[Customer] = []
    subscriptions: list[Subscription] = []
    for plan in _PLAN:
        (customer_id, name, domain, currency, created, has_metadata, interval, count) = plan[:8]
        anchor, payment_method, collection, items = plan[8:]
        customer_id = customer_id or stripe_id(seed, "cus", name, length=14)
        customer = Customer(
            id=customer_id,
            name=name,
            email=f"billing@{domain}",
            currency=currency,
            created=_at(created, 15),
            house_customer=customer_id if has_metadata else None,
        )
        customers.append(customer)
        subscription_id = stripe_id(seed, "sub", customer_id, anchor)
        subscriptions.append(
            Subscription(
                id=subscription_id,
                customer=customer,
                start=_at(anchor),
                interval=interval,
                interval_count=count,
                items=tuple(
                    Item(
                        id=stripe_id(seed, "si", subscription_id, nickname, length=14),
                        price=Price(
                            id=stripe_id(seed, "price", nickname, currency),
                            product=by_feature[feature],
                            currency=currency,
                            unit_amount=amount,
                            interval=interval,
                            interval_count=count,
                            nickname=nickname,
                        ),
                        quantity=quantity,
                    )
                    for feature, nickname, amount, quantity in items
                ),
                payment_method=payment_method,
                collection_method=collection,
            )
        )
    customer_id, interval, start, ended, amount = _CANCELED
    customer = next(c for c in customers if c.id == customer_id)
    subscription_id = stripe_id(seed, "sub", customer_id, start)
    nickname = "Checkout Assistant Growth (monthly, retired)"
    subscriptions.append(
        Subscription(
            id=subscription_id,
            customer=customer,
            start=_at(start),
            interval=interval,
            interval_count=1,
            items=(
                Item(
                    stripe_id(seed, "si", subscription_id, nickname, length=14),
                    Price(
                        stripe_id(seed, "price", nickname, "usd"),
                        by_feature["checkout-assistant"],
                        "usd",
                        amount,
                        interval,
                        1,
                        nickname,
                    ),
                    1,
                ),
            ),
            payment_method="card",
            ended_at=_at(ended, 8),
        )
    )
    known = {customer.id for customer in CUSTOMERS}
    assert known <= {customer.id for customer in customers}, "every product customer is billed"
    return StripeAccount(seed, products, tuple(customers), tuple(subscriptions))


def account_for(company: Company) -> StripeAccount:
    return build_account(company.seed)


# --- invoices -------------------------------------------------------------------------------


def _invoice(account: StripeAccount, subscription: Subscription, index: int) -> Invoice:
    created = subscription.period_start(index)
    period_end = subscription.period_start(index + 1)
    invoice_id = stripe_id(account.seed, "in", subscription.id, index)
    lines = tuple(
        Line(
            id=stripe_id(account.seed, "il", invoice_id, item.id),
            item=item,
            amount=item.price.unit_amount * item.quantity,
            period_start=created,
            period_end=period_end,
        )
        for item in subscription.items
    )
    delay = (
        PAID_BY_INVOICE_AFTER if subscription.collection_method == "send_invoice" else PAID_AFTER
    )
    prefix = subscription.customer.id.removeprefix("cus_")[:8].upper()
    return Invoice(
        id=invoice_id,
        number=f"{prefix}-{index + 1:04d}",
        subscription=subscription,
        index=index,
        created=created,
        paid_at=created + delay,
        lines=lines,
    )


def invoices(
    account: StripeAccount, start: datetime, end: datetime, now: datetime
) -> list[Invoice]:
    """Invoices created in [start, end) that exist by `now`, newest first."""
    found = [
        _invoice(account, subscription, index)
        for subscription in account.subscriptions
        for index, _ in subscription.periods(start, min(end, now))
    ]
    return sorted(found, key=lambda invoice: (invoice.created, invoice.id), reverse=True)


# --- balance transactions -----------------------------------------------------------------


def _settlement(currency: str, amount: int) -> tuple[str, int, Decimal | None]:
    """(settlement currency, amount in its smallest unit, exchange rate) of a payment."""
    if currency in SETTLEMENT_CURRENCIES:
        return currency, amount, None
    if currency == "kwd":  # fils -> cents: / 1000 KWD, * rate USD, * 100 cents
        return "usd", _round(Decimal(amount) * KWD_TO_USD / 10), KWD_TO_USD
    raise ValueError(f"the sandbox account does not take {currency}")


def processing_fee(payment_method: str, currency: str, amount: int, converted: bool) -> int:
    """Stripe's fee, in the settlement currency's smallest unit, for a payment of `amount`."""
    if payment_method == "us_bank_account":  # ACH Direct Debit: 0.8%, capped at $5
        return min(_round(Decimal(amount) * Decimal("0.008")), 500)
    if payment_method == "sepa_debit":
        return 35
    if currency == "jpy":
        return _round(Decimal(amount) * Decimal("0.036"))
    rate = Decimal("0.039") if converted else Decimal("0.029")  # +1% to convert
    return _round(Decimal(amount) * rate) + 30


def _charge(account: StripeAccount, invoice: Invoice) -> BalanceTransaction:
    subscription = invoice.subscription
    # Bank debits are charges too, with py_ ids and balance transactions of type payment.
    is_card = subscription.payment_method == "card"
    charge_id = stripe_id(account.seed, "ch" if is_card else "py", invoice.id)
    txn_id = stripe_id(account.seed, "txn", charge_id)
    currency, amount, rate = _settlement(subscription.currency, invoice.total)
    fee = processing_fee(subscription.payment_method, currency, amount, rate is not None)
    source = {
        "id": charge_id,
        "object": "charge",
        "amount": invoice.total,
        "amount_captured": invoice.total,
        "amount_refunded": 0,
        "balance_transaction": txn_id,
        "captured": True,
        "created": _unix(invoice.paid_at),
        "currency": subscription.currency,
        "customer": subscription.customer.id,
        "description": f"Payment for Invoice {invoice.number}",
        "livemode": False,
        "metadata": {},
        "paid": True,
        "payment_method_details": {"type": subscription.payment_method},
        "refunded": False,
        "status": "succeeded",
    }
    return BalanceTransaction(
        id=txn_id,
        type="charge" if is_card else "payment",
        reporting_category="charge",
        created=invoice.paid_at,
        currency=currency,
        amount=amount,
        fee=fee,
        description=source["description"],
        source=source,
        exchange_rate=rate,
        customer=subscription.customer.id,
    )


def _refund(account: StripeAccount, invoice: Invoice) -> BalanceTransaction | None:
    """The refund of a day pass, the next morning, for about one in twelve of them."""
    if invoice.subscription.interval != "day":
        return None
    if random.Random(f"{account.seed}|stripe|refund|{invoice.id}").random() >= REFUND_RATE:
        return None
    charge = _charge(account, invoice)
    refund_id = stripe_id(account.seed, "re", charge.source["id"])
    created = datetime.combine(invoice.created.date() + timedelta(days=1), time(10, 30), UTC)
    source = {
        "id": refund_id,
        "object": "refund",
        "amount": invoice.total,
        "balance_transaction": stripe_id(account.seed, "txn", refund_id),
        "charge": charge.source["id"],
        "created": _unix(created),
        "currency": invoice.subscription.currency,
        "reason": "requested_by_customer",
        "status": "succeeded",
    }
    return BalanceTransaction(
        id=source["balance_transaction"],
        type="refund",
        reporting_category="refund",
        created=created,
        currency=charge.currency,
        amount=-charge.amount,
        fee=0,
        description="REFUND FOR CHARGE (Payment for Invoice " + invoice.number + ")",
        source=source,
        exchange_rate=charge.exchange_rate,
        customer=invoice.subscription.customer.id,
    )


def _billing_fee(account: StripeAccount, day: date) -> BalanceTransaction | None:
    if day.day != 1:
        return None
    created = datetime.combine(day, time(6, 0), UTC)
    month = (day - timedelta(days=1)).strftime("%Y-%m")
    fee_id = stripe_id(account.seed, "txn", "billing-fee", day)
    return BalanceTransaction(
        id=fee_id,
        type="stripe_fee",
        reporting_category="fee",
        created=created,
        currency="usd",
        amount=-BILLING_FEE_USD_CENTS,
        fee=0,
        description=f"Billing - Usage Fee ({month})",
        source={"id": fee_id, "object": "balance_transaction"},
    )


def _payments_and_fees(account: StripeAccount, day: date) -> list[BalanceTransaction]:
    """Charges, refunds and fees created on `day` (UTC), regardless of `now`."""
    start = datetime.combine(day, time(), UTC)
    end = start + timedelta(days=1)
    lookback = start - PAID_BY_INVOICE_AFTER - timedelta(days=2)
    found: list[BalanceTransaction] = []
    for invoice in invoices(account, lookback, end, end):
        charge = _charge(account, invoice)
        if start <= charge.created < end:
            found.append(charge)
        refund = _refund(account, invoice)
        if refund is not None and start <= refund.created < end:
            found.append(refund)
    fee = _billing_fee(account, day)
    return [*found, *([fee] if fee else [])]


def _payouts(account: StripeAccount, day: date) -> list[BalanceTransaction]:
    """One payout per currency of what became available on `day`, when that is positive."""
    totals: dict[str, int] = {}
    for txn in _payments_and_fees(account, day - AVAILABLE_AFTER):
        totals[txn.currency] = totals.get(txn.currency, 0) + txn.net
    created = datetime.combine(day, PAYOUT_TIME, UTC)
    payouts = []
    for currency, total in sorted(totals.items()):
        if total <= 0:
            continue
        payout_id = stripe_id(account.seed, "po", day, currency)
        source = {
            "id": payout_id,
            "object": "payout",
            "amount": total,
            "arrival_date": _unix(created + timedelta(days=1)),
            "automatic": True,
            "created": _unix(created),
            "currency": currency,
            "method": "standard",
            "status": "paid",
            "type": "bank_account",
        }
        payouts.append(
            BalanceTransaction(
                id=stripe_id(account.seed, "txn", payout_id),
                type="payout",
                reporting_category="payout",
                created=created,
                currency=currency,
                amount=-total,
                fee=0,
                description="STRIPE PAYOUT",
                source=source,
            )
        )
    return payouts


@functools.lru_cache(maxsize=512)
def _day_transactions(seed: int, day: date) -> tuple[BalanceTransaction, ...]:
    account = build_account(seed)
    return (*_payments_and_fees(account, day), *_payouts(account, day))


def balance_transactions(
    account: StripeAccount, start: datetime, end: datetime, now: datetime
) -> list[BalanceTransaction]:
    """Balance transactions created in [start, end) that exist by `now`, newest first."""
    end = min(end, now)
    found: list[BalanceTransaction] = []
    day = start.astimezone(UTC).date()
    while datetime.combine(day, time(), UTC) < end:
        found += (txn for txn in _day_transactions(account.seed, day) if start <= txn.created < end)
        day += timedelta(days=1)
    return sorted(found, key=lambda txn: (txn.created, txn.id), reverse=True)


# --- subscriptions --------------------------------------------------------------------------


def subscription_status(subscription: Subscription, now: datetime) -> str:
    if subscription.ended_at is not None and subscription.ended_at <= now:
        return "canceled"
    return "active"


def current_period(subscription: Subscription, now: datetime) -> tuple[datetime, datetime]:
    """The billing period holding `now` (the last one, for a canceled subscription)."""
    moment = min(now, subscription.ended_at or now)
    index = 0
    while subscription.period_start(index + 1) <= moment:
        index += 1
    return subscription.period_start(index), subscription.period_start(index + 1)


# --- taxonomy seeds -------------------------------------------------------------------------

# Stripe customers without house metadata whose house customer the seed states: Orchard &
# Vine's account predates the metadata, Brightwater's Gulf subsidiary bills separately.
_SEEDED_HOUSE_CUSTOMERS = {
    "Orchard & Vine Grocers": "cus_Nw9sD4gHn7VcXu",
    "Brightwater Outfitters Gulf W.L.L.": "cus_Nw4kB8sQe2LmTz",
}


def stripe_customer_rows(company: Company) -> list[tuple[str, str]]:
    """seeds/stripe_customers.csv: (Stripe customer id, house customer), in id order."""
    account = account_for(company)
    return sorted(
        (customer.id, _SEEDED_HOUSE_CUSTOMERS[customer.name])
        for customer in account.customers
        if customer.name in _SEEDED_HOUSE_CUSTOMERS
    )


def source_mapping_rows(company: Company) -> list[tuple[str, ...]]:
    """source_mappings.csv rows: each product to the team, department and project (the
    feature) it sells, in production."""
    rows = []
    for product in account_for(company).products:
        team = company.team(company.project(product.feature).team)
        owner = (team.department, team.slug, product.feature, PRODUCTION)
        rows.append(("stripe", "product_id", product.id, *owner))
    return rows
