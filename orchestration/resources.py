"""The resources every run gets: the warehouse, dbt, and one client per enabled source.

Secrets are passed as `dg.EnvVar`, so they are read in the run's own process and never shown in
the UI's resource configuration. A source whose credential variable is unset still gets its
client, with no key: its own runs fail with a message naming the variable, and nothing else is
affected.
"""

import os
from collections.abc import Callable
from typing import Any

import dagster as dg
from dagster_dbt import DbtCliResource

from orchestration.clients.anthropic import API_KEY_ENV as ANTHROPIC_KEY_ENV
from orchestration.clients.anthropic import AnthropicAdminClient
from orchestration.clients.claude_code import ClaudeCodeTranscripts, TranscriptFolderResource
from orchestration.clients.openai import API_KEY_ENV as OPENAI_KEY_ENV
from orchestration.clients.openai import OpenAIAdminClient
from orchestration.config import AnthropicConfig, ClaudeCodeConfig, OpenAIConfig, VaultConfig
from orchestration.dbt.project import DBT_PROJECT_DIR, dbt_executable
from orchestration.warehouse.connection import DATABASE_URL_ENV, WarehouseResource


def secret(variable: str) -> Any:
    """`dg.EnvVar(variable)` when it is set, else None (the client then names the variable)."""
    return dg.EnvVar(variable) if os.environ.get(variable) else None


def _anthropic(section: AnthropicConfig) -> dict[str, dg.ConfigurableResource]:
    return {
        "anthropic": AnthropicAdminClient(
            base_url=section.base_url,
            api_key=secret(ANTHROPIC_KEY_ENV),
            timeout_s=section.timeout_s,
            max_retries=section.max_retries,
            usage_group_by=list(section.usage_group_by),
            cost_group_by=list(section.cost_group_by),
        )
    }


def _claude_code(section: ClaudeCodeConfig) -> dict[str, dg.ConfigurableResource]:
    folders = [
        TranscriptFolderResource(path=folder.path, user_email=folder.user_email)
        for folder in section.folders
    ]
    return {"claude_code": ClaudeCodeTranscripts(folders=folders)}


def _openai(section: OpenAIConfig) -> dict[str, dg.ConfigurableResource]:
    return {
        "openai": OpenAIAdminClient(
            base_url=section.base_url,
            api_key=secret(OPENAI_KEY_ENV),
            timeout_s=section.timeout_s,
            max_retries=section.max_retries,
            usage_endpoints=list(section.usage_endpoints),
            completions_group_by=list(section.completions_group_by),
            costs_group_by=list(section.costs_group_by),
        )
    }


SOURCE_RESOURCES: dict[str, Callable[[Any], dict[str, dg.ConfigurableResource]]] = {
    "anthropic": _anthropic,
    "claude_code": _claude_code,
    "openai": _openai,
}


def build_resources(config: VaultConfig) -> dict[str, Any]:
    url = dg.EnvVar(DATABASE_URL_ENV) if os.environ.get(DATABASE_URL_ENV) else ""
    resources: dict[str, Any] = {
        "warehouse": WarehouseResource(url=url),
        "dbt": DbtCliResource(
            project_dir=str(DBT_PROJECT_DIR),
            profiles_dir=str(DBT_PROJECT_DIR),
            dbt_executable=dbt_executable(),
        ),
    }
    for name, section in config.enabled_sources().items():
        resources.update(SOURCE_RESOURCES[name](section))
    return resources
