"""Anthropic Admin API: daily token usage, the cost report, and Claude Code analytics.

Token usage is by model, workspace and API key; Claude Code analytics by user or API key.
"""

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


# A record is one actor's day (a person or an API key). Terminal and customer type are in the
# key too: they are fields of the record that the documentation does not promise are one per
# actor and day, and a record split by them must not overwrite its sibling.
@collector(
    source="anthropic",
    table="anthropic_claude_code_usage",
    natural_key=(
        "date",
        "actor.type",
        "actor.email_address",
        "actor.api_key_name",
        "terminal_type",
        "customer_type",
    ),
)
def anthropic_claude_code_usage(window: Window, anthropic: AnthropicAdminClient):
    """Claude Code analytics per day and user or API key: sessions, code, tool use, tokens."""
    yield from anthropic.claude_code_usage(window.start, window.end)
