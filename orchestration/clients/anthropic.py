"""The Anthropic Admin API: the messages usage report, the cost report, Claude Code analytics.

Both reports answer `{"data": [{"starting_at", "ending_at", "results": [...]}], "has_more",
"next_page"}`; `collectors.paging` follows `next_page` until `has_more` is false. Each result is
yielded with its bucket's bounds copied in, and otherwise untouched: units (the cost report's
cents as decimal strings) are dbt's business.

The Claude Code analytics report answers one UTC day per call with a flat `data` list of
records (one per actor and day), paged the same way.
"""

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any

import dagster as dg
from pydantic import Field

from orchestration.collectors.http import HttpSource, MissingCredentialError, SourceError
from orchestration.collectors.paging import bucket_results, cursor_pages
from orchestration.warehouse.loader import Rejected

API_KEY_ENV = "ANTHROPIC_ADMIN_API_KEY"
_USAGE_PATH = "/v1/organizations/usage_report/messages"
_COST_PATH = "/v1/organizations/cost_report"
# The largest page the API allows for daily buckets.
_DAILY_BUCKET_LIMIT = 31
_CLAUDE_CODE_PATH = "/v1/organizations/usage_report/claude_code"
# The largest page of the Claude Code report: records (one per actor and day), not buckets.
_CLAUDE_CODE_PAGE_LIMIT = 1000


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class AnthropicAdminClient(dg.ConfigurableResource):
    """Anthropic's organisation reports, read with an Admin API key (`sk-ant-admin...`)."""

    base_url: str = "https://api.anthropic.com"
    api_key: str | None = Field(default=None, description=f"from {API_KEY_ENV}")
    anthropic_version: str = "2023-06-01"
    timeout_s: float = 30.0
    max_retries: int = 5
    backoff_s: float = 1.0
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
            backoff_s=self.backoff_s,
        )

    def messages_usage(self, start: datetime, end: datetime) -> Iterator[dict[str, Any] | Rejected]:
        """Daily usage buckets in [start, end), one record per bucket and group."""
        yield from self._report(_USAGE_PATH, start, end, self.usage_group_by)

    def cost_report(self, start: datetime, end: datetime) -> Iterator[dict[str, Any] | Rejected]:
        """Daily cost items in [start, end), one record per bucket and group."""
        yield from self._report(_COST_PATH, start, end, self.cost_group_by)

    def claude_code_usage(
        self, start: datetime, end: datetime
    ) -> Iterator[dict[str, Any] | Rejected]:
        """Claude Code analytics for each UTC day in [start, end): a record per actor and day.

        The report takes a single date (`starting_at=YYYY-MM-DD`) and answers that day only,
        so a window of several days is one call sequence per day, each followed through its
        pages. Records already carry their `date` and are yielded untouched (the estimated
        cost in them is in cents); one that is not a JSON object is `Rejected`.
        """
        day = start.astimezone(UTC).date()
        with self._http() as http:
            while datetime.combine(day, time(), UTC) < end:
                params = [("starting_at", day.isoformat()), ("limit", str(_CLAUDE_CODE_PAGE_LIMIT))]
                for body in cursor_pages(http, _CLAUDE_CODE_PATH, params):
                    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                        raise SourceError(
                            f"{http.vendor}: GET {_CLAUDE_CODE_PATH} answered without a data list"
                        )
                    for record in body["data"]:
                        if isinstance(record, dict):
                            yield record
                        else:
                            yield Rejected(
                                f"a record in {_CLAUDE_CODE_PATH} is not an object", record
                            )
                day += timedelta(days=1)

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
        with self._http() as http:
            yield from bucket_results(http, path, params, ("starting_at", "ending_at"))
