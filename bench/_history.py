"""A warehouse with a given amount of history, for the scale benchmarks.

The history sits where it would in production: the raw tables hold every day's records in the
shapes the collectors store (Anthropic usage buckets and cost report items, Claude Code
transcript lines), and one full `dbt run` builds the facts and marts from them, as the first
`dbt build` of a new warehouse does. The records are made server-side by `insert ... select
from generate_series`, so making millions of them costs seconds, not a Python loop.

Every day holds the same records (the same groups, keys shifted by the day), so a warehouse
of ten million metric rows differs from one of a hundred thousand only in how many days of
history it holds; the day a benchmark loads on top is the same in both.
"""

import argparse
import json
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from orchestration.dbt.assets import ensure_sources_exist
from orchestration.dbt.project import DBT_PROJECT_DIR, dbt_executable
from orchestration.warehouse.connection import WarehouseResource, dbt_env, warehouse_url

# The day after the last day of history: the day the incremental benchmark loads and rebuilds.
NEW_DAY = date(2026, 12, 1)

# Records a day: usage buckets (five token metrics each), cost report items (one metric and
# one ledger line each), Claude Code assistant messages (seven metrics each). Together
# about 14,000 metric rows a day, so 10,000,000 rows are two years of history.
USAGE_PER_DAY = 1_400
COST_ITEMS_PER_DAY = 1_400
MESSAGES_PER_DAY = 800
METRIC_ROWS_PER_DAY = 14_000

MODELS = ("claude-sonnet-4-5-20250929", "claude-haiku-4-5-20251001", "claude-opus-4-1-20250805")

# The mapped API keys, workspaces and Claude Code projects of seeds/source_mappings.csv, so a
# share of the usage is allocated to departments and projects as it would be.
API_KEYS = (
    "apikey_012AezWtiAgufXjPAcc921to",
    "apikey_012xVrCf1rtACAXgo8c4Mkaa",
    "apikey_01DvV9T8SVM5jGU5EjLs8zrA",
    "apikey_01FXDNEXgzgv1XiPti6vj8Rs",
    "apikey_01FbbrZNhFgtsqwDtGuSptFD",
    "apikey_01MgZfZDmJVZbtXZGmayyHcz",
)
WORKSPACES = (
    "wrkspc_01zxrxktcSSSS7XhS4D5EVB8",
    "wrkspc_01eCHK1ATbQgdM9mwZgikp4W",
    "wrkspc_01uUxcJnTPkyRFA6CAFjF1Yv",
    "wrkspc_01QX88wYWXXL6A7pNpHXvmBa",
)
CLAUDE_CODE_USERS = (
    ("bilal.petrov@northwind-labs.example", "-home-bpetrov-src-eval-harness"),
    ("bilal.petrov@northwind-labs.example", "-home-bpetrov-src-invoice-reader"),
    ("chiara.okafor@northwind-labs.example", "-home-cokafor-src-checkout-api"),
    ("efua.castillo@northwind-labs.example", "-home-ecastillo-src-eval-harness"),
    ("efua.castillo@northwind-labs.example", "-home-ecastillo-src-invoice-reader"),
    ("greta.tanaka@northwind-labs.example", "-home-gtanaka-src-agent-lab"),
    ("amara.nakamura@northwind-labs.example", "-home-anakamura-src-design-system"),
    ("carmen.mensah@northwind-labs.example", "-home-cmensah-src-finance-reports"),
)

COST_LINES = (
    ("Usage - Input Tokens", "tokens", "uncached_input_tokens"),
    ("Usage - Output Tokens", "tokens", "output_tokens"),
    ("Usage - Cache Read", "tokens", "cache_read_input_tokens"),
    ("Usage - Cache Write", "tokens", "cache_creation.ephemeral_5m_input_tokens"),
    ("Web Search", "web_search", None),
)


def _sql_array(values: tuple[str, ...]) -> str:
    return "array[" + ", ".join(f"'{value}'" for value in values) + "]"


def _usage_sql() -> str:
    return f"""
insert into raw.anthropic_messages_usage (partition_key, natural_key, load_seq, run_id, record)
select
    day::date::text,
    concat_ws('|', r.record ->> 'starting_at', r.record ->> 'api_key_id',
        r.record ->> 'workspace_id', r.record ->> 'model', r.record ->> 'service_tier',
        r.record ->> 'context_window', r.record ->> 'inference_geo'),
    g,
    'bench-' || day::date::text,
    r.record
from generate_series(%(first)s::date, %(last)s::date, interval '1 day') as day
cross join generate_series(1, {USAGE_PER_DAY}) as g
cross join lateral (
    select jsonb_build_object(
        'starting_at', to_char(day, 'YYYY-MM-DD') || 'T00:00:00Z',
        'ending_at', to_char(day + interval '1 day', 'YYYY-MM-DD') || 'T00:00:00Z',
        'api_key_id', case when g <= {len(API_KEYS)}
            then ({_sql_array(API_KEYS)})[g]
            else 'apikey_01bench' || lpad(g::text, 12, '0') end,
        'workspace_id', ({_sql_array(WORKSPACES)})[1 + g %% {len(WORKSPACES)}],
        'model', ({_sql_array(MODELS)})[1 + (g / 7) %% {len(MODELS)}],
        'service_tier', case when g %% 5 = 0 then 'batch' else 'standard' end,
        'context_window', '0-200k',
        'inference_geo', null,
        'uncached_input_tokens', 1 + (hashint4(g + extract(doy from day)::int) & 65535),
        'cache_read_input_tokens', 1 + (hashint4(g * 3) & 524287),
        'cache_creation', jsonb_build_object(
            'ephemeral_5m_input_tokens', 1 + (hashint4(g * 5) & 16383),
            'ephemeral_1h_input_tokens', 1 + (hashint4(g * 7) & 4095)),
        'output_tokens', 1 + (hashint4(g * 11 + extract(doy from day)::int) & 16383),
        'server_tool_use', jsonb_build_object('web_search_requests', g %% 3)
    ) as record
) as r
"""


def _cost_sql() -> str:
    descriptions = _sql_array(tuple(line[0] for line in COST_LINES))
    cost_types = _sql_array(tuple(line[1] for line in COST_LINES))
    token_types = (
        "array["
        + ", ".join(f"'{line[2]}'" if line[2] else "null" for line in COST_LINES)
        + "]::text[]"
    )
    return f"""
insert into raw.anthropic_cost_report (partition_key, natural_key, load_seq, run_id, record)
select
    day::date::text,
    concat_ws('|', r.record ->> 'starting_at', r.record ->> 'workspace_id',
        r.record ->> 'description', r.record ->> 'model', r.record ->> 'cost_type',
        r.record ->> 'token_type', r.record ->> 'service_tier', r.record ->> 'context_window'),
    g,
    'bench-' || day::date::text,
    r.record
from generate_series(%(first)s::date, %(last)s::date, interval '1 day') as day
cross join generate_series(1, {COST_ITEMS_PER_DAY}) as g
cross join lateral (
    select jsonb_build_object(
        'starting_at', to_char(day, 'YYYY-MM-DD') || 'T00:00:00Z',
        'ending_at', to_char(day + interval '1 day', 'YYYY-MM-DD') || 'T00:00:00Z',
        'currency', 'USD',
        'amount', ((1 + (hashint4(g + extract(doy from day)::int) & 262143)) / 1000.0)::text,
        'workspace_id', 'wrkspc_01bench' || lpad((g / 5)::text, 12, '0'),
        'description', ({descriptions})[1 + g %% {len(COST_LINES)}],
        'cost_type', ({cost_types})[1 + g %% {len(COST_LINES)}],
        'context_window', case when g %% {len(COST_LINES)} < 4 then '0-200k' end,
        'model', case when g %% {len(COST_LINES)} < 4
            then ({_sql_array(MODELS)})[1 + (g / 5) %% {len(MODELS)}] end,
        'service_tier', case when g %% {len(COST_LINES)} < 4 then 'standard' end,
        'token_type', ({token_types})[1 + g %% {len(COST_LINES)}]
    ) as record
) as r
"""


def _messages_sql() -> str:
    users = _sql_array(tuple(user for user, _ in CLAUDE_CODE_USERS))
    projects = _sql_array(tuple(project for _, project in CLAUDE_CODE_USERS))
    count = len(CLAUDE_CODE_USERS)
    return f"""
insert into raw.claude_code_messages (partition_key, natural_key, load_seq, run_id, record)
select
    day::date::text,
    (r.record -> 'message' ->> 'id') || ':' || (r.record ->> 'requestId'),
    g,
    'bench-' || day::date::text,
    r.record
from generate_series(%(first)s::date, %(last)s::date, interval '1 day') as day
cross join generate_series(1, {MESSAGES_PER_DAY}) as g
cross join lateral (
    select
        ({users})[1 + (g / 30) %% {count}] as user_email,
        ({projects})[1 + (g / 30) %% {count}] as project_dir,
        md5(day::date::text || ':' || (g / 30)::text) as session_hash,
        md5(day::date::text || ':' || g::text) as message_hash
) as s
cross join lateral (
    select jsonb_build_object(
        'parentUuid', null,
        'isSidechain', false,
        'userType', 'external',
        'cwd', '/' || replace(ltrim(s.project_dir, '-'), '-', '/'),
        'sessionId', (s.session_hash)::uuid::text,
        'version', '2.0.70',
        'gitBranch', 'main',
        'type', 'assistant',
        'uuid', (s.message_hash)::uuid::text,
        'timestamp', to_char(
            day + interval '8 hours' + (g %% 30) * interval '90 seconds'
                + (g / 30) * interval '17 minutes',
            'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'message', jsonb_build_object(
            'id', 'msg_01' || left(s.message_hash, 22),
            'type', 'message',
            'role', 'assistant',
            'model', ({_sql_array(MODELS)})[1 + g %% {len(MODELS)}],
            'content', jsonb_build_array(jsonb_build_object('type', 'text', 'text', 'Done.')),
            'stop_reason', 'end_turn',
            'usage', jsonb_build_object(
                'input_tokens', 1 + (hashint4(g) & 63),
                'cache_creation_input_tokens', 1 + (hashint4(g * 3) & 32767),
                'cache_read_input_tokens', 1 + (hashint4(g * 5) & 131071),
                'output_tokens', 1 + (hashint4(g * 7) & 4095),
                'cache_creation', jsonb_build_object(
                    'ephemeral_5m_input_tokens', 1 + (hashint4(g * 3) & 16383),
                    'ephemeral_1h_input_tokens', 1 + (hashint4(g * 9) & 16383)),
                'service_tier', 'standard')),
        'requestId', 'req_011' || right(s.message_hash, 20),
        '_vault', jsonb_build_object(
            'file', '/home/transcripts/' || s.project_dir || '/' || s.session_hash || '.jsonl',
            'line', g %% 30 + 1,
            'project_dir', s.project_dir,
            'user_email', s.user_email)
    ) as record
) as r
"""


RAW_TABLES = ("anthropic_messages_usage", "anthropic_cost_report", "claude_code_messages")


def load_days(conn: psycopg.Connection, first: date, last: date) -> int:
    """Insert every raw record of the days [first, last] (inclusive); the records inserted."""
    inserted = 0
    with conn.transaction():
        for statement in (_usage_sql(), _cost_sql(), _messages_sql()):
            inserted += conn.execute(statement, {"first": first, "last": last}).rowcount
    for table in RAW_TABLES:
        conn.execute(f"analyze raw.{table}")
    return inserted


def days_for(rows: int) -> int:
    """Days of history that make about `rows` metric rows (at least one)."""
    return max(1, round(rows / METRIC_ROWS_PER_DAY))


def with_database(url: str, database: str) -> str:
    return urlsplit(url)._replace(path=f"/{database}").geturl()


def server_url(url: str | None) -> str:
    """`url`, else `VAULT_DATABASE_URL`, else the embedded warehouse (started if needed)."""
    return url or os.environ.get("VAULT_DATABASE_URL") or warehouse_url()


def database_exists(url: str, name: str) -> bool:
    with psycopg.connect(url, autocommit=True) as admin:
        return (
            admin.execute("select 1 from pg_database where datname = %s", (name,)).fetchone()
            is not None
        )


def drop_database(url: str, name: str) -> None:
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'drop database if exists "{name}" with (force)')


class DbtRunner:
    """dbt against one database, its target and logs in a folder of its own."""

    def __init__(self, url: str, folder: Path) -> None:
        self.url = url
        self.folder = folder
        self.env = {
            **os.environ,
            **dbt_env(url),
            "DBT_TARGET_PATH": str(folder / "target"),
            "DBT_LOG_PATH": str(folder / "logs"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        }

    def __call__(self, *args: str) -> tuple[float, dict[str, float]]:
        """Run dbt; the wall time and each node's execution time from run_results.json."""
        started = time.perf_counter()
        done = subprocess.run(
            [
                dbt_executable(),
                *args,
                "--project-dir",
                str(DBT_PROJECT_DIR),
                "--profiles-dir",
                str(DBT_PROJECT_DIR),
            ],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"dbt {' '.join(args)} failed:\n{done.stdout[-4000:]}")
        results = json.loads((self.folder / "target" / "run_results.json").read_text())
        nodes = {
            result["unique_id"].rsplit(".", 1)[-1]: result["execution_time"]
            for result in results["results"]
        }
        return wall, nodes


def window_vars(day: date) -> str:
    """The vars Dagster passes for the daily partition of `day`."""
    return json.dumps(
        {
            "min_date": f"{day.isoformat()}T00:00:00+00:00",
            "max_date": f"{(day + timedelta(days=1)).isoformat()}T00:00:00+00:00",
        }
    )


@dataclass
class Warehouse:
    """A scratch database holding `days` days of history before NEW_DAY, built."""

    url: str
    name: str
    days: int
    dbt: DbtRunner
    load_s: float = 0.0
    build_s: float = 0.0

    def metric_rows(self) -> int:
        with psycopg.connect(self.url) as conn:
            return conn.execute("select count(*) from marts.fct_metrics").fetchone()[0]

    def cost_rows(self) -> int:
        with psycopg.connect(self.url) as conn:
            return conn.execute("select count(*) from marts.fct_costs").fetchone()[0]


def build_warehouse(server: str, name: str, rows: int, *, reuse: bool, log=print) -> Warehouse:
    """The database `name` on `server` with about `rows` metric rows of history, built.

    With `reuse`, a database of that name that already holds a built warehouse is taken as it
    is (how many days it holds is read from its raw tables); otherwise it is created afresh.
    """
    url = with_database(server, name)
    folder = Path(tempfile.gettempdir()) / f"vault-bench-{name}"
    dbt = DbtRunner(url, folder)
    if reuse and database_exists(server, name):
        with psycopg.connect(url) as conn:
            held = conn.execute(
                "select count(distinct partition_key) from raw.anthropic_messages_usage"
                " where partition_key < %s",
                (NEW_DAY.isoformat(),),
            ).fetchone()[0]
        if held:
            log(f"reusing {name}: {held} days of history")
            # The views are cheap to create again, and so follow the project as it is now.
            dbt("run", "--select", "config.materialized:view")
            return Warehouse(url, name, held, dbt)
    days = days_for(rows)
    drop_database(server, name)
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'create database "{name}"')
    ensure_sources_exist(WarehouseResource(url=url))
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        records = load_days(conn, NEW_DAY - timedelta(days=days), NEW_DAY - timedelta(days=1))
    load_s = time.perf_counter() - started
    log(f"{name}: {records:,} raw records over {days} days in {load_s:.0f}s; building")
    started = time.perf_counter()
    dbt("seed")
    dbt("run")
    build_s = time.perf_counter() - started
    log(f"{name}: full dbt run in {build_s:.0f}s")
    return Warehouse(url, name, days, dbt, load_s, build_s)


def warehouse_name(rows: int) -> str:
    """The scratch database of a warehouse with about `rows` metric rows of history."""
    return f"vault_bench_history_{rows}"


def positive(text: str) -> int:
    """A command-line count: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value
