"""Which warehouse the vault talks to, and how dbt is told the same.

`VAULT_DATABASE_URL` wins; when it is unset the embedded server under `.vault/` is started on
demand. dbt reads the warehouse from `profiles.yml`, which takes host, port, user, password and
database from `VAULT_DB_*` environment variables: `dbt_env` derives them from the one URL, so
the collectors and dbt can never point at different databases.
"""

import os
from urllib.parse import unquote, urlsplit

import dagster as dg
import psycopg

from orchestration.warehouse.embedded import EmbeddedPostgres

DATABASE_URL_ENV = "VAULT_DATABASE_URL"


def warehouse_url() -> str:
    """The warehouse URL: `VAULT_DATABASE_URL`, else the embedded server (started if needed)."""
    url = os.environ.get(DATABASE_URL_ENV, "").strip()
    if url:
        return url
    return EmbeddedPostgres.default().ensure_running()


def dbt_env(url: str) -> dict[str, str]:
    """The `VAULT_DB_*` variables that `dbt_project/profiles.yml` reads, derived from `url`.

    The password goes in `DBT_ENV_SECRET_VAULT_DB_PASSWORD`: dbt scrubs variables with that
    prefix from its logs.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"postgresql", "postgres"}:
        raise ValueError(
            f"{DATABASE_URL_ENV} must be a postgresql:// URL, got scheme {parts.scheme!r}"
        )
    database = parts.path.lstrip("/") or "postgres"
    return {
        "VAULT_DB_HOST": parts.hostname or "127.0.0.1",
        "VAULT_DB_PORT": str(parts.port or 5432),
        "VAULT_DB_USER": unquote(parts.username or "postgres"),
        "DBT_ENV_SECRET_VAULT_DB_PASSWORD": unquote(parts.password or ""),
        "VAULT_DB_NAME": unquote(database),
    }


def redact(url: str) -> str:
    """`url` with any password replaced, for messages and logs."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


class WarehouseResource(dg.ConfigurableResource):
    """The Postgres warehouse every collector loads into and dbt builds in.

    `url` empty means: `VAULT_DATABASE_URL`, else the embedded server. The URL is resolved when
    a run first needs it, never when the definitions load.
    """

    url: str = ""

    def resolved_url(self) -> str:
        return self.url or warehouse_url()

    def connect(self, **kwargs: object) -> psycopg.Connection:
        return psycopg.connect(self.resolved_url(), **kwargs)

    def export_dbt_env(self) -> None:
        """Point this process's (and so dbt's) `VAULT_DB_*` variables at this warehouse."""
        os.environ.update(dbt_env(self.resolved_url()))
