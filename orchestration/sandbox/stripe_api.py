"""Stripe's REST API for the lists the collectors read, answered from the sandbox's account.

Served: `GET /v1/balance_transactions`, `/v1/invoices`, `/v1/invoices/{invoice}/lines`,
`/v1/subscriptions`, `/v1/subscription_items` and `/v1/customers`, as Stripe documents them
where the collectors depend on it:

- `Authorization: Bearer <key>`. Any test-mode secret key (`sk_test_...`) and any restricted
  test key (`rk_test_...`) reads everything, except `REVOKED_KEY` (401, "Expired API Key") and
  `RESTRICTED_KEY_WITHOUT_SUBSCRIPTIONS` (403 on subscriptions, naming the permission it
  lacks, as Stripe does). Other keys are 401 "Invalid API Key"; keys are echoed only masked.
- Errors use Stripe's envelope `{"error": {"type", "code", "message", "param"}}` with a
  `request-id` header, as the `stripe` library expects.
- Lists answer `{"object": "list", "url", "has_more", "data"}`, newest first, `limit` 1-100
  (default 10) and `starting_after=<id of the last object seen>`. `created[gte|gt|lte|lt]`
  filter on creation time (unix seconds). Unknown parameters are 400s naming the parameter.
- `expand[]=data.source` replaces a balance transaction's `source` id by the object.
- An invoice embeds its first 10 lines (`lines.has_more` beyond) and a subscription its first
  10 items, with the rest at `lines.url` / `items.url`; this page size of embedded lists is
  the sandbox's assumption, the collectors follow `has_more` whatever it is.
- `/v1/subscriptions` leaves canceled subscriptions out unless `status=all` or `canceled`.

Objects carry the fields of API version 2026-10-28 the collectors and dbt read (and a few
more); the answer is as of the wall clock: a payment that has not happened yet is not listed.
"""

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from orchestration.sandbox.company import Company
from orchestration.sandbox.routing import Request, Response, Route
from orchestration.sandbox.stripe_account import (
    ACCOUNT_ID,
    HOUSE_CUSTOMER_KEY,
    INVOICE_DUE_DAYS,
    BalanceTransaction,
    Customer,
    Invoice,
    Item,
    Line,
    StripeAccount,
    Subscription,
    account_for,
    balance_transactions,
    current_period,
    invoices,
    subscription_status,
)

BALANCE_TRANSACTIONS_PATH = "/v1/balance_transactions"
INVOICES_PATH = "/v1/invoices"
INVOICE_LINES_PATH = "/v1/invoices/{invoice}/lines"
SUBSCRIPTIONS_PATH = "/v1/subscriptions"
SUBSCRIPTION_ITEMS_PATH = "/v1/subscription_items"
CUSTOMERS_PATH = "/v1/customers"

REVOKED_KEY = "sk_test_sandbox_rolled_key_0001"
RESTRICTED_KEY_WITHOUT_SUBSCRIPTIONS = "rk_test_sandbox_no_subscriptions_01"
EMBEDDED_LIST_SIZE = 10
_LIMIT_DEFAULT, _LIMIT_MAX = 10, 100
_CREATED = ("created[gte]", "created[gt]", "created[lte]", "created[lt]")
_EXPAND = re.compile(r"^expand\[\d*\]$")
_HISTORY_START = datetime(2025, 1, 1, tzinfo=UTC)

# The read permission each list needs, in Stripe's own naming.
PERMISSIONS = {
    BALANCE_TRANSACTIONS_PATH: "rak_balance_transaction_source_read",
    INVOICES_PATH: "rak_invoice_read",
    INVOICE_LINES_PATH: "rak_invoice_read",
    SUBSCRIPTIONS_PATH: "rak_subscription_read",
    SUBSCRIPTION_ITEMS_PATH: "rak_subscription_read",
    CUSTOMERS_PATH: "rak_customer_read",
}


class _Refusal(Exception):
    def __init__(self, status: int, kind: str, message: str, **extra: str) -> None:
        super().__init__(message)
        self.response = _error(status, kind, message, **extra)


def _request_id(seed: object) -> str:
    return "req_" + hashlib.sha256(str(seed).encode()).hexdigest()[:14]


def _error(status: int, kind: str, message: str, **extra: str) -> Response:
    body = {"error": {"type": kind, "message": message, **extra}}
    return Response(status, body, {"request-id": _request_id((status, message))})


def _fault(status: int) -> Response:
    if status == 429:
        return _error(
            429,
            "invalid_request_error",
            "Request rate limit exceeded. Learn more about rate limits here "
            "https://stripe.com/docs/rate-limits.",
            code="rate_limit",
        )
    return _error(status, "api_error", "Something went wrong on Stripe's end.")


def _masked(key: str) -> str:
    return key[:8] + "*" * max(0, len(key) - 12) + key[-4:]


def _authorize(request: Request, permission: str) -> None:
    header = request.headers.get("authorization", "")
    key = header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""
    if not key:
        raise _Refusal(
            401,
            "invalid_request_error",
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth.",
        )
    if key == REVOKED_KEY:
        raise _Refusal(
            401,
            "invalid_request_error",
            f"Expired API Key provided: {_masked(key)}. This key was rolled; use its replacement.",
            code="api_key_expired",
        )
    if not key.startswith(("sk_test_", "rk_test_")):
        raise _Refusal(401, "invalid_request_error", f"Invalid API Key provided: {_masked(key)}")
    if key == RESTRICTED_KEY_WITHOUT_SUBSCRIPTIONS and permission == "rak_subscription_read":
        raise _Refusal(
            403,
            "invalid_request_error",
            f"The provided key '{_masked(key)}' does not have the required permissions for "
            f"this endpoint on account '{ACCOUNT_ID}'. Having the '{permission}' permission "
            "would allow this request to continue.",
        )


def _one(request: Request, name: str) -> str | None:
    values = request.query.get(name)
    return values[-1] if values else None


def _check_params(request: Request, allowed: Sequence[str], expandable: Sequence[str]) -> None:
    for name in request.query:
        if _EXPAND.match(name):
            for value in request.query[name]:
                if value not in expandable:
                    raise _Refusal(
                        400,
                        "invalid_request_error",
                        f"This property cannot be expanded ({value}).",
                        param="expand",
                    )
        elif name not in allowed:
            raise _Refusal(
                400,
                "invalid_request_error",
                f"Received unknown parameter: {name}",
                param=name,
            )


def _expanded(request: Request) -> set[str]:
    return {
        value for name, values in request.query.items() if _EXPAND.match(name) for value in values
    }


def _created_bounds(request: Request) -> tuple[datetime, datetime]:
    """[start, end) from the created filters; all of the sandbox's history by default."""
    start, end = _HISTORY_START, datetime(9999, 1, 1, tzinfo=UTC)
    for name in _CREATED:
        value = _one(request, name)
        if value is None:
            continue
        if not value.lstrip("-").isdigit():
            raise _Refusal(400, "invalid_request_error", f"Invalid integer: {value}", param=name)
        moment = datetime.fromtimestamp(int(value), UTC)
        if name == "created[gte]":
            start = max(start, moment)
        elif name == "created[gt]":
            start = max(start, moment + timedelta(seconds=1))
        elif name == "created[lte]":
            end = min(end, moment + timedelta(seconds=1))
        else:
            end = min(end, moment)
    return start, end


def _page(request: Request, url: str, objects: list[dict[str, Any]], kind: str) -> Response:
    """One page of `objects` (already in list order) after `starting_after`, `limit` long."""
    raw_limit = _one(request, "limit") or str(_LIMIT_DEFAULT)
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= _LIMIT_MAX:
        raise _Refusal(
            400,
            "invalid_request_error",
            f"This value must be between 1 and {_LIMIT_MAX} (it currently is '{raw_limit}').",
            param="limit",
        )
    limit = int(raw_limit)
    first = 0
    after = _one(request, "starting_after")
    if after is not None:
        ids = [obj["id"] for obj in objects]
        if after not in ids:
            raise _Refusal(
                400,
                "invalid_request_error",
                f"No such {kind}: '{after}'",
                code="resource_missing",
                param="starting_after",
            )
        first = ids.index(after) + 1
    data = objects[first : first + limit]
    return Response(
        200,
        {"object": "list", "url": url, "has_more": first + limit < len(objects), "data": data},
        {"request-id": _request_id((url, first, limit))},
    )


def _unix(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


def _embedded(url: str, objects: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": objects[:EMBEDDED_LIST_SIZE],
        "has_more": len(objects) > EMBEDDED_LIST_SIZE,
        "total_count": len(objects),
        "url": url,
    }


# --- objects --------------------------------------------------------------------------------


def balance_transaction_json(
    txn: BalanceTransaction, now: datetime, *, expand_source: bool
) -> dict[str, Any]:
    fee_details = (
        [
            {
                "amount": txn.fee,
                "application": None,
                "currency": txn.currency,
                "description": "Stripe processing fees",
                "type": "stripe_fee",
            }
        ]
        if txn.fee
        else []
    )
    return {
        "id": txn.id,
        "object": "balance_transaction",
        "amount": txn.amount,
        "available_on": _unix(txn.available_on),
        "balance_type": "payments",
        "created": _unix(txn.created),
        "currency": txn.currency,
        "description": txn.description,
        "exchange_rate": float(txn.exchange_rate) if txn.exchange_rate is not None else None,
        "fee": txn.fee,
        "fee_details": fee_details,
        "net": txn.net,
        "reporting_category": txn.reporting_category,
        "source": dict(txn.source) if expand_source else txn.source["id"],
        "status": "available" if txn.available_on <= now else "pending",
        "type": txn.type,
    }


def price_json(item: Item) -> dict[str, Any]:
    price = item.price
    return {
        "id": price.id,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": 1767258000,
        "currency": price.currency,
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": price.nickname,
        "product": price.product.id,
        "recurring": {
            "interval": price.interval,
            "interval_count": price.interval_count,
            "meter": None,
            "usage_type": "licensed",
        },
        "tax_behavior": "exclusive",
        "type": "recurring",
        "unit_amount": price.unit_amount,
        "unit_amount_decimal": str(price.unit_amount),
    }


def line_json(invoice: Invoice, line: Line) -> dict[str, Any]:
    price = line.item.price
    return {
        "id": line.id,
        "object": "line_item",
        "amount": line.amount,
        "currency": price.currency,
        "description": f"{line.item.quantity} x {price.nickname}",
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice.id,
        "livemode": False,
        "metadata": {},
        "parent": {
            "type": "subscription_item_details",
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": invoice.subscription.id,
                "subscription_item": line.item.id,
            },
        },
        "period": {"start": _unix(line.period_start), "end": _unix(line.period_end)},
        "pretax_credit_amounts": [],
        "pricing": {
            "type": "price_details",
            "price_details": {"price": price.id, "product": price.product.id},
            "unit_amount_decimal": str(price.unit_amount),
        },
        "quantity": line.item.quantity,
        "subtotal": line.amount,
        "taxes": [],
    }


def invoice_json(invoice: Invoice, now: datetime) -> dict[str, Any]:
    status = invoice.status(now)
    paid = status == "paid"
    subscription = invoice.subscription
    finalized = invoice.created + timedelta(minutes=55)
    return {
        "id": invoice.id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Northwind Labs",
        "amount_due": invoice.total,
        "amount_paid": invoice.total if paid else 0,
        "amount_remaining": 0 if paid else invoice.total,
        "attempt_count": 1 if paid else 0,
        "billing_reason": "subscription_create" if invoice.index == 0 else "subscription_cycle",
        "collection_method": subscription.collection_method,
        "created": _unix(invoice.created),
        "currency": subscription.currency,
        "customer": invoice.customer.id,
        "customer_email": invoice.customer.email,
        "customer_name": invoice.customer.name,
        "due_date": (
            _unix(invoice.created + timedelta(days=INVOICE_DUE_DAYS))
            if subscription.collection_method == "send_invoice"
            else None
        ),
        "hosted_invoice_url": f"https://invoice.stripe.com/i/{ACCOUNT_ID}/{invoice.id}",
        "lines": _embedded(
            INVOICE_LINES_PATH.format(invoice=invoice.id),
            [line_json(invoice, line) for line in invoice.lines],
        ),
        "livemode": False,
        "metadata": {},
        "number": invoice.number,
        "parent": {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": subscription.id},
        },
        "period_end": _unix(invoice.created),
        "period_start": _unix(invoice.created),
        "status": status,
        "status_transitions": {
            "finalized_at": _unix(finalized),
            "marked_uncollectible_at": None,
            "paid_at": _unix(invoice.paid_at) if paid else None,
            "voided_at": None,
        },
        "subtotal": invoice.total,
        "total": invoice.total,
    }


def item_json(subscription: Subscription, item: Item, now: datetime) -> dict[str, Any]:
    period_start, period_end = current_period(subscription, now)
    return {
        "id": item.id,
        "object": "subscription_item",
        "created": _unix(subscription.start),
        "current_period_end": _unix(period_end),
        "current_period_start": _unix(period_start),
        "discounts": [],
        "metadata": {},
        "price": price_json(item),
        "quantity": item.quantity,
        "subscription": subscription.id,
        "tax_rates": [],
    }


def subscription_json(
    account: StripeAccount, subscription: Subscription, now: datetime
) -> dict[str, Any]:
    status = subscription_status(subscription, now)
    latest = invoices(account, subscription.start, now, now)
    latest_invoice = next((i.id for i in latest if i.subscription is subscription), None)
    return {
        "id": subscription.id,
        "object": "subscription",
        "billing_cycle_anchor": _unix(subscription.start),
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": _unix(subscription.ended_at) if status == "canceled" else None,
        "collection_method": subscription.collection_method,
        "created": _unix(subscription.start),
        "currency": subscription.currency,
        "customer": subscription.customer.id,
        "days_until_due": (
            INVOICE_DUE_DAYS if subscription.collection_method == "send_invoice" else None
        ),
        "description": None,
        "ended_at": _unix(subscription.ended_at) if status == "canceled" else None,
        "items": _embedded(
            f"{SUBSCRIPTION_ITEMS_PATH}?subscription={subscription.id}",
            [item_json(subscription, item, now) for item in subscription.items],
        ),
        "latest_invoice": latest_invoice,
        "livemode": False,
        "metadata": {},
        "start_date": _unix(subscription.start),
        "status": status,
        "trial_end": None,
        "trial_start": None,
    }


def customer_json(customer: Customer) -> dict[str, Any]:
    metadata = {HOUSE_CUSTOMER_KEY: customer.house_customer} if customer.house_customer else {}
    return {
        "id": customer.id,
        "object": "customer",
        "balance": 0,
        "created": _unix(customer.created),
        "currency": customer.currency,
        "delinquent": False,
        "description": None,
        "email": customer.email,
        "invoice_prefix": customer.id.removeprefix("cus_")[:8].upper(),
        "livemode": False,
        "metadata": metadata,
        "name": customer.name,
    }


# --- routes ---------------------------------------------------------------------------------

_LIST_PARAMS = ("limit", "starting_after", *_CREATED)


def _balance_transactions(company: Company, request: Request) -> Response:
    _check_params(request, (*_LIST_PARAMS, "type", "currency"), ("data.source",))
    now = datetime.now(UTC)
    start, end = _created_bounds(request)
    kind, currency = _one(request, "type"), _one(request, "currency")
    expand = "data.source" in _expanded(request)
    found = [
        balance_transaction_json(txn, now, expand_source=expand)
        for txn in balance_transactions(account_for(company), start, end, now)
        if (kind is None or txn.type == kind) and (currency is None or txn.currency == currency)
    ]
    return _page(request, BALANCE_TRANSACTIONS_PATH, found, "balance_transaction")


def _invoices(company: Company, request: Request) -> Response:
    _check_params(request, (*_LIST_PARAMS, "customer", "status", "subscription"), ())
    now = datetime.now(UTC)
    start, end = _created_bounds(request)
    filters = {name: _one(request, name) for name in ("customer", "status", "subscription")}
    found = [
        invoice_json(invoice, now)
        for invoice in invoices(account_for(company), start, end, now)
        if filters["customer"] in (None, invoice.customer.id)
        and filters["status"] in (None, invoice.status(now))
        and filters["subscription"] in (None, invoice.subscription.id)
    ]
    return _page(request, INVOICES_PATH, found, "invoice")


def _invoice_lines(company: Company, request: Request) -> Response:
    _check_params(request, ("limit", "starting_after"), ())
    now = datetime.now(UTC)
    invoice_id = request.path_params.get("invoice", "")
    account = account_for(company)
    found = next(
        (
            invoice
            for subscription in account.subscriptions
            for invoice in invoices(account, subscription.start, now, now)
            if invoice.id == invoice_id
        ),
        None,
    )
    if found is None:
        raise _Refusal(
            404,
            "invalid_request_error",
            f"No such invoice: '{invoice_id}'",
            code="resource_missing",
            param="invoice",
        )
    lines = [line_json(found, line) for line in found.lines]
    return _page(request, INVOICE_LINES_PATH.format(invoice=invoice_id), lines, "line_item")


def _subscriptions(company: Company, request: Request) -> Response:
    _check_params(request, (*_LIST_PARAMS, "status", "customer", "price"), ())
    now = datetime.now(UTC)
    start, end = _created_bounds(request)
    status = _one(request, "status")
    customer = _one(request, "customer")
    account = account_for(company)
    chosen = [
        subscription
        for subscription in account.subscriptions
        if start <= subscription.start < end
        and customer in (None, subscription.customer.id)
        and subscription.start <= now
        and (
            status == "all"
            or subscription_status(subscription, now) == (status or "active")
            or (status is None and subscription_status(subscription, now) != "canceled")
        )
    ]
    chosen.sort(key=lambda s: (s.start, s.id), reverse=True)
    found = [subscription_json(account, subscription, now) for subscription in chosen]
    return _page(request, SUBSCRIPTIONS_PATH, found, "subscription")


def _subscription_items(company: Company, request: Request) -> Response:
    _check_params(request, ("limit", "starting_after", "subscription"), ())
    now = datetime.now(UTC)
    subscription_id = _one(request, "subscription")
    if not subscription_id:
        raise _Refusal(
            400,
            "invalid_request_error",
            "Missing required param: subscription.",
            code="parameter_missing",
            param="subscription",
        )
    subscription = next(
        (s for s in account_for(company).subscriptions if s.id == subscription_id), None
    )
    if subscription is None:
        raise _Refusal(
            404,
            "invalid_request_error",
            f"No such subscription: '{subscription_id}'",
            code="resource_missing",
            param="subscription",
        )
    items = [item_json(subscription, item, now) for item in subscription.items]
    return _page(request, SUBSCRIPTION_ITEMS_PATH, items, "subscription_item")


def _customers(company: Company, request: Request) -> Response:
    _check_params(request, (*_LIST_PARAMS, "email"), ())
    now = datetime.now(UTC)
    start, end = _created_bounds(request)
    email = _one(request, "email")
    chosen = [
        customer
        for customer in account_for(company).customers
        if start <= customer.created < min(end, now) and email in (None, customer.email)
    ]
    chosen.sort(key=lambda c: (c.created, c.id), reverse=True)
    return _page(request, CUSTOMERS_PATH, [customer_json(c) for c in chosen], "customer")


def _route(path: str, handler: Callable[[Company, Request], Response]) -> Route:
    def answer(company: Company, request: Request) -> Response:
        try:
            _authorize(request, PERMISSIONS[path])
            return handler(company, request)
        except _Refusal as refusal:
            return refusal.response

    return Route(answer, _fault)


ROUTES: Mapping[tuple[str, str], Route] = {
    ("GET", BALANCE_TRANSACTIONS_PATH): _route(BALANCE_TRANSACTIONS_PATH, _balance_transactions),
    ("GET", INVOICES_PATH): _route(INVOICES_PATH, _invoices),
    ("GET", INVOICE_LINES_PATH): _route(INVOICE_LINES_PATH, _invoice_lines),
    ("GET", SUBSCRIPTIONS_PATH): _route(SUBSCRIPTIONS_PATH, _subscriptions),
    ("GET", SUBSCRIPTION_ITEMS_PATH): _route(SUBSCRIPTION_ITEMS_PATH, _subscription_items),
    ("GET", CUSTOMERS_PATH): _route(CUSTOMERS_PATH, _customers),
}

# The demo's key: any test-mode secret key reads the sandbox, and no real account.
SANDBOX_ENV = {"STRIPE_API_KEY": "sk_test_sandbox_not_a_real_key_0000"}


def sandbox_section(api_url: str) -> dict[str, Any]:
    """The stripe section of the demo's vault.yaml."""
    return {"base_url": api_url, "max_retries": 3}
