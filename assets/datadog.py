"""Datadog, per day: the configured metric queries and, where asked for, the estimated cost.

Each is its own collector, present only when the datadog section asks for it: an organisation
that collects only metrics gets no cost asset (and no runs that would fail for want of the
usage_read permission), and the other way round.
"""

from orchestration.clients.datadog import COST_KEY, SERIES_KEY, DatadogClient
from orchestration.collectors.framework import Window, collector


@collector(
    source="datadog",
    table="datadog_metric_series",
    natural_key=SERIES_KEY,
    enabled_if=lambda section: bool(section.queries),
)
def datadog_metric_series(window: Window, datadog: DatadogClient):
    """Each configured query's series over the day: scope, tags, unit and [ms, value] points,
    one row per series, with the query's name and configured unit beside them."""
    yield from datadog.metric_series(window.start, window.end)


@collector(
    source="datadog",
    table="datadog_estimated_cost",
    natural_key=COST_KEY,
    enabled_if=lambda section: section.estimated_cost,
)
def datadog_estimated_cost(window: Window, datadog: DatadogClient):
    """Datadog's month-to-date estimated cost per product and charge type, for the day and the
    day before it (staging takes each day's own cost as the difference)."""
    yield from datadog.estimated_costs(window.start.date())
