"""The Kubernetes collectors through the official `kubernetes` client, and the allocation in dbt.

The faked seam is the Kubernetes API server itself: orchestration/sandbox/kubernetes_api.py
serves /api/v1/{namespaces,nodes,pods}, the metrics API's /apis/metrics.k8s.io/v1beta1/pods
and the /apis/ discovery document over HTTP from the sandbox server, in the API's JSON shapes
(Status errors, limit/continue paging). Everything on the vault's side is real: a kubeconfig
file read by the client's own loader, the client's ApiClient, urllib3 retries, the raw loader
on PostgreSQL, and dbt building the allocation into fct_costs and fct_metrics. The expected
allocation is computed here independently, in Python, from what the fake served.
"""

import logging
import os
import subprocess
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from assets.kubernetes import kubernetes_nodes, kubernetes_pods
from orchestration.clients.kubernetes import (
    KubeconfigError,
    KubernetesClient,
    node_price,
    parse_quantity,
)
from orchestration.collectors.framework import run_collector
from orchestration.collectors.http import SourceError
from orchestration.config import ConfigError, KubernetesConfig, load_config
from orchestration.dbt.assets import ensure_sources_exist
from orchestration.dbt.project import DBT_PROJECT_DIR, dbt_executable, ensure_manifest
from orchestration.definitions import build_definitions
from orchestration.demo import prepare_sandbox
from orchestration.sandbox import kubernetes_api
from orchestration.sandbox.company import build_company
from orchestration.sandbox.kubernetes_api import (
    NODES_PATH,
    POD_METRICS_PATH,
    PODS_PATH,
    routes,
    write_kubeconfig,
)
from orchestration.sandbox.kubernetes_cluster import (
    CLUSTER_NAME,
    NODE_PRICES,
    SHARED_NAMESPACES,
    cluster_state,
)
from orchestration.sandbox.routing import Route
from orchestration.sandbox.server import DEFAULT_ROUTES, SandboxServer
from orchestration.warehouse.connection import WarehouseResource, dbt_env

LOG = logging.getLogger("test")
GIB = Decimal(2**30)
# The last complete hour: the one an hourly schedule tick collects.
HOUR = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)


@pytest.fixture(scope="module")
def company():
    return build_company(7)


def _server(company, hour=HOUR, **options):
    table = {**DEFAULT_ROUTES, **routes(lambda: hour, **options)}
    return SandboxServer(company, routes=table)


@pytest.fixture
def sandbox(company):
    with _server(company) as server:
        yield server


@pytest.fixture
def kubeconfig(sandbox, tmp_path):
    return write_kubeconfig(tmp_path / "kubeconfig", sandbox.url)


def _client(kubeconfig, **fields):
    return KubernetesClient(kubeconfig=str(kubeconfig), backoff_s=0, **fields)


def _collect(spec, url, client, *, hour=HOUR, run_id="r1"):
    result, _ = run_collector(
        spec,
        WarehouseResource(url=url),
        start=hour,
        end=hour + timedelta(hours=1),
        partition_key=hour.strftime("%Y-%m-%d-%H:%M"),
        run_id=run_id,
        log=LOG,
        resources={"kubernetes": client},
    )
    return result


def _records(conn, table):
    return [row[0] for row in conn.execute(f"select record from raw.{table} order by load_seq")]


def _without_managed_fields(item):
    return {**item, "metadata": {k: v for k, v in item["metadata"].items() if k != "managedFields"}}


# ---------------------------------------------------------------------------- quantities


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("250m", "0.25"),
        ("1", "1"),
        ("1.5", "1.5"),
        (".5", "0.5"),
        ("+2.", "2"),
        ("512Mi", "536870912"),
        ("1536Mi", "1610612736"),
        ("1Gi", "1073741824"),
        ("2Ki", "2048"),
        ("1Ei", "1152921504606846976"),
        ("256M", "256000000"),
        ("1k", "1000"),
        ("3G", "3000000000"),
        ("1E", "1000000000000000000"),
        ("123456789n", "0.123456789"),
        ("500u", "0.0005"),
        ("1e9", "1000000000"),
        ("1E3", "1000"),
        ("2E-1", "0.2"),
        ("1.25e-3", "0.00125"),
        ("128974848", "128974848"),
    ],
)
def test_quantities_parse_to_exact_decimals_in_every_form(text, value):
    assert parse_quantity(text) == Decimal(value)


@pytest.mark.parametrize("text", ["", "Mi", "1.5.0", "10 Mi", "1ki", "1e", "1Gb", " 1", "one"])
def test_what_the_quantity_grammar_does_not_allow_is_refused(text):
    with pytest.raises(ValueError, match="is not a Kubernetes quantity"):
        parse_quantity(text)


# ---------------------------------------------------------------------------- node prices


def _node(cpu="4", memory="16Gi", gpus=None, **labels):
    capacity = {"cpu": cpu, "memory": memory}
    if gpus is not None:
        capacity["nvidia.com/gpu"] = gpus
    return {"metadata": {"name": "n", "labels": labels}, "status": {"capacity": capacity}}


RATES = {"cpu": "0.031611", "ram": "0.004237", "gpu": "0.95"}
M6I = {"node.kubernetes.io/instance-type": "m6i.xlarge"}


def _rates(price):
    return tuple(Decimal(price[f"{r}_hourly_usd"]) for r in ("cpu_core", "ram_gib", "gpu"))


def test_a_node_price_splits_into_rates_that_keep_the_ratio_and_add_up_to_it():
    price = node_price(
        _node(**M6I),
        rules=[{"instance_type": "m6i.xlarge", "hourly_usd": "0.192"}],
        default_node_hourly_usd=None,
        rates=RATES,
        ratios=None,
    )
    cpu, ram, gpu = _rates(price)
    assert (price["source"], price["rule"], price["node_hourly_usd"]) == ("node_prices", 0, "0.192")
    assert abs(cpu * 4 + ram * 16 - Decimal("0.192")) < Decimal("1e-25")
    assert abs(cpu / ram - Decimal("0.031611") / Decimal("0.004237")) < Decimal("1e-20")
    assert abs(gpu - Decimal("0.95") * cpu / Decimal("0.031611")) < Decimal("1e-25")


def test_the_first_matching_rule_wins_then_the_default_price_then_the_rates():
    rules = [
        {"labels": {"eks.amazonaws.com/capacityType": "SPOT"}, "hourly_usd": "0.05"},
        {"instance_type": "m6i.xlarge", "hourly_usd": "0.192"},
    ]
    spot = _node(**M6I, **{"eks.amazonaws.com/capacityType": "SPOT"})
    other = _node(**{"node.kubernetes.io/instance-type": "c7g.large"})
    options = {"rules": rules, "rates": RATES, "ratios": None}
    assert node_price(spot, default_node_hourly_usd=None, **options)["rule"] == 0
    assert node_price(_node(**M6I), default_node_hourly_usd=None, **options)["rule"] == 1
    fallback = node_price(other, default_node_hourly_usd="0.07", **options)
    assert (fallback["source"], fallback["node_hourly_usd"]) == ("default_node_hourly_usd", "0.07")
    unpriced = node_price(other, default_node_hourly_usd=None, **options)
    assert unpriced["source"] == "rates"
    assert Decimal(unpriced["node_hourly_usd"]) == 4 * Decimal("0.031611") + 16 * Decimal(
        "0.004237"
    )
    assert _rates(unpriced) == tuple(Decimal(v) for v in RATES.values())


def test_configured_ratios_decide_how_a_gpu_node_price_divides():
    price = node_price(
        _node(cpu="4", memory="16Gi", gpus="1"),
        rules=[],
        default_node_hourly_usd="1.60",
        rates=RATES,
        ratios={"cpu": "3", "ram": "1", "gpu": "20"},
    )
    cpu, ram, gpu = _rates(price)
    # 3 * 4 + 1 * 16 + 20 * 1 = 48 parts of 1.60.
    assert (cpu, ram, gpu) == (Decimal("0.1"), Decimal("0.1") / 3, Decimal("0.1") * 20 / 3)
    assert abs(cpu * 4 + ram * 16 + gpu - Decimal("1.60")) < Decimal("1e-25")


def test_a_node_whose_capacity_cannot_be_read_has_no_price():
    with pytest.raises(ValueError, match=r"status\.capacity"):
        node_price(
            _node(cpu="lots"), rules=[], default_node_hourly_usd=None, rates=RATES, ratios=None
        )


# ---------------------------------------------------------------------------- collectors


def test_a_snapshot_of_nodes_is_the_api_s_nodes_with_their_prices(
    conn, database_url, sandbox, kubeconfig, company
):
    rules = [{"instance_type": k, "hourly_usd": v} for k, v in NODE_PRICES.items()]
    client = _client(kubeconfig, page_size=3, node_prices=rules, idle="share_by_node")
    result = _collect(kubernetes_nodes, database_url, client)
    served = cluster_state(company, HOUR).nodes
    records = _records(conn, "kubernetes_nodes")
    assert result.rows == len(records) == len(served) == 7
    assert [r["node"] for r in records] == served
    assert {r["cluster"] for r in records} == {CLUSTER_NAME}, "the kubeconfig context's cluster"
    assert {r["hour"] for r in records} == {HOUR.isoformat()}
    assert all(
        r["allocation"]
        == {"idle": "share_by_node", "share": "weighted", "shared_namespaces": ["kube-system"]}
        for r in records
    )
    by_type = defaultdict(set)
    for record in records:
        by_type[record["price"]["instance_type"]].add(record["price"]["node_hourly_usd"])
    assert by_type == {
        "m6i.xlarge": {"0.192"},
        "g5.xlarge": {"1.006"},
        "t3.large": {
            str(2 * Decimal("0.031611") + parse_quantity("8041452Ki") / GIB * Decimal("0.004237"))
        },
    }
    pages = [r for r in sandbox.requests if r.path == NODES_PATH]
    assert len(pages) == 3 and [r.query.get("limit") for r in pages] == [("3",)] * 3
    assert "continue" not in pages[0].query and all("continue" in r.query for r in pages[1:])
    assert pages[0].headers["authorization"] == f"Bearer {kubernetes_api.SANDBOX_TOKEN}"


def test_a_snapshot_of_pods_joins_each_pod_s_namespace_labels_and_usage(
    conn, database_url, sandbox, kubeconfig, company
):
    result = _collect(kubernetes_pods, database_url, _client(kubeconfig, page_size=10))
    state = cluster_state(company, HOUR)
    records = _records(conn, "kubernetes_pods")
    assert result.rows == len(records) == len(state.pods)
    assert [r["pod"] for r in records] == [_without_managed_fields(p) for p in state.pods]
    labels = {n["metadata"]["name"]: n["metadata"]["labels"] for n in state.namespaces}
    metrics = {(m["metadata"]["namespace"], m["metadata"]["name"]): m for m in state.pod_metrics}
    for record in records:
        key = (record["pod"]["metadata"]["namespace"], record["pod"]["metadata"]["name"])
        assert record["namespace_labels"] == labels[key[0]]
        assert record["usage"] == metrics.get(key)
        assert record["usage_source"] == "metrics.k8s.io/v1beta1"
        assert (record["usage_note"] is None) == (key in metrics)
    phases = {(r["pod"]["metadata"]["name"], r["pod"]["status"]["phase"]) for r in records}
    assert ("trainer-1", "Pending") in phases, "the trainer's second replica waits for a GPU"
    pages = [r for r in sandbox.requests if r.path == PODS_PATH]
    assert len(pages) == -(-len(state.pods) // 10)
    assert (
        conn.execute("select count(distinct natural_key) from raw.kubernetes_pods").fetchone()[0]
        == result.rows
    )


def test_an_expired_continue_token_restarts_the_list_for_one_consistent_snapshot(
    conn, database_url, company, tmp_path
):
    table = routes(lambda: HOUR)
    inner = table[("GET", PODS_PATH)]
    expired = []

    def answer(company, request):
        if request.query.get("continue") and not expired:
            expired.append(request)
            return kubernetes_api.status(410)
        return inner.handler(company, request)

    table[("GET", PODS_PATH)] = Route(answer, inner.fault)
    with SandboxServer(company, routes={**DEFAULT_ROUTES, **table}) as server:
        client = _client(write_kubeconfig(tmp_path / "kubeconfig", server.url), page_size=15)
        result = _collect(kubernetes_pods, database_url, client)
        pages = [r for r in server.requests if r.path == PODS_PATH]
    served = cluster_state(company, HOUR).pods
    assert expired and result.rows == len(served)
    assert [r["pod"]["metadata"]["name"] for r in _records(conn, "kubernetes_pods")] == [
        p["metadata"]["name"] for p in served
    ]
    assert len(pages) == 2 + -(-len(served) // 15), "the first page, the 410, then the list again"


def test_without_a_metrics_api_usage_is_unknown_and_the_record_says_why(
    conn, database_url, company, tmp_path
):
    with _server(company, metrics=False) as server:
        client = _client(write_kubeconfig(tmp_path / "kubeconfig", server.url))
        result = _collect(kubernetes_pods, database_url, client)
        paths = {r.path for r in server.requests}
    records = _records(conn, "kubernetes_pods")
    assert result.rows == len(cluster_state(company, HOUR).pods) == len(records)
    assert POD_METRICS_PATH not in paths, "discovery says there is no metrics API to ask"
    assert {(r["usage"], r["usage_source"]) for r in records} == {(None, None)}
    assert {r["usage_note"] for r in records} == {
        "the cluster serves no metrics.k8s.io/v1beta1 API (no metrics-server): usage unknown, "
        "allocation uses requests"
    }


def test_a_metrics_api_that_keeps_failing_leaves_usage_unknown_but_keeps_the_pods(
    conn, database_url, sandbox, kubeconfig, company
):
    sandbox.faults[POD_METRICS_PATH] = [503, 503]
    result = _collect(kubernetes_pods, database_url, _client(kubeconfig, max_retries=1))
    records = _records(conn, "kubernetes_pods")
    assert result.rows == len(cluster_state(company, HOUR).pods)
    assert all(r["usage"] is None for r in records)
    assert "503 Service Unavailable" in records[0]["usage_note"]
    assert records[0]["usage_note"].endswith("usage unknown, allocation uses requests")
    assert len([r for r in sandbox.requests if r.path == POD_METRICS_PATH]) == 2


def test_rate_limits_and_server_errors_are_retried(
    conn, database_url, sandbox, kubeconfig, company
):
    sandbox.faults[PODS_PATH] = [429, 500]
    result = _collect(
        kubernetes_pods, database_url, _client(kubeconfig, max_retries=2, page_size=1000)
    )
    assert result.rows == len(cluster_state(company, HOUR).pods)
    assert len([r for r in sandbox.requests if r.path == PODS_PATH]) == 3


def test_errors_that_outlast_the_retries_fail_the_partition_with_the_api_s_message(
    conn, database_url, sandbox, kubeconfig
):
    sandbox.faults[NODES_PATH] = [500, 500, 500]
    with pytest.raises(SourceError) as failure:
        _collect(kubernetes_nodes, database_url, _client(kubeconfig, max_retries=2))
    message = str(failure.value)
    assert "GET /api/v1/nodes failed with 500" in message
    assert "etcdserver: request timed out" in message and "gave up after 3 attempts" in message


def test_a_401_fails_the_partition_clearly_and_keeps_the_previous_rows(
    conn, database_url, sandbox, kubeconfig, tmp_path
):
    loaded = _collect(kubernetes_pods, database_url, _client(kubeconfig))
    wrong = write_kubeconfig(tmp_path / "stale", sandbox.url, token="expired-token-RECOGNISABLE")
    with pytest.raises(SourceError) as failure:
        _collect(kubernetes_pods, database_url, _client(wrong), run_id="r2")
    message = str(failure.value)
    assert "failed with 401 Unauthorized" in message and "renew them" in message
    assert "RECOGNISABLE" not in message
    assert conn.execute(
        "select count(*), min(run_id), max(run_id) from raw.kubernetes_pods"
    ).fetchone() == (loaded.rows, "r1", "r1")


def test_a_403_names_the_permission_the_identity_lacks(conn, database_url, sandbox, kubeconfig):
    sandbox.faults[NODES_PATH] = [403]
    with pytest.raises(SourceError, match=r"needs get and list on nodes .*ClusterRole"):
        _collect(kubernetes_nodes, database_url, _client(kubeconfig))
    sandbox.faults[POD_METRICS_PATH] = [403]
    with pytest.raises(SourceError, match=r"needs get and list on pods\.metrics\.k8s\.io"):
        _collect(kubernetes_pods, database_url, _client(kubeconfig))


def test_a_node_without_a_readable_capacity_is_kept_in_rejected(
    conn, database_url, company, tmp_path
):
    table = routes(lambda: HOUR)
    inner = table[("GET", NODES_PATH)]

    def answer(company, request):
        response = inner.handler(company, request)
        response.body["items"][0]["status"]["capacity"]["cpu"] = "lots"
        return response

    table[("GET", NODES_PATH)] = Route(answer, inner.fault)
    with SandboxServer(company, routes={**DEFAULT_ROUTES, **table}) as server:
        client = _client(write_kubeconfig(tmp_path / "kubeconfig", server.url), page_size=1000)
        result = _collect(kubernetes_nodes, database_url, client)
    first = cluster_state(company, HOUR).nodes[0]["metadata"]["name"]
    assert (result.rows, result.rejected) == (6, 1)
    (reason,) = conn.execute(
        "select reason from raw._rejected where source = 'kubernetes'"
    ).fetchone()
    assert reason.startswith(f"node {first}: the node's status.capacity") and "'lots'" in reason


def test_a_missing_kubeconfig_or_context_is_a_clear_configuration_error(
    conn, database_url, kubeconfig, tmp_path, monkeypatch
):
    missing = tmp_path / "nowhere" / "kubeconfig"
    with pytest.raises(
        KubeconfigError,
        match=r"kubeconfig .*nowhere/kubeconfig \(the kubernetes.kubeconfig key in vault.yaml\) does not exist",
    ):
        _collect(kubernetes_pods, database_url, _client(missing))
    monkeypatch.setenv("KUBECONFIG", str(missing))
    with pytest.raises(KubeconfigError, match=r"no kubeconfig found at .*\(\$KUBECONFIG\)"):
        _collect(kubernetes_pods, database_url, KubernetesClient())
    with pytest.raises(KubeconfigError, match=r"context 'prod' .* which has vault-reader@nwl-prod"):
        _collect(kubernetes_pods, database_url, _client(kubeconfig, context="prod"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    in_cluster = KubernetesClient(in_cluster=True, cluster_name="prod")
    with pytest.raises(KubeconfigError, match="in_cluster is true but no in-cluster configuration"):
        _collect(kubernetes_pods, database_url, in_cluster)
    assert (
        conn.execute("select to_regclass('raw.kubernetes_pods')").fetchone()[0] is None
        or not conn.execute("select count(*) from raw.kubernetes_pods").fetchone()[0]
    )


def test_an_hour_long_past_is_refused_rather_than_filled_with_today_s_cluster(
    conn, database_url, kubeconfig
):
    old = HOUR - timedelta(hours=10)
    with pytest.raises(SourceError, match=r"keeps no history.*max_snapshot_delay_hours \(3\)"):
        _collect(kubernetes_nodes, database_url, _client(kubeconfig), hour=old)
    loaded = _collect(
        kubernetes_nodes, database_url, _client(kubeconfig, max_snapshot_delay_hours=12), hour=old
    )
    assert loaded.rows == 7


# ---------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("in_cluster: true", "sources.kubernetes: Value error, in_cluster needs cluster_name"),
        (
            "in_cluster: true\n    cluster_name: c\n    kubeconfig: /k",
            "drop kubeconfig and context",
        ),
        (
            "node_prices: [{hourly_usd: 1}]",
            "sources.kubernetes.node_prices.0: Value error, a price rule needs an instance_type or labels",
        ),
        (
            "node_prices: [{instance_type: m6i.xlarge, hourly_usd: -1}]",
            "node_prices.0.hourly_usd: Input should be greater than or equal to 0",
        ),
        (
            "idle: share",
            "sources.kubernetes.idle: Input should be 'separate', 'share_by_node' or 'share_by_cluster'",
        ),
        ("share: proportional", "sources.kubernetes.share: Input should be 'even' or 'weighted'"),
        ("shared_namespaces: [kube-system, kube-system]", "a namespace is listed twice"),
        (
            "shared_namespaces: [Kube_System]",
            "sources.kubernetes.shared_namespaces.0: String should match pattern",
        ),
        (
            "price_ratios: {cpu: 0, ram: 1}",
            "sources.kubernetes.price_ratios.cpu: Input should be greater than 0",
        ),
        (
            "max_snapshot_delay_hours: 0",
            "max_snapshot_delay_hours: Input should be greater than or equal to 1",
        ),
        ("token: abc", "sources.kubernetes.token: unknown key"),
    ],
)
def test_a_bad_kubernetes_section_is_refused_with_the_key_and_reason(tmp_path, section, expected):
    path = tmp_path / "vault.yaml"
    path.write_text(f"sources:\n  kubernetes:\n    {section}\n")
    with pytest.raises(ConfigError) as refused:
        load_config(path)
    assert expected in str(refused.value)
    assert str(path) in str(refused.value)


def test_the_section_becomes_a_client_with_money_as_text(tmp_path):
    path = tmp_path / "vault.yaml"
    path.write_text(
        "sources:\n  kubernetes:\n    kubeconfig: ~/.kube/prod\n    context: prod\n"
        "    node_prices:\n      - {instance_type: m6i.xlarge, hourly_usd: 0.192}\n"
        "      - {labels: {karpenter.sh/capacity-type: spot}, hourly_usd: 0.05}\n"
        "    default_node_hourly_usd: 0.1\n    price_ratios: {cpu: 3, ram: 1, gpu: 25}\n"
        "    idle: share_by_cluster\n    share: even\n    shared_namespaces: [kube-system, monitoring]\n"
    )
    section = load_config(path).sources.kubernetes
    client = KubernetesClient.from_config(section)
    assert client.node_prices == [
        {"instance_type": "m6i.xlarge", "labels": {}, "hourly_usd": "0.192"},
        {
            "labels": {"karpenter.sh/capacity-type": "spot"},
            "hourly_usd": "0.05",
        },
    ]
    assert (client.default_node_hourly_usd, client.price_ratios) == (
        "0.1",
        {"cpu": "3", "ram": "1", "gpu": "25"},
    )
    assert (client.idle, client.share, client.shared_namespaces) == (
        "share_by_cluster",
        "even",
        ["kube-system", "monitoring"],
    )
    assert (client.kubeconfig, client.context, client.cpu_core_hourly_usd) == (
        "~/.kube/prod",
        "prod",
        "0.031611",
    )


def test_the_collectors_are_hourly_and_each_tick_collects_only_the_hour_just_ended(tmp_path):
    ensure_manifest()
    path = tmp_path / "vault.yaml"
    path.write_text("sources:\n  kubernetes:\n    kubeconfig: /etc/vault/kubeconfig\n")
    defs = build_definitions(load_config(path))
    graph = defs.resolve_asset_graph()
    for table in ("kubernetes_nodes", "kubernetes_pods"):
        node = graph.get(dg.AssetKey(["raw", table]))
        assert isinstance(node.partitions_def, dg.HourlyPartitionsDefinition)
        assert node.group_name == "kubernetes"
    schedule = next(s for s in defs.schedules if s.name == "collect_kubernetes_schedule")
    assert schedule.cron_schedule == "5 * * * *"
    tick = datetime(2026, 11, 3, 10, 5, tzinfo=UTC)
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=tick,
            repository_def=defs.get_repository_def(),
        )
        requests = list(schedule.evaluate_tick(context).run_requests or [])
    assert [r.partition_key for r in requests] == ["2026-11-03-09:00"]
    assert KubernetesConfig().lookback_days == 0


def test_the_sandbox_writes_a_kubeconfig_and_a_section_for_its_cluster(tmp_path):
    start = HOUR.date() - timedelta(days=2)
    workspace = prepare_sandbox(tmp_path, "http://127.0.0.1:9", start, start + timedelta(days=1))
    section = load_config(workspace.config_path).sources.kubernetes
    kubeconfig = Path(section.kubeconfig)
    assert kubeconfig == tmp_path / "kubeconfig" and oct(kubeconfig.stat().st_mode)[-3:] == "600"
    assert "server: http://127.0.0.1:9" in kubeconfig.read_text()
    assert (section.cluster_name, section.idle, section.shared_namespaces) == (
        CLUSTER_NAME,
        "share_by_cluster",
        list(SHARED_NAMESPACES),
    )
    assert section.max_snapshot_delay_hours >= 72, "the demo collects a day already past"


# ---------------------------------------------------------------------------- sandbox


def test_the_sandbox_cluster_is_the_same_each_time_an_hour_is_asked_and_fits_its_nodes(company):
    state = cluster_state(company, HOUR)
    assert cluster_state(company, HOUR + timedelta(minutes=40)) == state
    assert cluster_state(company, HOUR - timedelta(hours=1)).pod_metrics != state.pod_metrics
    allocatable = {n["metadata"]["name"]: n["status"]["allocatable"] for n in state.nodes}
    used = defaultdict(lambda: defaultdict(Decimal))
    for pod in state.pods:
        if pod["status"]["phase"] != "Running":
            continue
        for container in pod["spec"]["containers"]:
            resources = container["resources"]
            for name in ("cpu", "memory", "nvidia.com/gpu"):
                quantity = (resources.get("requests") or {}).get(name) or (
                    resources.get("limits") or {}
                ).get(name)
                if quantity:
                    used[pod["spec"]["nodeName"]][name] += parse_quantity(quantity)
    for node, totals in used.items():
        for name, total in totals.items():
            assert total <= parse_quantity(allocatable[node].get(name, "0")), (node, name)
    pending = [p["metadata"]["name"] for p in state.pods if p["status"]["phase"] == "Pending"]
    assert pending == ["trainer-1"]
    gpu_pods = {
        p["metadata"]["namespace"]
        for p in state.pods
        if "nodeName" in p["spec"]
        and p["spec"]["nodeName"]
        in {
            n["metadata"]["name"]
            for n in state.nodes
            if "nvidia.com/gpu" in n["status"]["capacity"]
        }
        and any(
            "nvidia.com/gpu" in (c["resources"].get("limits") or {})
            for c in p["spec"]["containers"]
        )
    }
    assert gpu_pods == {"agent-lab", "knowledge-search"}


# ---------------------------------------------------------------------------- dbt


def _controller(pod):
    owners = pod["metadata"].get("ownerReferences") or []
    owner = next((o for o in owners if o.get("controller")), owners[0] if owners else None)
    if owner is None:
        return None, "__unallocated__"
    template = (pod["metadata"].get("labels") or {}).get("pod-template-hash")
    if owner["kind"] == "ReplicaSet" and template and owner["name"].endswith(f"-{template}"):
        return "Deployment", owner["name"][: -len(template) - 1]
    return owner["kind"], owner["name"]


def _quantity(resources, name):
    for kind in ("requests", "limits"):
        text = (resources.get(kind) or {}).get(name)
        if text is not None:
            return parse_quantity(text)
    return Decimal(0)


def expected_allocation(node_records, pod_records, shared_namespaces):
    """OpenCost's allocation with idle shared by cluster and shared cost weighted, written out
    here apart from the SQL: {(hour, namespace/controller): total cost}, one hour at a time."""
    totals = {}
    for hour in sorted({r["hour"] for r in node_records}):
        rates = {}
        idle = defaultdict(Decimal)
        for record in (r for r in node_records if r["hour"] == hour):
            price, capacity = record["price"], record["node"]["status"]["capacity"]
            node_rates = {
                "cpu": Decimal(price["cpu_core_hourly_usd"]),
                "ram": Decimal(price["ram_gib_hourly_usd"]) / GIB,
                "gpu": Decimal(price["gpu_hourly_usd"]),
            }
            rates[record["node"]["metadata"]["name"]] = node_rates
            for resource, name in (("cpu", "cpu"), ("ram", "memory"), ("gpu", "nvidia.com/gpu")):
                idle[resource] += node_rates[resource] * parse_quantity(capacity.get(name, "0"))
        costs = defaultdict(lambda: defaultdict(Decimal))
        for record in (r for r in pod_records if r["hour"] == hour):
            pod = record["pod"]
            if pod["status"]["phase"] != "Running" or pod["spec"].get("nodeName") not in rates:
                continue
            node_rates = rates[pod["spec"]["nodeName"]]
            usage = {c["name"]: c["usage"] for c in (record["usage"] or {}).get("containers", [])}
            workload = f"{pod['metadata']['namespace']}/{_controller(pod)[1]}"
            for container in pod["spec"]["containers"]:
                used = usage.get(container["name"]) or {}
                for resource, name in (("cpu", "cpu"), ("ram", "memory")):
                    request = _quantity(container["resources"], name)
                    measured = parse_quantity(used[name]) if name in used else Decimal(0)
                    cost = max(request, measured) * node_rates[resource]
                    costs[workload][resource] += cost
                    idle[resource] -= cost
                cost = _quantity(container["resources"], "nvidia.com/gpu") * node_rates["gpu"]
                costs[workload]["gpu"] += cost
                idle["gpu"] -= cost
        by_resource = {r: sum(c[r] for c in costs.values()) for r in ("cpu", "ram", "gpu")}
        carried = {}
        for workload, cost in costs.items():
            carried[workload] = sum(cost.values()) + sum(
                idle[r] * cost[r] / by_resource[r] for r in by_resource if by_resource[r]
            )
        shared = {w for w in carried if w.split("/")[0] in shared_namespaces}
        pool = sum(carried[w] for w in shared)
        weight = sum(v for w, v in carried.items() if w not in shared)
        for workload, cost in carried.items():
            if workload not in shared:
                totals[(hour, workload)] = cost + pool * cost / weight
    return totals


def _dbt(url, target, *args):
    return subprocess.run(
        [
            dbt_executable(),
            *args,
            "--project-dir",
            str(DBT_PROJECT_DIR),
            "--profiles-dir",
            str(DBT_PROJECT_DIR),
        ],
        env={
            **os.environ,
            **dbt_env(url),
            "DBT_TARGET_PATH": str(target / "target"),
            "DBT_LOG_PATH": str(target / "logs"),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        },
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


# Three hours as the hourly schedule collects them; the middle one from a cluster without a
# metrics API, which is charged its requests.
HOURS = [HOUR - timedelta(hours=2), HOUR - timedelta(hours=1), HOUR]
NO_METRICS_HOUR = HOURS[1]


@pytest.fixture(scope="module")
def built(module_database, company, tmp_path_factory):
    """Three snapshots collected with the sandbox's vault.yaml section, then dbt; yields the URL."""
    root = tmp_path_factory.mktemp("kubernetes")
    clock = {"hour": HOURS[0]}
    ensure_sources_exist(WarehouseResource(url=module_database))
    with SandboxServer(
        company, routes={**DEFAULT_ROUTES, **routes(lambda: clock["hour"])}
    ) as server:
        section = kubernetes_api.sandbox_section(
            write_kubeconfig(root / "kubeconfig", server.url), HOURS[0].date()
        )
        client = KubernetesClient.from_config(KubernetesConfig.model_validate(section))
        for hour in HOURS:
            clock["hour"] = hour
            server.routes.update(routes(lambda: clock["hour"], metrics=hour != NO_METRICS_HOUR))
            for spec in (kubernetes_nodes, kubernetes_pods):
                _collect(spec, module_database, client, hour=hour)
    # The marts and everything under them, and only this source's tests (the data tests
    # and the hand-computed unit tests in its yml files, the two singular tests it feeds):
    # every source's tests would take minutes, and each has its own module.
    build = _dbt(
        module_database,
        root,
        "build",
        "--select",
        "+fct_costs",
        "+fct_metrics",
        "path:models/staging/kubernetes",
        "path:models/intermediate/kubernetes",
        "path:models/intermediate/costs/_costs__kubernetes__models.yml",
        "path:models/intermediate/metrics/_int_metrics__kubernetes.yml",
        "assert_kubernetes_allocation_preserves_node_cost",
        "assert_kubernetes_running_pods_are_on_snapshot_nodes",
        "assert_metric_units_match_metric_types",
        "--indirect-selection",
        "empty",
    )
    assert build.returncode == 0, build.stdout[-4000:]
    for check in (
        "int_kubernetes__allocations::k8s_idle_separate_shared_even",
        "int_kubernetes__allocations::k8s_idle_by_node_shared_weighted",
        "stg_kubernetes__pod_containers::k8s_quantities_and_controllers_are_read_exactly",
        "assert_kubernetes_allocation_preserves_node_cost",
        "assert_kubernetes_running_pods_are_on_snapshot_nodes",
    ):
        assert f"PASS {check} " in build.stdout, f"{check} did not pass"
    with psycopg.connect(module_database) as conn:
        nodes = [r[0] for r in conn.execute("select record from raw.kubernetes_nodes")]
        pods = [r[0] for r in conn.execute("select record from raw.kubernetes_pods")]
    yield module_database, nodes, pods


def _query(url, sql, *params):
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params or None).fetchall()


def test_fct_costs_charges_each_workload_what_an_independent_allocation_gives(built):
    url, nodes, pods = built
    expected = defaultdict(Decimal)
    for (hour, workload), cost in expected_allocation(nodes, pods, SHARED_NAMESPACES).items():
        expected[(datetime.fromisoformat(hour).date(), workload)] += cost
    rows = _query(
        url,
        "select (charge_period_start at time zone 'UTC')::date, resource_id, billed_cost, "
        "provider_name, service_category, service_name, charge_category, sub_account_id "
        "from marts.fct_costs where x_source_system = 'kubernetes'",
    )
    assert {(day, resource) for day, resource, *_ in rows} == set(expected)
    for day, resource, billed, *ledger in rows:
        assert abs(billed - expected[(day, resource)]) < Decimal("1e-12"), resource
        assert ledger == ["Kubernetes", "Compute", "Kubernetes", "Usage", CLUSTER_NAME]
    assert not any(
        r.startswith(("__idle__", "kube-system/", "monitoring/")) for _, r, *_ in rows
    ), "idle and the shared namespaces' cost went to the workloads"


def test_totals_before_and_after_distribution_equal_the_nodes_cost(built):
    url, nodes, _ = built
    node_prices = sum(Decimal(r["price"]["node_hourly_usd"]) for r in nodes)
    ((ledger,),) = _query(
        url, "select sum(billed_cost) from marts.fct_costs where x_source_system = 'kubernetes'"
    )
    ((allocated, idle, shared),) = _query(
        url,
        "select sum(allocated_cost), sum(idle_cost), sum(shared_cost) from intermediate.int_kubernetes__allocations",
    )
    assert abs(ledger - node_prices) < Decimal("1e-15")
    assert abs(allocated + idle + shared - node_prices) < Decimal("1e-15")
    assert idle > 0, "idle was shared out among the workloads"
    assert abs(shared) < Decimal("1e-15"), "shared cost moves between workloads, it adds none"


def test_ledger_lines_carry_labels_taxonomy_quantities_and_the_allocation_marker(built):
    url, _, _ = built
    rows = _query(
        url,
        "select resource_type, x_team, x_project, x_department, x_environment, "
        "consumed_unit, tags from marts.fct_costs "
        "where x_source_system = 'kubernetes' and resource_id = 'agent-lab/trainer'",
    )
    assert rows
    for kind, team, project, department, environment, unit, tags in rows:
        assert (kind, team, project, department, environment, unit) == (
            "StatefulSet",
            "ml",
            "agent-lab",
            "engineering",
            "development",
            "core-hours",
        )
        assert tags["x_allocated_from"] == "kubernetes_nodes" and tags["app"] == "trainer"
        assert tags["x_gpu_hours"] > 0 and "statefulset.kubernetes.io/pod-name" not in tags
    checkout = _query(
        url,
        "select x_team, x_project from marts.fct_costs where resource_id = 'checkout-assistant/checkout-api'",
    )
    assert set(checkout) == {("checkout", "checkout-assistant")}, (
        "the namespace's project, not the app label"
    )
    assert _query(
        url,
        "select distinct x_team from marts.fct_costs where resource_id = 'default/__unallocated__'",
    ) in ([], [("unallocated",)])


def _allocations(url, hour):
    return {
        f"{namespace}/{controller}": row
        for namespace, controller, *row in _query(
            url,
            "select namespace, controller_name, usage_coverage, cpu_request_cores, "
            "cpu_core_hours, cpu_usage_cores from intermediate.int_kubernetes__allocations "
            "where allocation_kind != 'idle' and hour_started_at = %s",
            hour,
        )
    }


def test_an_hour_without_a_metrics_api_is_charged_at_requests(built):
    url, _, _ = built
    rows = _allocations(url, NO_METRICS_HOUR)
    assert rows and {coverage for coverage, *_ in rows.values()} == {"requests_only"}
    assert all(
        request == allocated and usage is None for _, request, allocated, usage in rows.values()
    )


def test_an_hour_with_usage_charges_each_container_the_larger_of_request_and_use(built):
    url, _, pods = built
    allocated = defaultdict(Decimal)
    for record in (r for r in pods if r["hour"] == HOUR.isoformat()):
        pod = record["pod"]
        if pod["status"]["phase"] != "Running":
            continue
        usage = {c["name"]: c["usage"] for c in (record["usage"] or {}).get("containers", [])}
        for container in pod["spec"]["containers"]:
            used = usage.get(container["name"], {}).get("cpu")
            request = _quantity(container["resources"], "cpu")
            workload = f"{pod['metadata']['namespace']}/{_controller(pod)[1]}"
            allocated[workload] += max(request, parse_quantity(used) if used else Decimal(0))
    rows = _allocations(url, HOUR)
    assert {workload: row[2] for workload, row in rows.items()} == dict(allocated)
    assert any(cores > request for _, request, cores, _ in rows.values()), (
        "some use more than they ask"
    )


def test_fct_metrics_holds_each_workload_s_requests_and_measured_usage_per_hour(built):
    url, _, pods = built
    requested = defaultdict(Decimal)
    for record in pods:
        pod = record["pod"]
        if pod["status"]["phase"] == "Running":
            workload = f"{pod['metadata']['namespace']}/{_controller(pod)[1]}"
            for container in pod["spec"]["containers"]:
                requested[(datetime.fromisoformat(record["hour"]), workload)] += _quantity(
                    container["resources"], "cpu"
                )
    rows = _query(
        url,
        "select observed_at, service, value, unit, team from marts.fct_metrics "
        "where source_system = 'kubernetes' and metric_type = 'infra.cpu.request_cores'",
    )
    assert {(at, service): value for at, service, value, *_ in rows} == {
        k: v for k, v in requested.items() if v
    }
    assert {unit for *_, unit, _ in rows} == {"cores"}
    usage_hours = {
        at
        for (at,) in _query(
            url,
            "select distinct observed_at from marts.fct_metrics where source_system = 'kubernetes' and metric_type = 'infra.cpu.usage_cores'",
        )
    }
    assert usage_hours == set(HOURS) - {NO_METRICS_HOUR}
    gpus = _query(
        url,
        "select service, sum(value) from marts.fct_metrics where metric_type = 'infra.gpu.request_gpus' group by 1 order by 1",
    )
    assert gpus == [("agent-lab/trainer", len(HOURS)), ("knowledge-search/reranker", len(HOURS))]
