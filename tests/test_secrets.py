"""No credential ever leaves the process that uses it: not in Dagster's records, not in the
output of a run, not in dbt's logs, not in the warehouse.

Every collector that authenticates runs through Dagster for one partition, from the real
definitions and resources, against the sandbox (AWS against moto's server), each with a
credential of its own that no other text contains: a canary. The warehouse URL carries one
as its password too (the test servers trust local logins, so it is sent and ignored). The
runs succeed, are refused (a wrong key: the vendor's 401 or 403), and meet server errors
that outlast the clients' retries, since an error message is where a key usually slips out.
Afterwards every canary is looked for in each run's event log entries (failures and
metadata included), the run records, every file of the Dagster instance (its SQLite storage
and the captured compute logs), what the runs wrote to stdout and stderr, dbt's target and
log folders after a build over the loaded rows, and every row of the `raw` schema, including
`raw._rejected`.
"""

import base64
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import psycopg
import pytest
import yaml
from conftest import run_dbt

from orchestration.clients.anthropic import API_KEY_ENV as ANTHROPIC_KEY_ENV
from orchestration.clients.datadog import API_KEY_ENV as DD_API_KEY_ENV
from orchestration.clients.datadog import APP_KEY_ENV as DD_APP_KEY_ENV
from orchestration.clients.github import TOKEN_ENV as GITHUB_TOKEN_ENV
from orchestration.clients.mixpanel import SECRET_ENV as MIXPANEL_SECRET_ENV
from orchestration.clients.mixpanel import USERNAME_ENV as MIXPANEL_USERNAME_ENV
from orchestration.clients.openai import API_KEY_ENV as OPENAI_KEY_ENV
from orchestration.clients.stripe import API_KEY_ENV as STRIPE_KEY_ENV
from orchestration.collectors.framework import Collector, build_collector_asset
from orchestration.collectors.registry import discover_collectors, enabled_collectors
from orchestration.config import VaultConfig, load_config
from orchestration.custom.collectors import ensure_custom_tables
from orchestration.dbt.project import ensure_manifest
from orchestration.definitions import build_definitions
from orchestration.demo import prepare_sandbox
from orchestration.sandbox import azure_cost, kubernetes_api
from orchestration.sandbox.aws_ce import moto_server
from orchestration.sandbox.company import build_company
from orchestration.sandbox.custom_sources import METRICS_TOKEN_ENV, SUPPORT_DB_ENV
from orchestration.sandbox.server import SandboxServer
from orchestration.warehouse.connection import DATABASE_URL_ENV
from orchestration.warehouse.loader import ensure_raw_tables
from orchestration.warehouse.push import grant_ingest

START, END = date(2026, 11, 9), date(2026, 11, 10)
DAY = START.isoformat()
HOUR = f"{DAY}-12:00"
PROMETHEUS_TOKEN_ENV = "PROMETHEUS_BEARER_TOKEN"
MIXPANEL_USERNAME = "vault-secrets-test.000000.mp-service-account"

# One canary per credential, each in the shape its vendor (or the sandbox) accepts.
CANARIES = {
    ANTHROPIC_KEY_ENV: "sk-ant-admin01-LEAKCANARY-anthropic-5f1c0e",
    OPENAI_KEY_ENV: "sk-admin-LEAKCANARY-openai-8b27d4",
    STRIPE_KEY_ENV: "sk_test_LEAKCANARY_stripe_3e91a7",
    GITHUB_TOKEN_ENV: "ghp_LEAKCANARYgithub0000000000000000004c",
    # Datadog's keys are hexadecimal: 32 characters for the API key, 40 for the app key.
    DD_API_KEY_ENV: "1eac0a4a" * 3 + "da7ad061",
    DD_APP_KEY_ENV: "1eac0a4a" * 4 + "a99da7ad",
    MIXPANEL_USERNAME_ENV: MIXPANEL_USERNAME,
    MIXPANEL_SECRET_ENV: "LEAKCANARY-mixpanel-secret-6d02f9",
    PROMETHEUS_TOKEN_ENV: "LEAKCANARY-prometheus-token-90ab3c",
    METRICS_TOKEN_ENV: "nw-internal-LEAKCANARY-metrics-71e5d8",
    "AWS_ACCESS_KEY_ID": "AKIALEAKCANARY0AWS0ID",
    "AWS_SECRET_ACCESS_KEY": "LEAKCANARY-aws-secret-access-key-2c7f10",
    "IDENTITY_HEADER": "LEAKCANARY-azure-identity-header-a83e56",
}
KUBERNETES_TOKEN = "LEAKCANARY-kubernetes-token-4d19b2"
WAREHOUSE_PASSWORD = "LEAKCANARY-warehouse-password-e60c37"
# Wrong credentials: each vendor refuses them, and each is a canary too.
WRONG = {
    ANTHROPIC_KEY_ENV: "sk-ant-api03-LEAKCANARY-wrong-anthropic-17",
    OPENAI_KEY_ENV: "sk-proj-LEAKCANARY-wrong-openai-28",
    STRIPE_KEY_ENV: "sk_live_LEAKCANARY_wrong_stripe_39",
    GITHUB_TOKEN_ENV: "LEAKCANARY-wrong-github-token-40",
    DD_API_KEY_ENV: "LEAKCANARY-wrong-datadog-api-key-51",
    DD_APP_KEY_ENV: "LEAKCANARY-wrong-datadog-app-key-62",
    MIXPANEL_USERNAME_ENV: "LEAKCANARY-wrong-mixpanel-user-73",
    MIXPANEL_SECRET_ENV: "LEAKCANARY-wrong-mixpanel-secret-84",
    METRICS_TOKEN_ENV: "LEAKCANARY-wrong-metrics-token-95",
    "IDENTITY_HEADER": "LEAKCANARY-wrong-azure-identity-header-06",
    # The support desk's database behind a port nothing listens on, with a password.
    SUPPORT_DB_ENV: "postgresql+psycopg://support:LEAKCANARY-wrong-sql-password-17@127.0.0.1:9/desk",
}
WRONG_KUBERNETES_TOKEN = "LEAKCANARY-wrong-kubernetes-token-28"
# The failing runs' collectors are built as the definitions build them, but without Dagster's
# step retries (a minute apart and more), so a failure is final at once; the clients' own
# retries still run.
NO_STEP_RETRIES = dg.RetryPolicy(max_retries=0)
# The collectors that authenticate (by their steps' names), and how each refuses WRONG.
REFUSALS = {
    "raw__anthropic_": "HTTP 401 authentication_error",
    "raw__openai_": "HTTP 401 invalid_request_error",
    "raw__stripe_": "HTTP 401: the key in STRIPE_API_KEY was refused",
    "raw__github_": "HTTP 401 Bad credentials",
    "raw__datadog_": "HTTP 403",
    "raw__mixpanel_": "HTTP 401 Invalid service account credentials",
    "raw__azure_": "401, missing or wrong X-IDENTITY-HEADER",
    "raw__http_api_": "HTTP 401 unauthorized",
    "raw__sql_": "Connection refused",
    "raw__kubernetes_": "401 Unauthorized",
}
# The collectors of the sandbox's HTTP APIs, but Google's: its BigQuery client's own retries
# take minutes. (AWS is moto's, which injects no faults.)
SERVER_ERROR_PREFIXES = (
    "raw__anthropic_",
    "raw__openai_",
    "raw__stripe_",
    "raw__github_",
    "raw__datadog_",
    "raw__mixpanel_",
    "raw__azure_",
    "raw__http_api_",
)


def _basic(username: str, secret: str) -> str:
    return base64.b64encode(f"{username}:{secret}".encode()).decode()


def _all_canaries() -> list[str]:
    """Every credential's text, and the encoded forms a header would carry."""
    found = [*CANARIES.values(), *WRONG.values(), KUBERNETES_TOKEN, WRONG_KUBERNETES_TOKEN]
    found.append(WAREHOUSE_PASSWORD)
    found.append(_basic(MIXPANEL_USERNAME, CANARIES[MIXPANEL_SECRET_ENV]))
    found.append(_basic(WRONG[MIXPANEL_USERNAME_ENV], WRONG[MIXPANEL_SECRET_ENV]))
    # Identifiers, not secrets: a service account's username names the account, as an AWS
    # access key id names the key; the secrets that go with them, and the pairs, are above.
    for identifier in (
        MIXPANEL_USERNAME,
        WRONG[MIXPANEL_USERNAME_ENV],
        CANARIES["AWS_ACCESS_KEY_ID"],
    ):
        found.remove(identifier)
    return found


def _leaks(texts: Iterable[str], canaries: Iterable[str]) -> dict[str, int]:
    """How often each canary occurs in `texts` (only those that occur)."""
    counts: dict[str, int] = {}
    for text in texts:
        for canary in canaries:
            if canary in text:
                counts[canary] = counts.get(canary, 0) + text.count(canary)
    return counts


@dataclass
class Vault:
    """The sandbox, the definitions and a Dagster instance in a folder of its own."""

    sandbox: SandboxServer
    defs: dg.Definitions
    instance: dg.DagsterInstance
    instance_dir: Path
    url: str
    kubeconfig: Path
    config: VaultConfig
    loaded: bool = False

    def assets(self, partitioning: type) -> list[dg.AssetsDefinition]:
        """The definitions' own collector assets partitioned by `partitioning`."""
        return [
            asset
            for asset in self.defs.assets or []
            if isinstance(asset, dg.AssetsDefinition)
            and all(key.path[0] == "raw" for key in asset.keys)
            and isinstance(asset.partitions_def, partitioning)
        ]

    def final_assets(
        self, partitioning: str, prefixes: tuple[str, ...], *, first_only: bool = False
    ) -> list[dg.AssetsDefinition]:
        """The collectors whose steps are named `prefix...`, without step retries; with
        `first_only`, one per prefix."""
        specs = [
            spec
            for spec in enabled_collectors(self.config)
            if isinstance(spec, Collector) and spec.partitioning == partitioning
        ]
        chosen = []
        for prefix in prefixes:
            matching = [s for s in specs if s.asset_key.to_python_identifier().startswith(prefix)]
            chosen.extend(matching[:1] if first_only else matching)
        return [
            build_collector_asset(
                spec, start_date=self.config.start_date, retry_policy=NO_STEP_RETRIES
            )
            for spec in chosen
        ]

    def materialize(self, assets: list, key: str) -> dg.ExecuteInProcessResult:
        if key == HOUR:
            hour = datetime.strptime(key, "%Y-%m-%d-%H:%M").replace(tzinfo=UTC)
            with kubernetes_api.CLOCK.pinned(hour):
                return self._materialize(assets, key)
        return self._materialize(assets, key)

    def _materialize(self, assets: list, key: str) -> dg.ExecuteInProcessResult:
        return dg.materialize(
            assets,
            partition_key=key,
            instance=self.instance,
            resources=self.defs.resources,
            raise_on_error=False,
        )

    def collect(self) -> list[dg.ExecuteInProcessResult]:
        """Every daily collector for DAY and every hourly one for HOUR, with working keys."""
        results = [
            self.materialize(self.assets(dg.DailyPartitionsDefinition), DAY),
            self.materialize(self.assets(dg.HourlyPartitionsDefinition), HOUR),
        ]
        self.loaded = True
        return results

    def canaries(self) -> list[str]:
        """Every canary, and the tokens the sandbox's identity endpoint issued to Azure."""
        issued = {
            value.removeprefix("Bearer ")
            for request in self.sandbox.requests
            for value in request.headers.values()
            if value.startswith(f"Bearer {azure_cost.TOKEN_PREFIX}")
        }
        return [*_all_canaries(), *sorted(issued)]

    def stored_texts(self, results: Iterable[dg.ExecuteInProcessResult]) -> Iterator[str]:
        """Each run's record and event log entries, then every file of the instance."""
        for result in results:
            run_id = result.run_id
            yield dg.serialize_value(self.instance.get_run_by_id(run_id))
            for entry in self.instance.all_logs(run_id):
                yield dg.serialize_value(entry)
        for path in sorted(self.instance_dir.rglob("*")):
            if path.is_file():
                yield path.read_bytes().decode("latin-1")

    def warehouse_texts(self, schemas: Iterable[str] = ("raw",)) -> Iterator[str]:
        """Every row of every table and view in `schemas`, as text."""
        with psycopg.connect(self.url) as conn:
            relations = conn.execute(
                "select format('%%I.%%I', n.nspname, c.relname) from pg_class c"
                " join pg_namespace n on n.oid = c.relnamespace"
                " where n.nspname = any(%s) and c.relkind in ('r', 'v', 'm', 'p')"
                " order by 1",
                (list(schemas),),
            ).fetchall()
            assert relations
            for (relation,) in relations:
                for (row,) in conn.execute(f"select t::text from {relation} as t"):
                    yield row


def _with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    user = parts.username or "postgres"
    return parts._replace(netloc=f"{user}:{password}@{parts.hostname}:{parts.port}").geturl()


def _rewrite_config(path: Path) -> None:
    """Fewer client retries (each failure gives up after one), and a bearer token for
    Prometheus, which the demo's sandbox section does without."""
    config = yaml.safe_load(path.read_text())
    for section in config["sources"].values():
        entries = [section, *section.get("apis", ())]
        for entry in entries:
            if "max_retries" in entry:
                entry["max_retries"] = 1
    config["sources"]["prometheus"]["bearer_token_env"] = PROMETHEUS_TOKEN_ENV
    path.write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture(scope="module")
def vault(module_database, tmp_path_factory) -> Iterator[Vault]:
    ensure_manifest()
    root = tmp_path_factory.mktemp("secrets")
    instance_dir = root / "dagster"
    instance_dir.mkdir()
    url = _with_password(module_database, WAREHOUSE_PASSWORD)
    mp = pytest.MonkeyPatch()
    try:
        with (
            SandboxServer(build_company(7)) as sandbox,
            moto_server() as aws_url,
            dg.DagsterInstance.local_temp(str(instance_dir)) as instance,
        ):
            workspace = prepare_sandbox(
                root / "sandbox", sandbox.url, START, END, aws_endpoint_url=aws_url
            )
            _rewrite_config(workspace.config_path)
            kubeconfig = root / "sandbox" / "kubeconfig"
            kubernetes_api.write_kubeconfig(kubeconfig, sandbox.url, token=KUBERNETES_TOKEN)
            # The sandbox's cluster and identity endpoint accept these canaries alone.
            mp.setattr(kubernetes_api, "SANDBOX_TOKEN", KUBERNETES_TOKEN)
            mp.setattr(azure_cost, "IDENTITY_HEADER", CANARIES["IDENTITY_HEADER"])
            for key, value in {**workspace.env, **CANARIES, DATABASE_URL_ENV: url}.items():
                mp.setenv(key, value)
            config = load_config(workspace.config_path)
            defs = build_definitions(config)
            yield Vault(sandbox, defs, instance, instance_dir, url, kubeconfig, config)
    finally:
        mp.undo()


def _failures(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """Each failed step's error, with its causes, as Dagster recorded it."""
    failed = {}
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            failed[event.step_key] = error.to_string() if error else ""
    return failed


def _assert_no_leak(vault: Vault, results, capfd) -> None:
    canaries = vault.canaries()
    captured = capfd.readouterr()
    assert captured.err, "the runs' console log was captured"
    places = {
        "stdout and stderr": [captured.out, captured.err],
        "Dagster's records": vault.stored_texts(results),
        "the raw schema": vault.warehouse_texts(),
    }
    for place, texts in places.items():
        assert _leaks(texts, canaries) == {}, place


def test_working_credentials_reach_the_vendors_and_nowhere_else(vault, capfd):
    results = vault.collect()
    assert [result.success for result in results] == [True, True], [
        _failures(result) for result in results
    ]
    headers = [value for request in vault.sandbox.requests for value in request.headers.values()]
    sent = " ".join(headers)
    # Each canary was in use: otherwise finding none of them would prove nothing.
    for name in (
        ANTHROPIC_KEY_ENV,
        OPENAI_KEY_ENV,
        STRIPE_KEY_ENV,
        GITHUB_TOKEN_ENV,
        DD_API_KEY_ENV,
        DD_APP_KEY_ENV,
        PROMETHEUS_TOKEN_ENV,
        METRICS_TOKEN_ENV,
        "IDENTITY_HEADER",
    ):
        assert CANARIES[name] in sent, name
    assert _basic(MIXPANEL_USERNAME, CANARIES[MIXPANEL_SECRET_ENV]) in sent
    assert f"Bearer {KUBERNETES_TOKEN}" in headers
    with psycopg.connect(vault.url) as conn:
        loaded = conn.execute("select count(*) from raw.aws_cost_explorer").fetchone()[0]
    assert loaded > 0, "moto answered with the AWS canaries"
    _assert_no_leak(vault, results, capfd)


def test_refused_credentials_fail_the_partition_without_echoing_them(vault, capfd, monkeypatch):
    for key, value in WRONG.items():
        monkeypatch.setenv(key, value)
    daily_assets = vault.final_assets("daily", tuple(REFUSALS))
    hourly_assets = vault.final_assets("hourly", ("raw__kubernetes_",))
    kubernetes_api.write_kubeconfig(
        vault.kubeconfig, vault.sandbox.url, token=WRONG_KUBERNETES_TOKEN
    )
    try:
        daily = vault.materialize(daily_assets, DAY)
        hourly = vault.materialize(hourly_assets, HOUR)
    finally:
        kubernetes_api.write_kubeconfig(vault.kubeconfig, vault.sandbox.url, token=KUBERNETES_TOKEN)
    failed = {**_failures(daily), **_failures(hourly)}
    assert sorted(failed) == sorted(step.op.name for step in [*daily_assets, *hourly_assets])
    for step, error in failed.items():
        marker = next(marker for prefix, marker in REFUSALS.items() if step.startswith(prefix))
        assert marker in error, (step, error)
    _assert_no_leak(vault, [daily, hourly], capfd)


class _EveryPath(dict):
    """Faults for the sandbox: every request answers HTTP 500, to any path but the Azure
    identity endpoint's (whose client waits seconds between its own retries), so that Azure's
    queries fail with the issued token in hand."""

    def get(self, path, default=None):
        return None if path == azure_cost.TOKEN_PATH else [500]


def test_server_errors_that_outlast_the_retries_leak_nothing(vault, capfd):
    # One collector of each source: their clients' retries wait a second or so each.
    daily_assets = vault.final_assets("daily", SERVER_ERROR_PREFIXES, first_only=True)
    hourly_assets = vault.final_assets(
        "hourly", ("raw__kubernetes_", "raw__prometheus_"), first_only=True
    )
    vault.sandbox.faults = _EveryPath()
    try:
        daily = vault.materialize(daily_assets, DAY)
        hourly = vault.materialize(hourly_assets, HOUR)
    finally:
        vault.sandbox.faults = {}
    failed = {**_failures(daily), **_failures(hourly)}
    assert sorted(failed) == sorted(step.op.name for step in [*daily_assets, *hourly_assets])
    for step, error in failed.items():
        assert "500" in error, (step, error)
    _assert_no_leak(vault, [daily, hourly], capfd)


def test_dbt_over_the_collected_rows_logs_no_credential(vault, tmp_path, capfd):
    if not vault.loaded:
        vault.collect()
    # `vault db init`: every raw table dbt's sources name, loaded or not.
    with psycopg.connect(vault.url, autocommit=True) as conn:
        for spec in discover_collectors():
            ensure_raw_tables(conn, spec.table)
        ensure_custom_tables(conn)
        grant_ingest(conn)
    # The staging views over the sources that authenticate.
    models = [f"staging.{name}" for name in ("anthropic", "openai", "stripe", "github", "custom")]
    done = run_dbt(vault.url, tmp_path, "run", "--select", *models)
    assert done.returncode == 0, done.stdout[-4000:]
    files = [path for path in sorted(tmp_path.rglob("*")) if path.is_file()]
    assert any(path.name == "dbt.log" for path in files)
    texts = [done.stdout, done.stderr, *(path.read_text(errors="replace") for path in files)]
    canaries = vault.canaries()
    assert _leaks(texts, canaries) == {}
    assert _leaks(vault.warehouse_texts(["raw", "staging"]), canaries) == {}
