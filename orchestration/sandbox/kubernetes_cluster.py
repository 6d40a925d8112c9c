"""Northwind Labs' Kubernetes cluster, hour by hour, for the fake Kubernetes API.

One EKS cluster, `nwl-prod`, in us-east-1: a system node group (t3.large, no price configured,
so charged the default per-resource rates), a general one (m6i.xlarge) and a GPU one
(g5.xlarge, one NVIDIA GPU each). Each project of the company has its namespace, labelled with
its team, project and environment, running the project's services; the platform runs
`kube-system` and `monitoring` (shared by everyone) on the system nodes. The ML team's reranker
and agent-lab trainer take the GPUs, and the trainer's second replica stays Pending for want of
one. The invoice reader's nightly Job runs 01:00-04:00 UTC and leaves its pod Succeeded; the
evaluation harness runs a Job on weekday working hours; checkout scales up on weekday working
hours; someone's debug pod (no owner, no requests) runs 10:00-12:00 UTC.

Quantities come in the forms the API sends ("250m", "1.5", "512Mi", "1536Mi", "256M", "1e9");
usage comes as metrics-server reports it (nanocores, KiB). A pod that started within the hour
has no PodMetrics yet. Identifiers come from generators seeded by the company's seed and the
workload's name, usage from ones seeded by the hour as well, so an hour always looks the same.
"""

import base64
import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from orchestration.clients.kubernetes import GPU_RESOURCE, parse_quantity
from orchestration.sandbox.company import Company

CLUSTER_NAME = "nwl-prod"
REGION = "us-east-1"
ZONES = ("us-east-1a", "us-east-1b", "us-east-1c")
SHARED_NAMESPACES = ("kube-system", "monitoring")
# The prices the sandbox's vault.yaml sets: AWS on-demand USD per hour. The system nodes'
# t3.large has none, so they are charged the default rates per vCPU- and GiB-hour.
NODE_PRICES = {"m6i.xlarge": "0.192", "g5.xlarge": "1.006"}
BUSINESS_HOURS = range(8, 20)
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what Kubernetes draws generated names from
_CREATED = datetime(2026, 10, 1, 6, 0, tzinfo=UTC)


@dataclass(frozen=True)
class NodePool:
    name: str
    instance_type: str
    count: int
    cpu: str
    memory: str
    allocatable_cpu: str
    allocatable_memory: str
    gpus: int
    max_pods: str


POOLS = (
    NodePool("system", "t3.large", 2, "2", "8041452Ki", "1930m", "7203820Ki", 0, "35"),
    NodePool("general", "m6i.xlarge", 3, "4", "15896348Ki", "3920m", "15205148Ki", 0, "58"),
    NodePool("gpu", "g5.xlarge", 2, "4", "16069980Ki", "3920m", "15378780Ki", 1, "58"),
)


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    cpu: str | None = None  # request
    memory: str | None = None
    cpu_limit: str | None = None
    memory_limit: str | None = None
    gpus: int = 0
    gpu_in_requests: bool = True  # False: only in limits, which the API then reads as the request
    load: float = 0.6  # typical CPU use as a share of the request


@dataclass(frozen=True)
class WorkloadSpec:
    namespace: str
    kind: str  # Deployment, StatefulSet, DaemonSet, Job or Pod (no owner)
    name: str
    pool: str | None  # None: a DaemonSet's pods run on every node
    containers: tuple[ContainerSpec, ...]
    replicas: int = 1
    busy_replicas: int | None = None  # replicas on weekday business hours
    hours: tuple[int, int] | None = None  # UTC hours [from, to) it runs; None: always
    weekdays_only: bool = False
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ClusterState:
    """What the API answers at one hour: namespaces, nodes, pods and their metrics."""

    hour: datetime
    namespaces: list[dict[str, Any]]
    nodes: list[dict[str, Any]]
    pods: list[dict[str, Any]]
    pod_metrics: list[dict[str, Any]]

    @property
    def resource_version(self) -> str:
        return str(int(self.hour.timestamp()) // 60)


def _platform_workloads() -> tuple[WorkloadSpec, ...]:
    return (
        WorkloadSpec("kube-system", "DaemonSet", "kube-proxy", None,
                     (ContainerSpec("kube-proxy", "100m", load=0.2),)),
        WorkloadSpec("kube-system", "DaemonSet", "aws-node", None,
                     (ContainerSpec("aws-node", "25m", "128974848", load=0.8),)),
        WorkloadSpec("kube-system", "Deployment", "coredns", "system",
                     (ContainerSpec("coredns", "100m", "70Mi", memory_limit="170Mi", load=0.3),),
                     replicas=2),
        WorkloadSpec("monitoring", "DaemonSet", "node-exporter", None,
                     (ContainerSpec("node-exporter", "50m", "64Mi", load=0.4),)),
        WorkloadSpec("monitoring", "StatefulSet", "prometheus", "system",
                     (ContainerSpec("prometheus", "500m", "2Gi", memory_limit="4Gi", load=0.9),)),
        WorkloadSpec("monitoring", "Deployment", "grafana", "system",
                     (ContainerSpec("grafana", "100m", "256Mi", load=0.3),)),
        WorkloadSpec("default", "Pod", "debug-shell", "general",
                     (ContainerSpec("shell", load=0.0),), hours=(10, 12)),
    )  # fmt: skip


def _project_workloads(slug: str) -> tuple[WorkloadSpec, ...]:
    """The services a project runs, by project slug (the company's projects are fixed)."""
    app = {"app.kubernetes.io/part-of": slug}
    return {
        "checkout-assistant": (
            WorkloadSpec(slug, "Deployment", "checkout-api", "general",
                         (ContainerSpec("api", "500m", "1Gi", "1", "2Gi", load=0.7),
                          ContainerSpec("log-shipper", "50m", "64Mi", load=0.3)),
                         replicas=2, busy_replicas=3, labels={**app, "team": "checkout"}),
            WorkloadSpec(slug, "Deployment", "checkout-web", "general",
                         (ContainerSpec("web", "250m", "512Mi", load=0.5),),
                         replicas=2, labels=app),
        ),
        "support-copilot": (
            WorkloadSpec(slug, "Deployment", "support-copilot", "general",
                         (ContainerSpec("copilot", "1.5", "2Gi", load=0.35),), replicas=2,
                         labels=app),
            WorkloadSpec(slug, "Deployment", "embedding-worker", "general",
                         # Asks for a quarter core and always uses more: charged its use.
                         (ContainerSpec("worker", "250m", "3Gi", load=4.0),), labels=app),
        ),
        "knowledge-search": (
            WorkloadSpec(slug, "Deployment", "search-service", "general",
                         (ContainerSpec("search", "500m", "1536Mi", load=0.6),), replicas=2,
                         labels=app),
            WorkloadSpec(slug, "Deployment", "reranker", "gpu",
                         (ContainerSpec("reranker", "2", "8Gi", gpus=1, gpu_in_requests=False,
                                        load=0.4),), labels=app),
        ),
        "invoice-reader": (
            WorkloadSpec(slug, "Deployment", "invoice-reader", "general",
                         (ContainerSpec("reader", "250m", "256M", load=0.3),), labels=app),
            WorkloadSpec(slug, "Job", "invoice-reader-nightly", "general",
                         (ContainerSpec("batch", "1", "1e9", load=1.2),), hours=(1, 4),
                         labels=app),
        ),
        "agent-lab": (
            WorkloadSpec(slug, "StatefulSet", "trainer", "gpu",
                         (ContainerSpec("trainer", "3", "12Gi", gpus=1, load=0.8),), replicas=2,
                         labels={**app, "team": "ml"}),
        ),
        "eval-harness": (
            WorkloadSpec(slug, "Job", "eval-run", "general",
                         (ContainerSpec("eval", "1", "4Gi", load=0.9),), hours=(9, 17),
                         weekdays_only=True, labels=app),
        ),
    }.get(slug, ())  # fmt: skip


def workloads(company: Company) -> tuple[WorkloadSpec, ...]:
    """Every workload of the cluster: the platform's, then each project's, in a fixed order."""
    project_workloads = tuple(w for p in company.projects for w in _project_workloads(p.slug))
    return _platform_workloads() + project_workloads


def _generated(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(_NAME_ALPHABET) for _ in range(length))


def _uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def namespaces(company: Company) -> list[dict[str, Any]]:
    """The cluster's namespaces, labelled with the team and project they belong to."""
    rng = random.Random(f"{company.seed}:kubernetes:namespaces")
    labelled: list[tuple[str, dict[str, str]]] = [
        ("default", {}),
        ("kube-system", {"team": "platform"}),
        ("monitoring", {"team": "platform"}),
    ]
    for project in company.projects:
        environment = "development" if project.kind == "research" else "production"
        labelled.append(
            (
                project.slug,
                {"team": project.team, "project": project.slug, "environment": environment},
            )
        )
    return [
        {
            "metadata": {
                "name": name,
                "uid": _uid(rng),
                "resourceVersion": str(1000 + index),
                "creationTimestamp": _iso(_CREATED),
                "labels": {"kubernetes.io/metadata.name": name, **labels},
            },
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Active"},
        }
        for index, (name, labels) in enumerate(sorted(labelled))
    ]


def nodes(company: Company) -> list[dict[str, Any]]:
    """The cluster's nodes, in name order, as `GET /api/v1/nodes` lists them."""
    rng = random.Random(f"{company.seed}:kubernetes:nodes")
    listed = []
    for pool in POOLS:
        for index in range(pool.count):
            zone = ZONES[index % len(ZONES)]
            address = (
                f"10.0.{32 * (ZONES.index(zone) + 1) + rng.randrange(16)}.{rng.randrange(2, 250)}"
            )
            name = f"ip-{address.replace('.', '-')}.ec2.internal"
            instance_id = "i-0" + "".join(rng.choice("0123456789abcdef") for _ in range(16))
            capacity = {
                "cpu": pool.cpu,
                "ephemeral-storage": "83873772Ki",
                "hugepages-1Gi": "0",
                "hugepages-2Mi": "0",
                "memory": pool.memory,
                "pods": pool.max_pods,
            }
            allocatable = {
                **capacity,
                "cpu": pool.allocatable_cpu,
                "ephemeral-storage": "76224326324",
                "memory": pool.allocatable_memory,
            }
            labels = {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/instance-type": pool.instance_type,
                "beta.kubernetes.io/os": "linux",
                "eks.amazonaws.com/capacityType": "ON_DEMAND",
                "eks.amazonaws.com/nodegroup": pool.name,
                "failure-domain.beta.kubernetes.io/region": REGION,
                "failure-domain.beta.kubernetes.io/zone": zone,
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": pool.instance_type,
                "topology.kubernetes.io/region": REGION,
                "topology.kubernetes.io/zone": zone,
            }
            spec: dict[str, Any] = {"providerID": f"aws:///{zone}/{instance_id}"}
            if pool.gpus:
                capacity[GPU_RESOURCE] = allocatable[GPU_RESOURCE] = str(pool.gpus)
                labels["nvidia.com/gpu.present"] = "true"
                spec["taints"] = [{"key": GPU_RESOURCE, "value": "true", "effect": "NoSchedule"}]
            listed.append(
                {
                    "metadata": {
                        "name": name,
                        "uid": _uid(rng),
                        "resourceVersion": str(2000 + len(listed)),
                        "creationTimestamp": _iso(_CREATED),
                        "labels": labels,
                        "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
                    },
                    "spec": spec,
                    "status": {
                        "capacity": capacity,
                        "allocatable": allocatable,
                        "conditions": [
                            {
                                "type": "Ready",
                                "status": "True",
                                "reason": "KubeletReady",
                                "message": "kubelet is posting ready status",
                                "lastHeartbeatTime": _iso(_CREATED),
                                "lastTransitionTime": _iso(_CREATED),
                            }
                        ],
                        "addresses": [
                            {"type": "InternalIP", "address": address},
                            {"type": "Hostname", "address": name},
                        ],
                        "nodeInfo": {
                            "architecture": "amd64",
                            "containerRuntimeVersion": "containerd://1.7.27",
                            "kernelVersion": "6.1.141-155.222.amzn2023.x86_64",
                            "kubeletVersion": "v1.33.1-eks-b9364f6",
                            "operatingSystem": "linux",
                            "osImage": "Amazon Linux 2023.7.20250623",
                        },
                    },
                }
            )
    return sorted(listed, key=lambda node: node["metadata"]["name"])


def _pool_of(node: dict[str, Any]) -> str:
    return node["metadata"]["labels"]["eks.amazonaws.com/nodegroup"]


@dataclass
class _Placement:
    """What the scheduler has placed on one node so far."""

    node: dict[str, Any]
    cpu: Decimal = Decimal(0)
    memory: Decimal = Decimal(0)
    gpus: Decimal = Decimal(0)

    def fits(self, cpu: Decimal, memory: Decimal, gpus: Decimal) -> bool:
        allocatable = self.node["status"]["allocatable"]
        return (
            self.cpu + cpu <= parse_quantity(allocatable["cpu"])
            and self.memory + memory <= parse_quantity(allocatable["memory"])
            and self.gpus + gpus <= parse_quantity(allocatable.get(GPU_RESOURCE, "0"))
        )

    def take(self, cpu: Decimal, memory: Decimal, gpus: Decimal) -> None:
        self.cpu += cpu
        self.memory += memory
        self.gpus += gpus


def _requests(spec: WorkloadSpec) -> tuple[Decimal, Decimal, Decimal]:
    cpu = sum((parse_quantity(c.cpu) for c in spec.containers if c.cpu), Decimal(0))
    memory = sum((parse_quantity(c.memory) for c in spec.containers if c.memory), Decimal(0))
    return cpu, memory, Decimal(sum(c.gpus for c in spec.containers))


def _resources(container: ContainerSpec) -> dict[str, dict[str, str]]:
    requests = {k: v for k, v in (("cpu", container.cpu), ("memory", container.memory)) if v}
    limits = {
        k: v for k, v in (("cpu", container.cpu_limit), ("memory", container.memory_limit)) if v
    }
    if container.gpus:
        limits[GPU_RESOURCE] = str(container.gpus)
        if container.gpu_in_requests:
            requests[GPU_RESOURCE] = str(container.gpus)
    resources: dict[str, dict[str, str]] = {}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    return resources


def _qos_class(spec: WorkloadSpec) -> str:
    if not any(c.cpu or c.memory for c in spec.containers):
        return "BestEffort"
    guaranteed = all(
        c.cpu and c.memory and c.cpu == c.cpu_limit and c.memory == c.memory_limit
        for c in spec.containers
    )
    return "Guaranteed" if guaranteed else "Burstable"


def _is_busy(hour: datetime) -> bool:
    return hour.weekday() < 5 and hour.hour in BUSINESS_HOURS


@dataclass(frozen=True)
class _Pod:
    spec: WorkloadSpec
    name: str
    uid: str
    labels: dict[str, str]
    owner: dict[str, Any] | None
    started: datetime
    phase: str


def _pods_of(
    spec: WorkloadSpec, hour: datetime, company: Company, node_names: list[str]
) -> list[_Pod]:
    """The pods a workload has at `hour`: running ones, and a Job's that already finished."""
    day = hour.replace(hour=0)
    if spec.weekdays_only and hour.weekday() >= 5:
        return []
    phase = "Running"
    if spec.hours is not None:
        first, last = spec.hours
        if hour.hour < first or (hour.hour >= last and spec.kind != "Job"):
            return []
        if hour.hour >= last:
            phase = "Succeeded"
    rng = random.Random(f"{company.seed}:kubernetes:{spec.namespace}/{spec.name}")
    owner_uid = _uid(rng)
    labels = {"app": spec.name, "app.kubernetes.io/name": spec.name, **spec.labels}
    created = _CREATED + timedelta(minutes=rng.randrange(600))
    pods: list[_Pod] = []
    if spec.kind == "Deployment":
        template_hash = _generated(rng, 10)
        owner = {
            "kind": "ReplicaSet",
            "name": f"{spec.name}-{template_hash}",
            "apiVersion": "apps/v1",
        }
        replicas = spec.busy_replicas if spec.busy_replicas and _is_busy(hour) else spec.replicas
        for index in range(replicas):
            started = day.replace(hour=BUSINESS_HOURS[0]) if index >= spec.replicas else created
            pods.append(
                _Pod(spec, f"{owner['name']}-{_generated(rng, 5)}", _uid(rng),
                     {**labels, "pod-template-hash": template_hash}, {**owner, "uid": owner_uid},
                     started, phase)
            )  # fmt: skip
    elif spec.kind == "StatefulSet":
        revision = f"{spec.name}-{_generated(rng, 10)}"
        owner = {
            "kind": "StatefulSet",
            "name": spec.name,
            "apiVersion": "apps/v1",
            "uid": owner_uid,
        }
        for index in range(spec.replicas):
            name = f"{spec.name}-{index}"
            pod_labels = {
                **labels,
                "controller-revision-hash": revision,
                "statefulset.kubernetes.io/pod-name": name,
                "apps.kubernetes.io/pod-index": str(index),
            }
            pods.append(_Pod(spec, name, _uid(rng), pod_labels, owner, created, phase))
    elif spec.kind == "DaemonSet":
        revision = _generated(rng, 10)
        owner = {"kind": "DaemonSet", "name": spec.name, "apiVersion": "apps/v1", "uid": owner_uid}
        for node_name in node_names:
            pod_labels = {
                **labels,
                "controller-revision-hash": revision,
                "pod-template-generation": "1",
            }
            node_rng = random.Random(f"{company.seed}:kubernetes:{spec.name}:{node_name}")
            pods.append(
                _Pod(spec, f"{spec.name}-{_generated(node_rng, 5)}", _uid(node_rng), pod_labels,
                     owner, created, phase)
            )  # fmt: skip
    elif spec.kind == "Job":
        job = f"{spec.name}-{day.strftime('%Y%m%d')}"
        job_rng = random.Random(f"{company.seed}:kubernetes:{spec.namespace}/{job}")
        job_uid = _uid(job_rng)
        owner = {"kind": "Job", "name": job, "apiVersion": "batch/v1", "uid": job_uid}
        pod_labels = {
            **labels,
            "batch.kubernetes.io/controller-uid": job_uid,
            "batch.kubernetes.io/job-name": job,
            "controller-uid": job_uid,
            "job-name": job,
        }
        started = day.replace(hour=spec.hours[0] if spec.hours else 0)
        pods.append(
            _Pod(spec, f"{job}-{_generated(job_rng, 5)}", _uid(job_rng), pod_labels, owner,
                 started, phase)
        )  # fmt: skip
    else:
        started = day.replace(hour=spec.hours[0] if spec.hours else 0)
        pods.append(_Pod(spec, spec.name, _uid(rng), {"run": spec.name}, None, started, phase))
    return pods


def cluster_state(company: Company, hour: datetime) -> ClusterState:
    """The cluster as the API shows it at `hour` (truncated to the hour, UTC)."""
    hour = hour.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    node_list = nodes(company)
    placements = {node["metadata"]["name"]: _Placement(node) for node in node_list}
    pods: list[dict[str, Any]] = []
    metrics: list[dict[str, Any]] = []
    specs = sorted(workloads(company), key=lambda w: w.kind != "DaemonSet")  # DaemonSets first
    for spec in specs:
        pool_nodes = sorted(
            (n for n in node_list if spec.pool is None or _pool_of(n) == spec.pool),
            key=lambda n: n["metadata"]["name"],
        )
        if spec.pool is None:
            pool_nodes = [n for n in pool_nodes if _pool_of(n) != "gpu"] + [
                n for n in pool_nodes if _pool_of(n) == "gpu"
            ]
        names = [n["metadata"]["name"] for n in pool_nodes]
        cpu, memory, gpus = _requests(spec)
        for index, pod in enumerate(_pods_of(spec, hour, company, names)):
            if spec.kind == "DaemonSet":
                node_name: str | None = names[index]
            else:
                fitting = [p for p in (placements[n] for n in names) if p.fits(cpu, memory, gpus)]
                chosen = min(
                    fitting, key=lambda p: (p.cpu, p.node["metadata"]["name"]), default=None
                )
                node_name = chosen.node["metadata"]["name"] if chosen else None
            phase = pod.phase if node_name else "Pending"
            if node_name and phase == "Running":
                placements[node_name].take(cpu, memory, gpus)
            pods.append(_pod_object(pod, node_name, phase, hour))
            if phase == "Running" and pod.started <= hour - timedelta(minutes=1):
                metrics.append(_pod_metrics(company, pod, hour))
    pods.sort(key=lambda p: (p["metadata"]["namespace"], p["metadata"]["name"]))
    metrics.sort(key=lambda m: (m["metadata"]["namespace"], m["metadata"]["name"]))
    return ClusterState(hour, namespaces(company), node_list, pods, metrics)


def _pod_object(pod: _Pod, node_name: str | None, phase: str, hour: datetime) -> dict[str, Any]:
    spec = pod.spec
    metadata: dict[str, Any] = {
        "name": pod.name,
        "namespace": spec.namespace,
        "uid": pod.uid,
        "resourceVersion": str(int(hour.timestamp()) // 60),
        "creationTimestamp": _iso(pod.started),
        "labels": pod.labels,
        "managedFields": [
            {
                "manager": "kube-controller-manager" if pod.owner else "kubectl-run",
                "operation": "Update",
                "apiVersion": "v1",
                "time": _iso(pod.started),
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {f"f:{k}": {} for k in pod.labels}}},
            }
        ],
    }
    if pod.owner:
        metadata["generateName"] = pod.name.rsplit("-", 1)[0] + "-"
        metadata["ownerReferences"] = [
            {**pod.owner, "controller": True, "blockOwnerDeletion": True}
        ]
    body: dict[str, Any] = {
        "containers": [
            {
                "name": c.name,
                "image": f"123456789012.dkr.ecr.{REGION}.amazonaws.com/{spec.name}:2026.11",
                "resources": _resources(c),
                "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent",
            }
            for c in spec.containers
        ],
        "restartPolicy": "Never" if spec.kind in ("Job", "Pod") else "Always",
        "schedulerName": "default-scheduler",
        "serviceAccountName": "default",
        "terminationGracePeriodSeconds": 30,
    }
    if any(c.gpus for c in spec.containers):
        body["tolerations"] = [{"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}]
    status: dict[str, Any] = {"phase": phase, "qosClass": _qos_class(spec)}
    if node_name:
        body["nodeName"] = node_name
        status["startTime"] = _iso(pod.started)
        status["hostIP"] = node_name[3:].split(".", 1)[0].replace("-", ".")
    else:
        status["conditions"] = [
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": "0/7 nodes are available: 7 Insufficient nvidia.com/gpu.",
                "lastTransitionTime": _iso(pod.started),
            }
        ]
    return {"metadata": metadata, "spec": body, "status": status}


def _pod_metrics(company: Company, pod: _Pod, hour: datetime) -> dict[str, Any]:
    """The pod's PodMetrics at `hour`: CPU in nanocores and memory in KiB, as metrics-server says."""
    containers = []
    for container in pod.spec.containers:
        rng = random.Random(
            f"{company.seed}:kubernetes:{hour.isoformat()}:{pod.name}/{container.name}"
        )
        cpu_request = parse_quantity(container.cpu) if container.cpu else Decimal("0.02")
        busy = 1.3 if _is_busy(hour) else 0.7
        cpu_share = container.load * busy * rng.uniform(0.5, 1.8)
        memory_request = (
            parse_quantity(container.memory) if container.memory else Decimal(48 * 2**20)
        )
        memory_share = rng.uniform(0.55, 1.35)
        nanocores = int(cpu_request * Decimal(str(round(cpu_share, 4))) * 10**9)
        kib = int(memory_request * Decimal(str(round(memory_share, 4))) / 1024)
        containers.append(
            {"name": container.name, "usage": {"cpu": f"{nanocores}n", "memory": f"{kib}Ki"}}
        )
    return {
        "metadata": {
            "name": pod.name,
            "namespace": pod.spec.namespace,
            "creationTimestamp": _iso(hour + timedelta(minutes=5)),
            "labels": pod.labels,
        },
        "timestamp": _iso(hour + timedelta(minutes=4, seconds=48)),
        "window": "15.012s",
        "containers": containers,
    }


def continue_token(offset: int, resource_version: str) -> str:
    """An opaque continue token, as the API server hands them out (base64 of its position)."""
    return base64.urlsafe_b64encode(
        f'{{"rv":{resource_version},"start":{offset}}}'.encode()
    ).decode()


def token_offset(token: str, resource_version: str) -> int | None:
    """The position a continue token of this list points at, or None if it is not one."""
    try:
        decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
    except ValueError:
        return None
    if not isinstance(decoded, dict) or str(decoded.get("rv")) != resource_version:
        return None
    start = decoded.get("start")
    return start if isinstance(start, int) and start >= 0 else None
