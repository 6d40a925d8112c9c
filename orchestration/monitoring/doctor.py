"""`vault doctor`: what is wrong with this vault, and how to fix it.

Each check returns findings (ok, warn, fail or skip) with a fix for anything not ok:

- the configuration (`vault.yaml`) loads;
- the warehouse answers, with its version, TimescaleDB, and settings that slow the vault;
- each enabled source's credentials are set and accepted, and its API answers: the doctor
  makes the cheapest real request the source's own client can make (one day's first page,
  or an identity call where a report would cost money), without retries;
- freshness: the newest load of each raw table the enabled sources fill, and the newest
  day in the ledger and the metric table;
- the roles: the reader can read the marts and nothing else, the ingest role can insert
  push events and read none.

It changes nothing, so it is safe to run against production at any time.
"""

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx
import psycopg
from psycopg import sql

from orchestration.collectors.http import HttpStatusError, MissingCredentialError, SourceError
from orchestration.config import ConfigError, VaultConfig, load_config
from orchestration.warehouse.connection import redact, warehouse_url
from orchestration.warehouse.loader import RAW_SCHEMA
from orchestration.warehouse.push import INGEST_ROLE, PUSH_TABLES
from orchestration.warehouse.roles import ACCESS_SCHEMA, MARTS_SCHEMA, OWNER_ROLE, READER_ROLE

Status = Literal["ok", "warn", "fail", "skip"]

# Schemas the reader must not read: everything upstream of the marts, and the access map.
PRIVATE_SCHEMAS = ("raw", "staging", "intermediate", "seeds", ACCESS_SCHEMA)
# A probe waits at most this long for a vendor, and never retries: the doctor reports.
PROBE_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Finding:
    area: str
    status: Status
    message: str
    fix: str | None = None


def run_checks(
    *,
    config_path: Path | None = None,
    url: str | None = None,
    now: datetime | None = None,
    probe_sources: bool = True,
) -> list[Finding]:
    """Every check, in the order a reader fixes them: configuration, warehouse, sources."""
    now = now or datetime.now(UTC)
    findings: list[Finding] = []
    try:
        config = load_config(config_path)
    except ConfigError as error:
        return [
            Finding("config", "fail", str(error), "correct vault.yaml (see vault.example.yaml)")
        ]
    enabled = config.enabled_sources()
    findings.append(
        Finding(
            "config",
            "ok" if enabled else "warn",
            f"{len(enabled)} source(s) enabled: {', '.join(enabled) or 'none'}",
            None if enabled else "add a source section to vault.yaml (see vault.example.yaml)",
        )
    )
    try:
        url = url or warehouse_url()
        conn = psycopg.connect(url, connect_timeout=10, autocommit=True)
    except (psycopg.Error, OSError) as error:
        findings.append(
            Finding(
                "warehouse",
                "fail",
                f"cannot connect: {_first_line(error)}",
                "start the server, or set VAULT_DATABASE_URL to the warehouse "
                "(postgresql://user:password@host:5432/database)",
            )
        )
        if probe_sources:
            findings.extend(check_sources(config, now))
        return findings
    with conn:
        findings.extend(check_warehouse(conn, url))
        if probe_sources:
            findings.extend(check_sources(config, now))
        findings.extend(check_freshness(conn, config, now))
        findings.extend(check_roles(conn))
    return findings


# ---------------------------------------------------------------------------- warehouse


def check_warehouse(conn: psycopg.Connection, url: str) -> list[Finding]:
    version = conn.execute("show server_version").fetchone()[0]
    timescale = conn.execute(
        "select extversion from pg_extension where extname = 'timescaledb'"
    ).fetchone()
    findings = [
        Finding(
            "warehouse",
            "ok",
            f"PostgreSQL {version} at {redact(url)}; "
            + (f"TimescaleDB {timescale[0]}" if timescale else "no TimescaleDB (plain tables)"),
        )
    ]
    # jit = on costs nothing where the server was built without LLVM.
    jit = conn.execute("select current_setting('jit') = 'on' and pg_jit_available()").fetchone()
    if jit[0]:
        findings.append(
            Finding(
                "warehouse jit",
                "warn",
                "jit is on: it compiles the models' wide queries for seconds each and "
                "rarely pays back on the vault's daily windows",
                f"alter database {conn.info.dbname} set jit = off",
            )
        )
    return findings


# ---------------------------------------------------------------------------- sources


def _first(records: Iterable[Any]) -> str:
    """Read at most one item of `records` (a lazy first page) and say what came back."""
    for _ in records:
        return "credentials accepted; yesterday's data answered"
    return "credentials accepted; the API answered, with no data for yesterday"


def _aws(client: Any, start: datetime, end: datetime) -> str:
    # An identity call is free; a Cost Explorer request costs money.
    identity = client.boto_client("sts").get_caller_identity()
    return f"credentials accepted (account {identity.get('Account', '?')})"


def _claude_code(client: Any, start: datetime, end: datetime) -> str:
    missing = [
        folder.path for folder in client.folders if not Path(folder.path).expanduser().is_dir()
    ]
    if missing:
        raise SourceError(f"transcript folder(s) not found: {', '.join(missing)}")
    return f"{len(client.folders)} transcript folder(s) found"


def _focus(client: Any, start: datetime, end: datetime) -> str:
    files = sum(len(client.list_files(location)) for location in client.locations)
    return f"{files} file(s) listed at {len(client.locations)} location(s)"


# The cheapest real request each source's client makes, given yesterday (UTC) as a window.
# Sources defined by vault.yaml entries alone (http_api, sql, log_files) have no client:
# their collectors check their own variables when they run.
PROBES: Mapping[str, Callable[[Any, datetime, datetime], str]] = {
    "anthropic": lambda c, s, e: _first(c.cost_report(s, e)),
    "openai": lambda c, s, e: _first(c.costs(s, e)),
    "aws": _aws,
    "azure": lambda c, s, e: _first(c.cost_rows(s, e)),
    "gcp": lambda c, s, e: _first(c.export_rows(s, e)),
    "focus": _focus,
    "claude_code": _claude_code,
    "datadog": lambda c, s, e: _first(c.metric_series(e - timedelta(hours=1), e)),
    "prometheus": lambda c, s, e: _first(c.range_records(e - timedelta(minutes=5), e)),
    "kubernetes": lambda c, s, e: _first(c.node_snapshot(e - timedelta(hours=1), e)),
    "stripe": lambda c, s, e: _first(c.customers(e)),
    "mixpanel": lambda c, s, e: _first(c.event_counts(s, e)),
    "github": lambda c, s, e: _first(c.commits(s, e, None)),
}


def _without_retries(config: VaultConfig) -> VaultConfig:
    """`config` with every source's retries off and time-outs at most PROBE_TIMEOUT_S."""
    sources = {}
    for name, section in config.sources:
        if section is None:
            continue
        update: dict[str, Any] = {}
        if "max_retries" in type(section).model_fields:
            update["max_retries"] = 0
        if "timeout_s" in type(section).model_fields:
            update["timeout_s"] = min(section.timeout_s, PROBE_TIMEOUT_S)
        sources[name] = section.model_copy(update=update)
    return config.model_copy(update={"sources": config.sources.model_copy(update=sources)})


def check_sources(config: VaultConfig, now: datetime) -> list[Finding]:
    from orchestration.resources import SOURCE_RESOURCES

    end = now.replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=1)
    findings = []
    for name, section in _without_retries(config).enabled_sources().items():
        area = f"source {name}"
        probe = PROBES.get(name)
        if probe is None:
            findings.append(
                Finding(area, "skip", "defined by vault.yaml entries; checked when they run")
            )
            continue
        try:
            (resource,) = SOURCE_RESOURCES[name](section).values()
            with resource.process_config_and_initialize_cm() as client:
                answer = probe(client, start, end)
        except Exception as error:  # every SDK has its own errors; each is explained below
            findings.append(_source_failure(area, error))
            continue
        findings.append(Finding(area, "ok", answer))
    return findings


def _source_failure(area: str, error: Exception) -> Finding:
    if isinstance(error, MissingCredentialError):
        return Finding(area, "fail", str(error), "export the variable it names, then re-run")
    if isinstance(error, HttpStatusError) and error.status in {401, 403}:
        return Finding(
            area,
            "fail",
            f"credentials refused (HTTP {error.status}): {_first_line(error)}",
            "check the key in its environment variable: an admin key, not revoked, "
            "with read access to usage and costs",
        )
    if isinstance(error, HttpStatusError):
        return Finding(area, "fail", _first_line(error), "see the vendor's status page")
    if isinstance(error, httpx.TransportError | OSError | SourceError):
        return Finding(
            area,
            "fail",
            f"unreachable: {_first_line(error)}",
            "check base_url (or endpoint) in vault.yaml and the network path to it",
        )
    return Finding(area, "fail", f"{type(error).__name__}: {_first_line(error)}")


# ---------------------------------------------------------------------------- freshness


def raw_tables(config: VaultConfig) -> dict[str, str]:
    """Raw table -> the source that fills it, for every enabled collector."""
    from orchestration.collectors.registry import enabled_collectors

    return dict(sorted((spec.table, spec.source) for spec in enabled_collectors(config)))


def _exists(conn: psycopg.Connection, schema: str, table: str) -> bool:
    found = conn.execute("select to_regclass(%s)", (f'"{schema}"."{table}"',)).fetchone()[0]
    return found is not None


def _ago(age: timedelta) -> str:
    hours = age.total_seconds() / 3600
    return f"{hours:.0f} h" if hours < 72 else f"{hours / 24:.0f} days"


def raw_table_ages(
    conn: psycopg.Connection, tables: Iterable[str], now: datetime
) -> dict[str, timedelta | None]:
    """Each raw table's age: how long ago its newest row was loaded (None: never loaded)."""
    ages: dict[str, timedelta | None] = {}
    for table in tables:
        newest = None
        if _exists(conn, RAW_SCHEMA, table):
            newest = conn.execute(
                sql.SQL("select max(loaded_at) from {}").format(sql.Identifier(RAW_SCHEMA, table))
            ).fetchone()[0]
        ages[table] = None if newest is None else now - newest
    return ages


def source_table_ages(
    conn: psycopg.Connection, config: VaultConfig, now: datetime
) -> dict[str, dict[str, timedelta | None]]:
    """For each enabled source, its raw tables' ages (None: never loaded)."""
    by_source: dict[str, list[str]] = {}
    for table, source in raw_tables(config).items():
        by_source.setdefault(source, []).append(table)
    return {source: raw_table_ages(conn, tables, now) for source, tables in by_source.items()}


def check_freshness(conn: psycopg.Connection, config: VaultConfig, now: datetime) -> list[Finding]:
    """A finding per enabled source (its raw tables' newest loads), then the two facts."""
    limit = timedelta(hours=config.freshness.raw_max_age_hours)
    findings = []
    for source, ages in source_table_ages(conn, config, now).items():
        never = [table for table, age in ages.items() if age is None]
        stale = {table: age for table, age in ages.items() if age is not None and age > limit}
        area = f"fresh {source}"
        if not never and not stale:
            newest = min(age for age in ages.values() if age is not None)
            findings.append(
                Finding(area, "ok", f"{len(ages)} raw table(s), newest load {_ago(newest)} ago")
            )
            continue
        problems = [f"raw.{table} never loaded" for table in never] + [
            f"raw.{table} last loaded {_ago(age)} ago" for table, age in stale.items()
        ]
        findings.append(
            Finding(
                area,
                "fail",
                f"{'; '.join(problems)} (limit {config.freshness.raw_max_age_hours:g} h)",
                f"turn on collect_{source}_schedule, backfill the missing days in the Dagster "
                f"UI, or read the failed collect_{source} runs there",
            )
        )
    for table, column in (("fct_costs", "charge_period_start"), ("fct_metrics", "observed_at")):
        area = f"fresh marts.{table}"
        if not _exists(conn, MARTS_SCHEMA, table):
            findings.append(
                Finding(area, "fail", "not built", "run the transform job in the Dagster UI")
            )
            continue
        newest = conn.execute(
            sql.SQL("select max({}) from {}").format(
                sql.Identifier(column), sql.Identifier(MARTS_SCHEMA, table)
            )
        ).fetchone()[0]
        if newest is None:
            findings.append(Finding(area, "warn", "built but empty"))
        else:
            findings.append(Finding(area, "ok", f"newest {column} {_ago(now - newest)} ago"))
    return findings


# ---------------------------------------------------------------------------- roles


def _role_exists(conn: psycopg.Connection, role: str) -> bool:
    return conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone() is not None


def _tables(conn: psycopg.Connection, schemas: Iterable[str]) -> list[tuple[str, str]]:
    return conn.execute(
        """
        select table_schema, table_name from information_schema.tables
        where table_schema = any(%s) order by 1, 2
        """,
        (list(schemas),),
    ).fetchall()


def _privileged(
    conn: psycopg.Connection, role: str, tables: Iterable[tuple[str, str]], privilege: str
) -> list[str]:
    """The tables of `tables` on which `role` has `privilege`, as schema.table."""
    return [
        f"{schema}.{table}"
        for schema, table in tables
        if conn.execute(
            "select has_table_privilege(%s, %s, %s)",
            (role, f'"{schema}"."{table}"', privilege),
        ).fetchone()[0]
    ]


def check_roles(
    conn: psycopg.Connection,
    *,
    owner: str = OWNER_ROLE,
    reader: str = READER_ROLE,
    ingest: str = INGEST_ROLE,
) -> Iterator[Finding]:
    """The owner exists and is no superuser; the reader reads every mart and nothing
    upstream, and writes nothing; the ingest role inserts into every push table and reads
    nothing."""
    fix = "vault db roles (as the warehouse's admin)"
    found = conn.execute("select rolsuper from pg_roles where rolname = %s", (owner,)).fetchone()
    if found is None:
        yield Finding(f"role {owner}", "warn", "missing: the vault runs as whoever connects", fix)
    elif found[0]:
        yield Finding(
            f"role {owner}",
            "fail",
            "is a superuser: a leaked collector credential would own the server",
            f"alter role {owner} nosuperuser; then {fix}",
        )
    else:
        yield Finding(f"role {owner}", "ok", "exists and is not a superuser")
    if not _role_exists(conn, reader):
        yield Finding(f"role {reader}", "warn", "missing: BI tools have no read-only login", fix)
    else:
        marts = _tables(conn, [MARTS_SCHEMA])
        unreadable = sorted(
            set(f"{s}.{t}" for s, t in marts) - set(_privileged(conn, reader, marts, "select"))
        )
        leaks = _privileged(conn, reader, _tables(conn, PRIVATE_SCHEMAS), "select")
        writes = _privileged(conn, reader, marts, "insert,update,delete,truncate")
        if unreadable:
            yield Finding(
                f"role {reader}",
                "fail",
                f"cannot read {len(unreadable)} mart(s): {', '.join(unreadable[:5])}",
                "run the transform job (dbt grants the marts after each run), or " + fix,
            )
        if leaks or writes:
            named = ", ".join([*leaks, *writes][:5])
            yield Finding(
                f"role {reader}",
                "fail",
                f"may read or write beyond the marts: {named}",
                f"revoke those grants; then {fix}",
            )
        if not (unreadable or leaks or writes):
            yield Finding(f"role {reader}", "ok", f"reads the {len(marts)} marts and nothing else")
    if not _role_exists(conn, ingest):
        yield Finding(f"role {ingest}", "warn", "missing: push events cannot be sent", fix)
        return
    push = [(RAW_SCHEMA, table) for table in PUSH_TABLES if _exists(conn, RAW_SCHEMA, table)]
    cannot_insert = sorted(
        set(f"{s}.{t}" for s, t in push) - set(_privileged(conn, ingest, push, "insert"))
    )
    reads = _privileged(conn, ingest, _tables(conn, [RAW_SCHEMA, MARTS_SCHEMA]), "select")
    if cannot_insert or reads or len(push) < len(PUSH_TABLES):
        problems = [f"cannot insert into {t}" for t in cannot_insert] + [
            f"reads {t}" for t in reads
        ]
        if len(push) < len(PUSH_TABLES):
            problems.append("push tables missing")
        yield Finding(f"role {ingest}", "fail", "; ".join(problems[:5]), fix)
    else:
        yield Finding(f"role {ingest}", "ok", "inserts push events and reads nothing")


# ---------------------------------------------------------------------------- output


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]


MARKS = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL", "skip": "skip"}


def render(findings: Iterable[Finding]) -> str:
    """One line per finding, its fix indented below it."""
    findings = list(findings)
    width = max((len(finding.area) for finding in findings), default=0)
    lines = []
    for finding in findings:
        lines.append(f"{MARKS[finding.status]}  {finding.area:<{width}}  {finding.message}")
        if finding.fix and finding.status in {"warn", "fail"}:
            lines.append(f"{'':6}{'':<{width}}  fix: {finding.fix}")
    failed = sum(finding.status == "fail" for finding in findings)
    warned = sum(finding.status == "warn" for finding in findings)
    lines.append(f"\n{failed} problem(s), {warned} warning(s)")
    return "\n".join(lines)
