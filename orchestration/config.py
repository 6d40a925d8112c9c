"""`vault.yaml`: which sources run and with which parameters.

The file is found through `VAULT_CONFIG`, else `./vault.yaml`. It is validated when the
definitions load: an unknown key, a wrong type or a bad value is refused with the file, the key
and the reason, before anything runs. Credentials never live here: each source reads its
vendor's own environment variable (see `vault.example.yaml`).

A source runs when its section is present and `enabled` is not false. With no file at all the
vault loads with no sources, so a fresh checkout still opens in the Dagster UI.
"""

import os
import re
from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from orchestration.clients.gcp_export_table import check_project_id, parse_export_table
from orchestration.custom.entries import (
    HttpApiEntry,
    LogSourceEntry,
    SqlQueryEntry,
    check_unique_names,
)

CONFIG_ENV = "VAULT_CONFIG"
DEFAULT_CONFIG = "vault.yaml"


class ConfigError(ValueError):
    """`vault.yaml` is unreadable or invalid; the message names the file, key and reason."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HttpSourceConfig(_Section):
    enabled: bool = True
    base_url: str
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    max_retries: Annotated[int, Field(ge=0, le=20)] = 5
    lookback_days: Annotated[int, Field(ge=0, le=90)] = 2
    """Each scheduled tick also reloads this many earlier days, for data the vendor restates."""

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


AnthropicGroupBy = Literal[
    "api_key_id", "workspace_id", "model", "service_tier", "context_window", "inference_geo"
]


class AnthropicConfig(HttpSourceConfig):
    base_url: str = "https://api.anthropic.com"
    usage_group_by: list[AnthropicGroupBy] = ["model", "workspace_id", "api_key_id"]
    cost_group_by: list[Literal["workspace_id", "description"]] = ["workspace_id", "description"]


OpenAIUsageEndpoint = Literal[
    "completions",
    "embeddings",
    "images",
    "audio_speeches",
    "audio_transcriptions",
]


class OpenAIConfig(HttpSourceConfig):
    base_url: str = "https://api.openai.com"
    usage_endpoints: list[OpenAIUsageEndpoint] = [
        "completions",
        "embeddings",
        "images",
        "audio_speeches",
        "audio_transcriptions",
    ]
    """Which organization usage endpoints to collect, one raw table each."""
    completions_group_by: list[
        Literal["project_id", "user_id", "api_key_id", "model", "batch", "service_tier"]
    ] = ["project_id", "user_id", "api_key_id", "model", "batch"]
    costs_group_by: list[Literal["project_id", "line_item"]] = ["project_id", "line_item"]


class TranscriptFolder(_Section):
    path: str
    user_email: str | None = None
    """Whose transcripts these are; transcripts carry no email of their own."""


class ClaudeCodeConfig(_Section):
    enabled: bool = True
    folders: list[TranscriptFolder] = [TranscriptFolder(path="~/.claude/projects")]
    lookback_days: Annotated[int, Field(ge=0, le=90)] = 1

    @field_validator("folders", mode="before")
    @classmethod
    def _plain_paths(cls, value: object) -> object:
        if isinstance(value, list):
            return [{"path": item} if isinstance(item, str) else item for item in value]
        return value


class CloudSourceConfig(_Section):
    """What every cloud billing source shares."""

    enabled: bool = True
    max_retries: Annotated[int, Field(ge=0, le=20)] = 5
    lookback_days: Annotated[int, Field(ge=0, le=90)] = 3
    """Each scheduled tick also reloads this many earlier days: clouds restate recent days."""


AwsMetric = Literal[
    "UnblendedCost",
    "AmortizedCost",
    "NetAmortizedCost",
    "NetUnblendedCost",
    "BlendedCost",
    "UsageQuantity",
]
AWS_DEFAULT_METRICS: tuple[str, ...] = (
    "UnblendedCost",
    "AmortizedCost",
    "NetAmortizedCost",
    "UsageQuantity",
)
# The DIMENSION keys GetCostAndUsage groups by (its GroupBy documentation, plus REGION).
AWS_GROUP_BY_DIMENSIONS: tuple[str, ...] = (
    "AZ",
    "INSTANCE_TYPE",
    "INVOICING_ENTITY",
    "LEGAL_ENTITY_NAME",
    "LINKED_ACCOUNT",
    "OPERATION",
    "PLATFORM",
    "PURCHASE_TYPE",
    "RECORD_TYPE",
    "REGION",
    "SERVICE",
    "TENANCY",
    "USAGE_TYPE",
)
AWS_MAX_GROUP_BY = 2


def check_aws_query(
    metrics: Sequence[str], group_by: Sequence[tuple[str, str]], billed_cost_metric: str
) -> None:
    """Refuse, with the reason, a Cost Explorer query that GetCostAndUsage would reject.

    `group_by` holds (type, key) pairs. Shared by `AwsConfig` and the client, so a query is
    checked the same way whether it comes from vault.yaml or is built in code.
    """
    check_aws_metrics(metrics)
    if billed_cost_metric not in metrics:
        raise ValueError(f"billed_cost_metric {billed_cost_metric} must be one of the metrics")
    check_aws_group_by(group_by)


def check_aws_metrics(metrics: Sequence[str]) -> None:
    known = AwsMetric.__args__
    unknown = [metric for metric in metrics if metric not in known]
    if unknown:
        raise ValueError(f"unknown metric(s) {', '.join(unknown)}; use any of {', '.join(known)}")
    if not metrics:
        raise ValueError("name at least one metric")
    if len(set(metrics)) != len(metrics):
        raise ValueError("a metric is listed twice")


def check_aws_group_by(group_by: Sequence[tuple[str, str]]) -> None:
    if len(group_by) > AWS_MAX_GROUP_BY:
        raise ValueError(
            f"Cost Explorer groups by at most {AWS_MAX_GROUP_BY} keys, got {len(group_by)}"
        )
    if len(set(group_by)) != len(group_by):
        raise ValueError("a group-by is listed twice")
    for kind, key in group_by:
        if kind not in ("DIMENSION", "TAG", "COST_CATEGORY"):
            raise ValueError(f"group-by type {kind!r} must be DIMENSION, TAG or COST_CATEGORY")
        if not key or "$" in key:
            raise ValueError(f"{kind} group-by key {key!r} must be non-empty and without '$'")
        if kind == "DIMENSION" and key not in AWS_GROUP_BY_DIMENSIONS:
            raise ValueError(
                f"Cost Explorer does not group by DIMENSION {key!r}; "
                f"use one of {', '.join(AWS_GROUP_BY_DIMENSIONS)}"
            )


class AwsGroupBy(_Section):
    type: Literal["DIMENSION", "TAG", "COST_CATEGORY"]
    """DIMENSION (key SERVICE, LINKED_ACCOUNT, REGION, ...), TAG (a cost allocation tag key)
    or COST_CATEGORY (a cost category name)."""
    key: Annotated[str, Field(min_length=1, max_length=1024)]


class AwsConfig(CloudSourceConfig):
    """AWS Cost Explorer (`ce:GetCostAndUsage`), credentials from the standard AWS chain."""

    region: Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")] = "us-east-1"
    """Region of the Cost Explorer endpoint (us-east-1 for the aws partition)."""
    profile: str | None = None
    """A profile from ~/.aws/config to use instead of the default chain's choice."""
    endpoint_url: str | None = None
    """Another Cost Explorer (and STS) endpoint: the sandbox's moto server, tests."""
    retry_mode: Literal["standard", "adaptive"] = "standard"
    """botocore's retry mode for throttling; max_retries is its retry count."""
    metrics: list[AwsMetric] = list(AWS_DEFAULT_METRICS)
    """Cost Explorer metrics to collect; each lands in raw with its amount and unit."""
    billed_cost_metric: Literal["UnblendedCost", "NetUnblendedCost"] = "UnblendedCost"
    """The metric that becomes the ledger's billed_cost (NetUnblendedCost: after discounts)."""
    group_by: list[AwsGroupBy] = [
        AwsGroupBy(type="DIMENSION", key="SERVICE"),
        AwsGroupBy(type="DIMENSION", key="LINKED_ACCOUNT"),
    ]
    """At most two groupings; each (day, group) is one raw record."""
    estimated_refetch_days: Annotated[int, Field(ge=0, le=366)] = 62
    """Days Cost Explorer still marks Estimated are reloaded while this recent."""
    billing_account_id: Annotated[str, Field(pattern=r"^[0-9]{12}$")] | None = None
    """The payer (management) account; default: the account of the credentials (STS)."""
    billing_account_name: Annotated[str, Field(min_length=1)] | None = None
    """Its display name; default: the account id."""

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint_http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("metrics")
    @classmethod
    def _valid_metrics(cls, value: list[str]) -> list[str]:
        check_aws_metrics(value)
        return value

    @field_validator("group_by")
    @classmethod
    def _valid_group_by(cls, value: list[AwsGroupBy]) -> list[AwsGroupBy]:
        check_aws_group_by([(group.type, group.key) for group in value])
        return value

    @model_validator(mode="after")
    def _billed_metric_is_collected(self) -> "AwsConfig":
        if self.billed_cost_metric not in self.metrics:
            raise ValueError(
                f"billed_cost_metric {self.billed_cost_metric} must be one of the metrics"
            )
        return self


class GcpConfig(CloudSourceConfig):
    """The Cloud Billing export in BigQuery, and the billing catalog for list prices."""

    billing_export_table: str
    """The export table as project.dataset.table (gcp_billing_export_v1_<ACCOUNT>, the
    detailed gcp_billing_export_resource_v1_<ACCOUNT>, or a view over either)."""
    query_project: str | None = None
    """Project the query jobs run in and are billed to; default: the table's project."""
    location: str | None = None
    """BigQuery location of the export dataset (US, EU, europe-west1...); default: BigQuery's."""
    detailed: Literal["auto"] | bool = "auto"
    """Whether the table is a detailed export (resource and price columns); auto: its name."""
    catalog_prices: bool = True
    """Also snapshot the Cloud Billing Catalog's list prices daily (raw.gcp_catalog_prices)."""
    catalog_services: list[str] = []
    """Service ids (6F81-5844-456A) whose prices to snapshot; empty: those the export used."""
    api_endpoint: str | None = None
    """One root for the BigQuery and Cloud Billing APIs instead of Google's (the sandbox)."""

    @field_validator("billing_export_table")
    @classmethod
    def _table_id(cls, value: str) -> str:
        return parse_export_table(value).table_id

    @field_validator("query_project")
    @classmethod
    def _project_id(cls, value: str | None) -> str | None:
        return value if value is None else check_project_id(value)

    @field_validator("location")
    @classmethod
    def _location(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z]+(-[a-z]+[0-9]*)?", value):
            raise ValueError("must be a BigQuery location such as US, EU or europe-west1")
        return value

    @field_validator("catalog_services")
    @classmethod
    def _service_ids(cls, value: list[str]) -> list[str]:
        pattern = r"[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}"
        bad = [item for item in value if not re.fullmatch(pattern, item)]
        if bad:
            raise ValueError(f"{bad} are not service ids such as 6F81-5844-456A")
        return value

    @field_validator("api_endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value if value is None else value.rstrip("/")

    @model_validator(mode="after")
    def _kind_is_known(self) -> "GcpConfig":
        table = parse_export_table(self.billing_export_table)
        if self.detailed == "auto" and table.named_detailed is None:
            raise ValueError(
                "detailed: the table's name says neither gcp_billing_export_v1_ nor "
                "gcp_billing_export_resource_v1_; set detailed: true or false"
            )
        return self


AzureCostType = Literal["ActualCost", "AmortizedCost"]
AzureDimension = Literal[
    "ResourceGroupName", "ServiceName", "ResourceLocation", "SubscriptionId", "ChargeType"
]
# Azure refuses tag names holding any of < > % & \ ? /
AzureTagKey = Annotated[str, Field(min_length=1, max_length=512, pattern=r"^[^<>%&\\?/]+$")]
# The Query API takes two grouping clauses; the client reaches a third by one filtered query
# per value of the first (see clients/azure.py).
AZURE_MAX_GROUPINGS = 3
_AZURE_SCOPE = re.compile(
    r"^/(subscriptions/[^/]+(/resourceGroups/[^/]+)?"
    r"|providers/Microsoft\.Billing/billingAccounts/[^/]+"
    r"(/(billingProfiles|invoiceSections|departments|enrollmentAccounts|customers)/[^/]+)*"
    r"|providers/Microsoft\.Management/managementGroups/[^/]+)$",
    re.IGNORECASE,
)


def normalise_azure_scope(scope: str) -> str:
    """`scope` with one leading slash and none trailing, or ValueError saying what it must be."""
    normalised = "/" + scope.strip().strip("/")
    if not _AZURE_SCOPE.match(normalised):
        raise ValueError(
            f"scope {scope!r} is not a Cost Management scope; use /subscriptions/<id>, "
            "/subscriptions/<id>/resourceGroups/<name>, "
            "/providers/Microsoft.Billing/billingAccounts/<id>[/billingProfiles/<id>...] "
            "or /providers/Microsoft.Management/managementGroups/<id>"
        )
    return normalised


def check_azure_scopes(scopes: Sequence[str]) -> list[str]:
    """The scopes normalised; refuses none, repeats, and a scope inside another (whose cost
    the outer query already holds, so the ledger would count it twice)."""
    normalised = [normalise_azure_scope(scope) for scope in scopes]
    if not normalised:
        raise ValueError("name at least one scope")
    lowered = [scope.lower() for scope in normalised]
    for index, scope in enumerate(lowered):
        if scope in lowered[:index]:
            raise ValueError(f"scope {normalised[index]} is listed twice")
        for other in lowered:
            if scope.startswith(other + "/"):
                raise ValueError(
                    f"scope {normalised[index]} lies inside scope "
                    f"{normalised[lowered.index(other)]}; its cost would be counted twice"
                )
    return normalised


class AzureConfig(CloudSourceConfig):
    """Azure Cost Management Query API, token from azure-identity."""

    scopes: list[str]
    """Scopes to query, each on its own: subscriptions, resource groups, billing accounts."""
    cost_types: list[AzureCostType] = ["ActualCost"]
    """ActualCost (billed cost; required) and optionally AmortizedCost (effective cost)."""
    cost_column: Literal["auto", "PreTaxCost", "Cost"] = "auto"
    """Cost to aggregate: PreTaxCost (EA, pay-as-you-go), Cost and CostUSD (MCA); auto picks
    Cost for MCA-only scopes (billing profiles, invoice sections, customers) else PreTaxCost."""
    group_by: list[AzureDimension] = ["ResourceGroupName", "ServiceName"]
    """Dimensions to group by; with tag_key, at most three groupings in all."""
    tag_key: AzureTagKey | None = None
    """A tag key to group by too (e.g. team): each row then carries that tag's value."""
    base_url: str = "https://management.azure.com"
    """The Resource Manager endpoint (another cloud's, or the sandbox's)."""
    api_version: Annotated[str, Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(-preview)?$")] = (
        "2023-03-01"
    )
    """Cost Management API version sent as api-version."""
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 60.0
    """Seconds to wait for one answer; large scopes answer slowly."""
    credential: Literal["default", "managed_identity"] = "default"
    """default: azure-identity's DefaultAzureCredential chain; managed_identity: only that."""

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: list[str]) -> list[str]:
        return check_azure_scopes(value)

    @field_validator("api_version", mode="before")
    @classmethod
    def _unquoted_version(cls, value: object) -> object:
        # YAML reads an unquoted 2023-03-01 as a date.
        return value.isoformat() if isinstance(value, date) else value

    @field_validator("base_url")
    @classmethod
    def _base_http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _valid_query(self) -> "AzureConfig":
        if "ActualCost" not in self.cost_types:
            raise ValueError("cost_types must include ActualCost: the ledger's billed cost")
        if len(set(self.cost_types)) != len(self.cost_types):
            raise ValueError("cost_types lists a type twice")
        if len(set(self.group_by)) != len(self.group_by):
            raise ValueError("group_by lists a dimension twice")
        groupings = len(self.group_by) + (self.tag_key is not None)
        if not 1 <= groupings <= AZURE_MAX_GROUPINGS:
            raise ValueError(
                f"group_by and tag_key give {groupings} groupings; use 1 to {AZURE_MAX_GROUPINGS}"
            )
        return self


FOCUS_VERSIONS = ("1.0", "1.1", "1.2")
FOCUS_DEFAULT_PATTERNS = ("*.csv", "*.csv.gz", "*.parquet")
_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_GCS_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12))
_CRON_MACROS = ("@hourly", "@daily", "@weekly", "@monthly")


def check_location_uri(uri: str) -> str:
    """`uri` if it names a local folder, `s3://bucket[/prefix]` or `gs://bucket[/prefix]`."""
    uri = uri.strip()
    if "://" not in uri:
        if not uri.startswith(("/", "~")):
            raise ValueError(
                f"{uri!r}: a local folder must be an absolute path (or start with ~); "
                "otherwise use s3://bucket/prefix or gs://bucket/prefix"
            )
        return uri
    scheme, _, rest = uri.partition("://")
    if scheme == "file":
        return check_location_uri(rest)
    if scheme not in ("s3", "gs"):
        raise ValueError(
            f"{uri!r}: scheme {scheme}:// is not supported; use a local folder, "
            "s3://bucket/prefix or gs://bucket/prefix"
        )
    bucket = rest.split("/", 1)[0]
    pattern = _S3_BUCKET if scheme == "s3" else _GCS_BUCKET
    if not pattern.match(bucket):
        raise ValueError(
            f"{uri!r}: {bucket!r} is not a valid {'S3' if scheme == 's3' else 'GCS'} bucket "
            "name (lowercase letters, digits, dots and hyphens, 3-63 characters)"
        )
    return uri


def check_cron(expression: str) -> str:
    """`expression` if it is a five-field cron schedule (or @hourly, @daily ...)."""
    if expression in _CRON_MACROS:
        return expression
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"{expression!r}: a cron schedule has five fields, e.g. '17 * * * *'")
    for field, (name, low, high) in zip(fields, (*_CRON_FIELDS, ("weekday", 0, 7)), strict=True):
        for item in field.split(","):
            span, _, step = item.partition("/")
            if step and not step.isdigit():
                raise ValueError(f"{expression!r}: {name} step {step!r} is not a number")
            if span == "*":
                continue
            bounds = span.split("-")
            if len(bounds) > 2 or not all(b.isdigit() and low <= int(b) <= high for b in bounds):
                raise ValueError(f"{expression!r}: {name} {span!r} is not in {low}-{high}")
    return expression


class FocusLocation(_Section):
    """One place FOCUS files are delivered to."""

    uri: str
    """A local folder (absolute), `s3://bucket/prefix` or `gs://bucket/prefix`."""
    patterns: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)] = list(
        FOCUS_DEFAULT_PATTERNS
    )
    """Globs matched against each file's path below the location; `*` also crosses folders."""
    focus_version: Literal[FOCUS_VERSIONS] | None = None
    """Read every file here as this version, whatever the file declares or its columns suggest."""
    provider_name: Annotated[str, Field(min_length=1)] | None = None
    """The ledger's provider_name for these files, instead of their ProviderName column."""
    encoding: str | None = None
    """Encoding of CSV files that start with no byte-order mark; default UTF-8."""
    endpoint_url: str | None = None
    """S3 only: another S3 endpoint (MinIO, a moto server in tests)."""
    region: Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-[0-9]+$")] | None = None
    """S3 only: the bucket's region; default from the AWS credential chain's configuration."""

    @field_validator("uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        return check_location_uri(value)

    @field_validator("focus_version", mode="before")
    @classmethod
    def _version_text(cls, value: object) -> object:
        # YAML reads an unquoted 1.2 as a number.
        return f"{value:.1f}" if isinstance(value, float | int) and value < 10 else value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str | None) -> str | None:
        import codecs

        if value is not None:
            try:
                codecs.lookup(value)
            except LookupError:
                raise ValueError(f"unknown text encoding {value!r}") from None
        return value

    @field_validator("endpoint_url")
    @classmethod
    def _http_endpoint(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @model_validator(mode="after")
    def _s3_only_keys(self) -> "FocusLocation":
        for key in ("endpoint_url", "region"):
            if getattr(self, key) is not None and not self.uri.startswith("s3://"):
                raise ValueError(f"{key} applies to s3:// locations only, not {self.uri!r}")
        return self


class FocusConfig(_Section):
    """FOCUS 1.0-1.2 files (CSV or Parquet) from local folders, S3 or GCS prefixes."""

    enabled: bool = True
    locations: list[FocusLocation] = []
    """Where the files are delivered; each new or changed file is imported once."""
    schedule: str = "17 * * * *"
    """When the locations are checked for new files (cron, UTC); hourly by default."""

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value.strip())

    @model_validator(mode="after")
    def _some_location(self) -> "FocusConfig":
        if self.enabled and not self.locations:
            raise ValueError("locations: name at least one folder, s3:// or gs:// prefix")
        uris = [location.uri.rstrip("/") for location in self.locations]
        if len(set(uris)) != len(uris):
            raise ValueError("locations: a location is listed twice")
        return self


# fct_metrics' metric types: dotted lower-case words, at least two (`infra.cpu.usage_cores`).
_METRIC_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$")
_METRIC_UNIT = re.compile(r"^[A-Za-z0-9_./%-]{1,32}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PROMETHEUS_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# Prometheus durations in the units a step is written in: 30s, 5m, 1h30m, 1d.
_PROMETHEUS_DURATION = re.compile(r"^(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$")
PROMETHEUS_MAX_POINTS = 11_000


def check_metric_type(name: str) -> str:
    """`name` if it is a metric type fct_metrics accepts (dotted lower-case words)."""
    if not _METRIC_TYPE.match(name):
        raise ValueError(
            f"{name!r} is not a metric type: use dotted lower-case words such as "
            "infra.cpu.usage_cores (letters, digits and underscores, at least two parts)"
        )
    return name


def check_metric_unit(unit: str) -> str:
    if not _METRIC_UNIT.match(unit):
        raise ValueError(
            f"unit {unit!r} must be 1-32 letters, digits or _ . / % - (e.g. cores, bytes)"
        )
    return unit


def check_env_name(name: str | None) -> str | None:
    """`name` if it can be an environment variable's name (the variable holds the secret)."""
    if name is not None and not _ENV_NAME.match(name):
        raise ValueError(
            f"{name!r} is not an environment variable name; name the variable that holds "
            "the secret (e.g. PROMETHEUS_TOKEN), never the secret itself"
        )
    return name


def step_seconds(step: str | int) -> int:
    """A Prometheus step (`60s`, `5m`, `1h`, or whole seconds) in seconds; at least one."""
    if isinstance(step, int) and not isinstance(step, bool):
        seconds = step
    else:
        match = _PROMETHEUS_DURATION.match(str(step).strip())
        if not match or not any(match.groups()):
            raise ValueError(
                f"step {step!r} is not a duration: write whole seconds, minutes, hours or "
                "days such as 30s, 5m, 1h or 1h30m"
            )
        days, hours, minutes, secs = (int(part or 0) for part in match.groups())
        seconds = ((days * 24 + hours) * 60 + minutes) * 60 + secs
    if seconds < 1:
        raise ValueError(f"step {step!r} must be at least one second")
    return seconds


class PrometheusQuery(_Section):
    """One PromQL range query; every series it answers lands in fct_metrics."""

    name: str
    """The metric type of its samples in fct_metrics, e.g. infra.cpu.usage_cores."""
    query: Annotated[str, Field(min_length=1, max_length=10_000)]
    """The PromQL expression, evaluated with query_range at every step."""
    unit: str
    """Unit of the values, e.g. cores, bytes, requests_per_second."""
    step: str = "60s"
    """Resolution: one sample per series every step (30s, 5m, 1h), aligned to the epoch."""
    tags: list[str] | None = None
    """Series labels that become fct_metrics tags; default every label but __name__."""
    value_kind: Literal["gauge", "counter"] | None = None
    """Optional: whether the values are gauges or cumulative counters; kept as a tag."""

    @field_validator("name")
    @classmethod
    def _metric_type(cls, value: str) -> str:
        return check_metric_type(value)

    @field_validator("unit")
    @classmethod
    def _unit(cls, value: str) -> str:
        return check_metric_unit(value)

    @field_validator("step", mode="before")
    @classmethod
    def _step(cls, value: object) -> object:
        if isinstance(value, str | int):
            step_seconds(value)
            return str(value).strip() if isinstance(value, str) else f"{value}s"
        return value

    @field_validator("tags")
    @classmethod
    def _labels(cls, value: list[str] | None) -> list[str] | None:
        for label in value or []:
            if not _PROMETHEUS_LABEL.match(label):
                raise ValueError(f"{label!r} is not a Prometheus label name")
        if value is not None and len(set(value)) != len(value):
            raise ValueError("a label is listed twice")
        return value

    @property
    def step_s(self) -> int:
        return step_seconds(self.step)


class PrometheusConfig(_Section):
    """PromQL queries against a Prometheus-compatible server, hourly."""

    enabled: bool = True
    base_url: str = "http://localhost:9090"
    """The server's root (Prometheus, Thanos Query, Mimir's Prometheus API path, ...)."""
    bearer_token_env: str | None = None
    """Environment variable holding a bearer token, sent as Authorization: Bearer."""
    basic_auth_username_env: str | None = None
    """Environment variables holding the basic-auth user name and password."""
    basic_auth_password_env: str | None = None
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 60.0
    """Seconds before one request gives up; also sent as the query's own timeout."""
    max_retries: Annotated[int, Field(ge=0, le=20)] = 5
    """Retries of 429, 5xx (a 503 is an overloaded server) and time-outs."""
    max_points_per_query: Annotated[int, Field(ge=1, le=PROMETHEUS_MAX_POINTS)] = (
        PROMETHEUS_MAX_POINTS
    )
    """Most samples one series may have in one request; longer windows are split."""
    queries: Annotated[list[PrometheusQuery], Field(min_length=1)]
    """The range queries to collect each hour."""

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("bearer_token_env", "basic_auth_username_env", "basic_auth_password_env")
    @classmethod
    def _env_names(cls, value: str | None) -> str | None:
        return check_env_name(value)

    @model_validator(mode="after")
    def _one_way_to_authenticate(self) -> "PrometheusConfig":
        basic = (self.basic_auth_username_env, self.basic_auth_password_env)
        if (basic[0] is None) != (basic[1] is None):
            raise ValueError(
                "basic auth needs both basic_auth_username_env and basic_auth_password_env"
            )
        if self.bearer_token_env and basic[0]:
            raise ValueError("use bearer_token_env or basic auth, not both")
        names = [query.name for query in self.queries]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"queries: name {', '.join(repeated)} is used twice")
        return self


# A label key as Kubernetes allows it: an optional DNS-subdomain prefix and a name.
_K8S_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
K8sNamespace = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
UsdPerHour = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]


class KubernetesNodePrice(_Section):
    """A price rule: every node it matches costs `hourly_usd` per hour."""

    instance_type: Annotated[str, Field(min_length=1)] | None = None
    """The node's instance type (label node.kubernetes.io/instance-type), e.g. m6i.xlarge."""
    labels: dict[str, str] = {}
    """Node labels that must all have these values, e.g. eks.amazonaws.com/capacityType: SPOT."""
    hourly_usd: UsdPerHour
    """What one such node costs an hour: the amortised price its cloud bills, after discounts."""

    @field_validator("labels")
    @classmethod
    def _label_keys(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not _K8S_LABEL_KEY.match(key):
                raise ValueError(f"{key!r} is not a Kubernetes label key")
        return value

    @model_validator(mode="after")
    def _matches_something(self) -> "KubernetesNodePrice":
        if self.instance_type is None and not self.labels:
            raise ValueError("a price rule needs an instance_type or labels to match nodes by")
        return self


class KubernetesPriceRatios(_Section):
    """How a node's price divides between its resources: relative prices of one unit each."""

    cpu: Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]
    """Relative price of one vCPU-hour."""
    ram: Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]
    """Relative price of one GiB-hour of memory."""
    gpu: Annotated[Decimal, Field(ge=0, allow_inf_nan=False)] = Decimal(0)
    """Relative price of one GPU-hour."""


class KubernetesConfig(_Section):
    """Pods' requests and usage from the Kubernetes API, allocated to workloads as costs."""

    enabled: bool = True
    kubeconfig: Annotated[str, Field(min_length=1)] | None = None
    """The kubeconfig file; default $KUBECONFIG, else ~/.kube/config."""
    context: Annotated[str, Field(min_length=1)] | None = None
    """The kubeconfig context to use; default its current-context."""
    in_cluster: bool = False
    """Use the pod's service account instead of a kubeconfig (the vault runs in the cluster)."""
    cluster_name: Annotated[str, Field(min_length=1, max_length=253)] | None = None
    """The cluster's name in the ledger (its sub account); default the context's cluster name."""
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    """Seconds before one API request gives up."""
    max_retries: Annotated[int, Field(ge=0, le=20)] = 5
    """Retries of 429, 5xx and dropped connections, honouring Retry-After."""
    page_size: Annotated[int, Field(ge=1, le=10000)] = 500
    """Items per list request (the API's limit); each list is read page by page."""
    max_snapshot_delay_hours: Annotated[int, Field(ge=1, le=1_000_000)] = 3
    """How long after an hour ends it may still be collected; later, a snapshot would record
    the cluster as it is now, not as it was then, so the run is refused."""
    node_prices: list[KubernetesNodePrice] = []
    """Price rules, first match wins: a node's hourly price by instance type and labels."""
    default_node_hourly_usd: UsdPerHour | None = None
    """The hourly price of a node no rule matches; unset: such nodes cost the rates below."""
    cpu_core_hourly_usd: UsdPerHour = Decimal("0.031611")
    """USD per vCPU-hour of a node with no price (OpenCost's default)."""
    ram_gib_hourly_usd: UsdPerHour = Decimal("0.004237")
    """USD per GiB-hour of memory of a node with no price."""
    gpu_hourly_usd: UsdPerHour = Decimal("0.95")
    """USD per GPU-hour of a node with no price."""
    price_ratios: KubernetesPriceRatios | None = None
    """How a node price splits into CPU, RAM and GPU rates; default the ratio of the rates."""
    idle: Literal["separate", "share_by_node", "share_by_cluster"] = "separate"
    """Idle cost (node cost not allocated): its own __idle__ line per node, or shared among
    the workloads of its node or of the whole cluster in proportion to their cost."""
    share: Literal["even", "weighted"] = "weighted"
    """How the shared namespaces' cost is spread: evenly over the other workloads, or in
    proportion to their cost."""
    shared_namespaces: list[K8sNamespace] = ["kube-system"]
    """Namespaces whose cost is overhead, spread over every other workload."""

    @property
    def lookback_days(self) -> int:
        """A snapshot cannot restate the past: each tick collects only the hour just ended."""
        return 0

    @field_validator("shared_namespaces")
    @classmethod
    def _unique_namespaces(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("a namespace is listed twice")
        return value

    @model_validator(mode="after")
    def _one_way_in(self) -> "KubernetesConfig":
        if self.in_cluster and (self.kubeconfig or self.context):
            raise ValueError(
                "in_cluster uses the pod's service account: drop kubeconfig and context"
            )
        if self.in_cluster and not self.cluster_name:
            raise ValueError("in_cluster needs cluster_name: a pod cannot tell its cluster's name")
        return self


_DATADOG_SITE = re.compile(r"^([a-z0-9-]+\.)?(datadoghq\.com|datadoghq\.eu|ddog-gov\.com)$")
_DATADOG_TAG_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-/]{0,199}$")
DATADOG_DEFAULT_SITE = "datadoghq.com"


def check_datadog_site(site: str) -> str:
    """The site's domain (`datadoghq.com`, `us5.datadoghq.com`, `datadoghq.eu`, ...).

    `app.datadoghq.com`, the address of the web app, names the default site and is accepted.
    """
    normalised = site.strip().lower().removeprefix("https://").rstrip("/")
    normalised = normalised.removeprefix("api.").removeprefix("app.")
    if not _DATADOG_SITE.match(normalised):
        raise ValueError(
            f"{site!r} is not a Datadog site; use e.g. datadoghq.com, us3.datadoghq.com, "
            "us5.datadoghq.com, datadoghq.eu, ap1.datadoghq.com or ddog-gov.com"
        )
    return normalised


class DatadogQuery(_Section):
    """One metric query of the timeseries API; each series it answers lands in fct_metrics."""

    name: str
    """The metric type of its points in fct_metrics, e.g. infra.cpu.usage_percent."""
    query: Annotated[str, Field(min_length=1, max_length=10_000)]
    """The metrics query, e.g. avg:system.cpu.user{env:prod} by {service}.rollup(avg, 3600)."""
    unit: str
    """Unit of the values, e.g. percent, requests, ms."""
    tags: list[str] | None = None
    """Tag keys of each series' tag_set that become fct_metrics tags; default all of them."""

    @field_validator("name")
    @classmethod
    def _metric_type(cls, value: str) -> str:
        return check_metric_type(value)

    @field_validator("unit")
    @classmethod
    def _unit(cls, value: str) -> str:
        return check_metric_unit(value)

    @field_validator("tags")
    @classmethod
    def _tag_keys(cls, value: list[str] | None) -> list[str] | None:
        for key in value or []:
            if not _DATADOG_TAG_KEY.match(key):
                raise ValueError(f"{key!r} is not a Datadog tag key")
        if value is not None and len(set(value)) != len(value):
            raise ValueError("a tag key is listed twice")
        return value


class DatadogConfig(_Section):
    """Datadog metric queries and, where configured, usage and estimated cost."""

    enabled: bool = True
    site: str | None = None
    """The Datadog site (datadoghq.com, us5.datadoghq.com, datadoghq.eu, ...); default DD_SITE,
    else datadoghq.com. The API is https://api.<site>."""
    base_url: str | None = None
    """Another API root instead of https://api.<site>: a proxy, the sandbox."""
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 60.0
    max_retries: Annotated[int, Field(ge=0, le=20)] = 5
    """Retries of 429 (waiting X-RateLimit-Reset seconds), 5xx and time-outs."""
    lookback_days: Annotated[int, Field(ge=0, le=60)] = 3
    """Each scheduled tick also reloads this many earlier days: usage and cost lag up to 72 h."""
    queries: list[DatadogQuery] = []
    """Metric queries to collect per day."""
    estimated_cost: bool = False
    """Also collect the estimated cost (usage_read and billing_read) into fct_costs."""

    @field_validator("site")
    @classmethod
    def _site(cls, value: str | None) -> str | None:
        return None if value is None else check_datadog_site(value)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return None if value is None else value.rstrip("/")

    @model_validator(mode="after")
    def _something_to_collect(self) -> "DatadogConfig":
        if self.enabled and not self.queries and not self.estimated_cost:
            raise ValueError("name at least one query, or set estimated_cost: true")
        names = [query.name for query in self.queries]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"queries: name {', '.join(repeated)} is used twice")
        return self


class StripeConfig(HttpSourceConfig):
    """Stripe balance transactions, invoices with their lines, and subscriptions."""

    base_url: str = "https://api.stripe.com"
    """Stripe's API root (the sandbox's, in tests and the demo); the stripe library's api_base."""
    house_customer_metadata_key: Annotated[str, Field(pattern=r"^[^\[\]]{1,40}$")] = (
        "house_customer"
    )
    """The Stripe customer metadata key holding the house customer id, used when
    seeds/stripe_customers.csv does not map the customer (Stripe keys: 40 characters, no [])."""
    open_invoice_refetch_days: Annotated[int, Field(ge=0, le=366)] = 45
    """Days whose invoices were still draft or open when loaded are reloaded while this recent,
    so a later payment or void reaches the warehouse."""


MIXPANEL_REGIONS = {
    "US": "https://mixpanel.com",
    "EU": "https://eu.mixpanel.com",
    "IN": "https://in.mixpanel.com",
}
# A property name goes into `on=properties["<name>"]`; quotes or brackets would break out of it.
MixpanelProperty = Annotated[str, Field(pattern=r'^[^"\[\]\\]{1,255}$')]


class MixpanelConfig(_Section):
    """Mixpanel event counts per day and event name."""

    enabled: bool = True
    project_id: Annotated[int, Field(gt=0)]
    """The project's numeric id (Project Settings), sent as project_id with every query."""
    region: Literal["US", "EU", "IN"] = "US"
    """Where the project's data lives: US (mixpanel.com), EU or IN data residency."""
    base_url: str | None = None
    """Another Query API root instead of the region's (a proxy, the sandbox)."""
    events: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=255)]], Field(min_length=1)
    ]
    """Event names to count, one segmentation query each per day (Mixpanel allows 60 Query
    API calls an hour per project: events x days loaded per hour must stay under it)."""
    property_name: MixpanelProperty | None = None
    """An event property to split the counts by (plan, feature, $os...); none: totals."""
    segment_limit: Annotated[int, Field(ge=1, le=10_000)] = 1_000
    """Most property values per event and day; Mixpanel keeps the top ones (its own default
    is 60)."""
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 60.0
    """Seconds to wait for one answer."""
    max_retries: Annotated[int, Field(ge=0, le=20)] = 5
    """Retries of 429, 5xx, time-outs and truncated answers."""
    lookback_days: Annotated[int, Field(ge=0, le=90)] = 2
    """Each scheduled tick also reloads this many earlier days: events arrive late."""

    @field_validator("base_url")
    @classmethod
    def _base_http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @field_validator("events")
    @classmethod
    def _distinct_events(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("an event is listed twice")
        return value

    @property
    def query_url(self) -> str:
        """The API root queries go to: base_url, else the region's."""
        return self.base_url or MIXPANEL_REGIONS[self.region]


GithubRepository = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")]


class GithubConfig(HttpSourceConfig):
    """GitHub commits, pull requests and releases per repository and author."""

    base_url: str = "https://api.github.com"
    """The REST API root; GitHub Enterprise Server's is https://<host>/api/v3."""
    organization: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}$")] | None = None
    """Collect every repository of this organisation (listed at each run)."""
    repositories: list[GithubRepository] = []
    """Repositories to collect as owner/name, besides (or instead of) the organisation's."""
    include_archived: bool = False
    """Whether the organisation's archived repositories are read too (they change no more)."""
    per_page: Annotated[int, Field(ge=1, le=100)] = 100
    """Objects per page (GitHub's largest page is 100)."""
    pull_request_details: bool = True
    """Fetch each pull request on its own for additions, deletions and changed files (one
    request per pull request; off: no dev.lines metrics)."""
    rate_limit_max_wait_s: Annotated[int, Field(ge=0, le=3600)] = 300
    """With the rate limit exhausted, wait for its reset when it is at most this far off;
    otherwise fail the partition, saying when it resets."""

    @field_validator("repositories")
    @classmethod
    def _distinct_repositories(cls, value: list[str]) -> list[str]:
        lowered = [name.lower() for name in value]
        if len(set(lowered)) != len(lowered):
            raise ValueError("a repository is listed twice")
        return value

    @model_validator(mode="after")
    def _something_to_read(self) -> "GithubConfig":
        if self.enabled and not self.organization and not self.repositories:
            raise ValueError("name an organization, repositories, or both")
        return self


class HttpApiConfig(_Section):
    """Generic JSON HTTP APIs, each described in vault.yaml alone."""

    enabled: bool = True
    apis: list[HttpApiEntry] = []
    """One collector each (asset raw/http_api_<name>); their rows share raw.custom_http."""
    lookback_days: Annotated[int, Field(ge=0, le=90)] = 1
    """Each scheduled tick also reloads this many earlier days."""

    @field_validator("apis")
    @classmethod
    def _unique_apis(cls, value: list[HttpApiEntry]) -> list[HttpApiEntry]:
        check_unique_names(value)
        return value


class SqlConfig(_Section):
    """Read-only SQL queries against any database SQLAlchemy reaches."""

    enabled: bool = True
    queries: list[SqlQueryEntry] = []
    """One collector each (asset raw/sql_<name>); their rows share raw.custom_sql."""
    lookback_days: Annotated[int, Field(ge=0, le=90)] = 1
    """Each scheduled tick also reloads this many earlier days."""

    @field_validator("queries")
    @classmethod
    def _unique_queries(cls, value: list[SqlQueryEntry]) -> list[SqlQueryEntry]:
        check_unique_names(value)
        return value


class LogFilesConfig(_Section):
    """JSON-lines or CSV log files, read incrementally by file and byte offset."""

    enabled: bool = True
    sources: list[LogSourceEntry] = []
    """One collector each (asset raw/log_files_<name>); their rows share raw.custom_logs."""
    lookback_days: Annotated[int, Field(ge=0, le=90)] = 1
    """Each scheduled tick also reloads this many earlier days; days that received lines
    later than that are reloaded too."""

    @field_validator("sources")
    @classmethod
    def _unique_sources(cls, value: list[LogSourceEntry]) -> list[LogSourceEntry]:
        check_unique_names(value)
        return value


class SourcesConfig(_Section):
    anthropic: AnthropicConfig | None = None
    claude_code: ClaudeCodeConfig | None = None
    openai: OpenAIConfig | None = None
    aws: AwsConfig | None = None
    gcp: GcpConfig | None = None
    azure: AzureConfig | None = None
    focus: FocusConfig | None = None
    prometheus: PrometheusConfig | None = None
    kubernetes: KubernetesConfig | None = None
    datadog: DatadogConfig | None = None
    stripe: StripeConfig | None = None
    mixpanel: MixpanelConfig | None = None
    github: GithubConfig | None = None
    http_api: HttpApiConfig | None = None
    sql: SqlConfig | None = None
    log_files: LogFilesConfig | None = None


class ScheduleConfig(_Section):
    collect_hour_utc: Annotated[int, Field(ge=0, le=23)] = 1
    transform_hour_utc: Annotated[int, Field(ge=0, le=23)] = 3


EnvName = Annotated[str, AfterValidator(check_env_name)]


class WebhookConfig(_Section):
    """A Slack-compatible incoming webhook: alerts are POSTed as JSON with a `text` field."""

    url_env: EnvName = "VAULT_ALERT_WEBHOOK_URL"
    """The environment variable holding the webhook's URL (the URL is the secret)."""
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 10.0


class EmailConfig(_Section):
    """Alerts by e-mail through an SMTP server."""

    host: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65535)] = 587
    security: Literal["starttls", "ssl", "none"] = "starttls"
    """`starttls` upgrades a plain connection (port 587), `ssl` connects with TLS (port 465),
    `none` sends in the clear (a relay on the same host only)."""
    username: str | None = None
    password_env: EnvName | None = None
    """The environment variable holding the SMTP password, when the server wants a login."""
    from_address: Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]
    to: Annotated[list[Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+$")]], Field(min_length=1)]
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 30.0


class AlertsConfig(_Section):
    """Where budget, feature-health, freshness and run-failure alerts go; none: logged only."""

    webhook: WebhookConfig | None = None
    email: EmailConfig | None = None


class FreshnessConfig(_Section):
    """How long a table may go without a new load: freshness policies, alerts, the doctor."""

    raw_max_age_hours: Annotated[float, Field(gt=0, le=24 * 90)] = 36.0
    """Raw tables (a daily source collects once a day, and a day late is tolerated)."""
    marts_max_age_hours: Annotated[float, Field(gt=0, le=24 * 90)] = 30.0
    """Marts (rebuilt by the nightly transform)."""


# Prometheus's duration syntax (prometheus/common's model.ParseDuration): units largest
# first, each at most once, whole numbers only.
_DURATION_UNITS = (
    ("y", 365 * 86_400_000),
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1_000),
    ("ms", 1),
)
_DURATION = re.compile("^" + "".join(f"(?:([0-9]+){unit})?" for unit, _ in _DURATION_UNITS) + "$")


def prometheus_duration(text: str) -> timedelta:
    """A Prometheus duration (`5m`, `1h30m`, `1d`, `0`) as a timedelta; ValueError if not one."""
    if text == "0":
        return timedelta(0)
    match = _DURATION.match(text)
    if not text or not match:
        raise ValueError(f"{text!r} is not a duration such as 30s, 5m, 1h30m or 1d")
    parts = zip(match.groups(), _DURATION_UNITS, strict=True)
    return timedelta(milliseconds=sum(int(n) * ms for n, (_, ms) in parts if n is not None))


def _positive_duration(value: object) -> timedelta:
    """A duration from vault.yaml: Prometheus's syntax, or seconds as a number."""
    if isinstance(value, timedelta):
        duration = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        duration = timedelta(seconds=value)
    elif isinstance(value, str):
        duration = prometheus_duration(value.strip())
    else:
        raise ValueError("must be a duration such as 30s, 5m, 1h30m or 1d, or seconds")
    if duration <= timedelta(0):
        raise ValueError("must be longer than zero")
    return duration


PositiveDuration = Annotated[timedelta, BeforeValidator(_positive_duration)]


class ServeConfig(_Section):
    """`vault serve`: the Prometheus-compatible read API over marts.fct_metrics."""

    host: Annotated[str, Field(min_length=1)] = "127.0.0.1"
    """The address to listen on; anything but loopback requires the token."""
    port: Annotated[int, Field(ge=1, le=65535)] = 9097
    """Not Prometheus's 9090 nor the Pushgateway's 9091, so both can run beside it."""
    token_env: EnvName = "VAULT_SERVE_TOKEN"
    """The environment variable holding the bearer token every request must present."""
    lookback: PositiveDuration | None = None
    """How far back an instant selector looks for a sample; default the engine's (1d)."""
    query_timeout: PositiveDuration = timedelta(minutes=2)
    """Longest a query may run; a request's own `timeout` can only shorten it."""


class VaultConfig(_Section):
    start_date: date = date(2026, 1, 1)
    """The first daily partition. Backfills can reach back to it, not before."""
    sources: SourcesConfig = SourcesConfig()
    schedules: ScheduleConfig = ScheduleConfig()
    alerts: AlertsConfig = AlertsConfig()
    freshness: FreshnessConfig = FreshnessConfig()
    serve: ServeConfig = ServeConfig()

    def enabled_sources(self) -> dict[str, _Section]:
        return {
            name: section
            for name, section in self.sources
            if section is not None and getattr(section, "enabled", True)
        }


def config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG).expanduser()


def load_config(path: Path | None = None) -> VaultConfig:
    """Read and validate `vault.yaml`; a missing default file gives an empty configuration."""
    explicit = path is not None or bool(os.environ.get(CONFIG_ENV))
    path = path or config_path()
    if not path.exists():
        if explicit:
            raise ConfigError(f"{path}: file not found")
        return VaultConfig()
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {error}") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read: {error.strerror}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of keys")
    try:
        return VaultConfig.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(_describe(path, error)) from None


def _describe(path: Path, error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        key = ".".join(str(part) for part in problem["loc"]) or "(top level)"
        reason = problem["msg"]
        if problem["type"] == "extra_forbidden":
            reason = "unknown key"
        lines.append(f"{path}: {key}: {reason}")
    return "\n".join(lines)
