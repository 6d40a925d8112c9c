"""Google Cloud billing for the sandbox: the BigQuery billing export, the catalog, the account.

No BigQuery emulator runs here, so this module plays the REST endpoints that the real client
libraries call, as observed from google-cloud-bigquery 3.47 and google-cloud-billing's REST
transport:

- BigQuery v2 `tables.get` (GET /bigquery/v2/projects/{project}/datasets/{dataset}/tables/
  {table}), `jobs.query` (POST /bigquery/v2/projects/{project}/queries), `jobs.get` (GET
  .../jobs/{job_id}, which the client asks for when a result has more than one page) and
  `jobs.getQueryResults` (GET .../queries/{job_id}, every further page by `pageToken`). Rows
  come as BigQuery sends them: `{"f": [{"v": ...}]}` cells in the order of the result schema,
  RECORDs as nested `f` lists, REPEATED fields as lists of `{"v": ...}`, every scalar as a
  string, timestamps as int64 microseconds when the client asks (`formatOptions`). A page
  holds at most `ROWS_PER_PAGE` rows, and fewer if the client's `maxResults` says so.
- Cloud Billing v1 `services.skus.list` (GET /v1/services/{service}/skus, paged) and
  `billingAccounts.get` (GET /v1/billingAccounts/{account}).

Errors use Google's envelope, `{"error": {"code", "message", "errors": [{"reason", ...}],
"status"}}`, with BigQuery's reasons (`accessDenied`, `rateLimitExceeded`, `backendError`...).
Requests need no credentials: clients pointed at a loopback endpoint send none.

The export holds Northwind Labs' Google Cloud lines (`cloud.py`): each `CloudLine` is split into
four six-hour rows, whose amounts add up to the line's exactly. Labels are the line's tags,
project labels say the environment, and GKE's `goog-k8s-cluster-name` marks the search
cluster's compute. Rows are exported (`export_time`) three and a half hours after their block
ends, so the last block of a day arrives the next morning; the agent lab's Vertex AI rows
arrive a day later still; and one line a day, the search project's Compute Engine, is first
billed short and corrected by an `adjustment` row (a usage correction) three days later. The
export shows only the rows exported by `BillingExport.now`, so a test can look at the export
as it was on any morning. Two tables exist: the standard export (an older one, without
`cost_at_list`) and the detailed one (with `cost_at_list`, `resource` and `price`).

Queries are evaluated, not matched against canned text: the module understands the small
part of GoogleSQL the collectors write (`SELECT [DISTINCT] columns, DATE(), MAX(), MIN(),
COUNT(*) ... FROM `table` WHERE <timestamp column> <op> @param AND ... GROUP BY ... ORDER BY`),
resolves the named parameters with their types, checks every column against the table's
schema (an unknown one is BigQuery's "Unrecognized name"), and refuses anything else, a
value written into the SQL instead of bound among them.
"""

import base64
import binascii
import hashlib
import json
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from orchestration.sandbox.cloud import (
    GCP,
    CloudLine,
    cloud_accounts,
    cloud_costs_for_day,
    cloud_services,
)
from orchestration.sandbox.company import PRODUCTION, Company
from orchestration.sandbox.routing import Request, Response, Route

PROJECT = "nwl-billing"
DATASET = "billing_export"
LOCATION = "US"
BILLING_ACCOUNT = "01A2B3-C4D5E6-F7A8B9"
BILLING_ACCOUNT_NAME = "Northwind Labs billing"
_ACCOUNT_SUFFIX = BILLING_ACCOUNT.replace("-", "_")
STANDARD_TABLE = f"gcp_billing_export_v1_{_ACCOUNT_SUFFIX}"
DETAILED_TABLE = f"gcp_billing_export_resource_v1_{_ACCOUNT_SUFFIX}"
STANDARD_TABLE_ID = f"{PROJECT}.{DATASET}.{STANDARD_TABLE}"
DETAILED_TABLE_ID = f"{PROJECT}.{DATASET}.{DETAILED_TABLE}"
# The first usage day the export holds.
EXPORT_START = date(2025, 12, 1)

ROWS_PER_PAGE = 20
SKUS_PER_PAGE = 2
_BLOCK_HOURS = 6
_EXPORT_DELAY = timedelta(hours=3, minutes=30)
_LATE_DELAY = timedelta(days=2, hours=5)  # after the start of the usage day
_CORRECTION_DELAY = timedelta(days=3, hours=9, minutes=15)
_MAX_EXPORT_LAG = timedelta(days=4)  # no row is exported later than this after its day ends
_CORRECTION_SHARE = Decimal("0.04")
_NINE_PLACES = Decimal("0.000000001")
_PACIFIC = ZoneInfo("America/Los_Angeles")  # Cloud Billing's invoice months follow it
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_JOBS = 200

# Real service ids of the catalog; the sandbox's SKU ids are cloud.py's.
SERVICE_IDS = {
    "Compute Engine": "6F81-5844-456A",
    "Cloud Storage": "95FF-2EF5-5EA1",
    "Vertex AI": "C7E2-9256-1C43",
}
# Pricing unit -> (the export's usage.unit, base units per pricing unit, the catalog's code).
_UNITS = {
    "hour": ("seconds", Decimal(3600), "h", "s", "second"),
    "gibibyte month": (
        "byte-seconds",
        Decimal(2**30 * 31 * 86400),
        "GiBy.mo",
        "By.s",
        "byte-second",
    ),
    "count": ("count", Decimal(1), "count", "count", "count"),
}
_LOCATIONS = {
    "us-central1": {"location": "us-central1", "country": "US", "region": "us-central1"},
    "us": {"location": "us", "country": "US", "region": None},
}
_ORGANIZATION = ("organizations/418204775390", "northwind-labs.example")
_RESEARCH_CREDIT = {
    "name": "Research credits",
    "full_name": "Google for Startups research credits",
    "id": "promo-research-2026",
    "type": "PROMOTION",
}

# ---------- the export's schema, as tables.get answers it


def _field(
    name: str, kind: str, mode: str = "NULLABLE", fields: Sequence[dict] | None = None
) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "type": kind, "mode": mode}
    if fields is not None:
        spec["fields"] = list(fields)
    return spec


_KEY_VALUE = (_field("key", "STRING"), _field("value", "STRING"))
_ID_DESCRIPTION = (_field("id", "STRING"), _field("description", "STRING"))
STANDARD_SCHEMA: tuple[dict[str, Any], ...] = (
    _field("billing_account_id", "STRING"),
    _field("service", "RECORD", fields=_ID_DESCRIPTION),
    _field("sku", "RECORD", fields=_ID_DESCRIPTION),
    _field("usage_start_time", "TIMESTAMP"),
    _field("usage_end_time", "TIMESTAMP"),
    _field(
        "project",
        "RECORD",
        fields=(
            _field("id", "STRING"),
            _field("number", "STRING"),
            _field("name", "STRING"),
            _field("labels", "RECORD", "REPEATED", _KEY_VALUE),
            _field("ancestry_numbers", "STRING"),
            _field(
                "ancestors",
                "RECORD",
                "REPEATED",
                (_field("resource_name", "STRING"), _field("display_name", "STRING")),
            ),
        ),
    ),
    _field("labels", "RECORD", "REPEATED", _KEY_VALUE),
    _field("system_labels", "RECORD", "REPEATED", _KEY_VALUE),
    _field(
        "location",
        "RECORD",
        fields=tuple(_field(name, "STRING") for name in ("location", "country", "region", "zone")),
    ),
    _field(
        "tags",
        "RECORD",
        "REPEATED",
        (*_KEY_VALUE, _field("inherited", "BOOLEAN"), _field("namespace", "STRING")),
    ),
    _field("transaction_type", "STRING"),
    _field("seller_name", "STRING"),
    _field("export_time", "TIMESTAMP"),
    _field("cost", "FLOAT"),
    _field("currency", "STRING"),
    _field("currency_conversion_rate", "FLOAT"),
    _field(
        "usage",
        "RECORD",
        fields=(
            _field("amount", "FLOAT"),
            _field("unit", "STRING"),
            _field("amount_in_pricing_units", "FLOAT"),
            _field("pricing_unit", "STRING"),
        ),
    ),
    _field(
        "credits",
        "RECORD",
        "REPEATED",
        (
            _field("name", "STRING"),
            _field("amount", "FLOAT"),
            _field("full_name", "STRING"),
            _field("id", "STRING"),
            _field("type", "STRING"),
        ),
    ),
    _field("invoice", "RECORD", fields=(_field("month", "STRING"),)),
    _field("cost_type", "STRING"),
    _field(
        "adjustment_info",
        "RECORD",
        fields=tuple(_field(name, "STRING") for name in ("id", "description", "mode", "type")),
    ),
)
DETAILED_SCHEMA: tuple[dict[str, Any], ...] = (
    *STANDARD_SCHEMA,
    _field("cost_at_list", "FLOAT"),
    _field(
        "resource", "RECORD", fields=(_field("name", "STRING"), _field("global_name", "STRING"))
    ),
    _field(
        "price",
        "RECORD",
        fields=(
            _field("effective_price", "NUMERIC"),
            _field("tier_start_amount", "NUMERIC"),
            _field("unit", "STRING"),
            _field("pricing_unit_quantity", "NUMERIC"),
        ),
    ),
)
_TIMESTAMP_COLUMNS = ("usage_start_time", "usage_end_time", "export_time")


# ---------- the export's rows


def _project(line: CloudLine) -> dict[str, Any]:
    account = line.account
    number = str(int(hashlib.sha256(account.id.encode()).hexdigest()[:10], 16) % 10**12)
    environment = "production" if account.environment == PRODUCTION else "development"
    return {
        "id": account.id,
        "number": number,
        "name": account.name,
        "labels": [{"key": "environment", "value": environment}],
        "ancestry_numbers": f"/{_ORGANIZATION[0].split('/')[1]}/",
        "ancestors": [
            {"resource_name": f"projects/{number}", "display_name": account.id},
            {"resource_name": _ORGANIZATION[0], "display_name": _ORGANIZATION[1]},
        ],
    }


def _resource(line: CloudLine) -> dict[str, Any] | None:
    project = line.account.id
    if line.service.name == "Compute Engine":
        name = f"{project}-node-1"
        zone = f"{line.service.region}-a"
        return {
            "name": name,
            "global_name": f"//compute.googleapis.com/projects/{project}/zones/{zone}/instances/{name}",
        }
    if line.service.name == "Cloud Storage":
        bucket = f"{project}-data"
        return {
            "name": bucket,
            "global_name": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        }
    return None  # Vertex AI's token usage has no resource of its own


def _labels(line: CloudLine) -> list[dict[str, str]]:
    labels = [{"key": key, "value": value} for key, value in line.tags.items()]
    if line.service.name == "Compute Engine" and line.account.environment == PRODUCTION:
        labels.append({"key": "goog-k8s-cluster-name", "value": "search-cluster"})
    return labels


def _system_labels(line: CloudLine) -> list[dict[str, str]]:
    if line.service.name != "Compute Engine":
        return []
    return [
        {"key": "compute.googleapis.com/machine_spec", "value": "n2-standard-4"},
        {"key": "compute.googleapis.com/cores", "value": "4"},
    ]


def _split(total: Decimal, parts: int) -> list[Decimal]:
    """`total` in `parts` shares that add up to it exactly (the last takes the remainder)."""
    share = (total / parts).quantize(_NINE_PLACES, ROUND_DOWN)
    return [share] * (parts - 1) + [total - share * (parts - 1)]


def _is_corrected(line: CloudLine) -> bool:
    return line.service.name == "Compute Engine" and line.account.environment == PRODUCTION


def _is_late(line: CloudLine) -> bool:
    return line.service.name == "Vertex AI" and line.account.environment != PRODUCTION


def rows_for_line(line: CloudLine) -> list[dict[str, Any]]:
    """The export rows of one line: four six-hour rows, and a correction if it has one."""
    service = line.service
    unit, per_pricing_unit, *_ = _UNITS[service.unit]
    day_start = datetime.combine(line.day, time(0), UTC)
    blocks = 24 // _BLOCK_HOURS
    quantity, cost = line.usage_quantity, line.cost
    correction_quantity = correction_cost = Decimal(0)
    if _is_corrected(line):
        correction_quantity = (quantity * _CORRECTION_SHARE).quantize(Decimal("0.0001"))
        correction_cost = cost - (quantity - correction_quantity) * service.unit_price
    quantities = _split(quantity - correction_quantity, blocks)
    costs = _split(cost - correction_cost, blocks)
    credits = _split(line.credits, blocks)
    common = {
        "billing_account_id": line.account.billing_account_id,
        "service": {"id": SERVICE_IDS[service.name], "description": service.name},
        "sku": {"id": service.sku, "description": service.usage_type},
        "project": _project(line),
        "labels": _labels(line),
        "system_labels": _system_labels(line),
        "location": {
            **_LOCATIONS[service.region],
            "zone": f"{service.region}-a" if service.name == "Compute Engine" else None,
        },
        "tags": [],
        "transaction_type": "GOOGLE",
        "seller_name": "Google",
        "currency": "USD",
        "currency_conversion_rate": Decimal(1),
        "resource": _resource(line),
        "price": {
            "effective_price": service.unit_price,
            "tier_start_amount": Decimal(0),
            "unit": service.unit,
            "pricing_unit_quantity": Decimal(1),
        },
    }

    def row(start: datetime, hours: int, amount: Decimal, charged: Decimal, credit: Decimal):
        return {
            **common,
            "usage_start_time": start,
            "usage_end_time": start + timedelta(hours=hours),
            "cost": charged,
            "cost_at_list": charged,  # Google Cloud bills the sandbox at list price
            "usage": {
                "amount": amount * per_pricing_unit,
                "unit": unit,
                "amount_in_pricing_units": amount,
                "pricing_unit": service.unit,
            },
            "credits": [{**_RESEARCH_CREDIT, "amount": credit}] if credit else [],
            "invoice": {"month": start.astimezone(_PACIFIC).strftime("%Y%m")},
            "cost_type": "regular",
            "adjustment_info": None,
        }

    rows = []
    for block in range(blocks):
        start = day_start + timedelta(hours=block * _BLOCK_HOURS)
        item = row(start, _BLOCK_HOURS, quantities[block], costs[block], credits[block])
        exported = start + timedelta(hours=_BLOCK_HOURS) + _EXPORT_DELAY
        item["export_time"] = day_start + _LATE_DELAY if _is_late(line) else exported
        rows.append(item)
    if correction_cost:
        item = row(day_start, 24, correction_quantity, correction_cost, Decimal(0))
        item["cost_type"] = "adjustment"
        item["adjustment_info"] = {
            "id": f"adj-{line.day:%Y%m%d}-{line.account.id}",
            "description": f"Usage correction for {service.usage_type} on {line.day.isoformat()}",
            "mode": "PARTIAL_CORRECTION",
            "type": "USAGE_CORRECTION",
        }
        item["export_time"] = day_start + _CORRECTION_DELAY
        rows.append(item)
    return rows


def export_rows_for_day(company: Company, day: date) -> list[dict[str, Any]]:
    """Every row the export will ever hold for usage `day`, in a fixed order."""
    if day < EXPORT_START:
        return []
    return [row for line in cloud_costs_for_day(company, GCP, day) for row in rows_for_line(line)]


def source_mapping_rows(company: Company) -> list[tuple[str, ...]]:
    """source_mappings.csv rows: each project's department, team, project and environment, for
    the charges no label attributes (the ledger's sub_account_id is the project id)."""
    rows = []
    for account in cloud_accounts(company, GCP):
        team = company.team(account.team)
        row = ("gcp", "sub_account_id", account.id, team.department, team.slug)
        rows.append((*row, account.project or "", account.environment))
    return rows


# ---------- BigQuery's wire format


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _encode(value: Any, spec: Mapping[str, Any], int64_timestamps: bool) -> Any:
    if spec.get("mode") == "REPEATED":
        return [{"v": _encode_one(item, spec, int64_timestamps)} for item in value or ()]
    return _encode_one(value, spec, int64_timestamps)


def _encode_one(value: Any, spec: Mapping[str, Any], int64_timestamps: bool) -> Any:
    if value is None:
        return None
    kind = spec["type"]
    if kind in ("RECORD", "STRUCT"):
        return {
            "f": [
                {"v": _encode(value.get(sub["name"]), sub, int64_timestamps)}
                for sub in spec["fields"]
            ]
        }
    if kind == "TIMESTAMP":
        micros = _micros(value)
        return str(micros) if int64_timestamps else f"{micros / 1_000_000:.6f}"
    if kind in ("FLOAT", "FLOAT64"):
        return repr(float(value))
    if kind == "BOOLEAN":
        return "true" if value else "false"
    if kind == "DATE":
        return value.isoformat()
    return str(value)


def _error(status: int, reason: str, message: str, *, bigquery: bool = True) -> Response:
    statuses = {
        400: "INVALID_ARGUMENT",
        401: "UNAUTHENTICATED",
        403: "PERMISSION_DENIED",
        404: "NOT_FOUND",
        429: "RESOURCE_EXHAUSTED",
        500: "INTERNAL",
        503: "UNAVAILABLE",
    }
    error: dict[str, Any] = {
        "code": status,
        "message": message,
        "status": statuses.get(status, "UNKNOWN"),
    }
    if bigquery:
        error["errors"] = [{"message": message, "domain": "global", "reason": reason}]
    return Response(status, {"error": error})


class QueryError(Exception):
    """A query BigQuery would refuse: the HTTP status, BigQuery's reason and its message."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message


def bigquery_fault(status: int) -> Response:
    """BigQuery's answer to an injected failure, in its words."""
    if status == 403:
        return _error(
            403,
            "accessDenied",
            f"Access Denied: Project {PROJECT}: User does not have bigquery.jobs.create "
            f"permission in project {PROJECT}.",
        )
    if status == 429:
        return _error(
            429,
            "rateLimitExceeded",
            "Exceeded rate limits: too many api requests per user per method",
        )
    if status == 404:
        return _error(404, "notFound", "Not found: sandbox fault injected")
    if status >= 500:
        return _error(
            status,
            "backendError",
            "Error encountered during execution. Retrying may solve the problem.",
        )
    return _error(status, "invalid", f"sandbox fault injected: HTTP {status}")


def billing_fault(status: int) -> Response:
    """The Cloud Billing API's answer to an injected failure (Google's envelope, no reasons)."""
    if status == 403:
        return _error(
            403,
            "",
            "Cloud Billing API has not been used in project nwl-billing before or it is disabled.",
            bigquery=False,
        )
    return _error(status, "", f"sandbox fault injected: HTTP {status}", bigquery=False)


# ---------- the GoogleSQL the collectors write

_SELECT = re.compile(
    r"^\s*SELECT\s+(?P<distinct>DISTINCT\s+)?(?P<items>.+?)\s+FROM\s+`(?P<table>[^`]+)`"
    r"(?:\s+WHERE\s+(?P<where>.+?))?(?:\s+GROUP\s+BY\s+(?P<group>.+?))?"
    r"(?:\s+ORDER\s+BY\s+(?P<order>.+?))?\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_ITEM = re.compile(
    r"^(?P<expr>.+?)(?:\s+AS\s+(?P<alias>[A-Za-z_]\w*))?$", re.IGNORECASE | re.DOTALL
)
_FUNCTION = re.compile(
    r"^(?P<name>DATE|MAX|MIN|COUNT)\s*\(\s*(?P<arg>\*|[\w.]+)\s*\)$", re.IGNORECASE
)
_PATH = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")
_CONDITION = re.compile(r"^(?P<column>[A-Za-z_]\w*)\s*(?P<op>>=|<=|>|<|=)\s*@(?P<param>\w+)$")
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    "=": lambda a, b: a == b,
}


@dataclass(frozen=True)
class _Item:
    name: str  # the output column's name
    path: tuple[str, ...]  # the column read ((), for COUNT(*))
    function: str | None  # DATE, MAX, MIN, COUNT or None
    spec: dict[str, Any]  # the output field's schema


@dataclass
class Result:
    """An evaluated query: its schema and rows (Python values), and what it scanned."""

    fields: list[dict[str, Any]]
    rows: list[list[Any]]
    bytes_processed: int


def _field_at(schema: Sequence[Mapping[str, Any]], path: Sequence[str]) -> dict[str, Any]:
    fields, spec = schema, None
    for step in path:
        spec = next((f for f in fields if f["name"] == step), None)
        if spec is None or (spec.get("mode") == "REPEATED" and step != path[-1]):
            raise QueryError(400, "invalidQuery", f"Unrecognized name: {'.'.join(path)}")
        fields = spec.get("fields", ())
    assert spec is not None
    return dict(spec)


def _value_at(row: Mapping[str, Any], path: Sequence[str]) -> Any:
    value: Any = row
    for step in path:
        value = value.get(step) if isinstance(value, Mapping) else None
    return value


def _parse_item(text: str, schema: Sequence[Mapping[str, Any]]) -> _Item:
    match = _ITEM.match(text.strip())
    if not match:
        raise QueryError(400, "invalidQuery", f"Syntax error near {text.strip()!r}")
    expr, alias = match["expr"].strip(), match["alias"]
    function = _FUNCTION.match(expr)
    if function:
        name, arg = function["name"].upper(), function["arg"]
        if name == "COUNT":
            if arg != "*":
                raise QueryError(400, "invalidQuery", "the sandbox evaluates COUNT(*) only")
            return _Item(alias or "f0_", (), "COUNT", _field(alias or "f0_", "INTEGER"))
        path = tuple(arg.split("."))
        source = _field_at(schema, path)
        if name == "DATE":
            if source["type"] != "TIMESTAMP":
                raise QueryError(
                    400,
                    "invalidQuery",
                    f"No matching signature for function DATE for {source['type']}",
                )
            return _Item(alias or "f0_", path, "DATE", _field(alias or "f0_", "DATE"))
        return _Item(alias or "f0_", path, name, {**source, "name": alias or "f0_"})
    if not _PATH.match(expr):
        raise QueryError(400, "invalidQuery", f"the sandbox's BigQuery cannot evaluate {expr!r}")
    path = tuple(expr.split("."))
    name = alias or path[-1]
    return _Item(name, path, None, {**_field_at(schema, path), "name": name})


def _parameter_value(parameter: Mapping[str, Any]) -> tuple[str, Any]:
    kind = (parameter.get("parameterType") or {}).get("type", "")
    text = (parameter.get("parameterValue") or {}).get("value")
    if text is None:
        return kind, None
    if kind == "TIMESTAMP":
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise QueryError(400, "invalidQuery", f"Invalid TIMESTAMP literal {text!r}") from None
        return kind, moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if kind == "DATE":
        return kind, date.fromisoformat(text)
    if kind == "INT64":
        return kind, int(text)
    return kind, text


def evaluate(
    sql: str,
    parameters: Sequence[Mapping[str, Any]],
    *,
    tables: Mapping[str, tuple[Sequence[Mapping[str, Any]], Callable[[date], list[dict]]]],
    now: datetime,
) -> Result:
    """Run `sql` over `tables` (table id -> (schema, rows of a usage day)) as of `now`."""
    query = _SELECT.match(sql)
    if not query:
        raise QueryError(400, "invalidQuery", "the sandbox's BigQuery cannot evaluate this query")
    table_id = query["table"]
    if table_id not in tables:
        raise QueryError(
            404,
            "notFound",
            f"Not found: Table {table_id.replace('.', ':', 1)} was not found in location {LOCATION}",
        )
    schema, rows_of_day = tables[table_id]
    values = {}
    for parameter in parameters:
        values[parameter.get("name")] = _parameter_value(parameter)
    items = [_parse_item(text, schema) for text in query["items"].split(",")]

    conditions = []
    for text in re.split(r"\s+AND\s+", (query["where"] or "").strip(), flags=re.IGNORECASE):
        if not text:
            continue
        condition = _CONDITION.match(text.strip())
        if not condition:
            raise QueryError(
                400,
                "invalidQuery",
                f"the sandbox's BigQuery evaluates only `<timestamp column> <op> @parameter` "
                f"conditions, not {text.strip()!r}",
            )
        column, op, name = condition["column"], condition["op"], condition["param"]
        if column not in _TIMESTAMP_COLUMNS:
            _field_at(schema, (column,))
            raise QueryError(
                400, "invalidQuery", f"the sandbox compares timestamps only, not {column}"
            )
        if name not in values:
            raise QueryError(400, "invalidQuery", f"Query parameter '{name}' not found")
        kind, value = values[name]
        if kind != "TIMESTAMP":
            raise QueryError(
                400,
                "invalidQuery",
                f"No matching signature for operator {op} for argument types: TIMESTAMP, {kind}",
            )
        conditions.append((column, op, value))

    days = _candidate_days(conditions, now)
    scanned = [row for day in days for row in rows_of_day(day) if row["export_time"] <= now]
    matched = [
        row
        for row in scanned
        if all(_COMPARE[op](row[column], value) for column, op, value in conditions)
    ]
    referenced = {item.path[0] for item in items if item.path} | {
        column for column, _, _ in conditions
    }
    scanned_bytes = sum(
        len(json.dumps(row.get(column), default=str)) for row in scanned for column in referenced
    )

    aggregated = any(item.function in ("MAX", "MIN", "COUNT") for item in items)
    if aggregated:
        output = _aggregate(items, matched, query["group"])
    else:
        output = [[_select(item, row) for item in items] for row in matched]
    if query["distinct"]:
        unique: dict[str, list[Any]] = {}
        for values_row in output:
            unique.setdefault(json.dumps(values_row, default=str, sort_keys=True), values_row)
        output = list(unique.values())
    if query["order"]:
        names = [item.name for item in items]
        for key in reversed([part.strip() for part in query["order"].split(",")]):
            if key not in names:
                raise QueryError(400, "invalidQuery", f"Unrecognized name: {key}")
            index = names.index(key)
            output.sort(key=lambda values_row, i=index: (values_row[i] is not None, values_row[i]))
    return Result([item.spec for item in items], output, scanned_bytes)


def _select(item: _Item, row: Mapping[str, Any]) -> Any:
    value = _value_at(row, item.path)
    if item.function == "DATE" and value is not None:
        return value.astimezone(UTC).date()
    return value


def _aggregate(
    items: Sequence[_Item], rows: Sequence[Mapping[str, Any]], group: str | None
) -> list[list[Any]]:
    keys = [item for item in items if item.function not in ("MAX", "MIN", "COUNT")]
    grouped_by = {part.strip() for part in (group or "").split(",") if part.strip()}
    for item in keys:
        if item.name not in grouped_by and ".".join(item.path) not in grouped_by:
            raise QueryError(
                400,
                "invalidQuery",
                f"SELECT list expression references {'.'.join(item.path)} which is neither "
                "grouped nor aggregated",
            )
    groups: OrderedDict[str, tuple[list[Any], list[Mapping[str, Any]]]] = OrderedDict()
    for row in rows:
        key_values = [_select(item, row) for item in keys]
        groups.setdefault(json.dumps(key_values, default=str), (key_values, []))[1].append(row)
    if not keys and not groups:
        groups["[]"] = ([], [])  # an aggregate over no rows is one row
    output = []
    for key_values, members in groups.values():
        keyed = iter(key_values)
        result = []
        for item in items:
            if item.function == "COUNT":
                result.append(len(members))
            elif item.function in ("MAX", "MIN"):
                present = [v for v in (_value_at(r, item.path) for r in members) if v is not None]
                result.append(
                    (max if item.function == "MAX" else min)(present) if present else None
                )
            else:
                result.append(next(keyed))
        output.append(result)
    return output


def _candidate_days(conditions: Sequence[tuple[str, str, datetime]], now: datetime) -> list[date]:
    """The usage days a query can touch; the export is too long to scan day by day."""
    lower = upper = None
    for column, op, value in conditions:
        if column == "usage_start_time" and op in (">=", ">", "="):
            lower = max(lower or value, value)
        if column == "usage_start_time" and op in ("<", "<=", "="):
            upper = min(upper or value, value)
        if column == "export_time" and op in (">=", ">", "="):
            # A row is exported at most _MAX_EXPORT_LAG after its day ends.
            earliest = value - _MAX_EXPORT_LAG - timedelta(days=1)
            lower = max(lower or earliest, earliest)
    if lower is None:
        raise QueryError(
            400,
            "invalidQuery",
            "the sandbox's export must be queried with a lower bound on usage_start_time or export_time",
        )
    first = max(lower.astimezone(UTC).date(), EXPORT_START)
    last = min((upper or now).astimezone(UTC).date(), now.astimezone(UTC).date())
    if (last - first).days > 800:
        raise QueryError(
            400, "invalidQuery", "the sandbox's export scans at most 800 days per query"
        )
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


# ---------- the catalog


@dataclass(frozen=True)
class CatalogSku:
    sku_id: str
    description: str
    unit: str  # the pricing unit, as the export's usage.pricing_unit says it
    tiers: tuple[tuple[Decimal, Decimal], ...]  # (start usage amount, unit price in USD)
    region: str
    resource_family: str


def catalog(service_name: str) -> list[CatalogSku]:
    """The sandbox catalog of one service: the SKUs cloud.py bills, and a few it does not."""
    families = {
        "Compute Engine": "Compute",
        "Cloud Storage": "Storage",
        "Vertex AI": "ApplicationServices",
    }
    skus = [
        CatalogSku(
            s.sku, s.usage_type, s.unit, ((Decimal(0), s.unit_price),), s.region, families[s.name]
        )
        for s in cloud_services(GCP)
        if s.name == service_name
    ]
    extra = {
        "Compute Engine": [
            CatalogSku("CP-N2-RAM", "N2 Instance Ram running in Americas", "gibibyte hour",
                       ((Decimal(0), Decimal("0.004237")),), "us-central1", "Compute"),
            CatalogSku("CP-E2-MICRO", "E2 Micro instance running in Americas", "hour",
                       ((Decimal(0), Decimal(0)), (Decimal(720), Decimal("0.008376"))),
                       "us-central1", "Compute"),
        ],
        "Cloud Storage": [
            CatalogSku("E5F0-6A5B-7D0E", "Nearline Storage US Multi-region", "gibibyte month",
                       ((Decimal(0), Decimal("0.01")),), "us", "Storage"),
        ],
        "Vertex AI": [
            CatalogSku("VTX-GEM-OUT", "Gemini 2.5 Flash output tokens", "count",
                       ((Decimal(0), Decimal("0.0000025")),), "us-central1", "ApplicationServices"),
        ],
    }  # fmt: skip
    return skus + extra[service_name]


def _money(amount: Decimal) -> dict[str, Any]:
    units = int(amount)
    nanos = int((amount - units) * 1_000_000_000)
    return {"currencyCode": "USD", "units": str(units), "nanos": nanos}


def sku_resource(service_id: str, service_name: str, sku: CatalogSku) -> dict[str, Any]:
    """One SKU as services.skus.list answers it."""
    _, _, code, base_code, base_description = _UNITS.get(
        sku.unit, (None, None, sku.unit, sku.unit, sku.unit)
    )
    factor = _UNITS[sku.unit][1] if sku.unit in _UNITS else Decimal(1)
    return {
        "name": f"services/{service_id}/skus/{sku.sku_id}",
        "skuId": sku.sku_id,
        "description": sku.description,
        "category": {
            "serviceDisplayName": service_name,
            "resourceFamily": sku.resource_family,
            "resourceGroup": sku.description.split(" ")[0],
            "usageType": "OnDemand",
        },
        "serviceRegions": [sku.region],
        "pricingInfo": [
            {
                "summary": "",
                "pricingExpression": {
                    "usageUnit": code,
                    "displayQuantity": 1,
                    "tieredRates": [
                        {"startUsageAmount": float(start), "unitPrice": _money(price)}
                        for start, price in sku.tiers
                    ],
                    "usageUnitDescription": sku.unit,
                    "baseUnit": base_code,
                    "baseUnitDescription": base_description,
                    "baseUnitConversionFactor": float(factor),
                },
                "currencyConversionRate": 1,
                "effectiveTime": "2026-01-01T00:00:00Z",
            }
        ],
        "serviceProviderName": "Google",
    }


# ---------- the routes


@dataclass
class _Job:
    project: str
    job_id: str
    location: str
    query: str
    parameters: list[Any]
    result: Result
    created: datetime


@dataclass
class BillingExport:
    """The export, catalog and billing account as seen at `now` (a fixed moment or wall clock).

    `now` None means the wall clock; tests set a moment to see the export as it was then.
    Finished jobs are kept (the newest `_MAX_JOBS`) so that their pages can be fetched.
    """

    now: datetime | None = None
    _jobs: OrderedDict[str, _Job] = field(default_factory=OrderedDict, repr=False)
    _cache: dict[tuple[int, date], list[dict[str, Any]]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def clock(self) -> datetime:
        return self.now or datetime.now(UTC)

    def routes(self) -> dict[tuple[str, str], Route]:
        bigquery = "/bigquery/v2/projects/{project}"
        return {
            ("GET", f"{bigquery}/datasets/{{dataset}}/tables/{{table}}"): Route(
                self.get_table, bigquery_fault
            ),
            ("POST", f"{bigquery}/queries"): Route(self.query, bigquery_fault),
            ("GET", f"{bigquery}/queries/{{job_id}}"): Route(self.query_results, bigquery_fault),
            ("GET", f"{bigquery}/jobs/{{job_id}}"): Route(self.get_job, bigquery_fault),
            ("GET", "/v1/services/{service}/skus"): Route(self.list_skus, billing_fault),
            ("GET", "/v1/billingAccounts/{account}"): Route(
                self.get_billing_account, billing_fault
            ),
        }

    def _rows(self, company: Company, day: date, detailed: bool) -> list[dict[str, Any]]:
        key = (company.seed, day)
        with self._lock:
            rows = self._cache.get(key)
        if rows is None:
            rows = export_rows_for_day(company, day)
            with self._lock:
                self._cache[key] = rows
        if detailed:
            return rows
        return [
            {k: v for k, v in row.items() if k not in ("cost_at_list", "resource", "price")}
            for row in rows
        ]

    def _tables(
        self, company: Company
    ) -> dict[str, tuple[Sequence[dict], Callable[[date], list[dict]]]]:
        return {
            STANDARD_TABLE_ID: (STANDARD_SCHEMA, lambda day: self._rows(company, day, False)),
            DETAILED_TABLE_ID: (DETAILED_SCHEMA, lambda day: self._rows(company, day, True)),
        }

    # BigQuery

    def get_table(self, company: Company, request: Request) -> Response:
        params = request.path_params
        table_id = f"{params['project']}.{params['dataset']}.{params['table']}"
        schema = {STANDARD_TABLE_ID: STANDARD_SCHEMA, DETAILED_TABLE_ID: DETAILED_SCHEMA}.get(
            table_id
        )
        if schema is None:
            return _error(404, "notFound", f"Not found: Table {table_id.replace('.', ':', 1)}")
        reference = {
            "projectId": params["project"],
            "datasetId": params["dataset"],
            "tableId": params["table"],
        }
        return Response(
            200,
            {
                "kind": "bigquery#table",
                "id": f"{params['project']}:{params['dataset']}.{params['table']}",
                "tableReference": reference,
                "schema": {"fields": list(schema)},
                "timePartitioning": {"type": "DAY"},
                "location": LOCATION,
                "type": "TABLE",
            },
        )

    def query(self, company: Company, request: Request) -> Response:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return _error(400, "parseError", "Parse Error: the request body is not JSON")
        if body.get("useLegacySql", True) is not False:
            return _error(
                400,
                "invalidQuery",
                "the sandbox's BigQuery runs GoogleSQL only (useLegacySql: false)",
            )
        location = body.get("location") or LOCATION
        if location.upper() != LOCATION:
            return _error(
                404,
                "notFound",
                f"Not found: Dataset {PROJECT}:{DATASET} was not found in location {location}",
            )
        parameters = body.get("queryParameters") or []
        try:
            result = evaluate(
                body.get("query", ""), parameters, tables=self._tables(company), now=self.clock()
            )
        except QueryError as error:
            return _error(error.status, error.reason, error.message)
        job = _Job(
            project=request.path_params["project"],
            job_id=f"job_{uuid.uuid4().hex}",
            location=LOCATION,
            query=body["query"],
            parameters=parameters,
            result=result,
            created=datetime.now(UTC),
        )
        with self._lock:
            self._jobs[job.job_id] = job
            while len(self._jobs) > _MAX_JOBS:
                self._jobs.popitem(last=False)
        int64 = bool((body.get("formatOptions") or {}).get("useInt64Timestamp"))
        page = self._page(job, 0, body.get("maxResults"), int64)
        return Response(200, {"kind": "bigquery#queryResponse", **page})

    def query_results(self, company: Company, request: Request) -> Response:
        job = self._job(request)
        if isinstance(job, Response):
            return job
        token = _single(request, "pageToken")
        offset = 0
        if token:
            offset = _offset(token, job.job_id)
            if offset is None:
                return _error(400, "invalid", f"Invalid page token {token!r}")
        limit = _single(request, "maxResults")
        int64 = (_single(request, "formatOptions.useInt64Timestamp") or "").lower() == "true"
        page = self._page(job, offset, int(limit) if limit else None, int64)
        return Response(200, {"kind": "bigquery#getQueryResultsResponse", **page})

    def get_job(self, company: Company, request: Request) -> Response:
        job = self._job(request)
        if isinstance(job, Response):
            return job
        millis = str(int(job.created.timestamp() * 1000))
        statistics = {
            "creationTime": millis,
            "startTime": millis,
            "endTime": millis,
            "totalBytesProcessed": str(job.result.bytes_processed),
            "query": {
                "totalBytesProcessed": str(job.result.bytes_processed),
                "totalBytesBilled": str(job.result.bytes_processed),
                "cacheHit": False,
                "statementType": "SELECT",
            },
        }
        return Response(
            200,
            {
                "kind": "bigquery#job",
                "id": f"{job.project}:{job.location}.{job.job_id}",
                "jobReference": self._reference(job),
                "configuration": {
                    "jobType": "QUERY",
                    "query": {
                        "query": job.query,
                        "useLegacySql": False,
                        "parameterMode": "NAMED",
                        "queryParameters": job.parameters,
                    },
                },
                "status": {"state": "DONE"},
                "statistics": statistics,
            },
        )

    def _job(self, request: Request) -> "_Job | Response":
        job_id = request.path_params["job_id"]
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.project != request.path_params["project"]:
            return _error(
                404,
                "notFound",
                f"Not found: Job {request.path_params['project']}:{LOCATION}.{job_id}",
            )
        return job

    @staticmethod
    def _reference(job: _Job) -> dict[str, str]:
        return {"projectId": job.project, "jobId": job.job_id, "location": job.location}

    def _page(self, job: _Job, offset: int, limit: Any, int64: bool) -> dict[str, Any]:
        size = ROWS_PER_PAGE if not limit else max(1, min(int(limit), ROWS_PER_PAGE))
        rows = job.result.rows[offset : offset + size]
        fields = job.result.fields
        page: dict[str, Any] = {
            "schema": {"fields": fields},
            "jobReference": self._reference(job),
            "totalRows": str(len(job.result.rows)),
            "totalBytesProcessed": str(job.result.bytes_processed),
            "jobComplete": True,
            "cacheHit": False,
        }
        if rows:
            page["rows"] = [
                {
                    "f": [
                        {"v": _encode(value, spec, int64)}
                        for value, spec in zip(row, fields, strict=True)
                    ]
                }
                for row in rows
            ]
        if offset + size < len(job.result.rows):
            page["pageToken"] = _token(job.job_id, offset + size)
        return page

    # Cloud Billing

    def list_skus(self, company: Company, request: Request) -> Response:
        service_id = request.path_params["service"]
        names = {sid: name for name, sid in SERVICE_IDS.items()}
        if service_id not in names:
            return _error(404, "", f"Service services/{service_id} not found", bigquery=False)
        currency = _single(request, "currencyCode") or "USD"
        if currency != "USD":
            return _error(400, "", "the sandbox catalog prices in USD only", bigquery=False)
        skus = [
            sku_resource(service_id, names[service_id], sku) for sku in catalog(names[service_id])
        ]
        token = _single(request, "pageToken")
        offset = 0
        if token:
            offset = _offset(token, service_id)
            if offset is None:
                return _error(400, "", f"Invalid page token {token!r}", bigquery=False)
        size = int(_single(request, "pageSize") or SKUS_PER_PAGE)
        size = max(1, min(size, SKUS_PER_PAGE))
        body: dict[str, Any] = {"skus": skus[offset : offset + size]}
        if offset + size < len(skus):
            body["nextPageToken"] = _token(service_id, offset + size)
        return Response(200, body)

    def get_billing_account(self, company: Company, request: Request) -> Response:
        account = request.path_params["account"]
        if account != BILLING_ACCOUNT:
            return _error(403, "", "The caller does not have permission", bigquery=False)
        return Response(
            200,
            {
                "name": f"billingAccounts/{account}",
                "open": True,
                "displayName": BILLING_ACCOUNT_NAME,
                "masterBillingAccount": "",
                "currencyCode": "USD",
            },
        )


def _single(request: Request, name: str) -> str | None:
    values = request.query.get(name)
    return values[-1] if values else None


def _token(scope: str, offset: int) -> str:
    return base64.urlsafe_b64encode(f"{scope}|{offset}".encode()).decode()


def _offset(token: str, scope: str) -> int | None:
    try:
        bound, _, offset = base64.urlsafe_b64decode(token.encode()).decode().partition("|")
        return int(offset) if bound == scope else None
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


EXPORT = BillingExport()
"""The export every default `SandboxServer` serves, on the wall clock."""
ROUTES = EXPORT.routes()
