"""Mixpanel: how often each configured event happened per day (and per property value)."""

from orchestration.clients.mixpanel import MixpanelClient
from orchestration.collectors.framework import Window, collector


@collector(source="mixpanel", table="mixpanel_event_counts", natural_key=("event", "from_date"))
def mixpanel_event_counts(window: Window, mixpanel: MixpanelClient):
    """The segmentation report of each configured event for the day."""
    yield from mixpanel.event_counts(window.start, window.end)
