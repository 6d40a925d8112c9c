"""OpenAI organization usage (one raw table per endpoint) and costs, per day.

Each usage endpoint is its own collector, present only when `usage_endpoints` in vault.yaml
lists it: an organisation that never calls, say, the audio endpoints gets no asset and no runs
for them, rather than a collector that loads nothing (and would replace earlier loads with
nothing if the list were narrowed later).
"""

from collections.abc import Callable
from typing import Any

from orchestration.clients.openai import OpenAIAdminClient
from orchestration.collectors.framework import Window, collector

# Every result of an endpoint grouped by all its fields is one of these per day.
_GROUPS = ("project_id", "user_id", "api_key_id", "model")


def _listed(endpoint: str) -> Callable[[Any], bool]:
    """Whether the openai section's `usage_endpoints` includes `endpoint`."""
    return lambda section: endpoint in section.usage_endpoints


@collector(
    source="openai",
    table="openai_usage_completions",
    natural_key=("start_time", *_GROUPS, "batch", "service_tier"),
    enabled_if=_listed("completions"),
)
def openai_usage_completions(window: Window, openai: OpenAIAdminClient):
    """Chat and response tokens per day and group; input_tokens include the cached ones."""
    yield from openai.usage("completions", window.start, window.end)


@collector(
    source="openai",
    table="openai_usage_embeddings",
    natural_key=("start_time", *_GROUPS),
    enabled_if=_listed("embeddings"),
)
def openai_usage_embeddings(window: Window, openai: OpenAIAdminClient):
    """Embedding input tokens and requests per day, project, user, API key and model."""
    yield from openai.usage("embeddings", window.start, window.end)


@collector(
    source="openai",
    table="openai_usage_images",
    natural_key=("start_time", *_GROUPS, "size", "source"),
    enabled_if=_listed("images"),
)
def openai_usage_images(window: Window, openai: OpenAIAdminClient):
    """Images generated or edited per day, group, size and source."""
    yield from openai.usage("images", window.start, window.end)


@collector(
    source="openai",
    table="openai_usage_audio_speeches",
    natural_key=("start_time", *_GROUPS),
    enabled_if=_listed("audio_speeches"),
)
def openai_usage_audio_speeches(window: Window, openai: OpenAIAdminClient):
    """Text-to-speech characters and requests per day and group."""
    yield from openai.usage("audio_speeches", window.start, window.end)


@collector(
    source="openai",
    table="openai_usage_audio_transcriptions",
    natural_key=("start_time", *_GROUPS),
    enabled_if=_listed("audio_transcriptions"),
)
def openai_usage_audio_transcriptions(window: Window, openai: OpenAIAdminClient):
    """Seconds of audio transcribed and requests per day and group."""
    yield from openai.usage("audio_transcriptions", window.start, window.end)


@collector(
    source="openai", table="openai_costs", natural_key=("start_time", "project_id", "line_item")
)
def openai_costs(window: Window, openai: OpenAIAdminClient):
    """What OpenAI bills per day, project and line item (dollars, as floats)."""
    yield from openai.costs(window.start, window.end)
