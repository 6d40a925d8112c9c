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
from orchestration.clients.openai import API_KEY_ENV as OPENAI_KEY_ENV
from orchestration.config import CONFIG_ENV
from orchestration.warehouse.connection import warehouse_url
from orchestration.warehouse.embedded import vault_home

# Keys of the shapes Anthropic and OpenAI issue; the sandbox accepts any such key, vendors none.
SANDBOX_ANTHROPIC_KEY = "sk-ant-admin01-sandbox-not-a-real-key"
SANDBOX_OPENAI_KEY = "sk-admin-sandbox-not-a-real-key"
SANDBOX_SEED = 7


@dataclass(frozen=True)
class SandboxWorkspace:
    config_path: Path
    transcripts_root: Path
    env: dict[str, str]


def prepare_sandbox(
    root: Path,
    api_url: str,
    start: date,
    end: date,
    *,
    seed: int = SANDBOX_SEED,
    aws_endpoint_url: str | None = None,
) -> SandboxWorkspace:
    """Write the sandbox's transcripts for [start, end) and a `vault.yaml` pointing at `api_url`.

    With `aws_endpoint_url` (a moto server), AWS Cost Explorer is collected from it too: its
    answers for [start, end) are bound there and the aws section points at it.
    """
    from orchestration.sandbox import (
        aws_ce,
        azure_cost,
        datadog_api,
        gcp_billing,
        github_api,
        kubernetes_api,
        mixpanel_api,
        prometheus_api,
        stripe_api,
    )
    from orchestration.sandbox.company import build_company
    from orchestration.sandbox.custom_sources import custom_sources
    from orchestration.sandbox.focus_files import write_focus_exports
    from orchestration.sandbox.transcripts import user_folders, write_transcripts

    company = build_company(seed)
    transcripts = root / "transcripts"
    if transcripts.exists():
        shutil.rmtree(transcripts)
    write_transcripts(company, transcripts, start, end)
    # The GPU provider's FOCUS exports, dropped into a folder as its export job would.
    focus_exports = root / "focus-exports"
    if focus_exports.exists():
        shutil.rmtree(focus_exports)
    write_focus_exports(company, focus_exports, start, end)
    folders = [
        {"path": str(folder), "user_email": email}
        for folder, email in sorted(user_folders(company, transcripts).items())
    ]
    config = {
        "start_date": (start - timedelta(days=1)).isoformat(),
        "sources": {
            "anthropic": {"base_url": api_url, "max_retries": 3},
            "claude_code": {"folders": folders},
            "openai": {"base_url": api_url, "max_retries": 3},
            "focus": {"locations": [{"uri": str(focus_exports.resolve())}]},
            "azure": {
                "base_url": api_url,
                "max_retries": 3,
                "scopes": azure_cost.SANDBOX_SCOPES,
                "cost_types": ["ActualCost", "AmortizedCost"],
                "tag_key": "team",
                # Only the sandbox's identity endpoint: never a developer's own az login.
                "credential": "managed_identity",
            },
            # The detailed billing export in the sandbox's BigQuery; a loopback endpoint is
            # called without Google credentials.
            "gcp": {
                "billing_export_table": gcp_billing.DETAILED_TABLE_ID,
                "location": gcp_billing.LOCATION,
                "api_endpoint": api_url,
                "max_retries": 3,
            },
            # Infrastructure metrics of the company's services, from Prometheus- and
            # Datadog-shaped fakes.
            "prometheus": prometheus_api.sandbox_section(api_url),
            "datadog": datadog_api.sandbox_section(api_url),
            # The cluster's fake API through the official client, with a kubeconfig holding
            # the sandbox's bearer token.
            "kubernetes": kubernetes_api.sandbox_section(
                kubernetes_api.write_kubeconfig(root / "kubeconfig", api_url), start
            ),
            # Revenue, product analytics and engineering activity, from Stripe-, Mixpanel-
            # and GitHub-shaped fakes.
            "stripe": stripe_api.sandbox_section(api_url),
            "mixpanel": mixpanel_api.sandbox_section(api_url),
            "github": github_api.sandbox_section(api_url),
        },
    }
    if aws_endpoint_url:
        config["sources"]["aws"] = aws_ce.prepare_sandbox_section(
            company, aws_endpoint_url, start, end
        )
    # The company's own systems, described in vault.yaml alone: its service-metrics API, the
    # support desk's SQLite database and the API gateway's access log.
    custom_sections, custom_env = custom_sources(company, root, api_url, start, end)
    config["sources"].update(custom_sections)
    config_path = root / "vault.yaml"
    config_path.write_text(
        "# Written by the sandbox: every source points at the local sandbox server.\n"
        + yaml.safe_dump(config, sort_keys=False)
    )
    env = {
        CONFIG_ENV: str(config_path),
        ANTHROPIC_KEY_ENV: SANDBOX_ANTHROPIC_KEY,
        OPENAI_KEY_ENV: SANDBOX_OPENAI_KEY,
        # azure-identity's managed identity credential asks the sandbox for its token, as it
        # asks App Service's local identity endpoint.
        "IDENTITY_ENDPOINT": api_url + azure_cost.TOKEN_PATH,
        "IDENTITY_HEADER": azure_cost.IDENTITY_HEADER,
    }
    if aws_endpoint_url:
        # boto3's standard chain finds these first: fake keys that only moto accepts.
        env.update(aws_ce.SANDBOX_ENV)
    env.update(custom_env)
    env.update(datadog_api.SANDBOX_ENV)
    env.update(stripe_api.SANDBOX_ENV)
    env.update(mixpanel_api.SANDBOX_ENV)
    env.update(github_api.SANDBOX_ENV)
    return SandboxWorkspace(config_path=config_path, transcripts_root=transcripts, env=env)


def load_hook_events(
    url: str, spool: Path, start: date, end: date, *, seed: int = SANDBOX_SEED
) -> int:
    """Send the Claude Code hook events of the sandbox's engineers for [start, end) to `url`.

    They take the hook's own way: appended to a spool file, then sent by the hook's sender
    with `copy_events`, as on an engineer's laptop (with the warehouse's URL as the ingest
    URL). The events are the same on every run, so the demo's earlier ones are deleted first
    rather than piling up as duplicates. Returns how many were sent.
    """
    from orchestration.hook.main import event_line
    from orchestration.hook.sender import send_spool
    from orchestration.hook.spool import append_lines
    from orchestration.sandbox.company import build_company
    from orchestration.sandbox.hook_events import SANDBOX_CLIENT_ID, hook_events
    from orchestration.warehouse.push import grant_ingest

    with psycopg.connect(url, autocommit=True) as conn:
        grant_ingest(conn)
        conn.execute(
            "delete from raw.claude_code_hook_events where run_id = %s", (SANDBOX_CLIENT_ID,)
        )
    spool.unlink(missing_ok=True)
    events = hook_events(build_company(seed), start, end)
    append_lines(str(spool), [event_line(event) for event in events])
    return send_spool(str(spool), url, client=SANDBOX_CLIENT_ID).sent


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


def hourly_keys(day: str) -> list[str]:
    """Hourly partition keys of one day (an ISO date), e.g. 2026-11-10-00:00."""
    return [f"{day}-{hour:02d}:00" for hour in range(24)]


def materialize_window(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    keys: Sequence[str],
    *,
    on_partition: Callable[[str, float], None] | None = None,
    log_level: str = "WARNING",
    dbt_output: Path | None = None,
) -> None:
    """Run every collector for each key, then dbt once over all of them (the transform job,
    which also computes the cost forecasts from the marts dbt built).

    This is what a backfill launched in the Dagster UI does: collectors per partition (here all
    of a partition's collectors in one run), dbt in a single run over the range. Unpartitioned
    raw assets (file imports) run once, first; hourly collectors run for each hour of the last
    key's day. dbt's own progress lines go to `dbt_output` when it is given.
    """
    collectors = [
        asset
        for asset in defs.assets or []
        if isinstance(asset, dg.AssetsDefinition)
        and all(key.path[0] == "raw" for key in asset.keys)
    ]
    quiet = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    imports = [asset for asset in collectors if asset.partitions_def is None]
    hourly = [
        asset
        for asset in collectors
        if isinstance(asset.partitions_def, dg.HourlyPartitionsDefinition)
    ]
    collectors = [
        asset for asset in collectors if asset.partitions_def is not None and asset not in hourly
    ]
    from orchestration.sandbox import kubernetes_api

    # Hourly collectors (Prometheus, Kubernetes) run for the hours of the last day only: one
    # run per hour over the whole window would take most of the demo's time.
    for hour_key in hourly_keys(keys[-1]) if hourly else ():
        # The sandbox's Kubernetes API shows its cluster as it was in the hour collected.
        hour = datetime.strptime(hour_key, "%Y-%m-%d-%H:%M").replace(tzinfo=UTC)
        with kubernetes_api.CLOCK.pinned(hour):
            result = dg.materialize(
                hourly,
                partition_key=hour_key,
                instance=instance,
                resources=defs.resources,
                run_config=quiet,
                raise_on_error=False,
            )
        if not result.success:
            raise RuntimeError(f"collecting {hour_key} failed: {_first_failure(result)}")
    if imports:
        result = dg.materialize(
            imports,
            instance=instance,
            resources=defs.resources,
            run_config=quiet,
            raise_on_error=False,
        )
        if not result.success:
            raise RuntimeError(f"importing files failed: {_first_failure(result)}")
    for key in keys if collectors else ():
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
            # dbt's own log holds every detail; dagster-dbt's warnings about tests run by
            # indirect selection (one per source test) would bury the demo's output.
            run_config={"loggers": {"console": {"config": {"log_level": "ERROR"}}}},
            raise_on_error=False,
        )
    if not result.success:
        raise RuntimeError(f"dbt build failed: {_first_failure(result)}")


def _first_failure(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error:
            return event.step_failure_data.error.message.strip()
    return "see the log above"


def replay_product_usage(
    url: str, start: date, end: date, *, seed: int = SANDBOX_SEED, spool_dir: Path | None = None
) -> int:
    """Send the sandbox's product usage for [start, end) through the real tracker; returns how many.

    The sandbox company's services call `track_product_usage` as they serve customers; here
    each day's requests are replayed in order through a `Tracker` connected to `url`, after
    `grant_ingest` has created the push tables. The sandbox fixes every event id, so replaying
    a window again (a second `vault demo`) adds rows to raw that staging deduplicates.
    """
    from orchestration.sandbox.company import build_company
    from orchestration.sandbox.product_usage import requests_for_day
    from orchestration.tracking import Tracker
    from orchestration.warehouse.push import grant_ingest

    with psycopg.connect(url, autocommit=True) as conn:
        grant_ingest(conn)
    company = build_company(seed)
    spool = spool_dir or demo_home() / "tracking-spool"
    with Tracker(url, spool_dir=spool, client_id="sandbox-replay") as tracker:
        for offset in range((end - start).days):
            for request in requests_for_day(company, start + timedelta(days=offset)):
                tracker.track(**request.as_kwargs())
        if not tracker.flush(timeout=120):
            raise RuntimeError(
                f"product usage replay: {tracker.pending()} event(s) did not reach the "
                f"warehouse ({tracker.stats().last_error}); they wait in {spool}"
            )
        stats = tracker.stats()
    if stats.rejected:
        raise RuntimeError(f"product usage replay: the tracker refused {stats.rejected} call(s)")
    return stats.tracked


def cost_summary(url: str, *, since: datetime) -> list[tuple[str, str, str, float]]:
    """(source, metric, model, USD) totals since `since`, largest first, from `fct_metrics`."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            """
            select
                source_system,
                -- A service's own report of what its requests cost is the same spend the
                -- vendor bills: shown apart, never added to the billed total.
                case
                    when tags ->> 'cost_origin' = 'reported' then 'ai.cost_reported'
                    else metric_type
                end as metric_type,
                coalesce(tags ->> 'model', '(not per model)') as model,
                round(sum(value), 2)::float as usd
            from marts.fct_metrics
            where
                unit = 'USD'
                and observed_at >= %s
                -- Revenue in dollars (Stripe's business.* metrics) is money in, not spend.
                and metric_type not like 'business.%%'
                -- A vendor's own estimate (Claude Code analytics) restates usage that the
                -- transcripts' estimate already counts.
                and coalesce(tags ->> 'cost_origin', '') != 'vendor_estimate'
            group by 1, 2, 3
            order by 4 desc
            """,
            (since,),
        ).fetchall()


def ledger_summary(url: str, *, since: datetime) -> list[tuple[str, str, str, float, float]]:
    """(provider, service category, currency, billed, unallocated billed) since `since`, from
    `fct_costs`, largest first. Amounts are summed per currency, never across currencies."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            """
            select
                provider_name,
                service_category,
                billing_currency,
                round(sum(billed_cost), 2)::float as billed,
                round(sum(billed_cost) filter (where x_team = 'unallocated'), 2)::float
                    as unallocated
            from marts.fct_costs
            where
                charge_period_start >= %s
                -- Allocations (Kubernetes) divide node costs the cloud lines already bill.
                and not tags ? 'x_allocated_from'
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
