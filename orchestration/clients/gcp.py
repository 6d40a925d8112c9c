"""Google Cloud billing: the Cloud Billing export in BigQuery, and the Cloud Billing API.

What Google bills lives only in the BigQuery export (`google-cloud-billing` returns no cost
lines), so the collectors read three things:

- the export table, through `google-cloud-bigquery`: the rows of a usage day, which usage days
  received rows after a given `export_time`, and which services a span of days used. Every
  value goes in as a bound query parameter; the table id, which cannot, is checked against a
  strict pattern (`gcp_export_table`). The columns are the export's own, read as they are:
  whole RECORDs (`project` with its labels and ancestors, `usage`, `credits`, `invoice`...),
  and `resource` and `price` only from a detailed export. The table's schema is read first, so
  a column the table lacks (an older export has no `cost_at_list`) is simply not selected.
- the Cloud Billing Catalog (`CloudCatalogClient.list_skus`): public list prices per SKU.
- the billing account (`CloudBillingClient.get_billing_account`): its display name.

Each export row becomes one JSON-safe record: timestamps as ISO 8601 in UTC, every number as
a string (FLOAT columns by the shortest text that reads back as the same double, NUMERIC ones
exactly), RECORDs as objects and REPEATED fields as lists. How the collectors stay incremental
on `export_time` is explained in `assets/gcp.py`.

Credentials are Application Default Credentials (`GOOGLE_APPLICATION_CREDENTIALS`, or the
workload's own identity). `api_endpoint` points all three APIs at one other root, the
sandbox's; a loopback endpoint is called without credentials. Transient answers (429, 5xx,
BigQuery's `rateLimitExceeded` and `backendError`, dropped connections) are retried with
exponential backoff, at most `max_retries` times per query or listing; a refusal fails at once
with the permission it needs named.
"""

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import google.auth
import requests
from google.api_core import exceptions as google_errors
from google.api_core.client_options import ClientOptions
from google.api_core.retry import Retry
from google.auth.credentials import AnonymousCredentials
from google.auth.exceptions import DefaultCredentialsError
from google.cloud import bigquery, billing_v1

from orchestration.clients.gcp_export_table import ExportTable, parse_export_table
from orchestration.collectors.http import SourceError, retry_after_seconds

CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
VENDOR = "Google Cloud billing"
_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)

# The export's columns in its own order; a table without one of the optional ones (an older
# export) is read without it.
REQUIRED_COLUMNS = (
    "billing_account_id",
    "service",
    "sku",
    "usage_start_time",
    "usage_end_time",
    "export_time",
    "cost",
    "currency",
)
EXPORT_COLUMNS = (
    "billing_account_id",
    "service",
    "sku",
    "usage_start_time",
    "usage_end_time",
    "project",
    "labels",
    "system_labels",
    "location",
    "tags",
    "transaction_type",
    "seller_name",
    "export_time",
    "cost",
    "currency",
    "currency_conversion_rate",
    "usage",
    "credits",
    "invoice",
    "cost_type",
    "adjustment_info",
    "cost_at_list",
)
DETAILED_COLUMNS = ("resource", "price")
# Fields the collector adds to an export row; they are not the export's.
ADDED_FIELDS = ("billing_account_name", "occurrence")

# BigQuery reports these reasons on errors worth retrying, whatever the HTTP status (a quota
# error can come as a 403 rateLimitExceeded).
_RETRYABLE_REASONS = frozenset({"rateLimitExceeded", "backendError", "internalError", "badGateway"})
_RETRYABLE_ERRORS = (
    google_errors.TooManyRequests,
    google_errors.InternalServerError,
    google_errors.BadGateway,
    google_errors.ServiceUnavailable,
    google_errors.GatewayTimeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    requests.exceptions.ChunkedEncodingError,
    ConnectionError,
)
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def json_safe(value: Any) -> Any:
    """A BigQuery value as JSON that keeps its meaning: ISO timestamps, numbers as strings."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        # repr is the shortest text that reads back as the same double: what was exported.
        return repr(value)
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def export_row_digest(record: Mapping[str, Any]) -> str:
    """A digest of an export row's own content (what the collector adds left out)."""
    row = {key: value for key, value in record.items() if key not in ADDED_FIELDS}
    text = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class NewRows:
    """A usage day that received rows exported after some moment."""

    usage_day: date
    newest_export_time: datetime
    rows: int


class _RetryBudget:
    """The retry predicate of one query or listing: transient errors, at most `retries` times."""

    def __init__(self, retries: int, sleep: Callable[[float], None] = time.sleep) -> None:
        self.left = retries
        self.attempts = 1
        self.exhausted = False
        self._sleep = sleep

    def __call__(self, error: Exception) -> bool:
        if not _is_transient(error):
            return False
        if self.left <= 0:
            self.exhausted = True
            return False
        self.left -= 1
        self.attempts += 1
        return True

    def on_error(self, error: Exception) -> None:
        """Honour a `Retry-After` (Google's APIs rarely send one) before the backoff sleep."""
        response = getattr(error, "response", None)
        wait = retry_after_seconds(response) if response is not None else None
        if wait:
            self._sleep(min(wait, 60.0))


def _is_transient(error: Exception) -> bool:
    reasons = {
        item.get("reason")
        for item in getattr(error, "errors", None) or ()
        if isinstance(item, Mapping)
    }
    if reasons & _RETRYABLE_REASONS:
        return True
    if isinstance(error, requests.exceptions.SSLError):
        return False
    return isinstance(error, _RETRYABLE_ERRORS)


def _describe(error: Exception) -> str:
    """HTTP status, BigQuery's reason and Google's message of an API error, or the error."""
    if isinstance(error, google_errors.GoogleAPICallError):
        reasons = [
            item.get("reason")
            for item in error.errors or ()
            if isinstance(item, Mapping) and item.get("reason")
        ]
        reason = reasons[0] if reasons else error.reason
        return " ".join(
            part for part in (f"HTTP {error.code}", reason and f"{reason}:", error.message) if part
        )
    return f"{type(error).__name__}: {error}"


def _is_loopback(endpoint: str) -> bool:
    host = (urlsplit(endpoint).hostname or "").lower()
    return host in _LOOPBACK_HOSTS or host.startswith("127.")


class GcpBillingClient(dg.ConfigurableResource):
    """The Cloud Billing export in BigQuery, the billing catalog and the billing account."""

    billing_export_table: str
    query_project: str | None = None
    location: str | None = None
    detailed: bool | None = None
    catalog_services: list[str] = []
    api_endpoint: str | None = None
    max_retries: int = 5
    retry_initial_s: float = 1.0
    timeout_s: float = 120.0
    page_size: int = 10_000

    # ---------- the export

    @property
    def table(self) -> ExportTable:
        try:
            return parse_export_table(self.billing_export_table)
        except ValueError as error:
            raise SourceError(f"{VENDOR}: billing_export_table {error}") from None

    @property
    def billing_project(self) -> str:
        """The project query jobs run in and are billed to."""
        return self.query_project or self.table.project

    def is_detailed(self) -> bool:
        """Whether the table is a detailed export: as configured, else as its name says."""
        if self.detailed is not None:
            return self.detailed
        named = self.table.named_detailed
        if named is None:
            raise SourceError(
                f"{VENDOR}: cannot tell from the name of {self.table.table_id} whether it is "
                "a standard or a detailed export; set detailed: true or false in vault.yaml"
            )
        return named

    def export_rows(self, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """Every export row whose usage_start_time is in [start, end), whenever exported.

        Each row also carries the billing account's display name (`billing_account_name`,
        null when the account cannot be read).
        """
        columns = self._select_columns()
        sql = (
            f"SELECT {', '.join(columns)}\n"
            f"FROM {self.table.sql}\n"
            "WHERE usage_start_time >= @usage_start AND usage_start_time < @usage_end"
        )
        parameters = [
            bigquery.ScalarQueryParameter("usage_start", "TIMESTAMP", start),
            bigquery.ScalarQueryParameter("usage_end", "TIMESTAMP", end),
        ]
        names: dict[str, str | None] = {}
        for row in self._query(sql, parameters, what="the billing export rows"):
            record = json_safe(dict(row.items()))
            account = record.get("billing_account_id")
            if account not in names:
                names[account] = self.billing_account_name(account) if account else None
            record["billing_account_name"] = names[account]
            yield record

    def days_with_new_rows(self, since: datetime) -> list[NewRows]:
        """The usage days that received rows exported after `since`; a cheap aggregate."""
        sql = (
            "SELECT DATE(usage_start_time) AS usage_day, "
            "MAX(export_time) AS newest_export_time, COUNT(*) AS row_count\n"
            f"FROM {self.table.sql}\n"
            "WHERE export_time > @since\n"
            "GROUP BY usage_day\n"
            "ORDER BY usage_day"
        )
        parameters = [bigquery.ScalarQueryParameter("since", "TIMESTAMP", since)]
        return [
            NewRows(row["usage_day"], row["newest_export_time"], int(row["row_count"]))
            for row in self._query(sql, parameters, what="the days with new export rows")
            if row["usage_day"] is not None
        ]

    def services_used(self, start: datetime, end: datetime) -> list[str]:
        """Ids of the services with usage in [start, end), as the export names them."""
        sql = (
            "SELECT DISTINCT service.id AS service_id\n"
            f"FROM {self.table.sql}\n"
            "WHERE usage_start_time >= @usage_start AND usage_start_time < @usage_end"
        )
        parameters = [
            bigquery.ScalarQueryParameter("usage_start", "TIMESTAMP", start),
            bigquery.ScalarQueryParameter("usage_end", "TIMESTAMP", end),
        ]
        rows = self._query(sql, parameters, what="the services in the billing export")
        return sorted({row["service_id"] for row in rows if row["service_id"]})

    def _select_columns(self) -> list[str]:
        """The export columns to read: those of `EXPORT_COLUMNS` (and the detailed ones) the
        table has. A table missing a required column is not a billing export."""
        budget = self._budget()
        with self._calling("reading the export table's schema", budget, self._table_hint()):
            table = self._bigquery().get_table(
                self.table.table_id, retry=self._retry(budget), timeout=self.timeout_s
            )
        present = {field.name for field in table.schema}
        missing = [column for column in REQUIRED_COLUMNS if column not in present]
        if missing:
            raise SourceError(
                f"{VENDOR}: {self.table.table_id} has no column {', '.join(missing)}; "
                "billing_export_table must name a Cloud Billing export table (or a view "
                "with its columns)"
            )
        wanted = EXPORT_COLUMNS + (DETAILED_COLUMNS if self.is_detailed() else ())
        return [column for column in wanted if column in present]

    def _query(self, sql: str, parameters: Sequence[Any], *, what: str) -> Iterator[Any]:
        """The rows of one parameterised query, page after page."""
        budget = self._budget()
        config = bigquery.QueryJobConfig(query_parameters=list(parameters), use_legacy_sql=False)
        with self._calling(what, budget, self._query_hint()):
            rows = self._bigquery().query_and_wait(
                sql,
                job_config=config,
                location=self.location,
                project=self.billing_project,
                api_timeout=self.timeout_s,
                wait_timeout=None,
                retry=self._retry(budget),
                # A failed job fails the partition; the run's own retry policy reruns it.
                job_retry=None,
                page_size=self.page_size,
            )
            yield from rows

    def _bigquery(self) -> Any:
        options = ClientOptions(api_endpoint=self.api_endpoint) if self.api_endpoint else None
        return bigquery.Client(
            project=self.billing_project,
            credentials=self._credentials(),
            location=self.location,
            client_options=options,
        )

    def _table_hint(self) -> str:
        table = self.table
        return (
            f"reading the table needs bigquery.tables.get and bigquery.tables.getData on "
            f"{table.table_id} (roles/bigquery.dataViewer on dataset "
            f"{table.project}.{table.dataset}); check billing_export_table and location"
        )

    def _query_hint(self) -> str:
        table = self.table
        return (
            f"the query needs bigquery.jobs.create on project {self.billing_project} "
            "(roles/bigquery.jobUser) and bigquery.tables.getData on "
            f"{table.table_id} (roles/bigquery.dataViewer on dataset "
            f"{table.project}.{table.dataset})"
        )

    # ---------- the Cloud Billing API

    def billing_account_name(self, account_id: str) -> str | None:
        """The billing account's display name; None (with a warning) if it cannot be read.

        The name only labels the ledger, so a credential without billing.accounts.get
        (roles/billing.viewer) costs the name, not the costs.
        """
        budget = self._budget()
        try:
            client = billing_v1.CloudBillingClient(
                transport="rest", credentials=self._credentials(), client_options=self._options()
            )
            account = client.get_billing_account(
                name=f"billingAccounts/{account_id}",
                retry=self._retry(budget),
                timeout=self.timeout_s,
            )
        except (google_errors.GoogleAPICallError, *_RETRYABLE_ERRORS) as error:
            dg.get_dagster_logger().warning(
                f"{VENDOR}: the name of billing account {account_id} could not be read "
                f"({_describe(error)}); it needs billing.accounts.get (roles/billing.viewer) "
                "on the billing account. Costs are loaded without it."
            )
            return None
        return account.display_name or None

    def catalog_service_ids(self, start: datetime, end: datetime) -> list[str]:
        """The configured `catalog_services`, else the services the export used in [start, end)."""
        return list(self.catalog_services) or self.services_used(start, end)

    def catalog_skus(self, service_id: str, currency: str = "USD") -> Iterator[dict[str, Any]]:
        """Every SKU of one service with its current public pricing, page after page.

        Each SKU is the API's JSON (camelCase, as the REST API sends it) plus the `service_id`
        and `currency_code` it was asked for.
        """
        budget = self._budget()
        hint = (
            "listing SKUs needs the Cloud Billing API (cloudbilling.googleapis.com) enabled in "
            "the credentials' project; no role is needed"
        )
        with self._calling(f"listing the SKUs of service {service_id}", budget, hint):
            client = billing_v1.CloudCatalogClient(
                transport="rest", credentials=self._credentials(), client_options=self._options()
            )
            pages = client.list_skus(
                request={"parent": f"services/{service_id}", "currency_code": currency},
                retry=self._retry(budget),
                timeout=self.timeout_s,
            )
            for sku in pages:
                record = type(sku).to_dict(
                    sku,
                    use_integers_for_enums=False,
                    preserving_proto_field_name=False,
                    always_print_fields_with_no_presence=False,
                )
                yield {**record, "service_id": service_id, "currency_code": currency}

    # ---------- shared

    def _options(self) -> ClientOptions | None:
        return ClientOptions(api_endpoint=self.api_endpoint) if self.api_endpoint else None

    def _credentials(self) -> Any:
        """Anonymous for a loopback endpoint (the sandbox), else Application Default Credentials."""
        if self.api_endpoint and _is_loopback(self.api_endpoint):
            return AnonymousCredentials()
        try:
            credentials, _ = google.auth.default(scopes=list(_SCOPES))
        except DefaultCredentialsError as error:
            raise SourceError(
                f"{VENDOR}: no Google credentials ({error}). Set {CREDENTIALS_ENV} to a "
                "service account key file, run `gcloud auth application-default login`, or "
                "run where the workload has its own identity"
            ) from None
        return credentials

    def _budget(self) -> _RetryBudget:
        return _RetryBudget(self.max_retries)

    def _retry(self, budget: _RetryBudget) -> Retry:
        return Retry(
            predicate=budget,
            initial=self.retry_initial_s,
            maximum=60.0,
            multiplier=2.0,
            timeout=None,  # bounded by the budget's count instead
            on_error=budget.on_error,
        )

    @contextmanager
    def _calling(self, what: str, budget: _RetryBudget, refused_hint: str) -> Iterator[None]:
        """Turn Google's errors into a `SourceError` that says what failed and what to do."""
        try:
            yield
        except SourceError:
            raise
        except google_errors.Forbidden as error:
            if _is_transient(error):  # a quota 403 that outlasted its retries
                raise SourceError(
                    f"{VENDOR}: {what} failed: {_describe(error)} "
                    f"(gave up after {budget.attempts} attempts)"
                ) from None
            raise SourceError(
                f"{VENDOR}: {what} was refused: {_describe(error)}; {refused_hint}"
            ) from None
        except (google_errors.Unauthorized, google_errors.NotFound) as error:
            raise SourceError(
                f"{VENDOR}: {what} failed: {_describe(error)}; {refused_hint}"
            ) from None
        except (google_errors.GoogleAPICallError, *_RETRYABLE_ERRORS) as error:
            suffix = f" (gave up after {budget.attempts} attempts)" if budget.exhausted else ""
            raise SourceError(f"{VENDOR}: {what} failed: {_describe(error)}{suffix}") from None


def newest(values: Iterable[str | None]) -> str | None:
    """The latest of ISO 8601 timestamps (None ignored), as given; None if there is none."""
    best: tuple[datetime, str] | None = None
    for value in values:
        if not value:
            continue
        moment = datetime.fromisoformat(value)
        if best is None or moment > best[0]:
            best = (moment, value)
    return best[1] if best else None
