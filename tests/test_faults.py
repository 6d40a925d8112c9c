"""Every HTTP collector under every injected fault: a clean answer after retries, or none.

Each case loads a clean partition first, then collects it again with a fault queued on the
second request to a path that answers in several requests (the second page of a list, or
the second query of a report), so that some records have already been read when it strikes.
A fault within the client's retry budget must end in exactly the rows of the clean run; the
same fault persisting beyond the budget must fail the partition with a `SourceError` that
names the vendor, the path and the problem (never a credential), and leave the partition's
rows as they were. A page that repeats the one before it (its cursor or `Link`, or for
numbered and offset pages its records) must fail the same way, never loop and never load a
duplicate.
"""

import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from stripe._http_client import HTTPClient

from assets.anthropic import anthropic_cost_report, anthropic_messages_usage
from assets.azure import azure_cost_query
from assets.datadog import datadog_metric_series
from assets.github import github_commits
from assets.kubernetes import kubernetes_pods
from assets.mixpanel import mixpanel_event_counts
from assets.openai import openai_costs
from assets.prometheus import prometheus_series
from assets.stripe import stripe_invoices
from orchestration.clients.anthropic import AnthropicAdminClient
from orchestration.clients.azure import AzureCostClient
from orchestration.clients.datadog import DatadogClient, DatadogQuerySpec
from orchestration.clients.github import GithubClient
from orchestration.clients.kubernetes import KubernetesClient
from orchestration.clients.mixpanel import MixpanelClient
from orchestration.clients.openai import OpenAIAdminClient
from orchestration.clients.prometheus import PrometheusClient, PrometheusQuerySpec
from orchestration.clients.stripe import StripeBilling
from orchestration.collectors.framework import Collector, run_collector
from orchestration.collectors.http import SourceError
from orchestration.custom.collectors import http_api_collector
from orchestration.custom.entries import HttpApiEntry
from orchestration.sandbox import (
    anthropic_api,
    azure_cost,
    datadog_api,
    internal_metrics,
    mixpanel_api,
    openai_api,
    prometheus_api,
    stripe_api,
)
from orchestration.sandbox.cloud import AZURE, cloud_accounts
from orchestration.sandbox.company import build_company
from orchestration.sandbox.custom_sources import METRICS_TOKEN_ENV, service_metrics_entry
from orchestration.sandbox.kubernetes_api import PODS_PATH, routes, write_kubeconfig
from orchestration.sandbox.routing import Fault, FaultSpec
from orchestration.sandbox.server import DEFAULT_ROUTES, SandboxServer
from orchestration.warehouse.connection import WarehouseResource

LOG = logging.getLogger("test_faults")
DAY = datetime(2026, 11, 3, tzinfo=UTC)
# Kubernetes keeps no history: its snapshots are taken for the last complete hour.
HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
# Short enough that each time-out costs little, long enough for any sandbox answer.
SHORT_TIMEOUT_S = 0.25
# Tiny waits between retries: the faults are what is under test, not the back-off.
BACKOFF_S = 0.001

ANTHROPIC_KEY = "sk-ant-admin01-faults-RECOGNISABLE"
OPENAI_KEY = "sk-admin-faults-RECOGNISABLE"
STRIPE_KEY = "sk_test_faultsRECOGNISABLE000000000000"
GITHUB_TOKEN = "ghp_faultsRECOGNISABLE00000000000000000"
MIXPANEL_SECRET = "faults-RECOGNISABLE-mixpanel-secret"
DATADOG_API_KEY = "0123456789abcdef0123456789abcdef"
DATADOG_APP_KEY = "fedcba9876543210fedcba9876543210fedcba98"
METRICS_TOKEN = f"{internal_metrics.TOKEN_PREFIX}faults-RECOGNISABLE"
SECRETS = (
    ANTHROPIC_KEY,
    OPENAI_KEY,
    STRIPE_KEY,
    GITHUB_TOKEN,
    MIXPANEL_SECRET,
    DATADOG_API_KEY,
    DATADOG_APP_KEY,
    METRICS_TOKEN,
    "RECOGNISABLE",
)
GITHUB_REPO = "northwind-labs/checkout-api"
AZURE_SCOPE = azure_cost.subscription_scope(
    cloud_accounts(build_company(7), AZURE)[0].parent_id or ""
)


@dataclass(frozen=True)
class Retry:
    """How a client is built for one run: its retry budget and read time-out."""

    max_retries: int
    timeout_s: float = 30.0


@dataclass(frozen=True)
class Case:
    """One collector as the fault tests drive it."""

    name: str
    spec: Collector
    vendor: str  # what every failure message of this collector starts with
    path: str  # the path the faults are queued on; it answers in several requests
    # (sandbox URL, tmp dir, budget) to the resource, or to the entry of an `http_api` case
    client: Callable[[str, Path, Retry], Any]
    paged: bool = True  # the requests to `path` follow a cursor, so REPEAT applies
    hourly: bool = False
    routes: Callable[[], dict] | None = None
    volatile: tuple[str, ...] = ()  # record fields that differ between two clean runs
    repeat_names: str | None = None  # what a repeated page's message names, if not the path
    # Fault kinds left out: a 429 whose Retry-After is whole seconds (the vendor's own wait,
    # which the client honours and its own tests cover) would cost more than the rest.
    skip: tuple[str, ...] = ()

    @property
    def resource(self) -> str:
        return self.spec.resource_keys[0]


def _anthropic(url: str, _tmp: Path, retry: Retry, **options: Any) -> AnthropicAdminClient:
    return AnthropicAdminClient(
        base_url=url,
        api_key=ANTHROPIC_KEY,
        max_retries=retry.max_retries,
        timeout_s=retry.timeout_s,
        backoff_s=BACKOFF_S,
        **options,
    )


def _openai(url: str, _tmp: Path, retry: Retry) -> OpenAIAdminClient:
    return OpenAIAdminClient(
        base_url=url,
        api_key=OPENAI_KEY,
        max_retries=retry.max_retries,
        timeout_s=retry.timeout_s,
        backoff_s=BACKOFF_S,
    )


def _stripe(url: str, _tmp: Path, retry: Retry) -> StripeBilling:
    return StripeBilling(
        base_url=url,
        api_key=STRIPE_KEY,
        page_size=3,
        max_retries=retry.max_retries,
        timeout_s=retry.timeout_s,
        backoff_s=BACKOFF_S,
    )


def _github(url: str, _tmp: Path, retry: Retry) -> GithubClient:
    return GithubClient(
        base_url=url,
        token=GITHUB_TOKEN,
        repositories=[GITHUB_REPO],
        per_page=4,
        max_retries=retry.max_retries,
        timeout_s=retry.timeout_s,
        backoff_s=BACKOFF_S,
    )


def _mixpanel(url: str, _tmp: Path, retry: Retry) -> MixpanelClient:
    return MixpanelClient(
        base_url=url,
        project_id=mixpanel_api.PROJECT_ID,
        username="vault-faults.4f2a91.mp-service-account",
        secret=MIXPANEL_SECRET,
        events=list(mixpanel_api.EVENTS),
        max_retries=retry.max_retries,
        timeout_s=retry.timeout_s,
        backoff_s=BACKOFF_S,
    )


def _datadog(url: str, _tmp: Path, retry: Retry) -> DatadogClient:
    queries = [
        DatadogQuerySpec(
            name="apm.http.requests",
            query="sum:trace.http.request.hits{env:production} by {service,team}.rollup(sum, 3600)",
            unit="requests",
        ),
        DatadogQuerySpec(
            name="apm.http.latency_seconds",
            query="avg:trace.http.request.duration{*} by {service}",
            unit="seconds",
        ),
    ]
    return DatadogClient(
        base_url=url,
        api_key=DATADOG_API_KEY,
        app_key=DATADOG_APP_KEY,
        queries=queries,
        max_retries=retry.max_retries,
        timeout_s=retry.timeout_s,
        backoff_s=BACKOFF_S,
    )


def _prometheus(url: str, _tmp: Path, retry: Retry) -> PrometheusClient:
    query = PrometheusQuerySpec(
        name="infra.cpu.usage_cores", query=prometheus_api.CPU_QUERY, unit="cores", step="5m"
    )
    return PrometheusClient(
        base_url=url,
        queries=[query],
        max_points_per_query=4,  # an hour of 5-minute points in three requests
        max_retries=retry.max_retries,
        timeout_s=retry.timeout_s,
        backoff_s=BACKOFF_S,
    )


def _kubernetes(url: str, tmp: Path, retry: Retry) -> KubernetesClient:
    return KubernetesClient(
        kubeconfig=str(write_kubeconfig(tmp / "kubeconfig", url)),
        page_size=10,
        max_retries=retry.max_retries,
        timeout_s=retry.timeout_s,
        backoff_s=0,
    )


def _azure(url: str, _tmp: Path, retry: Retry) -> AzureCostClient:
    return AzureCostClient(
        base_url=url,
        scopes=[AZURE_SCOPE],
        max_retries=retry.max_retries,
        timeout_s=retry.timeout_s,
        backoff_s=BACKOFF_S,
    )


def _service_metrics_entry(api_url: str, retry: Retry, **changes: Any) -> HttpApiEntry:
    """The demo's `http_api` entry for the internal metrics API at `api_url`, with `changes`."""
    return HttpApiEntry.model_validate(
        {
            **service_metrics_entry(api_url),
            "max_retries": retry.max_retries,
            "timeout_s": retry.timeout_s,
            "backoff_s": BACKOFF_S,
            **changes,
        }
    )


@dataclass(frozen=True)
class Kind:
    """A fault as the tests inject it: the queue entry, how many make a burst, and the
    words the final error must contain."""

    name: str
    entry: FaultSpec
    burst: int = 1
    problem: str = ""
    timeout: bool = False


RETRIED = [
    Kind("rate_limit", 429, problem=r"429"),
    Kind("server_errors", 500, burst=2, problem=r"\b500\b"),
    Kind("unavailable", 503, burst=2, problem=r"\b503\b"),
    Kind("timeout", Fault.TIMEOUT, problem=r"(?i)timed? ?out", timeout=True),
    Kind("truncated", Fault.TRUNCATED, problem=r"(?i)not (valid )?JSON"),
    Kind("reset", Fault.RESET, problem=r"(?i)reset|aborted|disconnected|could not be reached"),
]


# The same API paged by number and by offset, where no cursor can repeat: a page that repeats
# the one before it must be caught all the same.
NUMBERED_PAGES = {
    "name": "service_metrics_pages",
    "params": {"from": "{start}", "to": "{end}"},
    "records": "items",
    "pagination": {"style": "page", "size_param": "per_page", "size": 25},
}
OFFSET_PAGES = {
    "name": "service_metrics_offset",
    "params": {"start": "{start}", "end": "{end}"},
    "window_format": "unix_s",
    "records": "results[*]",
    "pagination": {"style": "offset", "limit": 50},
}


CASES = [
    Case(
        "anthropic_usage",
        anthropic_messages_usage,
        "Anthropic Admin API",
        anthropic_api.USAGE_PATH,
        lambda url, tmp, retry: _anthropic(
            url,
            tmp,
            retry,
            usage_group_by=[
                "api_key_id",
                "workspace_id",
                "model",
                "service_tier",
                "context_window",
            ],
        ),
    ),
    Case(
        "anthropic_cost",
        anthropic_cost_report,
        "Anthropic Admin API",
        anthropic_api.COST_PATH,
        _anthropic,
    ),
    Case("openai_costs", openai_costs, "OpenAI Admin API", openai_api.COSTS_PATH, _openai),
    Case("stripe_invoices", stripe_invoices, "Stripe", stripe_api.INVOICES_PATH, _stripe),
    Case("github_commits", github_commits, "GitHub", f"/repos/{GITHUB_REPO}/commits", _github),
    Case(
        "mixpanel",
        mixpanel_event_counts,
        "Mixpanel",
        mixpanel_api.SEGMENTATION_PATH,
        _mixpanel,
        paged=False,  # one request per event, no cursor
    ),
    Case(
        "datadog_metrics",
        datadog_metric_series,
        "Datadog",
        datadog_api.QUERY_PATH,
        _datadog,
        paged=False,  # one request per query, no cursor
        skip=("rate_limit",),  # x-ratelimit-reset: 2 s (tests/test_datadog.py)
    ),
    Case(
        "prometheus",
        prometheus_series,
        "Prometheus",
        prometheus_api.QUERY_RANGE_PATH,
        _prometheus,
        paged=False,  # one request per sub-range, no cursor
        hourly=True,
    ),
    Case(
        "kubernetes_pods",
        kubernetes_pods,
        "Kubernetes API",
        PODS_PATH,
        _kubernetes,
        hourly=True,
        routes=lambda: {**DEFAULT_ROUTES, **routes(lambda: HOUR)},
        volatile=("snapshot_at",),
    ),
    Case(
        "azure_cost",
        azure_cost_query,
        "Azure Cost Management",
        azure_cost.query_path(AZURE_SCOPE),
        _azure,
        skip=("rate_limit",),  # Retry-After: 1 s, the query-unit limit's 2 s (tests/test_azure.py)
        repeat_names=AZURE_SCOPE,
    ),
    Case(
        "internal_metrics",
        http_api_collector(_service_metrics_entry("http://unused", Retry(0))),
        "http_api service_metrics",
        internal_metrics.CURSOR_PATH,
        lambda url, _tmp, retry: _service_metrics_entry(url, retry),
        repeat_names="http_api service_metrics",
    ),
    *(
        Case(
            f"internal_metrics_{style}",
            http_api_collector(_service_metrics_entry("http://unused", Retry(0), **changes)),
            f"http_api {changes['name']}",
            path,
            lambda url, _tmp, retry, path=path, changes=changes: _service_metrics_entry(
                url, retry, url=f"{url}{path}", **changes
            ),
            repeat_names=f"http_api {changes['name']}",
            # The same HttpSource as the cursor case: only its paging loop differs.
            skip=tuple(kind.name for kind in RETRIED),
        )
        for style, path, changes in (
            ("pages", internal_metrics.PAGES_PATH, NUMBERED_PAGES),
            ("offset", internal_metrics.OFFSET_PATH, OFFSET_PAGES),
        )
    ),
]


@pytest.fixture(scope="module")
def company():
    return build_company(7)


@pytest.fixture(autouse=True)
def quick_stripe_retries(monkeypatch):
    """The `stripe` library waits at least half a second between its own retries (of
    connections and 5xx answers); the cases here retry often, so it waits a millisecond."""
    monkeypatch.setattr(HTTPClient, "INITIAL_DELAY", BACKOFF_S)
    monkeypatch.setattr(HTTPClient, "MAX_DELAY", BACKOFF_S)


@pytest.fixture
def environment(monkeypatch):
    """The variables the internal metrics entry and Azure's managed identity read."""
    monkeypatch.setenv(METRICS_TOKEN_ENV, METRICS_TOKEN)
    for variable in (
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_TENANT_ID",
        "AZURE_FEDERATED_TOKEN_FILE",
        "MSI_ENDPOINT",
        "MSI_SECRET",
        "IDENTITY_SERVER_THUMBPRINT",
    ):
        monkeypatch.delenv(variable, raising=False)
    return monkeypatch


@dataclass
class Harness:
    """One case against its own sandbox and the module's database."""

    case: Case
    server: SandboxServer
    database_url: str
    conn: Any
    tmp: Path
    baselines: dict[str, tuple[int, str]]

    @property
    def partition_key(self) -> str:
        return HOUR.strftime("%Y-%m-%d-%H:%M") if self.case.hourly else DAY.date().isoformat()

    def collect(self, run_id: str, retry: Retry) -> int:
        case = self.case
        start = HOUR if case.hourly else DAY
        end = start + (timedelta(hours=1) if case.hourly else timedelta(days=1))
        key = self.partition_key
        client = case.client(self.server.url, self.tmp, retry)
        if isinstance(client, HttpApiEntry):
            spec = http_api_collector(client)
            warehouse = WarehouseResource(url=self.database_url)
            resources = {name: warehouse for name in spec.resource_keys}
        else:
            spec, resources = case.spec, {case.resource: client}
        result, _ = run_collector(
            spec,
            WarehouseResource(url=self.database_url),
            start=start,
            end=end,
            partition_key=key,
            run_id=run_id,
            log=LOG,
            resources=resources,
        )
        return result.rows

    def stored(self) -> tuple[int, set[str], str]:
        """Row count, run ids and a checksum of every record in the case's raw table."""
        record = "record"
        for name in self.case.volatile:
            record = f"({record} - '{name}')"
        count, run_ids, checksum = self.conn.execute(
            f"select count(*), array_agg(distinct run_id), "
            f"md5(string_agg({record}::text, '|' order by {record}::text)) "
            f"from raw.{self.case.spec.table} where partition_key = %s",
            [self.case.spec.raw_partition_key(self.partition_key)],
        ).fetchone()
        return count, set(run_ids or []), checksum

    def requests_to_path(self) -> int:
        return sum(1 for request in self.server.requests if request.path == self.case.path)

    def inject(self, entry: FaultSpec, times: int) -> None:
        """`times` faults on the path, after one request let through (the first page)."""
        self.server.faults[self.case.path] = [None, *[entry] * times]

    def fails(self, run_id: str, retry: Retry) -> str:
        with pytest.raises(SourceError) as failure:
            self.collect(run_id, retry)
        message = str(failure.value)
        assert message.startswith(f"{self.case.vendor}: "), message
        assert not any(secret in message for secret in SECRETS), message
        return message


@pytest.fixture(scope="module")
def servers(company) -> Iterator[dict[str, SandboxServer]]:
    """One sandbox per case, started when first needed and shared by that case's tests
    (stopping a server takes a poll interval, which would add up over the cases)."""
    started: dict[str, SandboxServer] = {}
    try:
        yield started
    finally:
        stopping = [threading.Thread(target=server.stop) for server in started.values()]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join()


@pytest.fixture(scope="module")
def warehouse(module_database) -> Iterator[tuple[str, psycopg.Connection]]:
    """The module's own database, kept across its tests: each case's clean partition is
    loaded once and every test leaves it as it found it (or reloads it if not)."""
    with psycopg.connect(module_database, autocommit=True) as connection:
        yield module_database, connection


@pytest.fixture(scope="module")
def baselines() -> dict[str, tuple[int, str]]:
    """Row count and checksum of each case's clean partition, by case name."""
    return {}


@pytest.fixture
def harness(request, servers, company, warehouse, baselines, environment, tmp_path) -> Harness:
    case: Case = request.param
    server = servers.get(case.name)
    if server is None:
        table = case.routes() if case.routes else None
        server = servers[case.name] = SandboxServer(company, routes=table).start()
        # Held requests end when the server stops, at the latest.
        server.hold_s = 5.0
    server.faults.clear()
    server.requests.clear()
    if case.spec is azure_cost_query:
        environment.setenv("IDENTITY_ENDPOINT", server.url + azure_cost.TOKEN_PATH)
        environment.setenv("IDENTITY_HEADER", azure_cost.IDENTITY_HEADER)
    database_url, conn = warehouse
    return Harness(case, server, database_url, conn, tmp_path, baselines)


def _clean(harness: Harness) -> tuple[int, str]:
    """The count and checksum of the case's clean partition, which is loaded (again) unless
    the table holds exactly it already."""
    name = harness.case.name
    known = harness.baselines.get(name)
    if known is not None:
        count, _, checksum = harness.stored()
        if (count, checksum) == known:
            return known
    rows = harness.collect("clean", Retry(max_retries=0))
    assert rows > 0
    assert harness.requests_to_path() >= 2, "the fault must land on a later request"
    count, run_ids, checksum = harness.stored()
    assert (count, run_ids) == (rows, {"clean"})
    if known is not None:
        assert (count, checksum) == known, "two clean runs load the same rows"
    harness.baselines[name] = (count, checksum)
    harness.server.requests.clear()
    return count, checksum


@pytest.mark.parametrize(
    ("harness", "kind"),
    [
        pytest.param(case, kind, id=f"{case.name}-{kind.name}")
        for case in CASES
        for kind in RETRIED
        if kind.name not in case.skip
    ],
    indirect=["harness"],
)
def test_a_fault_within_the_budget_is_retried_and_one_beyond_it_keeps_the_rows(
    harness: Harness, kind: Kind
) -> None:
    count, checksum = _clean(harness)
    timeout = SHORT_TIMEOUT_S if kind.timeout else 30.0
    # A retry to spare where the time-out is short, so that a slow answer on a busy machine
    # does not spend the budget the injected fault is given.
    budget = kind.burst + 1 if kind.timeout else kind.burst

    harness.inject(kind.entry, kind.burst)
    before = harness.requests_to_path()
    rows = harness.collect("retried", Retry(max_retries=budget, timeout_s=timeout))
    assert harness.server.faults[harness.case.path] == [], "every queued fault was met"
    assert rows == count
    assert harness.stored() == (count, {"retried"}, checksum)
    assert harness.requests_to_path() - before >= 2 + kind.burst

    harness.inject(kind.entry, 2)
    message = harness.fails("failed", Retry(max_retries=1, timeout_s=timeout))
    assert re.search(kind.problem, message), message
    assert harness.case.path in message, message
    assert harness.stored() == (count, {"retried"}, checksum)


@pytest.mark.parametrize(
    "harness", [case for case in CASES if case.paged], indirect=True, ids=lambda case: case.name
)
def test_a_page_that_repeats_its_cursor_fails_without_loading_duplicates(harness: Harness) -> None:
    count, checksum = _clean(harness)
    before = harness.stored()
    harness.inject(Fault.REPEAT, 1)
    message = harness.fails("repeated", Retry(max_retries=2))
    assert re.search(r"(?i)repeat|already|no new", message), message
    assert (harness.case.repeat_names or harness.case.path) in message, message
    assert harness.stored() == before
    assert before[0] == count and before[2] == checksum
