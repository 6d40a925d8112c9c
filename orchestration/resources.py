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
from orchestration.clients.aws import AwsCostExplorerClient
from orchestration.clients.azure import AzureCostClient
from orchestration.clients.claude_code import ClaudeCodeTranscripts, TranscriptFolderResource
from orchestration.clients.datadog import API_KEY_ENV as DD_API_KEY_ENV
from orchestration.clients.datadog import APP_KEY_ENV as DD_APP_KEY_ENV
from orchestration.clients.datadog import SITE_ENV as DD_SITE_ENV
from orchestration.clients.datadog import DatadogClient
from orchestration.clients.file_store import FileLocation, FileStore
from orchestration.clients.gcp import GcpBillingClient
from orchestration.clients.github import TOKEN_ENV as GITHUB_TOKEN_ENV
from orchestration.clients.github import GithubClient
from orchestration.clients.kubernetes import KubernetesClient
from orchestration.clients.mixpanel import SECRET_ENV as MIXPANEL_SECRET_ENV
from orchestration.clients.mixpanel import USERNAME_ENV as MIXPANEL_USERNAME_ENV
from orchestration.clients.mixpanel import MixpanelClient
from orchestration.clients.openai import API_KEY_ENV as OPENAI_KEY_ENV
from orchestration.clients.openai import OpenAIAdminClient
from orchestration.clients.prometheus import PrometheusClient
from orchestration.clients.stripe import API_KEY_ENV as STRIPE_KEY_ENV
from orchestration.clients.stripe import StripeBilling
from orchestration.config import (
    AnthropicConfig,
    AwsConfig,
    AzureConfig,
    ClaudeCodeConfig,
    DatadogConfig,
    FocusConfig,
    GcpConfig,
    GithubConfig,
    KubernetesConfig,
    MixpanelConfig,
    OpenAIConfig,
    PrometheusConfig,
    StripeConfig,
    VaultConfig,
)
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


def _aws(section: AwsConfig) -> dict[str, dg.ConfigurableResource]:
    # No secret here: boto3 finds credentials in the standard AWS chain at run time.
    return {"aws": AwsCostExplorerClient.from_config(section)}


def _azure(section: AzureConfig) -> dict[str, dg.ConfigurableResource]:
    # No secret here: azure-identity finds the credential (environment, managed identity,
    # az login) at run time.
    return {
        "azure": AzureCostClient(
            scopes=list(section.scopes),
            cost_types=list(section.cost_types),
            cost_column=section.cost_column,
            group_by=list(section.group_by),
            tag_key=section.tag_key,
            base_url=section.base_url,
            api_version=section.api_version,
            timeout_s=section.timeout_s,
            max_retries=section.max_retries,
            credential=section.credential,
        )
    }


def _gcp(section: GcpConfig) -> dict[str, dg.ConfigurableResource]:
    # No secret here: google-auth finds Application Default Credentials at run time.
    return {
        "gcp": GcpBillingClient(
            billing_export_table=section.billing_export_table,
            query_project=section.query_project,
            location=section.location,
            detailed=None if section.detailed == "auto" else section.detailed,
            catalog_services=list(section.catalog_services),
            api_endpoint=section.api_endpoint,
            max_retries=section.max_retries,
        )
    }


def _focus(section: FocusConfig) -> dict[str, dg.ConfigurableResource]:
    # The options are what the FOCUS reader needs per location; credentials are the SDKs' own.
    locations = [
        FileLocation(
            uri=location.uri,
            patterns=list(location.patterns),
            endpoint_url=location.endpoint_url,
            region=location.region,
            options={
                key: value
                for key in ("focus_version", "provider_name", "encoding")
                if (value := getattr(location, key)) is not None
            },
        )
        for location in section.locations
    ]
    return {"focus": FileStore(locations=locations)}


def _datadog(section: DatadogConfig) -> dict[str, dg.ConfigurableResource]:
    # DD_SITE is not a secret: it names the site, read here like vault.yaml's own keys.
    client = DatadogClient.from_config(
        section,
        api_key=secret(DD_API_KEY_ENV),
        app_key=secret(DD_APP_KEY_ENV),
        site_env=os.environ.get(DD_SITE_ENV),
    )
    return {"datadog": client}


def _prometheus(section: PrometheusConfig) -> dict[str, dg.ConfigurableResource]:
    variables = (
        section.bearer_token_env,
        section.basic_auth_username_env,
        section.basic_auth_password_env,
    )
    secrets = {name: secret(name) for name in variables if name}
    return {"prometheus": PrometheusClient.from_config(section, secrets)}


def _kubernetes(section: KubernetesConfig) -> dict[str, dg.ConfigurableResource]:
    # No secret here: the kubeconfig (or the pod's service account) holds the credentials,
    # read by the official client at run time.
    return {"kubernetes": KubernetesClient.from_config(section)}


def _stripe(section: StripeConfig) -> dict[str, dg.ConfigurableResource]:
    return {
        "stripe": StripeBilling(
            base_url=section.base_url,
            api_key=secret(STRIPE_KEY_ENV),
            timeout_s=section.timeout_s,
            max_retries=section.max_retries,
            house_customer_key=section.house_customer_metadata_key,
        )
    }


def _mixpanel(section: MixpanelConfig) -> dict[str, dg.ConfigurableResource]:
    return {
        "mixpanel": MixpanelClient(
            base_url=section.query_url,
            project_id=section.project_id,
            username=secret(MIXPANEL_USERNAME_ENV),
            secret=secret(MIXPANEL_SECRET_ENV),
            events=list(section.events),
            property_name=section.property_name,
            segment_limit=section.segment_limit,
            timeout_s=section.timeout_s,
            max_retries=section.max_retries,
        )
    }


def _github(section: GithubConfig) -> dict[str, dg.ConfigurableResource]:
    return {
        "github": GithubClient(
            base_url=section.base_url,
            token=secret(GITHUB_TOKEN_ENV),
            timeout_s=section.timeout_s,
            max_retries=section.max_retries,
            organization=section.organization,
            repositories=list(section.repositories),
            include_archived=section.include_archived,
            per_page=section.per_page,
            pull_request_details=section.pull_request_details,
            rate_limit_max_wait_s=section.rate_limit_max_wait_s,
        )
    }


def _entries_only(section: Any) -> dict[str, dg.ConfigurableResource]:
    # http_api, sql and log_files need no client: each entry's collector is built from its
    # vault.yaml entry, and reads the variables it names (token, database URL) when it runs.
    return {}


SOURCE_RESOURCES: dict[str, Callable[[Any], dict[str, dg.ConfigurableResource]]] = {
    "anthropic": _anthropic,
    "aws": _aws,
    "azure": _azure,
    "claude_code": _claude_code,
    "datadog": _datadog,
    "focus": _focus,
    "gcp": _gcp,
    "github": _github,
    "http_api": _entries_only,
    "kubernetes": _kubernetes,
    "log_files": _entries_only,
    "mixpanel": _mixpanel,
    "openai": _openai,
    "prometheus": _prometheus,
    "sql": _entries_only,
    "stripe": _stripe,
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
