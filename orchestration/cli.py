"""`vault`: the command line for the warehouse, the sandbox, the demo and the Dagster UI.

vault db url | env | init | roles [--department-reader ROLE=DEPARTMENT] | start | stop | status
vault sandbox [--port N]
vault demo [--days N]
vault dev [--port N]
vault report costs [--days N]
vault report cfo|department|project|customer|forecast|all [--format table|json|csv] [--html FILE]
vault classify SESSION_ID CLASS
vault doctor [--no-sources]
vault serve [--host HOST] [--port N]
vault prices update FILE [--effective-from DATE] [--dry-run] [--seed PATH] [--providers ...]
vault query --metrics M[,M] [--group-by D[,D]] [--where ...] [--order ...] [--csv FILE] | --list
"""

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import sysconfig
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from orchestration.config import ConfigError
from orchestration.query.semantic import add_arguments as add_query_arguments
from orchestration.reports.command import NAMES as REPORT_NAMES
from orchestration.reports.command import add_arguments as add_report_arguments
from orchestration.warehouse.connection import DATABASE_URL_ENV, dbt_env, redact, warehouse_url
from orchestration.warehouse.embedded import EmbeddedPostgres, EmbeddedWarehouseError


def _out(text: str = "") -> None:
    print(text, flush=True)


def _err(text: str) -> None:
    print(f"vault: {text}", file=sys.stderr, flush=True)


# -- vault db ------------------------------------------------------------------------------


def cmd_db(args: argparse.Namespace) -> int:
    external = os.environ.get(DATABASE_URL_ENV)
    server = EmbeddedPostgres.default()
    if args.action == "stop":
        if external:
            _err(f"{DATABASE_URL_ENV} is set; the vault does not manage that server")
            return 1
        _out("stopped" if server.stop() else "the embedded warehouse was not running")
        return 0
    if args.action == "status":
        if external:
            _out(f"external warehouse: {redact(external)}")
        elif server.is_running():
            _out(f"embedded warehouse running: {server.url()} (data in {server.data_dir})")
        else:
            _out(f"embedded warehouse stopped (data in {server.data_dir})")
        return 0
    url = warehouse_url()
    if args.action == "roles":
        from orchestration.warehouse.roles import run_roles_command

        return run_roles_command(url, args.department_reader or [], _out, _err)
    if args.action == "init":
        from orchestration.collectors.registry import discover_collectors
        from orchestration.custom.collectors import ensure_custom_tables
        from orchestration.warehouse.loader import ensure_raw_tables
        from orchestration.warehouse.push import INGEST_ROLE, grant_ingest
        from orchestration.warehouse.roles import hand_over_to_owner
        from orchestration.warehouse.timescale import enable_timescaledb

        with psycopg.connect(url, autocommit=True) as conn:
            if timescale_note := enable_timescaledb(conn):
                _out(timescale_note)
            for spec in discover_collectors():
                ensure_raw_tables(conn, spec.table)
            ensure_custom_tables(conn)
            grant_ingest(conn)
            for line in hand_over_to_owner(conn):
                _out(line)
        _out(f"raw tables ready in {redact(url)}; role {INGEST_ROLE} may insert push events")
        return 0
    if args.action == "env":
        for key, value in dbt_env(url).items():
            _out(f"export {key}={_shell_quote(value)}")
        _out(f"export {DATABASE_URL_ENV}={_shell_quote(url)}")
    else:  # url, start
        _out(url)
    return 0


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


# -- vault sandbox -------------------------------------------------------------------------


def cmd_sandbox(args: argparse.Namespace) -> int:
    from orchestration.sandbox.company import build_company
    from orchestration.sandbox.server import SandboxServer

    server = SandboxServer(build_company(args.seed), host=args.host, port=args.port)
    with server:
        _out(f"sandbox serving the fictional company's vendor APIs on {server.url}")
        _out("press Ctrl-C to stop")
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0


# -- vault demo ----------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    import dagster as dg

    from orchestration import demo
    from orchestration.sandbox.aws_ce import optional_moto_server
    from orchestration.sandbox.company import build_company
    from orchestration.sandbox.server import SandboxServer

    started = time.perf_counter()
    url = warehouse_url()
    _out(f"warehouse: {redact(url)}")
    os.environ.setdefault("DAGSTER_HOME", str(demo.dagster_home()))
    start, end = demo.demo_window(args.days)
    with (
        SandboxServer(build_company(demo.SANDBOX_SEED)) as sandbox,
        optional_moto_server() as aws_url,
    ):
        _out(f"sandbox: {sandbox.url}; transcripts and config under {demo.demo_home()}")
        if aws_url:
            _out(f"AWS Cost Explorer: moto's server on {aws_url}")
        else:
            _out("AWS Cost Explorer left out: moto (a dev dependency) is not installed")
        workspace = demo.prepare_sandbox(
            demo.demo_home(), sandbox.url, start, end, aws_endpoint_url=aws_url
        )
        hook_spool = demo.demo_home() / "claude-hook.jsonl"
        sent = demo.load_hook_events(url, hook_spool, start, end)
        _out(f"Claude Code hook: {sent:,} prompt and override events sent through {hook_spool}")
        tracked = demo.replay_product_usage(url, start, end)
        _out(f"product usage: {tracked:,} requests of the company's AI features tracked")
        with demo.environment(workspace.env):
            from orchestration.config import load_config
            from orchestration.definitions import build_definitions

            defs = build_definitions(load_config(workspace.config_path))
            keys = demo.daily_keys(start, end)
            _out(f"collecting {len(keys)} days ({keys[0]} .. {keys[-1]}) from every source")

            def progress(key: str, seconds: float) -> None:
                if key.endswith("-01") or key == keys[-1]:
                    _out(f"  {key} collected ({seconds:.1f}s)")

            dbt_log = demo.demo_home() / "dbt-build.log"
            with dg.DagsterInstance.get() as instance:
                demo.materialize_window(
                    defs, instance, keys, on_partition=progress, dbt_output=dbt_log
                )
    _out(f"dbt build finished: models built and tested (its log: {dbt_log})")
    _print_costs(url, datetime.combine(start, datetime.min.time(), UTC), args.days)
    _print_reports(url, demo.demo_home() / "reports.html")
    _out(f"\ndemo finished in {time.perf_counter() - started:.0f}s")
    _out("next: `make dev` opens the Dagster UI on http://127.0.0.1:3000 against this warehouse;")
    _out(f"      BI tools connect with `vault db url` ({url});")
    _out("      `vault query --list` names the metrics `vault query` answers by any dimension;")
    _out("      `vault db roles`, then `vault serve`, gives Grafana a Prometheus data source")
    return 0


def _print_costs(url: str, since: datetime, days: int) -> None:
    from orchestration.demo import cost_summary

    rows = cost_summary(url, since=since)
    _out(f"\nAI cost over the last {days} days (from marts.fct_metrics)")
    _out(f"{'source':<14}{'kind':<12}{'model':<32}{'USD':>14}")
    labels = {"ai.cost": "billed", "ai.cost_estimated": "estimated", "ai.cost_reported": "reported"}
    for source, metric, model, usd in rows:
        _out(f"{source:<14}{labels.get(metric, metric):<12}{model:<32}{usd:>14,.2f}")
    billed = sum(usd for _, metric, _, usd in rows if metric == "ai.cost")
    estimated = sum(usd for _, metric, _, usd in rows if metric == "ai.cost_estimated")
    _out(f"{'billed by vendors':<58}{billed:>14,.2f}")
    _out(f"{'estimated at list price (no bill of its own)':<58}{estimated:>14,.2f}")
    reported = sum(usd for _, metric, _, usd in rows if metric == "ai.cost_reported")
    if reported:
        _out(f"{'reported by our own services (part of the bills)':<58}{reported:>14,.2f}")
    _print_ledger(url, since, days)


def _print_ledger(url: str, since: datetime, days: int) -> None:
    from orchestration.demo import ledger_summary

    rows = ledger_summary(url, since=since)
    _out(f"\nEvery billed cost over the last {days} days (from marts.fct_costs, FOCUS 1.2)")
    _out(f"{'provider':<22}{'service category':<28}{'cur':<5}{'billed':>14}{'unallocated':>14}")
    for provider, category, currency, billed, unallocated in rows:
        _out(f"{provider:<22}{category:<28}{currency:<5}{billed:>14,.2f}{unallocated or 0:>14,.2f}")
    totals: dict[str, float] = {}
    for _, _, currency, billed, _ in rows:
        totals[currency] = totals.get(currency, 0.0) + billed
    for currency, total in sorted(totals.items()):
        _out(f"{'total':<50}{currency:<5}{total:>14,.2f}")


def _print_reports(url: str, page: Path) -> None:
    """The CFO view of the demo's latest quarter, and every report as one HTML page."""
    from orchestration import reports

    options = {"quarter": None, "scope": None, "month": None, "department": None}
    try:
        cfo = reports.run(
            "cfo",
            argparse.Namespace(**options, project=None, format="table", html=None),
            lambda: url,
        )
        reports.run(
            "all",
            argparse.Namespace(**options, project=None, format="table", html=page),
            lambda: url,
        )
    except reports.ReportError as error:
        _err(f"the reports could not be made: {error}")
        return
    _out(f"\n{cfo.output}")
    _out(f"\nevery report, with charts: {page} (open it in a browser);")
    _out("`vault report cfo|department|project|customer|forecast` prints each one")


def cmd_report(args: argparse.Namespace) -> int:
    if args.what != "costs":
        return _mart_report(args)
    since = datetime.now(UTC) - timedelta(days=args.days)
    _print_costs(warehouse_url(), since, args.days)
    return 0


def _mart_report(args: argparse.Namespace) -> int:
    from orchestration import reports

    try:
        outcome = reports.run(args.what, args, warehouse_url)
    except reports.ReportError as error:
        _err(str(error))
        return error.exit_code
    _out(outcome.output)
    if outcome.page:
        _err(f"wrote {outcome.page}")
    return 0


# -- vault query ---------------------------------------------------------------------------


def cmd_query(args: argparse.Namespace) -> int:
    """Named metrics from the dbt semantic layer, through MetricFlow's `mf query`."""
    from orchestration.query import semantic

    try:
        if args.list:
            listing = (
                semantic.list_group_bys(args.metrics) if args.metrics else semantic.list_metrics()
            )
            _out(listing)
            return 0
        query = semantic.query_from(args)
        # With --csv, mf prints nothing: the rows are in the file.
        if output := semantic.run_query(query, warehouse_url()):
            _out(output)
    except semantic.QueryError as error:
        _err(str(error))
        return error.exit_code
    if args.csv:
        _err(f"wrote {args.csv}")
    return 0


# -- vault prices --------------------------------------------------------------------------


def cmd_prices(args: argparse.Namespace) -> int:
    from orchestration import prices

    try:
        report = prices.update_prices(
            args.file,
            seed=args.seed or prices.SEED_PATH,
            effective_from=prices.parse_day(args.effective_from) if args.effective_from else None,
            providers=prices.parse_providers(args.providers),
            dry_run=args.dry_run,
        )
    except prices.PriceError as error:
        _err(f"{error}; nothing written")
        return 2
    for line in report.lines():
        _out(line)
    return 0


# -- vault classify ------------------------------------------------------------------------


def cmd_classify(args: argparse.Namespace) -> int:
    """Say what a Claude Code session was for; this wins over the hook's rules."""
    from orchestration.hook.override import UnknownTaskClass, record_override

    try:
        _out(record_override(args.session_id, args.task_class))
    except UnknownTaskClass as error:
        _err(str(error))
        return 2
    except psycopg.Error as error:
        _err(f"could not record the override: {error}")
        return 1
    return 0


# -- vault doctor --------------------------------------------------------------------------


def cmd_doctor(args: argparse.Namespace) -> int:
    from orchestration.monitoring.doctor import render, run_checks

    findings = run_checks(probe_sources=not args.no_sources)
    _out(render(findings))
    return 1 if any(finding.status == "fail" for finding in findings) else 0


# -- vault serve ---------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    """Answer Prometheus's read API from marts.fct_metrics, as the reader role."""
    from orchestration.config import load_config
    from orchestration.query import server

    config = load_config().serve
    host = args.host or config.host
    port = args.port or config.port
    if not 1 <= port <= 65535:
        _err(f"--port {port}: use a port from 1 to 65535")
        return 2
    try:
        app, pool = server.prepare(config, host)
    except server.ServeError as error:
        _err(str(error))
        return 2
    if server.serve_token(config, os.environ):
        access = f"every request needs the bearer token in {config.token_env}"
    else:
        access = f"no token required ({config.token_env} is unset)"
    _out(f"serving the Prometheus API on http://{host}:{port}/ from marts.fct_metrics")
    _out(f"reading as {pool.role}; {access}")
    server.serve_forever(app, pool, host, port)
    return 0


# -- vault dev -----------------------------------------------------------------------------


def cmd_dev(args: argparse.Namespace) -> int:
    """Open the Dagster UI; without real credentials the sources point at the sandbox."""
    from orchestration import demo
    from orchestration.clients.anthropic import API_KEY_ENV

    env = dict(os.environ)
    env.setdefault("DAGSTER_HOME", str(demo.dagster_home()))
    # dagster dev's processes find dbt and dagster on PATH, as in an activated venv.
    env["PATH"] = os.pathsep.join([sysconfig.get_path("scripts"), env.get("PATH", "")])
    url = warehouse_url()
    env.setdefault(DATABASE_URL_ENV, url)
    children: list[subprocess.Popen] = []
    if not os.environ.get(API_KEY_ENV) and not os.environ.get("VAULT_CONFIG"):
        sandbox_port = args.sandbox_port
        children.append(
            subprocess.Popen(
                [sys.executable, "-m", "orchestration.cli", "sandbox", "--port", str(sandbox_port)],
                start_new_session=True,
            )
        )
        start, end = demo.demo_window(args.days)
        workspace = demo.prepare_sandbox(
            demo.demo_home(), f"http://127.0.0.1:{sandbox_port}", start, end
        )
        env.update(workspace.env)
        _out(
            f"no {API_KEY_ENV} and no VAULT_CONFIG: sources point at the sandbox "
            f"({workspace.config_path})"
        )
    _out(f"warehouse: {redact(url)}")
    from orchestration.dbt.project import REPO_ROOT

    dagster = Path(sys.executable).with_name("dagster")
    workspace = REPO_ROOT / "workspace.yaml"
    command = [str(dagster), "dev", "-w", str(workspace), "-h", args.host, "-p", str(args.port)]
    ui = subprocess.Popen(command, env=env, start_new_session=True)
    children.append(ui)

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # The children run in process groups of their own (so that dagster dev's signal handling
    # works when this command itself was started in the background); stopping this command,
    # by Ctrl-C or SIGTERM, stops them through their groups.
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return ui.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        for child in reversed(children):
            _stop_group(child)


def _stop_group(child: subprocess.Popen) -> None:
    if child.poll() is not None:
        return
    try:
        os.killpg(child.pid, signal.SIGTERM)
        child.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(child.pid, signal.SIGKILL)


# -- entry point ---------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="vault", description=__doc__.split("\n")[0])
    commands = top.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="the warehouse: print its URL, start or stop it")
    db.add_argument("action", choices=["url", "env", "init", "roles", "start", "stop", "status"])
    db.add_argument(
        "--department-reader",
        action="append",
        metavar="ROLE=DEPARTMENT",
        help="with roles: a login role that sees only DEPARTMENT's rows (repeatable)",
    )
    db.set_defaults(run=cmd_db)

    sandbox = commands.add_parser("sandbox", help="serve the fictional company's vendor APIs")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8765)
    sandbox.add_argument("--seed", type=int, default=7)
    sandbox.set_defaults(run=cmd_sandbox)

    demo = commands.add_parser("demo", help="collect, transform and summarise the sandbox")
    demo.add_argument("--days", type=int, default=90)
    demo.set_defaults(run=cmd_demo)

    dev = commands.add_parser("dev", help="open the Dagster UI")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=3000)
    dev.add_argument("--sandbox-port", type=int, default=8765)
    dev.add_argument("--days", type=int, default=90)
    dev.set_defaults(run=cmd_dev)

    report = commands.add_parser("report", help="summaries read from the marts")
    report.add_argument("what", choices=["costs", *REPORT_NAMES])
    report.add_argument("--days", type=int, default=90, help="costs: the days summed")
    add_report_arguments(report)
    report.set_defaults(run=cmd_report)

    classify = commands.add_parser(
        "classify", help="set a Claude Code session's task class, over the hook's rules"
    )
    classify.add_argument("session_id", help="the session's id (its transcript file's name)")
    classify.add_argument("task_class", help="e.g. bug_fix or customer_work (see the README)")
    classify.set_defaults(run=cmd_classify)

    doctor = commands.add_parser(
        "doctor", help="check the warehouse, each source, freshness and roles; say how to fix"
    )
    doctor.add_argument(
        "--no-sources", action="store_true", help="skip the requests to the sources' APIs"
    )
    doctor.set_defaults(run=cmd_doctor)

    serve = commands.add_parser(
        "serve", help="answer Prometheus's query API (Grafana) from marts.fct_metrics"
    )
    serve.add_argument("--host", help="the address to listen on (vault.yaml serve.host)")
    serve.add_argument(
        "--port", type=int, metavar="N", help="the port (vault.yaml serve.port, 9097)"
    )
    serve.set_defaults(run=cmd_serve)

    query = commands.add_parser("query", help="named metrics of the semantic layer (mf query)")
    add_query_arguments(query)
    query.set_defaults(run=cmd_query)

    prices = commands.add_parser("prices", help="the model price seed")
    prices_actions = prices.add_subparsers(dest="action", required=True)
    update = prices_actions.add_parser("update", help="load a newer price list into the seed")
    update.add_argument("file", type=Path, help="LiteLLM's price JSON or a CSV like the seed")
    update.add_argument("--effective-from", help="YYYY-MM-DD the new prices start (today, UTC)")
    update.add_argument("--dry-run", action="store_true", help="print the changes only")
    update.add_argument("--seed", type=Path, help="the seed to update (the project's)")
    update.add_argument("--providers", default="anthropic,openai")
    update.set_defaults(run=cmd_prices)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.run(args)
    except (ConfigError, EmbeddedWarehouseError) as error:
        _err(str(error))
        return 2


if __name__ == "__main__":
    sys.exit(main())
