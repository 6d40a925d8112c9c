"""Northwind Labs' running services and what they consume, for the fake monitoring systems.

Every project runs in a Kubernetes namespace named after it, one service per repository
(`checkout-assistant/checkout-api`, ...); research projects run in development, the rest in
production. The platform team also runs shared services in the `platform` namespace, whose pods
carry a `team` label (the others are attributed through their namespace, as real clusters
mostly are). Prometheus and Datadog in the sandbox report the same workloads, so both sources
can be checked against this module.

A signal's value at a moment comes from `random.Random` seeded by the signal, the service and
the UTC day (the day's level), times a daily curve (busier in the afternoon UTC), times a small
jitter seeded by the moment itself: the same instant always has the same value, however a
query's range is split.
"""

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime

from orchestration.sandbox.company import DEVELOPMENT, PRODUCTION, Company

PLATFORM_NAMESPACE = "platform"
REGIONS = {PRODUCTION: "us-east-1", DEVELOPMENT: "us-east-2"}

CPU_CORES = "cpu_cores"
MEMORY_BYTES = "memory_bytes"
REQUESTS_PER_SECOND = "requests_per_second"
LATENCY_MS = "latency_ms"
SIGNALS = (CPU_CORES, MEMORY_BYTES, REQUESTS_PER_SECOND, LATENCY_MS)

_GIB = 1024**3
# Typical level per signal for a project's service, by project kind.
_TYPICAL = {
    "feature": {CPU_CORES: 3.2, MEMORY_BYTES: 6 * _GIB, REQUESTS_PER_SECOND: 42.0, LATENCY_MS: 180},
    "internal": {CPU_CORES: 0.9, MEMORY_BYTES: 2 * _GIB, REQUESTS_PER_SECOND: 3.5, LATENCY_MS: 420},
    "research": {CPU_CORES: 1.6, MEMORY_BYTES: 8 * _GIB, REQUESTS_PER_SECOND: 0.8, LATENCY_MS: 950},
    "shared": {CPU_CORES: 1.4, MEMORY_BYTES: 3 * _GIB, REQUESTS_PER_SECOND: 120.0, LATENCY_MS: 12},
}
_SHARED_SERVICES = ("ingress-gateway", "observability")


@dataclass(frozen=True)
class Workload:
    namespace: str
    service: str
    team: str
    project: str | None  # None: shared platform services
    environment: str
    kind: str

    @property
    def region(self) -> str:
        return REGIONS[self.environment]

    @property
    def team_label(self) -> str | None:
        """The pods' own `team` label: only the platform namespace sets one."""
        return self.team if self.namespace == PLATFORM_NAMESPACE else None


def workloads(company: Company) -> tuple[Workload, ...]:
    """Every service the company runs, in namespace and service order."""
    found = [
        Workload(
            namespace=project.slug,
            service=repo,
            team=project.team,
            project=project.slug,
            environment=DEVELOPMENT if project.kind == "research" else PRODUCTION,
            kind=project.kind,
        )
        for project in company.projects
        for repo in project.repos
    ]
    found += [
        Workload(PLATFORM_NAMESPACE, service, "platform", None, PRODUCTION, "shared")
        for service in _SHARED_SERVICES
    ]
    return tuple(sorted(found, key=lambda w: (w.namespace, w.service)))


def value_at(workload: Workload, signal: str, at: float) -> float:
    """The signal's value for the workload at unix second `at` (memory in whole bytes)."""
    moment = datetime.fromtimestamp(at, UTC)
    day_rng = random.Random(f"{signal}|{workload.namespace}|{workload.service}|{moment.date()}")
    level = _TYPICAL[workload.kind][signal] * day_rng.uniform(0.75, 1.25)
    hour = moment.hour + moment.minute / 60
    curve = 1 + 0.35 * math.sin(2 * math.pi * (hour - 9) / 24)
    if signal in (MEMORY_BYTES, LATENCY_MS):
        curve = 1 + (curve - 1) / 4  # memory and latency follow load only loosely
    jitter = random.Random(f"{signal}|{workload.service}|{at}").uniform(0.97, 1.03)
    value = level * curve * jitter
    if signal == MEMORY_BYTES:
        return float(round(value))
    return round(value, 6)
