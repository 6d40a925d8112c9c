"""`vault.yaml`: which sources run and with which parameters.

The file is found through `VAULT_CONFIG`, else `./vault.yaml`. It is validated when the
definitions load: an unknown key, a wrong type or a bad value is refused with the file, the key
and the reason, before anything runs. Credentials never live here: each source reads its
vendor's own environment variable (see `vault.example.yaml`).

A source runs when its section is present and `enabled` is not false. With no file at all the
vault loads with no sources, so a fresh checkout still opens in the Dagster UI.
"""

import os
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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


class SourcesConfig(_Section):
    anthropic: AnthropicConfig | None = None
    claude_code: ClaudeCodeConfig | None = None
    openai: OpenAIConfig | None = None


class ScheduleConfig(_Section):
    collect_hour_utc: Annotated[int, Field(ge=0, le=23)] = 1
    transform_hour_utc: Annotated[int, Field(ge=0, le=23)] = 3


class VaultConfig(_Section):
    start_date: date = date(2026, 1, 1)
    """The first daily partition. Backfills can reach back to it, not before."""
    sources: SourcesConfig = SourcesConfig()
    schedules: ScheduleConfig = ScheduleConfig()

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
