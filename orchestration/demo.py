"""The demo: the whole vault, end to end, on the sandbox company, in one command.

`prepare_sandbox` writes what a real deployment would have: transcripts on disk and a
`vault.yaml` whose sources point at the sandbox's HTTP server. `run_demo` then does what the
Dagster UI does for a backfill (each collector per partition, dbt once over the range) through
the same definitions, and prints a cost summary read from the marts.
"""

import contextlib
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import psycopg
import yaml
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from orchestration.clients.anthropic import API_KEY_ENV as ANTHROPIC_KEY_ENV
from orchestration.config import CONFIG_ENV
from orchestration.warehouse.connection import warehouse_url
from orchestration.warehouse.embedded import vault_home

# A key of the shape Anthropic issues; the sandbox accepts any such key, vendors none.
SANDBOX_ANTHROPIC_KEY = "sk-ant-admin01-sandbox-not-a-real-key"
SANDBOX_SEED = 7


@dataclass(frozen=True)
class SandboxWorkspace:
    config_path: Path
    transcripts_root: Path
    env: dict[str, str]


def prepare_sandbox(
    root: Path, api_url: str, start: date, end: date, *, seed: int = SANDBOX_SEED
) -> SandboxWorkspace:
    """Write the sandbox's transcripts for [start, end) and a `vault.yaml` pointing at `api_url`."""
    from orchestration.sandbox.company import build_company
    from orchestration.sandbox.transcripts import user_folders, write_transcripts

    company = build_company(seed)
    transcripts = root / "transcripts"
    if transcripts.exists():
        shutil.rmtree(transcripts)
    write_transcripts(company, transcripts, start, end)
    folders = [
        {"path": str(folder), "user_email": email}
        for folder, email in sorted(user_folders(company, transcripts).items())
    ]
    config = {
        "start_date": (start - timedelta(days=1)).isoformat(),
        "sources": {
            "anthropic": {"base_url": api_url, "max_retries": 3},
            "claude_code": {"folders": folders},
        },
    }
    config_path = root / "vault.yaml"
    config_path.write_text(
        "# Written by the sandbox: every source points at the local sandbox server.\n"
        + yaml.safe_dump(config, sort_keys=False)
    )
    env = {CONFIG_ENV: str(config_path), ANTHROPIC_KEY_ENV: SANDBOX_ANTHROPIC_KEY}
    return SandboxWorkspace(config_path=config_path, transcripts_root=transcripts, env=env)


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of a block."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def daily_keys(start: date, end: date) -> list[str]:
    """Partition keys of the days in [start, end)."""
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days)]


def materialize_window(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    keys: Sequence[str],
    *,
    on_partition: Callable[[str, float], None] | None = None,
    log_level: str = "WARNING",
    dbt_output: Path | None = None,
) -> None:
    """Run every collector for each key, then dbt once over all of them.

    This is what a backfill launched in the Dagster UI does: collectors per partition (here all
    of a partition's collectors in one run), dbt in a single run over the range. dbt's own
    progress lines go to `dbt_output` when it is given.
    """
    collectors = [
        asset
        for asset in defs.assets or []
        if isinstance(asset, dg.AssetsDefinition)
        and all(key.path[0] == "raw" for key in asset.keys)
    ]
    quiet = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    for key in keys:
        started = time.perf_counter()
        result = dg.materialize(
            collectors,
            partition_key=key,
            instance=instance,
            resources=defs.resources,
            run_config=quiet,
            raise_on_error=False,
        )
        if not result.success:
            raise RuntimeError(f"collecting {key} failed: {_first_failure(result)}")
        if on_partition:
            on_partition(key, time.perf_counter() - started)
    transform = defs.resolve_job_def("transform")
    with contextlib.ExitStack() as stack:
        if dbt_output is not None:
            # dagster-dbt echoes dbt's log lines to stdout.
            stack.enter_context(
                contextlib.redirect_stdout(stack.enter_context(dbt_output.open("w")))
            )
        result = transform.execute_in_process(
            instance=instance,
            tags={
                ASSET_PARTITION_RANGE_START_TAG: keys[0],
                ASSET_PARTITION_RANGE_END_TAG: keys[-1],
            },
            run_config=quiet,
            raise_on_error=False,
        )
    if not result.success:
        raise RuntimeError(f"dbt build failed: {_first_failure(result)}")


def _first_failure(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error:
            return event.step_failure_data.error.message.strip()
    return "see the log above"


def cost_summary(url: str, *, since: datetime) -> list[tuple[str, str, str, float]]:
    """(source, metric, model, USD) totals since `since`, largest first, from `fct_metrics`."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            """
            select
                source_system,
                metric_type,
                coalesce(tags ->> 'model', '(not per model)') as model,
                round(sum(value), 2)::float as usd
            from marts.fct_metrics
            where unit = 'USD' and observed_at >= %s
            group by 1, 2, 3
            order by 4 desc
            """,
            (since,),
        ).fetchall()


def demo_window(days: int, today: date | None = None) -> tuple[date, date]:
    """The last `days` complete UTC days: [start, end)."""
    end = today or datetime.now(UTC).date()
    return end - timedelta(days=days), end


def demo_home() -> Path:
    return vault_home() / "sandbox"


def dagster_home() -> Path:
    """Dagster's storage for local use (SQLite under `.vault/dagster`), shared by demo and dev."""
    home = vault_home() / "dagster"
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(
            "# Local Dagster instance: runs, event log and schedules in SQLite in this folder.\n"
            "telemetry:\n  enabled: false\n"
        )
    return home


def demo_url() -> str:
    return warehouse_url()
