"""The Anthropic Admin API: the messages usage report and the cost report.

Both reports answer `{"data": [{"starting_at", "ending_at", "results": [...]}], "has_more",
"next_page"}`; a client follows `next_page` until `has_more` is false. Each result is yielded
with its bucket's bounds copied in, and otherwise untouched: units (the cost report's cents as
decimal strings) are dbt's business.
"""

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import dagster as dg
from pydantic import Field

from orchestration.collectors.http import HttpSource, MissingCredentialError, SourceError
from orchestration.warehouse.loader import Rejected

API_KEY_ENV = "ANTHROPIC_ADMIN_API_KEY"
_USAGE_PATH = "/v1/organizations/usage_report/messages"
_COST_PATH = "/v1/organizations/cost_report"
# The largest page the API allows for daily buckets.
_DAILY_BUCKET_LIMIT = 31


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class AnthropicAdminClient(dg.ConfigurableResource):
    """Anthropic's organisation reports, read with an Admin API key (`sk-ant-admin...`)."""

    base_url: str = "https://api.anthropic.com"
    api_key: str | None = Field(default=None, description=f"from {API_KEY_ENV}")
    anthropic_version: str = "2023-06-01"
    timeout_s: float = 30.0
    max_retries: int = 5
    usage_group_by: list[str] = ["model", "workspace_id", "api_key_id"]
    cost_group_by: list[str] = ["workspace_id", "description"]

    def _http(self) -> HttpSource:
        if not self.api_key:
            raise MissingCredentialError("Anthropic Admin API", API_KEY_ENV)
        return HttpSource(
            vendor="Anthropic Admin API",
            base_url=self.base_url,
            headers={"x-api-key": self.api_key, "anthropic-version": self.anthropic_version},
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
        )

    def messages_usage(self, start: datetime, end: datetime) -> Iterator[dict[str, Any] | Rejected]:
        """Daily usage buckets in [start, end), one record per bucket and group."""
        yield from self._report(_USAGE_PATH, start, end, self.usage_group_by)

    def cost_report(self, start: datetime, end: datetime) -> Iterator[dict[str, Any] | Rejected]:
        """Daily cost items in [start, end), one record per bucket and group."""
        yield from self._report(_COST_PATH, start, end, self.cost_group_by)

    def _report(
        self, path: str, start: datetime, end: datetime, group_by: Sequence[str]
    ) -> Iterator[dict[str, Any] | Rejected]:
        params: list[tuple[str, str]] = [
            ("starting_at", _rfc3339(start)),
            ("ending_at", _rfc3339(end)),
            ("bucket_width", "1d"),
            ("limit", str(_DAILY_BUCKET_LIMIT)),
            *(("group_by[]", field) for field in group_by),
        ]
        seen_pages: set[str] = set()
        with self._http() as http:
            page: str | None = None
            while True:
                body = http.get_json(path, [*params, *([("page", page)] if page else [])])
                yield from _results(body, path)
                if not body.get("has_more"):
                    return
                page = body.get("next_page")
                if not page or page in seen_pages:
                    raise SourceError(
                        f"Anthropic Admin API: GET {path} said has_more but gave "
                        f"{'no' if not page else 'a repeated'} next_page; refusing to loop"
                    )
                seen_pages.add(page)


def _results(body: Any, path: str) -> Iterator[dict[str, Any] | Rejected]:
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise SourceError(f"Anthropic Admin API: GET {path} answered without a data list")
    for bucket in body["data"]:
        bounds = {"starting_at": bucket.get("starting_at"), "ending_at": bucket.get("ending_at")}
        for result in bucket.get("results") or []:
            if isinstance(result, dict):
                yield {**bounds, **result}
            else:
                yield Rejected(f"a result in {path} is not an object", result)
