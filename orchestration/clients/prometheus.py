"""Prometheus's HTTP API: configured PromQL range queries over a window.

`GET /api/v1/query_range` evaluates a query at `start`, `start + step`, ... up to `end`
inclusive, and refuses a request in which one series would exceed 11,000 points; there is no
paging. So the client lays every query's samples on a grid aligned to the epoch (multiples of
its step) and asks for the grid points inside the window `[start, end)`, in sub-ranges of at
most `max_points_per_query` points that meet without overlapping: the last point of one is a
step before the first of the next. Adjacent partitions split the same way, so no sample is
fetched twice or missed, whatever the window or the step.

Each series of each sub-range becomes one raw record: Prometheus's own result object (`metric`
labels and `values` as [unix seconds, "value"] pairs, values left as the strings it sends,
"NaN" and "+Inf" included) plus the query's name, PromQL, unit, step, the labels chosen as tags
and the sub-range bounds, because dbt cannot read vault.yaml. One record per series rather than
per sample keeps raw small (labels are stored once per series) and memory flat (one sub-range's
answer at a time); staging unnests the values.

A PromQL error (`status: "error"`, HTTP 400 or 422) fails the partition with the query's name,
its PromQL and Prometheus's error text; 429, 503 and time-outs are retried by `HttpSource`.
"""

import json
import math
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import dagster as dg
import httpx
from pydantic import Field

from orchestration.collectors.http import (
    HttpSource,
    HttpStatusError,
    MissingCredentialError,
    SourceError,
)
from orchestration.config import PROMETHEUS_MAX_POINTS, PrometheusConfig, step_seconds
from orchestration.warehouse.loader import Rejected

VENDOR = "Prometheus"
QUERY_RANGE_PATH = "/api/v1/query_range"


class PrometheusQuerySpec(dg.Config):
    """One configured query, as the resource carries it (see `PrometheusQuery` in config)."""

    name: str
    query: str
    unit: str
    step: str = "60s"
    tags: list[str] | None = None
    value_kind: str | None = None


def grid_bounds(start: datetime, end: datetime, step_s: int) -> tuple[int, int] | None:
    """The first and last multiple of `step_s` (unix seconds) in `[start, end)`, if any."""
    first = math.ceil(_unix(start) / step_s) * step_s
    last = (math.ceil(_unix(end) / step_s) - 1) * step_s
    return (first, last) if first <= last else None


def sub_ranges(first: int, last: int, step_s: int, max_points: int) -> list[tuple[int, int]]:
    """`[first, last]` cut into inclusive ranges of at most `max_points` grid points each.

    Consecutive ranges meet without overlap: each starts one step after the previous ends.
    """
    if max_points < 1:
        raise ValueError("max_points must be at least 1")
    span = (max_points - 1) * step_s
    ranges = []
    start = first
    while start <= last:
        stop = min(start + span, last)
        ranges.append((start, stop))
        start = stop + step_s
    return ranges


def series_key(record: Mapping[str, Any]) -> str:
    """Query name, sub-range start and the series' full label set: one series of one request."""
    labels = json.dumps(record.get("metric") or {}, sort_keys=True, separators=(",", ":"))
    return f"{record.get('query_name')}|{record.get('range_start')}|{labels}"


def _unix(moment: datetime) -> float:
    if moment.tzinfo is None:
        raise ValueError("window bounds must be timezone-aware")
    return moment.timestamp()


class PrometheusClient(dg.ConfigurableResource):
    """Range queries against a Prometheus-compatible server (Prometheus, Thanos, Mimir)."""

    base_url: str = "http://localhost:9090"
    bearer_token_env: str | None = None
    bearer_token: str | None = Field(default=None, description="from bearer_token_env")
    basic_auth_username_env: str | None = None
    basic_auth_password_env: str | None = None
    basic_auth_username: str | None = Field(default=None, description="from its _env")
    basic_auth_password: str | None = Field(default=None, description="from its _env")
    timeout_s: float = 60.0
    max_retries: int = 5
    backoff_s: float = 1.0
    max_points_per_query: int = PROMETHEUS_MAX_POINTS
    queries: list[PrometheusQuerySpec] = []

    @classmethod
    def from_config(
        cls, section: PrometheusConfig, secrets: Mapping[str, Any]
    ) -> "PrometheusClient":
        """The client a vault.yaml `prometheus` section describes; `secrets` maps each
        configured variable name to its value (or a `dg.EnvVar`), None when unset."""
        return cls(
            base_url=section.base_url,
            bearer_token_env=section.bearer_token_env,
            bearer_token=secrets.get(section.bearer_token_env or ""),
            basic_auth_username_env=section.basic_auth_username_env,
            basic_auth_password_env=section.basic_auth_password_env,
            basic_auth_username=secrets.get(section.basic_auth_username_env or ""),
            basic_auth_password=secrets.get(section.basic_auth_password_env or ""),
            timeout_s=section.timeout_s,
            max_retries=section.max_retries,
            max_points_per_query=section.max_points_per_query,
            queries=[PrometheusQuerySpec(**query.model_dump()) for query in section.queries],
        )

    def _http(self) -> HttpSource:
        headers: dict[str, str] = {"accept": "application/json"}
        auth: httpx.Auth | None = None
        if self.bearer_token_env:
            if not self.bearer_token:
                raise MissingCredentialError(VENDOR, self.bearer_token_env)
            headers["authorization"] = f"Bearer {self.bearer_token}"
        if self.basic_auth_username_env and self.basic_auth_password_env:
            for variable, value in (
                (self.basic_auth_username_env, self.basic_auth_username),
                (self.basic_auth_password_env, self.basic_auth_password),
            ):
                if not value:
                    raise MissingCredentialError(VENDOR, variable)
            auth = httpx.BasicAuth(self.basic_auth_username or "", self.basic_auth_password or "")
        return HttpSource(
            vendor=VENDOR,
            base_url=self.base_url,
            headers=headers,
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            backoff_s=self.backoff_s,
            auth=auth,
        )

    def range_records(
        self, start: datetime, end: datetime, log: Any = None
    ) -> Iterator[dict[str, Any] | Rejected]:
        """One record per (query, series, sub-range) for the samples in `[start, end)`."""
        if not 1 <= self.max_points_per_query <= PROMETHEUS_MAX_POINTS:
            raise ValueError(f"max_points_per_query must be 1..{PROMETHEUS_MAX_POINTS}")
        with self._http() as http:
            for spec in self.queries:
                yield from self._query_records(http, spec, start, end, log)

    def _query_records(
        self,
        http: HttpSource,
        spec: PrometheusQuerySpec,
        start: datetime,
        end: datetime,
        log: Any,
    ) -> Iterator[dict[str, Any] | Rejected]:
        step_s = step_seconds(spec.step)
        bounds = grid_bounds(start, end, step_s)
        if bounds is None:
            return  # a step longer than the window: no grid point falls inside it
        for range_start, range_end in sub_ranges(*bounds, step_s, self.max_points_per_query):
            data = self._query_range(http, spec, range_start, range_end, step_s, log)
            for series in data["result"]:
                if not isinstance(series, dict) or not isinstance(series.get("metric"), dict):
                    yield Rejected(f"query {spec.name}: a series is not a labelled object", series)
                    continue
                if "histograms" in series:
                    yield Rejected(
                        f"query {spec.name}: native histogram samples are not collected; "
                        "query histogram_quantile(), _sum or _count instead",
                        series,
                    )
                    continue
                yield {
                    "query_name": spec.name,
                    "promql": spec.query,
                    "unit": spec.unit,
                    "step_s": step_s,
                    "tag_labels": spec.tags,
                    "value_kind": spec.value_kind,
                    "range_start": range_start,
                    "range_end": range_end,
                    **series,
                }

    def _query_range(
        self,
        http: HttpSource,
        spec: PrometheusQuerySpec,
        range_start: int,
        range_end: int,
        step_s: int,
        log: Any,
    ) -> dict[str, Any]:
        params = {
            "query": spec.query,
            "start": str(range_start),
            "end": str(range_end),
            "step": f"{step_s}s",
            "timeout": f"{max(1, int(self.timeout_s))}s",
        }
        try:
            body = http.get_json(QUERY_RANGE_PATH, params)
        except HttpStatusError as error:
            if error.status in (400, 422):
                raise self._query_error(spec, str(error)) from None
            raise
        if not isinstance(body, dict) or body.get("status") != "success":
            text = body.get("error") if isinstance(body, dict) else None
            raise self._query_error(spec, str(text or body)[:500])
        data = body.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("result"), list):
            raise SourceError(f"{VENDOR}: query {spec.name!r} answered without a result list")
        if data.get("resultType") != "matrix":
            raise self._query_error(
                spec, f"expected a range vector (matrix), got {data.get('resultType')!r}"
            )
        warnings = body.get("warnings") or []
        for warning in warnings if isinstance(warnings, list) else [warnings]:
            if log is not None:
                log.warning(f"{VENDOR}: query {spec.name!r} warned: {warning}")
        return data

    @staticmethod
    def _query_error(spec: PrometheusQuerySpec, text: str) -> SourceError:
        return SourceError(f"{VENDOR}: query {spec.name!r} failed: {text} (PromQL: {spec.query})")
