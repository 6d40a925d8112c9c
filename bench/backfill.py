"""Backfill cost: dbt over a 90-day partition range against dbt over one day, through Dagster.

    .venv/bin/python bench/backfill.py [--days 90] [--sources anthropic,openai] [--url URL]

The windowed dbt assets (`vault_dbt_windowed`: the incremental models and everything built on
them) have a single-run backfill policy, so a backfill of N daily partitions is one run whose
tags hold the partition range, and that run calls `dbt build` once with the whole window as
`min_date`/`max_date`. This benchmark checks that and measures what it costs:

1. the sandbox serves `--days` days of the chosen sources (Anthropic and OpenAI by default,
   every collector of each), collected partition by partition through the real clients and
   Dagster, into a scratch database;
2. the unpartitioned dbt assets (seeds, staging, dimensions) and the windowed ones are built
   once, untimed, so the incremental tables exist and later runs replace only their window;
3. the windowed assets run through `dagster.materialize` with the range tags for all the days,
   then for the last day alone, each timed.

dbt invocations are counted from the `run_results.json` files dagster-dbt leaves, one per
invocation, in a target folder named after the run (`DBT_TARGET_PATH` points at a temporary
folder, so nothing is written under the project). Everything happens in a scratch database on
the server of `--url`, else `VAULT_BENCH_DATABASE_URL`, else the embedded server, dropped at
the end.
"""

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import psycopg
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestration.clients.anthropic import API_KEY_ENV as ANTHROPIC_KEY_ENV
from orchestration.clients.openai import API_KEY_ENV as OPENAI_KEY_ENV
from orchestration.config import VaultConfig
from orchestration.dbt.project import ensure_manifest
from orchestration.demo import (
    SANDBOX_ANTHROPIC_KEY,
    SANDBOX_OPENAI_KEY,
    SANDBOX_SEED,
    daily_keys,
    environment,
)
from orchestration.warehouse.connection import DATABASE_URL_ENV, warehouse_url

# The sources whose sandbox answers need nothing but the HTTP server (no files, no moto).
SOURCE_SECTIONS = {
    "anthropic": lambda api_url: {"base_url": api_url, "max_retries": 3},
    "openai": lambda api_url: {"base_url": api_url, "max_retries": 3},
}
QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def _sources(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(SOURCE_SECTIONS))
    if not names or unknown:
        raise argparse.ArgumentTypeError(
            f"choose among {', '.join(SOURCE_SECTIONS)} (got {', '.join(unknown) or 'none'})"
        )
    return names


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _scratch(server_url: str) -> tuple[str, str]:
    name = f"vault_bench_backfill_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(f'create database "{name}"')
    return name, urlsplit(server_url)._replace(path=f"/{name}").geturl()


def _check(result: dg.ExecuteInProcessResult, what: str) -> None:
    if result.success:
        return
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data.error:
            raise RuntimeError(f"{what} failed: {event.step_failure_data.error.message.strip()}")
    raise RuntimeError(f"{what} failed")


def dbt_invocations(target_root: Path, run_id: str) -> list[dict]:
    """The `run_results.json` of every dbt invocation of `run_id`, oldest first.

    dagster-dbt gives each invocation its own target folder, `<op>-<run id[:7]>-<random>`.
    """
    found = []
    for path in target_root.glob(f"*-{run_id[:7]}-*/run_results.json"):
        found.append((path.stat().st_mtime, json.loads(path.read_text())))
    return [results for _, results in sorted(found, key=lambda item: item[0])]


def _window(results: dict) -> str:
    variables = results.get("args", {}).get("vars") or {}
    if isinstance(variables, str):
        variables = json.loads(variables)
    if not variables:
        return "no window"
    return f"{variables.get('min_date', '?')[:10]} .. {variables.get('max_date', '?')[:10]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=_positive, default=90, help="days to backfill (90)")
    parser.add_argument(
        "--sources",
        type=_sources,
        default=list(SOURCE_SECTIONS),
        help=f"comma-separated sources to collect ({','.join(SOURCE_SECTIONS)})",
    )
    parser.add_argument("--url", default=os.environ.get("VAULT_BENCH_DATABASE_URL"))
    args = parser.parse_args()

    from orchestration.definitions import build_definitions
    from orchestration.sandbox.company import build_company
    from orchestration.sandbox.server import SandboxServer

    end = date(2026, 12, 1)
    start = end - timedelta(days=args.days)
    keys = daily_keys(start, end)
    ensure_manifest()
    server_url = args.url or warehouse_url()
    name, url = _scratch(server_url)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="vault-bench-backfill-") as scratch,
            SandboxServer(build_company(SANDBOX_SEED)) as sandbox,
            dg.DagsterInstance.ephemeral() as instance,
        ):
            target_root = Path(scratch) / "dbt-target"
            dbt_log = Path(scratch) / "dbt.log"
            env = {
                DATABASE_URL_ENV: url,
                ANTHROPIC_KEY_ENV: SANDBOX_ANTHROPIC_KEY,
                OPENAI_KEY_ENV: SANDBOX_OPENAI_KEY,
                "DBT_TARGET_PATH": str(target_root),
                "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            }
            with environment(env):
                config = VaultConfig.model_validate(
                    {
                        "start_date": start.isoformat(),
                        "sources": {
                            source: SOURCE_SECTIONS[source](sandbox.url) for source in args.sources
                        },
                    }
                )
                defs = build_definitions(config)
                assets = [a for a in defs.assets or [] if isinstance(a, dg.AssetsDefinition)]
                collectors = [a for a in assets if all(k.path[0] == "raw" for k in a.keys)]
                by_name = {a.node_def.name: a for a in assets if a not in collectors}
                whole, windowed = by_name["vault_dbt"], by_name["vault_dbt_windowed"]
                policy = windowed.backfill_policy
                assert policy is not None and policy.max_partitions_per_run is None, policy

                started = time.perf_counter()
                for key in keys:
                    result = dg.materialize(
                        collectors,
                        partition_key=key,
                        instance=instance,
                        resources=defs.resources,
                        run_config=QUIET,
                        raise_on_error=False,
                    )
                    _check(result, f"collecting {key}")
                collect_s = time.perf_counter() - started
                with psycopg.connect(url) as conn:
                    raw_rows = sum(
                        conn.execute(f"select count(*) from raw.{a.key.path[1]}").fetchone()[0]
                        for a in collectors
                    )

                def run_dbt(assets_def: dg.AssetsDefinition, first: str, last: str, what: str):
                    tags = (
                        {
                            ASSET_PARTITION_RANGE_START_TAG: first,
                            ASSET_PARTITION_RANGE_END_TAG: last,
                        }
                        if assets_def.partitions_def is not None
                        else {}
                    )
                    started = time.perf_counter()
                    # dagster-dbt echoes dbt's log lines to stdout: keep them in a file.
                    with dbt_log.open("a") as log, contextlib.redirect_stdout(log):
                        result = dg.materialize(
                            [assets_def],
                            instance=instance,
                            resources=defs.resources,
                            run_config=QUIET,
                            tags=tags,
                            raise_on_error=False,
                        )
                    seconds = time.perf_counter() - started
                    _check(result, what)
                    return seconds, dbt_invocations(target_root, result.run_id)

                # Untimed: the views and seeds, then the incremental tables' first build.
                setup_s, _ = run_dbt(whole, "", "", "building the unpartitioned dbt assets")
                first_s, _ = run_dbt(windowed, keys[-1], keys[-1], "creating the windowed models")
                range_s, range_runs = run_dbt(windowed, keys[0], keys[-1], "the range run")
                day_s, day_runs = run_dbt(windowed, keys[-1], keys[-1], "the one-day run")
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')

    print(
        f"sources: {', '.join(args.sources)} ({len(collectors)} collectors); "
        f"{args.days} days {keys[0]} .. {keys[-1]}"
    )
    print(
        f"collecting {len(keys)} partitions: {collect_s:.1f}s ({raw_rows:,} raw rows); "
        f"untimed dbt setup: unpartitioned {setup_s:.1f}s, first windowed build {first_s:.1f}s"
    )
    print(f"backfill policy of {windowed.node_def.name}: {policy}")
    print(f"{'run':<17}   {'wall':>7}")
    for label, seconds, runs in (
        (f"{args.days}-day range run", range_s, range_runs),
        ("1-day run", day_s, day_runs),
    ):
        nodes = sum(len(results.get("results", [])) for results in runs)
        dbt_s = sum(results.get("elapsed_time", 0.0) for results in runs)
        windows = "; ".join(_window(results) for results in runs) or "none"
        print(
            f"{label:<17}: {seconds:>7.1f}s  dbt invocations {len(runs)}  "
            f"(dbt itself {dbt_s:.1f}s, {nodes} nodes, window {windows})"
        )
    print(f"ratio {args.days}-day / 1-day run: {range_s / day_s:.2f}")
    print(f"{args.days} one-day runs would take about {args.days * day_s:,.0f}s")


if __name__ == "__main__":
    main()
