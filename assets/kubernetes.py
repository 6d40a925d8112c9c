"""A Kubernetes cluster's nodes and pods, one snapshot per hour, for OpenCost-style allocation.

The API keeps no history, so each hourly partition holds the snapshot its run took (see
clients/kubernetes.py): the hour's nodes with their prices, and its pods with their requests
and usage. dbt charges each workload max(request, usage) at its node's rates and deals with
idle and shared cost (models/intermediate/kubernetes).
"""

from orchestration.clients.kubernetes import KubernetesClient
from orchestration.collectors.framework import Window, collector


@collector(
    source="kubernetes",
    table="kubernetes_nodes",
    natural_key=("hour", "cluster", "node.metadata.name"),
    partitioning="hourly",
)
def kubernetes_nodes(window: Window, kubernetes: KubernetesClient):
    """Every node of the cluster in the hour: capacity, labels, and its hourly price and rates."""
    yield from kubernetes.node_snapshot(window.start, window.end)


@collector(
    source="kubernetes",
    table="kubernetes_pods",
    natural_key=("hour", "cluster", "pod.metadata.namespace", "pod.metadata.name"),
    partitioning="hourly",
)
def kubernetes_pods(window: Window, kubernetes: KubernetesClient):
    """Every pod of the cluster in the hour, with its namespace's labels and its PodMetrics."""
    yield from kubernetes.pod_snapshot(window.start, window.end)
