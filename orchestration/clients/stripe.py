"""Stripe through its own Python library: balance transactions, invoices, subscriptions, customers.

The `stripe` library does the HTTP: authentication, the API version it was built for, request
encoding (`created[gte]`, `expand[0]`) and retries of connection failures, 409s and 5xx answers
(`max_network_retries`, with its own backoff). This client adds what a collector needs on top:

- every list is read to its end with `starting_after=<last id>` pages of up to 100;
- a 429 is retried here too, with backoff, since the library leaves rate limits to its caller,
  and so is an answer that is not JSON (a page cut short), which the library does not retry;
- records are the JSON objects exactly as Stripe sent them (the parsed body of each page), so
  the raw layer holds the vendor's fields, not the library's Python view of them;
- an invoice whose embedded `lines` list has more lines than its first page gets the rest,
  read from `/v1/invoices/{id}/lines`, under `more_lines`; a subscription whose `items` list
  does likewise gets `more_items`, from `/v1/subscription_items`;
- failures become `SourceError`s that say what to do: a refused key names STRIPE_API_KEY, a
  restricted key lacking a permission names that permission, an answer that is not JSON says
  so without echoing it. Stripe masks keys in its own messages; the key is never logged.

Amounts stay integers in the smallest currency unit: dbt divides them by the currency's
exponent (`seeds/stripe_currency_exponents.csv`), because JPY has no cents and KWD has fils.
"""

import functools
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar

import dagster as dg
import stripe
from pydantic import Field

from orchestration.collectors.http import MissingCredentialError, SourceError
from orchestration.warehouse.loader import Rejected

API_KEY_ENV = "STRIPE_API_KEY"
VENDOR = "Stripe"
DEFAULT_BASE_URL = "https://api.stripe.com"
DEFAULT_HOUSE_CUSTOMER_KEY = "house_customer"
MAX_PAGE_SIZE = 100
# Subscriptions in these states never billed anyone, so they have no place in a snapshot.
_NEVER_BILLED = frozenset({"incomplete", "incomplete_expired"})
# The Dashboard's name for each read permission Stripe reports as missing.
_PERMISSION_NAMES = {
    "rak_balance_transaction_source_read": "Balance transaction sources",
    "rak_invoice_read": "Invoices",
    "rak_subscription_read": "Subscriptions",
    "rak_customer_read": "Customers",
}
_PERMISSION = re.compile(r"'(rak_[a-z_]+)'")

T = TypeVar("T")


class StripeBilling(dg.ConfigurableResource):
    """Stripe's lists for one account, read with a secret or restricted key."""

    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = Field(default=None, description=f"from {API_KEY_ENV}")
    timeout_s: float = 30.0
    max_retries: int = 5
    backoff_s: float = 0.5
    page_size: int = MAX_PAGE_SIZE
    house_customer_key: str = DEFAULT_HOUSE_CUSTOMER_KEY

    def _client(self) -> stripe.StripeClient:
        if not self.api_key:
            raise MissingCredentialError(VENDOR, API_KEY_ENV)
        if not 1 <= self.page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1-{MAX_PAGE_SIZE}, not {self.page_size}")
        return stripe.StripeClient(
            self.api_key,
            base_addresses={"api": self.base_url.rstrip("/")},
            max_network_retries=self.max_retries,
            http_client=stripe.RequestsClient(timeout=self.timeout_s),
        )

    # --- the lists ---------------------------------------------------------------------------

    def balance_transactions(
        self, start: datetime, end: datetime
    ) -> Iterator[dict[str, Any] | Rejected]:
        """Balance transactions created in [start, end), each with its `source` object."""
        client = self._client()
        params = {"created": _window(start, end), "expand": ["data.source"]}
        yield from self._list(
            client.v1.balance_transactions.list, "/v1/balance_transactions", params
        )

    def invoices(self, start: datetime, end: datetime) -> Iterator[dict[str, Any] | Rejected]:
        """Invoices created in [start, end), each with all its lines."""
        client = self._client()
        for invoice in self._list(
            client.v1.invoices.list, "/v1/invoices", {"created": _window(start, end)}
        ):
            if isinstance(invoice, Rejected):
                yield invoice
                continue
            problem = _nested_problem(invoice, "lines")
            if problem:
                yield Rejected(f"{VENDOR}: an invoice {problem}", invoice)
                continue
            lines = invoice.get("lines") or {}
            if lines.get("has_more"):
                path = f"/v1/invoices/{invoice['id']}/lines"
                more = list(
                    self._list(
                        functools.partial(client.v1.invoices.line_items.list, invoice["id"]),
                        path,
                        {},
                        after=_last_id(lines),
                    )
                )
                if any(isinstance(line, Rejected) for line in more):
                    yield Rejected(f"{VENDOR}: {path} holds a line that is not an object", invoice)
                    continue
                invoice["more_lines"] = more
            yield invoice

    def subscriptions(self, start: datetime, end: datetime) -> Iterator[dict[str, Any] | Rejected]:
        """The day's snapshot: every subscription that existed during [start, end) and had not
        ended before it, stamped with `snapshot_date` (the window's first day).

        Stripe keeps no history of a subscription's items, so a day loaded later (a backfill)
        shows the items and prices the subscription has at load time.
        """
        client = self._client()
        params = {"status": "all", "created": {"lt": int(end.timestamp())}}
        for subscription in self._list(client.v1.subscriptions.list, "/v1/subscriptions", params):
            if isinstance(subscription, Rejected):
                yield subscription
                continue
            problem = _nested_problem(subscription, "items")
            ended_at = subscription.get("ended_at")
            status = subscription.get("status")
            if ended_at is not None and not _is_number(ended_at):
                problem = "has an ended_at that is not a unix time"
            elif status is not None and not isinstance(status, str):
                problem = "has a status that is not text"
            if problem:
                yield Rejected(f"{VENDOR}: a subscription {problem}", subscription)
                continue
            if ended_at is not None and ended_at < start.timestamp():
                continue
            if status in _NEVER_BILLED:
                continue
            items = subscription.get("items") or {}
            if items.get("has_more"):
                more = list(
                    self._list(
                        client.v1.subscription_items.list,
                        "/v1/subscription_items",
                        {"subscription": subscription["id"]},
                        after=_last_id(items),
                    )
                )
                if any(isinstance(item, Rejected) for item in more):
                    yield Rejected(
                        f"{VENDOR}: the items of {subscription['id']} hold one that is not an "
                        "object",
                        subscription,
                    )
                    continue
                subscription["more_items"] = more
            yield {"snapshot_date": start.date().isoformat(), **subscription}

    def customers(self, end: datetime) -> Iterator[dict[str, Any] | Rejected]:
        """Every customer created before `end`, with the metadata key that names its house
        customer (`house_customer_key`, as configured) beside it."""
        client = self._client()
        params = {"created": {"lt": int(end.timestamp())}}
        for customer in self._list(client.v1.customers.list, "/v1/customers", params):
            if isinstance(customer, Rejected):
                yield customer
            else:
                yield {**customer, "house_customer_key": self.house_customer_key}

    # --- paging and errors -------------------------------------------------------------------

    def _list(
        self,
        fetch: Callable[[dict[str, Any]], Any],
        path: str,
        params: dict[str, Any],
        *,
        after: str | None = None,
    ) -> Iterator[dict[str, Any] | Rejected]:
        """Every object of a list, page by page, as Stripe's JSON; an item of a page that is
        not an object is `Rejected`."""
        while True:
            page_params = {**params, "limit": self.page_size}
            if after is not None:
                page_params["starting_after"] = after
            where = f"GET {path}" + (f" (page after {after})" if after else "")
            page = self._call(lambda page_params=page_params: fetch(page_params), where)
            # A body of `null` or a bare value comes back as itself, with no response on it.
            response = getattr(page, "last_response", None)
            body = response.data if response is not None else None
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise SourceError(f"{VENDOR}: {where} answered without a list of data")
            for item in body["data"]:
                if isinstance(item, dict):
                    yield item
                else:
                    yield Rejected(f"{VENDOR}: {where}: an item of data is not an object", item)
            if not body.get("has_more"):
                return
            last = _last_id(body)
            if last is None or last == after:
                raise SourceError(
                    f"{VENDOR}: {where} said has_more but gave no new last id; refusing to loop"
                )
            after = last

    def _call(self, request: Callable[[], T], where: str) -> T:
        """`request()`, with 429s and answers that are not JSON (a page cut short) retried,
        and Stripe's errors turned into clear ones."""
        for attempt in range(self.max_retries + 1):
            try:
                return request()
            except stripe.RateLimitError as error:
                if attempt == self.max_retries:
                    raise SourceError(
                        f"{VENDOR}: {where}: rate limited (HTTP 429) after {attempt + 1} "
                        f"attempts: {error.user_message}"
                    ) from None
            except stripe.APIError as error:
                if not _is_garbled(error) or attempt == self.max_retries:
                    tries = f" (gave up after {attempt + 1} attempts)" if _is_garbled(error) else ""
                    raise SourceError(_explain(error, where) + tries) from None
            except stripe.StripeError as error:
                raise SourceError(_explain(error, where)) from None
            time.sleep(min(30.0, self.backoff_s * 2**attempt))
        raise AssertionError("unreachable")


def _window(start: datetime, end: datetime) -> dict[str, int]:
    return {"gte": int(start.timestamp()), "lt": int(end.timestamp())}


def _last_id(page: dict[str, Any]) -> str | None:
    data = page.get("data")
    if not isinstance(data, list) or not data or not isinstance(data[-1], dict):
        return None
    last = data[-1].get("id")
    return last if isinstance(last, str) else None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _nested_problem(record: dict[str, Any], field: str) -> str | None:
    """What is wrong with an object's `id` or its embedded list `field`, if anything."""
    if not isinstance(record.get("id"), str) or not record["id"]:
        return "has no id"
    nested = record.get(field)
    if nested is not None and not isinstance(nested, dict):
        return f"has {field} that is not a list object"
    if isinstance(nested, dict) and nested.get("has_more") and _last_id(nested) is None:
        return f"has {field} that say has_more but end without an object with an id"
    return None


def _is_garbled(error: stripe.StripeError) -> bool:
    """Whether the library could not parse the answer as JSON (a truncated or garbled page)."""
    return isinstance(error, stripe.APIError) and "Invalid response body" in str(error)


def _explain(error: stripe.StripeError, where: str) -> str:
    """What went wrong and what to do, in words safe to show (Stripe masks keys itself)."""
    status = f"HTTP {error.http_status}" if error.http_status else "no answer"
    said = error.user_message or ""
    request_id = f" (request {error.request_id})" if error.request_id else ""
    if isinstance(error, stripe.AuthenticationError):
        return (
            f"{VENDOR}: {where}: {status}: the key in {API_KEY_ENV} was refused: {said}{request_id}. "
            f"Set {API_KEY_ENV} to a current secret key (sk_...) or restricted key (rk_...) "
            "of the account; a rolled or deleted key stops working"
        )
    if isinstance(error, stripe.PermissionError):
        match = _PERMISSION.search(said)
        permission = match.group(1) if match else "read access to this list"
        dashboard = _PERMISSION_NAMES.get(permission, "the resource")
        return (
            f"{VENDOR}: {where}: {status}: the restricted key in {API_KEY_ENV} lacks the "
            f"{permission} permission; give it Read on '{dashboard}' in the Dashboard "
            f"(Developers > API keys). Stripe said: {said}{request_id}"
        )
    if isinstance(error, stripe.APIConnectionError):
        return f"{VENDOR}: {where}: could not be reached after retries: {said}"
    if _is_garbled(error):
        return (
            f"{VENDOR}: {where}: {status}: the answer is not valid JSON (a truncated or "
            "garbled page); the partition fails and keeps its earlier rows"
        )
    param = getattr(error, "param", None)
    detail = f" (parameter {param})" if param else ""
    return f"{VENDOR}: {where}: {status}: {said}{detail}{request_id}"
