"""Mixpanel's Query API: daily event counts from the segmentation report.

Why segmentation and not the raw export (`data.mixpanel.com/api/2.0/export`): the vault needs
counts per day, event and one property, which the segmentation report computes where the data
lives and answers in a few kilobytes (one series per property value). The export streams
every event of the day as JSON lines, millions for a busy product, to be counted here; both
APIs share the 60-requests-an-hour limit, so the export buys nothing for counting. The cost of
segmentation is one query per event per day, and a cap on property values (`segment_limit`,
the top values by count).

`GET /api/query/segmentation?project_id&event&from_date&to_date&unit=day[&on=properties["p"]]`
answers `{"data": {"series": [dates], "values": {value: {date: count}}}, "legend_size"}`;
each answer is one record, with the query that produced it beside Mixpanel's fields. Dates
are days in the project's timezone: set the project to UTC for days that line up with the
other sources. Authentication is a service account (HTTP basic: username and secret); the
region picks mixpanel.com, eu.mixpanel.com or in.mixpanel.com.
"""

from collections.abc import Iterator
from datetime import datetime, timedelta
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

USERNAME_ENV = "MIXPANEL_SERVICE_ACCOUNT_USERNAME"
SECRET_ENV = "MIXPANEL_SERVICE_ACCOUNT_SECRET"
VENDOR = "Mixpanel"
SEGMENTATION_PATH = "/api/query/segmentation"
_ADVICE = {
    401: (
        f"the service account in {USERNAME_ENV} / {SECRET_ENV} was refused: check both, "
        "or create a new secret (Organization Settings > Service Accounts)"
    ),
    403: (
        "the service account cannot read this project: add it to the project with a role "
        "that may query (Analyst or above), or fix project_id in vault.yaml"
    ),
}


class MixpanelClient(dg.ConfigurableResource):
    """One Mixpanel project's segmentation report, read with a service account."""

    base_url: str = "https://mixpanel.com"
    project_id: int
    username: str | None = Field(default=None, description=f"from {USERNAME_ENV}")
    secret: str | None = Field(default=None, description=f"from {SECRET_ENV}")
    events: list[str]
    property_name: str | None = None
    segment_limit: int = 1_000
    timeout_s: float = 60.0
    max_retries: int = 5
    backoff_s: float = 1.0

    def event_counts(self, start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
        """One segmentation answer per configured event for the days in [start, end)."""
        if not self.username:
            raise MissingCredentialError(VENDOR, USERNAME_ENV)
        if not self.secret:
            raise MissingCredentialError(VENDOR, SECRET_ENV)
        from_date = start.date().isoformat()
        to_date = (end - timedelta(microseconds=1)).date().isoformat()
        on = f'properties["{self.property_name}"]' if self.property_name else None
        with HttpSource(
            vendor=VENDOR,
            base_url=self.base_url,
            headers={"accept": "application/json"},
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            backoff_s=self.backoff_s,
            auth=httpx.BasicAuth(self.username, self.secret),
        ) as http:
            for event in self.events:
                params = {
                    "project_id": str(self.project_id),
                    "event": event,
                    "from_date": from_date,
                    "to_date": to_date,
                    "unit": "day",
                    "type": "general",
                    **({"on": on, "limit": str(self.segment_limit)} if on else {}),
                }
                try:
                    body = http.get_json(SEGMENTATION_PATH, params)
                except HttpStatusError as error:
                    advice = _ADVICE.get(error.status)
                    raise SourceError(f"{error}; {advice}" if advice else str(error)) from None
                data = body.get("data") if isinstance(body, dict) else None
                if not isinstance(data, dict) or not isinstance(data.get("values"), dict):
                    raise SourceError(
                        f"{VENDOR}: GET {SEGMENTATION_PATH} for event {event!r} answered "
                        "without data.values"
                    )
                yield {
                    "event": event,
                    "from_date": from_date,
                    "to_date": to_date,
                    "unit": "day",
                    "property_name": self.property_name,
                    **body,
                }
