"""The Kubernetes API, through the official `kubernetes` client: one snapshot of a cluster per hour.

Kubernetes keeps no history of what ran where: the API tells the cluster as it is now. So each
hourly run takes one snapshot, at collection time, and that snapshot stands for its hour: the
nodes with their capacity and price, and every pod with its containers' requests, limits and,
where the metrics API (`metrics.k8s.io/v1beta1`, served by metrics-server) is present, their
usage. Nothing can be collected for an hour long past (it would record today's cluster as that
hour's), so a window that ended more than `max_snapshot_delay_hours` ago is refused.

Records are the API's own JSON (read with `_preload_content=False`, so quantities stay the
strings the API sends: "250m", "512Mi") with what the API gives elsewhere joined in: a pod's
namespace labels and its `PodMetrics`, a node's price resolved from vault.yaml and the
allocation policy in force, because dbt cannot read vault.yaml. Only `metadata.managedFields`
is dropped: server-side-apply bookkeeping, often half of an object's bytes, with no bearing on
cost. A metrics API that is not served, or that fails, leaves usage unknown; the record says so
(`usage_source`, `usage_note`) and the allocation falls back to requests.

Lists are read in pages (`limit` and `continue`); a continue token that expired mid-list (410)
restarts the list, so a snapshot is always one consistent list. 429 and 5xx answers are retried
by urllib3 under the client (honouring Retry-After), answers cut short by the client itself;
what is left fails the partition with a `SourceError` naming the API path, the status and the
API's own message. Tokens and certificates are never part of a message.
"""

import json
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation, localcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError
from urllib3.util.retry import Retry

from orchestration.collectors.http import SourceError
from orchestration.warehouse.loader import Rejected

if TYPE_CHECKING:
    from orchestration.config import KubernetesConfig

VENDOR = "Kubernetes API"
GPU_RESOURCE = "nvidia.com/gpu"
METRICS_GROUP = "metrics.k8s.io"
METRICS_VERSION = "v1beta1"
INSTANCE_TYPE_LABELS = ("node.kubernetes.io/instance-type", "beta.kubernetes.io/instance-type")
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
IDLE_POLICIES = ("separate", "share_by_node", "share_by_cluster")
SHARE_POLICIES = ("even", "weighted")
# OpenCost's list prices for a node it knows nothing about: USD per vCPU-hour, GiB-hour and
# GPU-hour. Their ratio also splits a known node price into per-resource rates.
DEFAULT_CPU_CORE_HOURLY_USD = "0.031611"
DEFAULT_RAM_GIB_HOURLY_USD = "0.004237"
DEFAULT_GPU_HOURLY_USD = "0.95"
GIB = Decimal(2**30)
_RESTARTS_ON_EXPIRED_CONTINUE = 2
_MAX_MESSAGE = 500

# The quantity grammar of k8s.io/apimachinery: a signed decimal, then a binary suffix (Ki..Ei),
# a decimal suffix (n, u, m, k, M, G, T, P, E) or a decimal exponent (e3, E-2), or nothing.
_QUANTITY = re.compile(
    r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?:(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])|[eE]([+-]?[0-9]+))?$"
)
_BINARY_POWER = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL_EXPONENT = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def parse_quantity(text: str) -> Decimal:
    """A Kubernetes resource quantity ("250m", "1.5Gi", "1e3") as an exact Decimal.

    ValueError for anything the API's grammar does not allow ("1.5.0", "10 Mi", "1ki").
    """
    match = _QUANTITY.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity")
    number, suffix, exponent = match.groups()
    # Enough digits that no quantity the API can hold is rounded (1Ei is 19 digits).
    with localcontext(prec=60):
        value = Decimal(number)
        if suffix in _BINARY_POWER:
            return value * 1024 ** _BINARY_POWER[suffix]
        if suffix:
            return value.scaleb(_DECIMAL_EXPONENT[suffix])
        if exponent:
            return value.scaleb(int(exponent))
        return value + 0


class KubeconfigError(SourceError):
    """The cluster cannot be reached as configured: no kubeconfig, no such context, not in a pod."""


def _decimal(value: Any, what: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{what}: {value!r} is not a number") from None
    if not number.is_finite() or number < 0:
        raise ValueError(f"{what}: {value!r} must be a non-negative number")
    return number


def instance_type(node: Mapping[str, Any]) -> str | None:
    labels = (node.get("metadata") or {}).get("labels") or {}
    return next((labels[name] for name in INSTANCE_TYPE_LABELS if labels.get(name)), None)


def node_price(
    node: Mapping[str, Any],
    *,
    rules: Sequence[Mapping[str, Any]],
    default_node_hourly_usd: str | None,
    rates: Mapping[str, str],
    ratios: Mapping[str, str] | None,
) -> dict[str, Any]:
    """What one hour of the node costs, and its per-resource rates.

    The price is the first rule of `rules` that matches the node (its `instance_type` and every
    one of its `labels`), else `default_node_hourly_usd`; such a price is split into CPU, RAM
    and GPU rates in the proportions of `ratios` (default: the ratio of `rates`), scaled so
    that the node's capacity at those rates costs exactly the price. A node no price reaches is
    charged `rates` for its capacity. ValueError when the node's capacity cannot be read.
    """
    status = node.get("status") or {}
    capacity = (status.get("capacity") if isinstance(status, Mapping) else None) or {}
    if not isinstance(capacity, Mapping):
        raise ValueError("the node's status.capacity is not an object")
    try:
        cores = parse_quantity(capacity["cpu"])
        gib = parse_quantity(capacity["memory"]) / GIB
        gpus = parse_quantity(capacity.get(GPU_RESOURCE, "0"))
    except (KeyError, ValueError, TypeError, AttributeError) as error:
        raise ValueError(
            f"the node's status.capacity has no readable cpu and memory: {error}"
        ) from None
    labels = (node.get("metadata") or {}).get("labels") or {}
    if not isinstance(labels, Mapping):
        raise ValueError("the node's metadata.labels is not an object")
    kind = instance_type(node)
    price: Decimal | None = None
    source, matched = "rates", None
    for index, rule in enumerate(rules):
        wanted_type = rule.get("instance_type")
        if wanted_type is not None and wanted_type != kind:
            continue
        if any(labels.get(key) != value for key, value in (rule.get("labels") or {}).items()):
            continue
        price = _decimal(rule["hourly_usd"], f"node_prices[{index}]")
        source, matched = "node_prices", index
        break
    if price is None and default_node_hourly_usd is not None:
        price = _decimal(default_node_hourly_usd, "default_node_hourly_usd")
        source = "default_node_hourly_usd"
    base = {name: _decimal(rates[name], f"{name} rate") for name in ("cpu", "ram", "gpu")}
    if price is None:
        unit = base
        price = unit["cpu"] * cores + unit["ram"] * gib + unit["gpu"] * gpus
    else:
        weights = {name: _decimal((ratios or rates)[name], f"{name} ratio") for name in base}
        weighted = weights["cpu"] * cores + weights["ram"] * gib + weights["gpu"] * gpus
        if weighted == 0:
            raise ValueError("the node has no capacity that the price ratios give a share to")
        unit = {name: weights[name] * price / weighted for name in weights}
    return {
        "source": source,
        "rule": matched,
        "instance_type": kind,
        "node_hourly_usd": str(price),
        "cpu_core_hourly_usd": str(unit["cpu"]),
        "ram_gib_hourly_usd": str(unit["ram"]),
        "gpu_hourly_usd": str(unit["gpu"]),
    }


class KubernetesClient(dg.ConfigurableResource):
    """Hourly snapshots of one cluster's nodes and pods, from a kubeconfig or in-cluster config."""

    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = False
    cluster_name: str | None = None
    timeout_s: float = 30.0
    max_retries: int = 5
    backoff_s: float = 0.5
    page_size: int = 500
    max_snapshot_delay_hours: int = 3
    # Each {"instance_type": "m6i.xlarge" (optional), "labels": {key: value}, "hourly_usd":
    # "0.192"}; money as strings, so no price passes through a float.
    node_prices: list[dict[str, Any]] = []
    default_node_hourly_usd: str | None = None
    cpu_core_hourly_usd: str = DEFAULT_CPU_CORE_HOURLY_USD
    ram_gib_hourly_usd: str = DEFAULT_RAM_GIB_HOURLY_USD
    gpu_hourly_usd: str = DEFAULT_GPU_HOURLY_USD
    price_ratios: dict[str, str] | None = None
    idle: str = "separate"
    share: str = "weighted"
    shared_namespaces: list[str] = ["kube-system"]

    @classmethod
    def from_config(cls, section: "KubernetesConfig") -> "KubernetesClient":
        """The client a vault.yaml `kubernetes` section describes (money passed as text)."""
        ratios = section.price_ratios
        return cls(
            kubeconfig=section.kubeconfig,
            context=section.context,
            in_cluster=section.in_cluster,
            cluster_name=section.cluster_name,
            timeout_s=section.timeout_s,
            max_retries=section.max_retries,
            page_size=section.page_size,
            max_snapshot_delay_hours=section.max_snapshot_delay_hours,
            # Dagster's config takes no null in a mapping: a rule without an instance type
            # has no such key.
            node_prices=[
                {
                    **({"instance_type": rule.instance_type} if rule.instance_type else {}),
                    "labels": dict(rule.labels),
                    "hourly_usd": str(rule.hourly_usd),
                }
                for rule in section.node_prices
            ],
            default_node_hourly_usd=(
                None
                if section.default_node_hourly_usd is None
                else str(section.default_node_hourly_usd)
            ),
            cpu_core_hourly_usd=str(section.cpu_core_hourly_usd),
            ram_gib_hourly_usd=str(section.ram_gib_hourly_usd),
            gpu_hourly_usd=str(section.gpu_hourly_usd),
            price_ratios=(
                None
                if ratios is None
                else {"cpu": str(ratios.cpu), "ram": str(ratios.ram), "gpu": str(ratios.gpu)}
            ),
            idle=section.idle,
            share=section.share,
            shared_namespaces=list(section.shared_namespaces),
        )

    # ------------------------------------------------------------------ snapshots

    def node_snapshot(self, start: datetime, end: datetime) -> Iterator[dict[str, Any] | Rejected]:
        """One record per node for the hour [start, end), each with its price and the policy."""
        snapshot = self._snapshot_fields(start, end)
        allocation = {
            "idle": self.idle,
            "share": self.share,
            "shared_namespaces": list(self.shared_namespaces),
        }
        rates = {
            "cpu": self.cpu_core_hourly_usd,
            "ram": self.ram_gib_hourly_usd,
            "gpu": self.gpu_hourly_usd,
        }
        with self._api() as api:
            core = client.CoreV1Api(api)
            for node in self._list("/api/v1/nodes", core.list_node):
                metadata = node.get("metadata") if isinstance(node, dict) else None
                name = metadata.get("name") if isinstance(metadata, dict) else None
                if not name or not isinstance(name, str):
                    yield Rejected("a node without metadata.name", node)
                    continue
                try:
                    price = node_price(
                        node,
                        rules=self.node_prices,
                        default_node_hourly_usd=self.default_node_hourly_usd,
                        rates=rates,
                        ratios=self.price_ratios,
                    )
                except ValueError as error:
                    yield Rejected(f"node {name}: {error}", node)
                    continue
                yield {**snapshot, "node": node, "price": price, "allocation": allocation}

    def pod_snapshot(self, start: datetime, end: datetime) -> Iterator[dict[str, Any] | Rejected]:
        """One record per pod for the hour [start, end), with its namespace's labels and usage."""
        snapshot = self._snapshot_fields(start, end)
        with self._api() as api:
            core = client.CoreV1Api(api)
            namespaces: dict[str, dict[str, Any]] = {}
            for item in self._list("/api/v1/namespaces", core.list_namespace):
                metadata = _metadata(item)
                labels = metadata.get("labels")
                if isinstance(metadata.get("name"), str):
                    namespaces[metadata["name"]] = labels if isinstance(labels, dict) else {}
            usage, note = self._pod_metrics(api)
            source = f"{METRICS_GROUP}/{METRICS_VERSION}" if usage is not None else None
            for pod in self._list("/api/v1/pods", core.list_pod_for_all_namespaces):
                metadata = _metadata(pod)
                namespace, name = metadata.get("namespace"), metadata.get("name")
                if (
                    not namespace
                    or not name
                    or not isinstance(namespace, str)
                    or not isinstance(name, str)
                ):
                    yield Rejected("a pod without metadata.namespace or metadata.name", pod)
                    continue
                metrics = usage.get((namespace, name)) if usage is not None else None
                pod_note = note
                if usage is not None and metrics is None:
                    pod_note = (
                        "the metrics API has no PodMetrics for this pod (not running, or "
                        "started too recently to be measured)"
                    )
                yield {
                    **snapshot,
                    "pod": pod,
                    "namespace_labels": namespaces.get(namespace) or {},
                    "usage": metrics,
                    "usage_source": source,
                    "usage_note": pod_note,
                }

    # ------------------------------------------------------------------ the API

    def _snapshot_fields(self, start: datetime, end: datetime) -> dict[str, Any]:
        """The fields every record of this snapshot shares; refuses an hour long past."""
        now = datetime.now(UTC)
        late = now - end
        if late > timedelta(hours=self.max_snapshot_delay_hours):
            raise SourceError(
                f"{VENDOR}: the hour {start.isoformat()} ended {_hours(late)} ago; Kubernetes "
                "keeps no history, so a snapshot taken now would record today's cluster as that "
                f"hour's. Only hours that ended within max_snapshot_delay_hours "
                f"({self.max_snapshot_delay_hours}) are collected: run the hourly schedule "
                "rather than backfilling"
            )
        if now < start:
            raise SourceError(f"{VENDOR}: the hour {start.isoformat()} has not begun yet")
        return {
            "cluster": self._cluster_name(),
            "hour": start.astimezone(UTC).isoformat(),
            "snapshot_at": now.isoformat(),
        }

    def _pod_metrics(
        self, api: client.ApiClient
    ) -> tuple[dict[tuple[str, str], dict[str, Any]] | None, str | None]:
        """PodMetrics by (namespace, name), or None and why usage is unknown."""
        groups = self._get("/apis/", client.ApisApi(api).get_api_versions)
        listed = groups.get("groups")
        served = isinstance(listed, list) and any(
            isinstance(group, dict)
            and group.get("name") == METRICS_GROUP
            and isinstance(group.get("versions"), list)
            and any(
                isinstance(v, dict) and v.get("version") == METRICS_VERSION
                for v in group["versions"]
            )
            for group in listed
        )
        if not served:
            return None, (
                f"the cluster serves no {METRICS_GROUP}/{METRICS_VERSION} API (no metrics-server): "
                "usage unknown, allocation uses requests"
            )
        custom = client.CustomObjectsApi(api)
        path = f"/apis/{METRICS_GROUP}/{METRICS_VERSION}/pods"

        def list_pod_metrics(**kwargs: Any) -> Any:
            return custom.list_cluster_custom_object(
                METRICS_GROUP, METRICS_VERSION, "pods", **kwargs
            )

        try:
            items = list(self._list(path, list_pod_metrics))
        except _MetricsUnavailable as error:
            return None, f"{error}: usage unknown, allocation uses requests"
        return {
            (_metadata(item).get("namespace"), _metadata(item).get("name")): item
            for item in items
            if isinstance(item, dict)
        }, None

    def _list(self, path: str, call: Callable[..., Any]) -> Iterator[dict[str, Any]]:
        """Every item of a list endpoint, page by page, as one consistent list."""
        for _ in range(_RESTARTS_ON_EXPIRED_CONTINUE + 1):
            token: str | None = None
            items: list[dict[str, Any]] = []
            seen: set[str] = set()
            try:
                while True:
                    kwargs: dict[str, Any] = {"limit": self.page_size}
                    if token:
                        kwargs["_continue"] = token
                    page = self._get(path, call, **kwargs)
                    listed, metadata = page.get("items") or [], page.get("metadata") or {}
                    if not isinstance(listed, list) or not isinstance(metadata, dict):
                        raise SourceError(
                            f"{VENDOR}: GET {path} answered without an items list and metadata"
                        )
                    items.extend(_without_managed_fields(item) for item in listed)
                    token = metadata.get("continue") or None
                    if token is not None and not isinstance(token, str):
                        raise SourceError(
                            f"{VENDOR}: GET {path} gave a continue token that is not text"
                        )
                    if token is None:
                        yield from items
                        return
                    if token in seen:
                        raise SourceError(
                            f"{VENDOR}: GET {path} gave a continue token it had already given; "
                            "refusing to loop"
                        )
                    seen.add(token)
            except _ContinueExpired:
                continue
        raise SourceError(
            f"{VENDOR}: GET {path}: the list changed faster than it could be read "
            f"({_RESTARTS_ON_EXPIRED_CONTINUE + 1} attempts ended in 410 Gone)"
        )

    def _get(self, path: str, call: Callable[..., Any], **kwargs: Any) -> dict[str, Any]:
        """One GET through the official client, its JSON body, failures as `SourceError`.

        An answer that is not JSON (cut short) is asked for again, up to `max_retries` times:
        urllib3 retries statuses and connections but cannot see a body it does not parse.
        """
        where = f"{VENDOR}: GET {path}"
        for attempt in range(self.max_retries + 1):
            try:
                # A (connect, read) pair: the client ignores a float, and would wait for ever.
                timeouts = (self.timeout_s, self.timeout_s)
                response = call(_preload_content=False, _request_timeout=timeouts, **kwargs)
                body = json.loads(response.data)
                break
            except ApiException as error:
                raise self._api_error(where, path, error, paging="_continue" in kwargs) from None
            except HTTPError as error:
                raise SourceError(
                    f"{where}: could not reach the API server ({type(error).__name__}: {error})"
                ) from None
            except ValueError:
                if attempt == self.max_retries:
                    raise SourceError(
                        f"{where}: the answer is not JSON (gave up after {attempt + 1} attempts)"
                    ) from None
                time.sleep(self.backoff_s * 2**attempt)
        if not isinstance(body, dict):
            raise SourceError(f"{where}: the answer is not a JSON object")
        return body

    def _api_error(self, where: str, path: str, error: ApiException, *, paging: bool) -> Exception:
        status = error.status or 0
        message = _status_message(error)
        text = f"{where} failed with {status} {error.reason or ''}".rstrip() + (
            f": {message}" if message else ""
        )
        metrics = path.startswith(f"/apis/{METRICS_GROUP}/")
        if status == 410 and paging:
            return _ContinueExpired(text)
        if status == 401:
            return SourceError(
                f"{text}; the credentials of the kubeconfig user (token, client certificate "
                "or exec plugin) were refused: renew them"
            )
        if status == 403:
            resource = "pods.metrics.k8s.io" if metrics else path.rstrip("/").rsplit("/", 1)[-1]
            return SourceError(
                f"{text}; the identity needs get and list on {resource} (see the ClusterRole "
                "in the README's Kubernetes section)"
            )
        if metrics and status in (404, 503):
            # Registered but not answering (metrics-server down, APIService unavailable).
            return _MetricsUnavailable(text)
        attempts = (
            f" (gave up after {self.max_retries + 1} attempts)" if status in RETRY_STATUS else ""
        )
        return SourceError(text + attempts)

    # ------------------------------------------------------------------ configuration

    def _api(self) -> client.ApiClient:
        """An ApiClient from in-cluster config or the kubeconfig, with urllib3's retries."""
        configuration = client.Configuration()
        try:
            if self.in_cluster:
                config.load_incluster_config(client_configuration=configuration)
            else:
                config.load_kube_config(
                    config_file=self._kubeconfig_path(),
                    context=self._checked_context(),
                    client_configuration=configuration,
                    persist_config=False,
                )
        except ConfigException as error:
            raise KubeconfigError(self._config_problem(error)) from None
        configuration.retries = Retry(
            total=self.max_retries,
            connect=self.max_retries,
            read=self.max_retries,
            status=self.max_retries,
            status_forcelist=RETRY_STATUS,
            allowed_methods=frozenset({"GET"}),
            backoff_factor=self.backoff_s,
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        return client.ApiClient(configuration)

    def _kubeconfig_path(self) -> str:
        """The kubeconfig to read: the configured one, else $KUBECONFIG, else ~/.kube/config."""
        if self.kubeconfig:
            path = Path(self.kubeconfig).expanduser()
            if not path.is_file():
                raise KubeconfigError(
                    f"{VENDOR}: kubeconfig {path} (the kubernetes.kubeconfig key in vault.yaml) "
                    "does not exist or is not a file"
                )
            return str(path)
        variable = os.environ.get("KUBECONFIG")
        candidates = [p for p in (variable or "").split(os.pathsep) if p] or ["~/.kube/config"]
        if not any(Path(p).expanduser().is_file() for p in candidates):
            origin = "$KUBECONFIG" if variable else "the default ~/.kube/config"
            raise KubeconfigError(
                f"{VENDOR}: no kubeconfig found at {', '.join(candidates)} ({origin}); set "
                "kubernetes.kubeconfig in vault.yaml, or in_cluster: true when the vault runs "
                "in a pod"
            )
        return os.pathsep.join(str(Path(p).expanduser()) for p in candidates)

    def _checked_context(self) -> str | None:
        if self.context is None:
            return None
        contexts, _ = config.list_kube_config_contexts(config_file=self._kubeconfig_path())
        names = sorted(item.get("name") for item in contexts or [])
        if self.context not in names:
            raise KubeconfigError(
                f"{VENDOR}: context {self.context!r} (kubernetes.context in vault.yaml) is not in "
                f"the kubeconfig, which has {', '.join(names) or 'no contexts'}"
            )
        return self.context

    def _cluster_name(self) -> str:
        """The configured cluster name, else the kubeconfig context's cluster."""
        if self.cluster_name:
            return self.cluster_name
        if self.in_cluster:
            raise KubeconfigError(
                f"{VENDOR}: set kubernetes.cluster_name in vault.yaml: a pod cannot tell "
                "which cluster it runs in"
            )
        try:
            contexts, current = config.list_kube_config_contexts(
                config_file=self._kubeconfig_path()
            )
        except ConfigException as error:
            raise KubeconfigError(self._config_problem(error)) from None
        wanted = self.context or (current or {}).get("name")
        chosen = next((c for c in contexts or [] if c.get("name") == wanted), current) or {}
        name = (chosen.get("context") or {}).get("cluster")
        if not name:
            raise KubeconfigError(
                f"{VENDOR}: the kubeconfig context {wanted!r} names no cluster; set "
                "kubernetes.cluster_name in vault.yaml"
            )
        return str(name)

    def _config_problem(self, error: ConfigException) -> str:
        if self.in_cluster:
            return (
                f"{VENDOR}: in_cluster is true but no in-cluster configuration was found "
                f"({error}); the vault must run in a pod with a service account token, or "
                "set in_cluster: false and a kubeconfig"
            )
        return f"{VENDOR}: the kubeconfig cannot be used: {error}"


class _ContinueExpired(SourceError):
    """A continue token expired mid-list (410 Gone): the list is read again from the start."""


class _MetricsUnavailable(SourceError):
    """The metrics API is registered but does not answer; usage is then unknown."""


def _metadata(item: Any) -> dict[str, Any]:
    """An object's `metadata`, or an empty one when the item or its metadata is no object."""
    metadata = item.get("metadata") if isinstance(item, dict) else None
    return metadata if isinstance(metadata, dict) else {}


def _without_managed_fields(item: Any) -> Any:
    if isinstance(item, dict) and isinstance(item.get("metadata"), dict):
        metadata = {k: v for k, v in item["metadata"].items() if k != "managedFields"}
        return {**item, "metadata": metadata}
    return item


def _status_message(error: ApiException) -> str:
    """The `message` of the API's `Status` body, else its text, shortened."""
    body = error.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    try:
        parsed = json.loads(body or "")
    except ValueError:
        return (body or "").strip()[:_MAX_MESSAGE]
    if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
        return parsed["message"][:_MAX_MESSAGE]
    return json.dumps(parsed)[:_MAX_MESSAGE]


def _hours(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.0f} hours" if hours >= 2 else f"{delta.total_seconds() / 60:.0f} minutes"
