"""The sandbox company's own systems, as vault.yaml-only sources: what `prepare_sandbox` adds.

Three sources that no vendor module knows, each described by its vault.yaml entry alone:

- `http_api` `service_metrics`: the internal service-metrics API (`internal_metrics`), paged by
  cursor, with a bearer token from `NORTHWIND_METRICS_TOKEN`;
- `sql` `support_tickets`: the support desk's SQLite database (`support_desk`), its URL in
  `NORTHWIND_SUPPORT_DB_URL`;
- `log_files` `api_gateway`: the API gateway's JSON-lines access log (`gateway_logs`).

`custom_sources` writes the database and the log under `root` and returns the three vault.yaml
sections and the environment they need; the tests use the same entries, so what the demo shows
is what they check. `custom_source_mappings_csv` is the taxonomy seed for them
(`dbt_project/seeds/custom_source_mappings.csv`): the gateway's routes to the teams and
projects behind them, which the log lines do not state. A test keeps the committed file equal.
"""

import csv
import io
from datetime import date
from pathlib import Path
from typing import Any

from orchestration.sandbox import gateway_logs, support_desk
from orchestration.sandbox.company import Company
from orchestration.sandbox.internal_metrics import CURSOR_PATH, TOKEN_PREFIX

METRICS_TOKEN_ENV = "NORTHWIND_METRICS_TOKEN"
SUPPORT_DB_ENV = "NORTHWIND_SUPPORT_DB_URL"
SANDBOX_METRICS_TOKEN = f"{TOKEN_PREFIX}sandbox-not-a-real-token"
SOURCE_SYSTEM = "northwind_internal"


def service_metrics_entry(api_url: str) -> dict[str, Any]:
    """The `http_api` entry for the internal service-metrics API at `api_url`."""
    return {
        "name": "service_metrics",
        "source_system": SOURCE_SYSTEM,
        "url": f"{api_url}{CURSOR_PATH}",
        "params": {"from": "{start}", "to": "{end}", "limit": 100},
        "headers": {"Authorization": {"env": METRICS_TOKEN_ENV, "prefix": "Bearer "}},
        "pagination": {"style": "cursor", "cursor_path": "meta.next_cursor"},
        "records": "data[*]",
        "mapping": {
            "time": "ts",
            "time_format": "iso",
            "metrics": [
                {"name": "service.requests", "value": "stats.requests", "unit": "requests"},
                {"name": "service.requests_failed", "value": "stats.errors", "unit": "requests"},
                {"name": "service.latency_p95", "value": "stats.latency_ms.p95", "unit": "ms"},
            ],
            "tags": {"service": "service"},
            "taxonomy": {
                "team": "owner.team",
                "project": "owner.project",
                "service": "service",
                "region": "region",
            },
        },
        "max_retries": 3,
    }


SUPPORT_QUERY = """
select day, queue, customer_id, team, opened, closed, first_response_minutes
from ticket_days
where day >= :window_start and day < :window_end
order by day, queue, customer_id
"""


def support_tickets_entry() -> dict[str, Any]:
    """The `sql` entry for the support desk's reporting database."""
    return {
        "name": "support_tickets",
        "source_system": SOURCE_SYSTEM,
        "url_env": SUPPORT_DB_ENV,
        "query": SUPPORT_QUERY.strip() + "\n",
        "window_format": "date",
        "mapping": {
            "time": "day",
            "time_format": "iso",
            "metrics": [
                {"name": "support.tickets_opened", "value": "opened", "unit": "tickets"},
                {"name": "support.tickets_closed", "value": "closed", "unit": "tickets"},
                {
                    "name": "support.first_response",
                    "value": "first_response_minutes",
                    "unit": "minutes",
                },
            ],
            "tags": {"queue": "queue"},
            "taxonomy": {"customer": "customer_id", "team": "team"},
            "key": ["day", "queue", "customer_id"],
        },
    }


def api_gateway_entry(folder: Path) -> dict[str, Any]:
    """The `log_files` entry for the gateway's access log in `folder`."""
    return {
        "name": "api_gateway",
        "source_system": SOURCE_SYSTEM,
        "path": str(folder / "access*.jsonl"),
        "format": "jsonl",
        "mapping": {
            "time": "ts",
            "time_format": "iso",
            "metrics": [
                {"name": "gateway.latency", "value": "latency_ms", "unit": "ms"},
                {"name": "gateway.response_size", "value": "bytes_sent", "unit": "bytes"},
            ],
            "tags": {"route": "route", "method": "method", "status": "status"},
            "taxonomy": {"customer": "customer_id", "feature": "feature", "service": "service"},
            "key": ["request_id"],
        },
    }


def custom_sources(
    company: Company, root: Path, api_url: str, start: date, end: date
) -> tuple[dict[str, Any], dict[str, str]]:
    """Write the support database and the gateway log for [start, end) under `root`.

    Returns the vault.yaml `sources` sections (http_api, sql, log_files) and the environment
    variables their entries name.
    """
    database = support_desk.write_database(company, root / "support" / "desk.sqlite", start, end)
    logs = gateway_logs.write_logs(company, root / "gateway", start, end)
    sections = {
        "http_api": {"apis": [service_metrics_entry(api_url)]},
        "sql": {"queries": [support_tickets_entry()]},
        "log_files": {"sources": [api_gateway_entry(logs)]},
    }
    env = {
        METRICS_TOKEN_ENV: SANDBOX_METRICS_TOKEN,
        SUPPORT_DB_ENV: f"sqlite:///{database}",
    }
    return sections, env


MAPPING_COLUMNS = ("entry", "tag", "tag_value", "department", "team", "project", "environment")


def custom_source_mappings_csv(company: Company) -> str:
    """custom_source_mappings.csv: each gateway route to its feature's team and project."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(MAPPING_COLUMNS)
    for route, _, _, feature in sorted(gateway_logs.ROUTES):
        project = company.project(feature)
        writer.writerow(
            ("api_gateway", "route", route, "", project.team, project.slug, "production")
        )
    return buffer.getvalue()
