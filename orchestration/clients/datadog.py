"""Datadog's metrics query API (v1 timeseries) and its estimated cost, read with API and app keys.

`GET /api/v1/query?from&to&query` answers `{"status": "ok", "series": [...]}` with one object
per series: `metric`, `expression`, `scope` (the tags that identify it, comma-separated),
`tag_set` (its group-by tags), `unit` (a pair of unit objects, or nulls), `interval` and
`pointlist`, `[[milliseconds, value], ...]`, a value null where the series had no data. There
is no paging: one request covers a day, at the interval Datadog picks or the query's own
`.rollup()`. `to` is the second before the window's end, so a day's request never holds the
next day's first point; `from` and `to` are inclusive.

Each series becomes one raw record, untouched, with the request's `from_date`, `to_date`,
`res_type` and `group_by` copied in, and the configured query's name, text, unit and tag keys
beside it (dbt cannot read vault.yaml). One record per series keeps raw small and memory flat;
staging unnests the points.

Datadog limits requests per organisation and endpoint: a 429 says in `X-RateLimit-Reset` how
many seconds until the limit resets, and `HttpSource` waits that long before retrying. A 403
means a key is invalid or the application key lacks a permission; the error names the
variables and the permission (`timeseries_query` for metrics, `usage_read` and `billing_read`
for the estimated cost) and never the keys.
"""

from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta
from typing import Any

import dagster as dg
from pydantic import Field

from orchestration.collectors.http import (
    HttpSource,
    HttpStatusError,
    MissingCredentialError,
    SourceError,
)
from orchestration.config import DATADOG_DEFAULT_SITE, DatadogConfig, check_datadog_site
from orchestration.warehouse.loader import Rejected

VENDOR = "Datadog"
API_KEY_ENV = "DD_API_KEY"
APP_KEY_ENV = "DD_APP_KEY"
SITE_ENV = "DD_SITE"
QUERY_PATH = "/api/v1/query"
ESTIMATED_COST_PATH = "/api/v2/usage/estimated_cost"
PERMISSIONS = {
    QUERY_PATH: "timeseries_query permission",
    ESTIMATED_COST_PATH: "usage_read and billing_read permissions",
}
RATE_LIMIT_RESET_HEADER = "x-ratelimit-reset"
# Copied from the response's top level into each series record.
_RESPONSE_FIELDS = ("from_date", "to_date", "res_type", "group_by")
SERIES_KEY = ("query_name", "from_date", "query_index", "expression", "scope")
COST_KEY = ("date", "public_id", "product_name", "charge_type")


class DatadogQuerySpec(dg.Config):
    """One configured query, as the resource carries it (see `DatadogQuery` in config)."""

    name: str
    query: str
    unit: str
    tags: list[str] | None = None


def api_base_url(site: str) -> str:
    """https://api.<site>, for a site such as datadoghq.com or us5.datadoghq.com."""
    return f"https://api.{check_datadog_site(site)}"


class DatadogClient(dg.ConfigurableResource):
    """Datadog metric queries per day and, where configured, the estimated cost."""

    site: str = DATADOG_DEFAULT_SITE
    base_url: str | None = None
    api_key: str | None = Field(default=None, description=f"from {API_KEY_ENV}")
    app_key: str | None = Field(default=None, description=f"from {APP_KEY_ENV}")
    timeout_s: float = 60.0
    max_retries: int = 5
    backoff_s: float = 1.0
    queries: list[DatadogQuerySpec] = []

    @classmethod
    def from_config(
        cls, section: DatadogConfig, *, api_key: Any, app_key: Any, site_env: str | None
    ) -> "DatadogClient":
        """The client a vault.yaml `datadog` section describes; the site is the section's,
        else `site_env` (DD_SITE's value), else datadoghq.com."""
        site = section.site or site_env or DATADOG_DEFAULT_SITE
        try:
            site = check_datadog_site(site)
        except ValueError as error:
            raise SourceError(f"{VENDOR}: {SITE_ENV}: {error}") from None
        return cls(
            site=site,
            base_url=section.base_url,
            api_key=api_key,
            app_key=app_key,
            timeout_s=section.timeout_s,
            max_retries=section.max_retries,
            queries=[DatadogQuerySpec(**query.model_dump()) for query in section.queries],
        )

    def _http(self) -> HttpSource:
        for variable, value in ((API_KEY_ENV, self.api_key), (APP_KEY_ENV, self.app_key)):
            if not value:
                raise MissingCredentialError(VENDOR, variable)
        return HttpSource(
            vendor=VENDOR,
            base_url=self.base_url or api_base_url(self.site),
            headers={
                "DD-API-KEY": self.api_key or "",
                "DD-APPLICATION-KEY": self.app_key or "",
                "accept": "application/json",
            },
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            backoff_s=self.backoff_s,
            wait_headers=(RATE_LIMIT_RESET_HEADER,),
        )

    def _get(self, http: HttpSource, path: str, params: Any) -> Any:
        try:
            return http.get_json(path, params)
        except HttpStatusError as error:
            if error.status in (401, 403):
                raise SourceError(
                    f"{error}. Datadog refused the keys: check that {API_KEY_ENV} and "
                    f"{APP_KEY_ENV} belong to the organisation on site {self.site} and that "
                    f"the application key has the {PERMISSIONS[path]} (and, if it is a "
                    "scoped key, the scopes of the same names)"
                ) from None
            raise

    def metric_series(self, start: datetime, end: datetime) -> Iterator[dict[str, Any] | Rejected]:
        """Every series of every configured query over `[start, end)`, one record each."""
        if not self.queries:
            raise ValueError("no queries configured for the datadog source")
        params_window = {"from": str(int(start.timestamp())), "to": str(int(end.timestamp()) - 1)}
        with self._http() as http:
            for spec in self.queries:
                body = self._query(http, spec, params_window)
                copied = {name: body.get(name) for name in _RESPONSE_FIELDS}
                for series in body["series"]:
                    if not isinstance(series, dict):
                        yield Rejected(f"query {spec.name}: a series is not an object", series)
                        continue
                    yield {
                        **series,
                        **copied,
                        "query_name": spec.name,
                        "query": spec.query,
                        "unit_configured": spec.unit,
                        "tag_keys": spec.tags,
                    }

    def _query(
        self, http: HttpSource, spec: DatadogQuerySpec, window: Mapping[str, str]
    ) -> dict[str, Any]:
        try:
            body = self._get(http, QUERY_PATH, {**window, "query": spec.query})
        except HttpStatusError as error:
            if error.status in (400, 422):
                raise SourceError(
                    f"{VENDOR}: query {spec.name!r} was refused: {error} (query: {spec.query})"
                ) from None
            raise
        if not isinstance(body, dict) or body.get("status") != "ok":
            text = body.get("error") if isinstance(body, dict) else body
            raise SourceError(
                f"{VENDOR}: query {spec.name!r} failed: {str(text)[:500]} (query: {spec.query})"
            )
        if not isinstance(body.get("series"), list):
            raise SourceError(f"{VENDOR}: query {spec.name!r} answered without a series list")
        return body

    def estimated_costs(self, day: date) -> Iterator[dict[str, Any] | Rejected]:
        """The estimated cost of `day` and of the day before it (same month): one record per
        date, organisation, product and charge type.

        Datadog states the cost month to date: each day's figure is the cumulative cost of
        its month so far, so a day's own cost is its figure less the day before's. Fetching
        both lets each partition stand on its own; staging keeps the latest load of each
        (date, organisation, product, charge type).
        """
        first = day - timedelta(days=1) if day.day > 1 else day
        params = {"start_date": first.isoformat(), "end_date": day.isoformat(), "view": "summary"}
        with self._http() as http:
            body = self._get(http, ESTIMATED_COST_PATH, params)
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise SourceError(f"{VENDOR}: GET {ESTIMATED_COST_PATH} answered without a data list")
        for entry in body["data"]:
            attributes = entry.get("attributes") if isinstance(entry, dict) else None
            if not isinstance(attributes, dict) or not isinstance(attributes.get("charges"), list):
                yield Rejected("an estimated cost entry has no attributes with charges", entry)
                continue
            shared = {name: value for name, value in attributes.items() if name != "charges"}
            for charge in attributes["charges"]:
                if isinstance(charge, dict):
                    yield {**shared, **charge}
                else:
                    yield Rejected("an estimated cost charge is not an object", charge)
