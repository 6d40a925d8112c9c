"""Anthropic Admin API: daily token usage by model, workspace and API key, and the cost report."""

from orchestration.clients.anthropic import AnthropicAdminClient
from orchestration.collectors.framework import Window, collector


@collector(
    source="anthropic",
    table="anthropic_messages_usage",
    natural_key=(
        "starting_at",
        "api_key_id",
        "workspace_id",
        "model",
        "service_tier",
        "context_window",
        "inference_geo",
    ),
)
def anthropic_messages_usage(window: Window, anthropic: AnthropicAdminClient):
    """Token usage per day and group from the messages usage report, one token bucket a field."""
    yield from anthropic.messages_usage(window.start, window.end)


@collector(
    source="anthropic",
    table="anthropic_cost_report",
    natural_key=(
        "starting_at",
        "workspace_id",
        "description",
        "model",
        "cost_type",
        "token_type",
        "service_tier",
        "context_window",
    ),
)
def anthropic_cost_report(window: Window, anthropic: AnthropicAdminClient):
    """What Anthropic bills per day, workspace and line item (amounts in cents)."""
    yield from anthropic.cost_report(window.start, window.end)
