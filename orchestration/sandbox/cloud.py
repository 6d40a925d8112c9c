"""Northwind Labs' cloud estate and what it costs each day, for the fake cloud billing APIs.

The company runs on three clouds and one smaller provider that exports FOCUS files:

- AWS: a payer account with linked accounts per workload (the checkout assistant in
  production, the ML features, the shared platform, a development sandbox);
- Google Cloud: projects for knowledge search and the agent lab's experiments;
- Azure: a subscription for the internal invoice reader, with a resource group per
  environment and a shared one;
- a GPU provider that bills the evaluation harness and sends FOCUS 1.2 exports.

Every fake (Cost Explorer in moto, the BigQuery export, Cost Management, the FOCUS files)
reports the same `CloudLine`s in its own vendor's shape, so a test can compare any source
with what the company spent. Most lines carry a `team` tag; some carry none, or an odd key
case (`Team`), as real estates do, so tag normalisation and `unallocated` have work to do.
Amounts are drawn from `random.Random` seeded by provider and day: the same day always
costs the same.
"""

import random
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from orchestration.sandbox.company import DEVELOPMENT, PRODUCTION, Company

AWS, GCP, AZURE, GPU_CLOUD = "aws", "gcp", "azure", "gpu_cloud"
PROVIDERS = (AWS, GCP, AZURE, GPU_CLOUD)

CENT = Decimal("0.000001")


@dataclass(frozen=True)
class CloudAccount:
    """An AWS linked account, a GCP project, an Azure resource group or a GPU tenancy."""

    provider: str
    id: str
    name: str
    billing_account_id: str
    billing_account_name: str
    team: str
    environment: str
    project: str | None = None  # None: shared (platform) spend
    parent_id: str | None = None  # Azure: the subscription holding the resource group


@dataclass(frozen=True)
class CloudService:
    name: str
    usage_type: str
    sku: str
    unit: str
    unit_price: Decimal  # list price per unit
    daily_units: int  # typical units per day
    region: str


@dataclass(frozen=True)
class CloudLine:
    """What one account spent on one service (usage type, region) on one UTC day."""

    provider: str
    account: CloudAccount
    service: CloudService
    day: date
    usage_quantity: Decimal
    list_cost: Decimal  # list price times quantity
    cost: Decimal  # what is billed before credits (the negotiated price)
    credits: Decimal  # zero or negative; net cost is cost + credits
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def net_cost(self) -> Decimal:
        return self.cost + self.credits


_AWS_PAYER = ("123456789012", "Northwind Labs")
_GCP_BILLING = ("01A2B3-C4D5E6-F7A8B9", "Northwind Labs billing")
_AZURE_BILLING = ("8a1f3c52-7b0e-4d6a-9c1e-2f4b5a6d7e80", "Northwind Labs EA")
_GPU_BILLING = ("nwl-tenancy-01", "Northwind Labs GPU tenancy")

_ACCOUNTS = (
    CloudAccount(AWS, "210987654321", "checkout-prod", *_AWS_PAYER, "checkout", PRODUCTION,
                 "checkout-assistant"),
    CloudAccount(AWS, "310987654321", "ml-prod", *_AWS_PAYER, "ml", PRODUCTION,
                 "support-copilot"),
    CloudAccount(AWS, "410987654321", "platform-shared", *_AWS_PAYER, "platform", PRODUCTION),
    CloudAccount(AWS, "510987654321", "dev-sandbox", *_AWS_PAYER, "platform", DEVELOPMENT),
    CloudAccount(GCP, "nwl-search-prod", "Knowledge Search (prod)", *_GCP_BILLING, "ml",
                 PRODUCTION, "knowledge-search"),
    CloudAccount(GCP, "nwl-agent-lab", "Agent Lab", *_GCP_BILLING, "ml", DEVELOPMENT,
                 "agent-lab"),
    CloudAccount(AZURE, "rg-invoice-reader-prod", "rg-invoice-reader-prod", *_AZURE_BILLING,
                 "platform", PRODUCTION, "invoice-reader",
                 parent_id="6f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e"),
    CloudAccount(AZURE, "rg-invoice-reader-dev", "rg-invoice-reader-dev", *_AZURE_BILLING,
                 "platform", DEVELOPMENT, "invoice-reader",
                 parent_id="6f1c2d3e-4a5b-4c6d-8e7f-901a2b3c4d5e"),
    CloudAccount(GPU_CLOUD, "eval-harness", "eval-harness", *_GPU_BILLING, "platform",
                 DEVELOPMENT, "eval-harness"),
)  # fmt: skip

_SERVICES = {
    AWS: (
        CloudService("Amazon Elastic Compute Cloud - Compute", "USE1-BoxUsage:m6i.xlarge",
                     "m6i.xlarge", "Hrs", Decimal("0.192"), 96, "us-east-1"),
        CloudService("Amazon Relational Database Service", "USE1-InstanceUsage:db.r6g.large",
                     "db.r6g.large", "Hrs", Decimal("0.225"), 48, "us-east-1"),
        CloudService("Amazon Simple Storage Service", "USE1-TimedStorage-ByteHrs",
                     "TimedStorage", "GB-Mo", Decimal("0.023"), 900, "us-east-1"),
        CloudService("Amazon Bedrock", "USE1-Claude-InputTokens", "claude-input",
                     "1K tokens", Decimal("0.003"), 4000, "us-east-1"),
    ),
    GCP: (
        CloudService("Compute Engine", "N2 Instance Core running in Americas", "CP-N2-CORE",
                     "hour", Decimal("0.031611"), 960, "us-central1"),
        CloudService("Cloud Storage", "Standard Storage US Multi-region", "E5F0-6A5B-7D0D",
                     "gibibyte month", Decimal("0.026"), 1200, "us"),
        CloudService("Vertex AI", "Gemini 2.5 Flash input tokens", "VTX-GEM-IN", "count",
                     Decimal("0.0000003"), 9000000, "us-central1"),
    ),
    AZURE: (
        CloudService("Virtual Machines", "D4s v5", "DZH318Z0BQ4L", "1 Hour", Decimal("0.192"),
                     48, "eastus"),
        CloudService("Storage", "Hot LRS Data Stored", "DZH318Z0BNVX", "1 GB/Month",
                     Decimal("0.0184"), 600, "eastus"),
        CloudService("Azure OpenAI Service", "gpt-4o-mini Input Tokens", "DZH318Z0C1TK",
                     "1K", Decimal("0.000165"), 30000, "eastus"),
    ),
    GPU_CLOUD: (
        CloudService("GPU Compute", "H100 GPU hour", "gpu-h100", "Hours", Decimal("2.49"), 20,
                     "us-east"),
        CloudService("Block Storage", "NVMe block storage", "nvme-block", "GB-Month",
                     Decimal("0.0035"), 2000, "us-east"),
    ),
}  # fmt: skip

# The negotiated price as a share of list: a private pricing agreement on AWS, an
# enterprise agreement on Azure; the others bill at list.
_DISCOUNT = {
    AWS: Decimal("0.92"),
    GCP: Decimal("1"),
    AZURE: Decimal("0.95"),
    GPU_CLOUD: Decimal("1"),
}


def cloud_accounts(company: Company, provider: str | None = None) -> tuple[CloudAccount, ...]:
    """The estate's accounts, of one provider or all, in a fixed order."""
    del company  # the estate is the same for every seed; the argument keeps call sites uniform
    return tuple(a for a in _ACCOUNTS if provider is None or a.provider == provider)


def cloud_services(provider: str) -> tuple[CloudService, ...]:
    return _SERVICES[provider]


def _tags(rng: random.Random, account: CloudAccount) -> dict[str, str]:
    draw = rng.random()
    if draw < 0.12:
        return {}  # untagged: lands as unallocated unless the account is mapped
    key = "Team" if draw < 0.2 else "team"
    tags = {key: account.team, "env": "prod" if account.environment == PRODUCTION else "dev"}
    if account.project:
        tags["project"] = account.project
    return tags


def cloud_costs_for_day(company: Company, provider: str, day: date) -> list[CloudLine]:
    """Every line one provider bills for `day`, in a fixed order."""
    rng = random.Random(f"{provider}:{day.isoformat()}")
    weekend = day.weekday() >= 5
    lines = []
    for account in cloud_accounts(company, provider):
        for service in _SERVICES[provider]:
            scale = Decimal(str(round(rng.uniform(0.7, 1.3) * (0.6 if weekend else 1.0), 4)))
            if account.environment == DEVELOPMENT:
                scale *= Decimal("0.3")
            quantity = (Decimal(service.daily_units) * scale).quantize(Decimal("0.0001"))
            list_cost = (quantity * service.unit_price).quantize(CENT, ROUND_HALF_UP)
            cost = (list_cost * _DISCOUNT[provider]).quantize(CENT, ROUND_HALF_UP)
            credits = Decimal(0)
            if provider == GCP and account.environment == DEVELOPMENT:
                # Research credits cover half of the agent lab's spend.
                credits = -(cost / 2).quantize(CENT, ROUND_HALF_UP)
            lines.append(
                CloudLine(
                    provider=provider,
                    account=account,
                    service=service,
                    day=day,
                    usage_quantity=quantity,
                    list_cost=list_cost,
                    cost=cost,
                    credits=credits,
                    tags=_tags(rng, account),
                )
            )
    return lines
