"""Prometheus range queries, per hour: every configured PromQL query's series and samples."""

from orchestration.clients.prometheus import PrometheusClient, series_key
from orchestration.collectors.framework import Window, collector


@collector(
    source="prometheus",
    table="prometheus_series",
    natural_key=series_key,
    partitioning="hourly",
)
def prometheus_series(window: Window, prometheus: PrometheusClient):
    """Each query's series over the hour: labels and [timestamp, value] samples, one row per
    series and sub-range, with the query's name, PromQL, unit and step beside them."""
    yield from prometheus.range_records(window.start, window.end, log=window.log)
