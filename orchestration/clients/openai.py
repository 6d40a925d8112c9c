"""The OpenAI organization Usage and Costs APIs, read with an admin key.

Every endpoint answers `{"object": "page", "data": [{"object": "bucket", "start_time",
"end_time", "results": [...]}], "has_more", "next_page"}`, with bucket bounds in unix seconds;
`collectors.paging` follows `next_page` until `has_more` is false. Each result is yielded with
its bucket's `start_time` and `end_time` copied in and is otherwise untouched. Two vendor habits
that matter downstream are left to dbt on purpose: completions' `input_tokens` already include
`input_cached_tokens`, and costs are dollars as floats with a lowercase currency.

Each usage endpoint has its own result shape and raw table, so `usage()` takes the endpoint.
"""

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import dagster as dg
from pydantic import Field

from orchestration.collectors.http import HttpSource, MissingCredentialError
from orchestration.collectors.paging import bucket_results
from orchestration.warehouse.loader import Rejected

API_KEY_ENV = "OPENAI_ADMIN_KEY"
VENDOR = "OpenAI Admin API"
USAGE_PATH = "/v1/organization/usage/{endpoint}"
COSTS_PATH = "/v1/organization/costs"
USAGE_ENDPOINTS = (
    "completions",
    "embeddings",
    "images",
    "audio_speeches",
    "audio_transcriptions",
)
# The grouping fields each usage endpoint offers besides completions (whose grouping is
# configurable): grouped by all of them, every result is one key, model and project.
_FIXED_GROUP_BY = {
    "embeddings": ("project_id", "user_id", "api_key_id", "model"),
    "images": ("project_id", "user_id", "api_key_id", "model", "size", "source"),
    "audio_speeches": ("project_id", "user_id", "api_key_id", "model"),
    "audio_transcriptions": ("project_id", "user_id", "api_key_id", "model"),
}
# The largest pages the API allows for daily buckets: 31 for usage, 180 for costs.
_USAGE_DAILY_LIMIT = 31
_COSTS_DAILY_LIMIT = 180
_BOUNDS = ("start_time", "end_time")


class OpenAIAdminClient(dg.ConfigurableResource):
    """OpenAI's organization usage and costs, read with an admin key (`sk-admin-...`)."""

    base_url: str = "https://api.openai.com"
    api_key: str | None = Field(default=None, description=f"from {API_KEY_ENV}")
    timeout_s: float = 30.0
    max_retries: int = 5
    backoff_s: float = 1.0
    usage_endpoints: list[str] = list(USAGE_ENDPOINTS)
    completions_group_by: list[str] = ["project_id", "user_id", "api_key_id", "model", "batch"]
    costs_group_by: list[str] = ["project_id", "line_item"]

    def _http(self) -> HttpSource:
        if not self.api_key:
            raise MissingCredentialError(VENDOR, API_KEY_ENV)
        return HttpSource(
            vendor=VENDOR,
            base_url=self.base_url,
            headers={"authorization": f"Bearer {self.api_key}"},
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            backoff_s=self.backoff_s,
        )

    def usage(
        self, endpoint: str, start: datetime, end: datetime
    ) -> Iterator[dict[str, Any] | Rejected]:
        """Daily usage of one endpoint in [start, end), one record per bucket and group.

        Only the endpoints in `usage_endpoints` are read: the definitions leave the other
        collectors out, and a caller asking for one anyway is told so instead of loading it.
        """
        if endpoint not in USAGE_ENDPOINTS:
            raise ValueError(f"{endpoint!r} is not one of {', '.join(USAGE_ENDPOINTS)}")
        if endpoint not in self.usage_endpoints:
            raise ValueError(f"usage endpoint {endpoint!r} is not in usage_endpoints")
        group_by = self.completions_group_by if endpoint == "completions" else None
        yield from self._report(
            USAGE_PATH.format(endpoint=endpoint),
            start,
            end,
            group_by if group_by is not None else _FIXED_GROUP_BY[endpoint],
            _USAGE_DAILY_LIMIT,
        )

    def costs(self, start: datetime, end: datetime) -> Iterator[dict[str, Any] | Rejected]:
        """Daily cost results in [start, end), one record per bucket and group."""
        yield from self._report(COSTS_PATH, start, end, self.costs_group_by, _COSTS_DAILY_LIMIT)

    def _report(
        self, path: str, start: datetime, end: datetime, group_by: Sequence[str], limit: int
    ) -> Iterator[dict[str, Any] | Rejected]:
        params: list[tuple[str, str]] = [
            ("start_time", str(int(start.timestamp()))),
            ("end_time", str(int(end.timestamp()))),
            ("bucket_width", "1d"),
            ("limit", str(limit)),
            *(("group_by[]", field) for field in group_by),
        ]
        with self._http() as http:
            yield from bucket_results(http, path, params, _BOUNDS)
