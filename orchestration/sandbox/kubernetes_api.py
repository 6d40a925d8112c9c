"""The Kubernetes API server of Northwind Labs' cluster, as the official client talks to it.

It serves the list endpoints the vault reads, in the API's JSON shapes: `/api/v1/namespaces`,
`/api/v1/nodes` and `/api/v1/pods` (with `limit` and `continue` paging), the metrics API's
`/apis/metrics.k8s.io/v1beta1/pods` (unpaged, as metrics-server answers) and the `/apis/`
discovery document that says whether that API exists. Errors are `Status` objects with
Kubernetes' reasons (Unauthorized, TooManyRequests, Expired...); a request without the sandbox's
bearer token is refused with 401, as an API server refuses an unknown one.

The API has no notion of time: it answers with the cluster as it is. The fake's "now" is a
clock that gives the hour it serves, the wall clock's by default; tests and the demo pass their
own (`routes(clock=...)`, or `CLOCK.pinned(hour)` for the default routes) so that a collection
for an hour sees that hour's cluster (`kubernetes_cluster.cluster_state`). `write_kubeconfig`
writes the kubeconfig that points the official client at this server, `sandbox_section` the
vault.yaml section that collects from it.
"""

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from orchestration.sandbox.company import Company
from orchestration.sandbox.kubernetes_cluster import (
    CLUSTER_NAME,
    NODE_PRICES,
    SHARED_NAMESPACES,
    ClusterState,
    cluster_state,
    continue_token,
    token_offset,
)
from orchestration.sandbox.routing import Request, Response, Route

SANDBOX_TOKEN = "sandbox-kubernetes-token-not-a-real-one"
SANDBOX_USER = "vault-reader"
NAMESPACES_PATH = "/api/v1/namespaces"
NODES_PATH = "/api/v1/nodes"
PODS_PATH = "/api/v1/pods"
POD_METRICS_PATH = "/apis/metrics.k8s.io/v1beta1/pods"
DISCOVERY_PATH = "/apis/"

Clock = Callable[[], datetime]

_REASONS = {
    400: ("BadRequest", "the request is invalid"),
    401: ("Unauthorized", "Unauthorized"),
    403: ("Forbidden", "forbidden: the user cannot list this resource at the cluster scope"),
    404: ("NotFound", "the server could not find the requested resource"),
    410: (
        "Expired",
        "The provided continue parameter is too old to display a consistent list result. You "
        "can start a new list without the continue parameter.",
    ),
    429: ("TooManyRequests", "Too many requests, please try again later."),
    500: ("InternalError", "Internal error occurred: etcdserver: request timed out"),
    503: ("ServiceUnavailable", "the server is currently unable to handle the request"),
}


def current_hour() -> datetime:
    """The wall clock's hour: what a real cluster would show now."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


class HourClock:
    """The hour the default routes show: the wall clock's, unless a caller pins another.

    The demo collects past hours from the sandbox; pinning each hour while it is collected
    shows the cluster as it was then, as the hourly schedule would have seen it.
    """

    def __init__(self) -> None:
        self._pinned: datetime | None = None
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return self._pinned or current_hour()

    @contextmanager
    def pinned(self, hour: datetime) -> Iterator[None]:
        with self._lock:
            previous, self._pinned = self._pinned, hour.astimezone(UTC)
        try:
            yield
        finally:
            with self._lock:
                self._pinned = previous


CLOCK = HourClock()


def status(code: int, message: str | None = None) -> Response:
    """A `Status` failure object, the body every Kubernetes API error comes with."""
    reason, default = _REASONS.get(code, ("InternalError", f"HTTP {code}"))
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message or default,
        "reason": reason,
        "code": code,
    }
    headers = {"Retry-After": "0"} if code == 429 else {}
    return Response(code, body, headers)


def _authorised(request: Request) -> bool:
    return request.headers.get("authorization") == f"Bearer {SANDBOX_TOKEN}"


def _page(
    request: Request, kind: str, items: list[dict[str, Any]], resource_version: str
) -> Response:
    """One page of a list, honouring `limit` and `continue` as the API server does."""
    limit_text = (request.query.get("limit") or ("0",))[-1]
    token = (request.query.get("continue") or ("",))[-1]
    if not limit_text.isdigit():
        return status(400, f"limit {limit_text!r} is not a non-negative integer")
    limit = int(limit_text)
    offset = 0
    if token:
        found = token_offset(token, resource_version)
        if found is None:
            return status(410)
        offset = found
    end = len(items) if limit == 0 else min(len(items), offset + limit)
    metadata: dict[str, Any] = {"resourceVersion": resource_version}
    if end < len(items):
        metadata["continue"] = continue_token(end, resource_version)
        metadata["remainingItemCount"] = len(items) - end
    return Response(
        200, {"kind": kind, "apiVersion": "v1", "metadata": metadata, "items": items[offset:end]}
    )


def _discovery(metrics: bool) -> dict[str, Any]:
    groups = [("apps", "v1"), ("batch", "v1")]
    if metrics:
        groups.append(("metrics.k8s.io", "v1beta1"))
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {
                "name": name,
                "versions": [{"groupVersion": f"{name}/{version}", "version": version}],
                "preferredVersion": {"groupVersion": f"{name}/{version}", "version": version},
            }
            for name, version in groups
        ],
    }


def routes(clock: Clock = current_hour, *, metrics: bool = True) -> dict[tuple[str, str], Route]:
    """The API's routes, showing the cluster at the hour `clock` gives.

    `metrics=False` is a cluster without metrics-server: no metrics API in discovery and a 404
    for its path, as a real API server answers.
    """

    def state(company: Company) -> ClusterState:
        return cluster_state(company, clock())

    def guarded(handler: Callable[[Company, Request], Response]) -> Route:
        def answer(company: Company, request: Request) -> Response:
            if not _authorised(request):
                return status(401)
            return handler(company, request)

        return Route(answer, status)

    def list_route(kind: str, items: Callable[[ClusterState], list[dict[str, Any]]]) -> Route:
        def handler(company: Company, request: Request) -> Response:
            current = state(company)
            return _page(request, kind, items(current), current.resource_version)

        return guarded(handler)

    def pod_metrics(company: Company, request: Request) -> Response:
        del request  # metrics-server answers the whole list, whatever the limit
        body = {
            "kind": "PodMetricsList",
            "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {},
            "items": state(company).pod_metrics,
        }
        return Response(200, body)

    table: dict[tuple[str, str], Route] = {
        ("GET", DISCOVERY_PATH): guarded(
            lambda company, request: Response(200, _discovery(metrics))
        ),
        ("GET", NAMESPACES_PATH): list_route("NamespaceList", lambda s: s.namespaces),
        ("GET", NODES_PATH): list_route("NodeList", lambda s: s.nodes),
        ("GET", PODS_PATH): list_route("PodList", lambda s: s.pods),
    }
    table[("GET", POD_METRICS_PATH)] = (
        guarded(pod_metrics) if metrics else guarded(lambda company, request: status(404))
    )
    return table


ROUTES: Mapping[tuple[str, str], Route] = routes(CLOCK)


def write_kubeconfig(
    path: Path,
    server_url: str,
    *,
    token: str = SANDBOX_TOKEN,
    cluster: str = CLUSTER_NAME,
) -> Path:
    """A kubeconfig whose one context reaches `server_url` with a bearer token; returns `path`."""
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": {"server": server_url}}],
        "users": [{"name": SANDBOX_USER, "user": {"token": token}}],
        "contexts": [
            {
                "name": f"{SANDBOX_USER}@{cluster}",
                "context": {"cluster": cluster, "user": SANDBOX_USER},
            }
        ],
        "current-context": f"{SANDBOX_USER}@{cluster}",
        "preferences": {},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Written by the sandbox: the fake Kubernetes API of the sandbox server.\n"
        + yaml.safe_dump(document, sort_keys=False)
    )
    path.chmod(0o600)
    return path


def sandbox_section(kubeconfig: Path, start: date) -> dict[str, Any]:
    """The vault.yaml `kubernetes` section with which the demo collects the sandbox cluster.

    The demo collects hours of days already past (with the hour pinned on `CLOCK`), so it lets
    snapshots be taken that long after their hour; a deployment keeps the default.
    """
    since = datetime.now(UTC) - datetime(start.year, start.month, start.day, tzinfo=UTC)
    return {
        "kubeconfig": str(kubeconfig),
        "cluster_name": CLUSTER_NAME,
        "max_retries": 3,
        "max_snapshot_delay_hours": max(48, int(since.total_seconds() // 3600) + 48),
        "node_prices": [
            {"instance_type": kind, "hourly_usd": price} for kind, price in NODE_PRICES.items()
        ],
        "idle": "share_by_cluster",
        "share": "weighted",
        "shared_namespaces": list(SHARED_NAMESPACES),
    }
