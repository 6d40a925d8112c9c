"""FOCUS 1.2 export files of the sandbox's GPU provider, Halyard GPU Cloud, one file per day.

Halyard bills Northwind Labs' GPU tenancy (`cloud.py`'s provider `gpu_cloud`) and, like a small
provider that adopted FOCUS natively, drops one export file per UTC day into a folder. Each row
is one `CloudLine` (a credit, if a line had one, is a row of its own), with all 21 mandatory
columns and most conditional ones filled, the line's tags as the `Tags` JSON object, one
custom column (`x_UsageType`) and one column of the provider's own that is not FOCUS at all
(`ClusterName`), as real exports have. The first day of a window is written as Parquet, the
others as CSV, so a demo reads both formats.

Halyard bills at list price: ContractedCost and EffectiveCost equal BilledCost, and the
contracted unit price is the list unit price.
"""

import csv
import json
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from orchestration.sandbox.cloud import GPU_CLOUD, CloudLine, cloud_accounts, cloud_costs_for_day
from orchestration.sandbox.company import Company

PROVIDER = "Halyard GPU Cloud"
FOLDER = "halyard"

# FOCUS 1.2's columns in the specification's order, then the custom and the extra column.
COLUMNS = (
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingAccountType",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "CapacityReservationId",
    "CapacityReservationStatus",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountQuantity",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "CommitmentDiscountUnit",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceId",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingCurrency",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "ServiceSubcategory",
    "SkuId",
    "SkuMeter",
    "SkuPriceDetails",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "SubAccountType",
    "Tags",
    "x_UsageType",
    "ClusterName",
)
AMOUNT_COLUMNS = (
    "BilledCost",
    "ConsumedQuantity",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "ListCost",
    "ListUnitPrice",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice",
    "PricingQuantity",
)
PERIOD_COLUMNS = ("BillingPeriodEnd", "BillingPeriodStart", "ChargePeriodEnd", "ChargePeriodStart")

_CATEGORIES = {
    "GPU Compute": ("Compute", "Virtual Machines", "GPU Instance"),
    "Block Storage": ("Storage", "Block Storage", "Block Volume"),
}
_REGION_NAMES = {"us-east": "US East"}


def _iso(moment: date) -> str:
    return f"{moment.isoformat()}T00:00:00Z"


def _month(day: date) -> tuple[date, date]:
    start = day.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1)
    return start, end


def focus_rows(line: CloudLine) -> list[dict[str, str]]:
    """The FOCUS rows of one line: its usage, and its credit when it has one."""
    account, service = line.account, line.service
    category, subcategory, resource_type = _CATEGORIES[service.name]
    period_start, period_end = _month(line.day)
    usage = {
        "AvailabilityZone": "",
        "BilledCost": str(line.cost),
        "BillingAccountId": account.billing_account_id,
        "BillingAccountName": account.billing_account_name,
        "BillingAccountType": "Tenancy",
        "BillingCurrency": "USD",
        "BillingPeriodEnd": _iso(period_end),
        "BillingPeriodStart": _iso(period_start),
        "CapacityReservationId": "",
        "CapacityReservationStatus": "",
        "ChargeCategory": "Usage",
        "ChargeClass": "",
        "ChargeDescription": f"{service.usage_type} in {service.region}",
        "ChargeFrequency": "Usage-Based",
        "ChargePeriodEnd": _iso(line.day + timedelta(days=1)),
        "ChargePeriodStart": _iso(line.day),
        "CommitmentDiscountCategory": "",
        "CommitmentDiscountId": "",
        "CommitmentDiscountName": "",
        "CommitmentDiscountQuantity": "",
        "CommitmentDiscountStatus": "",
        "CommitmentDiscountType": "",
        "CommitmentDiscountUnit": "",
        "ConsumedQuantity": str(line.usage_quantity),
        "ConsumedUnit": service.unit,
        "ContractedCost": str(line.cost),
        "ContractedUnitPrice": str(service.unit_price),
        "EffectiveCost": str(line.cost),
        "InvoiceId": f"HGC-{period_start:%Y%m}-{account.billing_account_id}",
        "InvoiceIssuerName": PROVIDER,
        "ListCost": str(line.list_cost),
        "ListUnitPrice": str(service.unit_price),
        "PricingCategory": "Standard",
        "PricingCurrency": "USD",
        "PricingCurrencyContractedUnitPrice": str(service.unit_price),
        "PricingCurrencyEffectiveCost": str(line.cost),
        "PricingCurrencyListUnitPrice": str(service.unit_price),
        "PricingQuantity": str(line.usage_quantity),
        "PricingUnit": service.unit,
        "ProviderName": PROVIDER,
        "PublisherName": PROVIDER,
        "RegionId": service.region,
        "RegionName": _REGION_NAMES.get(service.region, service.region),
        "ResourceId": f"hgc://{account.billing_account_id}/{account.id}/{service.sku}",
        "ResourceName": f"{account.name}-{service.sku}",
        "ResourceType": resource_type,
        "ServiceCategory": category,
        "ServiceName": service.name,
        "ServiceSubcategory": subcategory,
        "SkuId": service.sku,
        "SkuMeter": service.usage_type,
        "SkuPriceDetails": json.dumps({"x_PriceModel": "on-demand"}),
        "SkuPriceId": f"{service.sku}-{service.region}-on-demand",
        "SubAccountId": account.id,
        "SubAccountName": account.name,
        "SubAccountType": "Project",
        "Tags": json.dumps(line.tags, sort_keys=True) if line.tags else "",
        "x_UsageType": service.usage_type,
        "ClusterName": f"{account.id}-{service.region}-1",
    }
    rows = [usage]
    if line.credits:
        credit = dict.fromkeys(COLUMNS, "")
        for key in (*(k for k in usage if k.startswith(("Billing", "SubAccount"))), "Tags"):
            credit[key] = usage[key]
        credit.update(
            {
                "BilledCost": str(line.credits),
                "ChargeCategory": "Credit",
                "ChargeDescription": f"Credit on {service.usage_type}",
                "ChargeFrequency": "One-Time",
                "ChargePeriodEnd": usage["ChargePeriodEnd"],
                "ChargePeriodStart": usage["ChargePeriodStart"],
                "ContractedCost": "0",
                "EffectiveCost": str(line.credits),
                "InvoiceId": usage["InvoiceId"],
                "InvoiceIssuerName": PROVIDER,
                "ListCost": "0",
                "ProviderName": PROVIDER,
                "PublisherName": PROVIDER,
                "ServiceCategory": category,
                "ServiceName": service.name,
            }
        )
        rows.append(credit)
    return rows


def rows_for_day(company: Company, day: date) -> list[dict[str, str]]:
    """Every FOCUS row Halyard exports for `day`, in a fixed order."""
    return [
        row for line in cloud_costs_for_day(company, GPU_CLOUD, day) for row in focus_rows(line)
    ]


def billed_cost_for_day(company: Company, day: date) -> Decimal:
    """What the day's export bills in total (the sum of its BilledCost)."""
    return sum((Decimal(row["BilledCost"]) for row in rows_for_day(company, day)), Decimal(0))


def export_path(folder: Path, day: date, *, parquet: bool = False) -> Path:
    suffix = "parquet" if parquet else "csv"
    return folder / FOLDER / f"{day:%Y-%m}" / f"halyard-focus-{day.isoformat()}.{suffix}"


def write_csv(rows: list[dict[str, str]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_parquet(rows: list[dict[str, str]], path: Path) -> Path:
    """The rows as Parquet the way exporters type them: decimals, UTC timestamps, a tag map."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays, fields = [], []
    for name in COLUMNS:
        values = [row[name] or None for row in rows]
        if name in AMOUNT_COLUMNS:
            kind = pa.decimal128(24, 10)
            array = pa.array([None if v is None else Decimal(v) for v in values], kind)
        elif name in PERIOD_COLUMNS:
            kind = pa.timestamp("us", tz="UTC")
            parsed = [None if v is None else datetime.fromisoformat(v) for v in values]
            array = pa.array(parsed, kind)
        elif name == "Tags":
            kind = pa.map_(pa.string(), pa.string())
            array = pa.array(
                [None if v is None else list(json.loads(v).items()) for v in values], kind
            )
        else:
            kind = pa.string()
            array = pa.array(values, kind)
        arrays.append(array)
        fields.append(pa.field(name, kind))
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields, metadata={"FocusVersion": "1.2"}))
    pq.write_table(table, path)
    return path


def write_focus_exports(company: Company, folder: Path, start: date, end: date) -> list[Path]:
    """Halyard's export files for the days in [start, end); the first day's is Parquet."""
    written = []
    for offset in range((end - start).days):
        day = start + timedelta(days=offset)
        rows = rows_for_day(company, day)
        if offset == 0:
            written.append(write_parquet(rows, export_path(folder, day, parquet=True)))
        else:
            written.append(write_csv(rows, export_path(folder, day)))
    return written


def source_mapping_rows(company: Company) -> list[tuple[str, ...]]:
    """source_mappings.csv rows for Halyard's projects (key sub_account_id, as the ledger has it).

    The ledger's x_source_system for these rows is `focus`: the files' own system, whichever
    provider wrote them.
    """
    rows = []
    for account in cloud_accounts(company, GPU_CLOUD):
        team = company.team(account.team)
        project = account.project or ""
        row = ("focus", "sub_account_id", account.id, team.department, team.slug, project)
        rows.append((*row, account.environment))
    return rows
