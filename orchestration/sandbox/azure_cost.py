"""Azure Cost Management's Query API and an App Service managed identity endpoint, for the sandbox.

Both answer from Northwind Labs' Azure estate in `cloud.py`: one subscription holding a
resource group per environment (`CloudAccount.parent_id` is the subscription, `id` the resource
group), billed under the company's EA billing account. Each `CloudLine` is one resource
group's spend on one service on one day; its `cost` is what Cost Management reports.

Behaviour follows the vendor's documentation where the collector depends on it:

- Tokens: `GET /msi/token?api-version=2019-08-01&resource=...` with the `X-IDENTITY-HEADER`
  the platform put in `IDENTITY_HEADER` answers `{"access_token", "expires_on", ...}`, as
  App Service's identity endpoint does on plain HTTP on loopback. azure-identity's
  `ManagedIdentityCredential` (and so `DefaultAzureCredential`) uses it when
  `IDENTITY_ENDPOINT` and `IDENTITY_HEADER` are set. A query without a token this endpoint
  issued, or with one past its expiry, is a 401 (`InvalidAuthenticationToken`,
  `ExpiredAuthenticationToken`).
- Queries: `POST <scope>/providers/Microsoft.CostManagement/query?api-version=...` for the
  subscription, each resource group and the billing account. The body needs `type`
  (ActualCost, AmortizedCost, Usage; without reservations all three agree), a `Custom`
  `timeframe` with an inclusive `timePeriod`, `Daily` granularity, at most two `Sum`
  aggregations of PreTaxCost (as EA and pay-as-you-go report it) or Cost and CostUSD (as MCA
  does), at most two groupings (Dimensions ResourceGroupName, ServiceName, ResourceLocation,
  SubscriptionId, ChargeType; a TagKey, which answers TagKey and TagValue columns and matches
  tag names regardless of case) and optionally a `dimensions` `In` filter. Anything else is a
  400 naming what is wrong.
- Answers: `properties.columns` (the aggregated costs first, then UsageDate as a Number, the
  grouping columns and Currency) and positional `properties.rows`; at most
  `MAX_ROWS_PER_PAGE` rows a page, continued at `properties.nextLink` (the same path with a
  `$skiptoken`, to POST the same body to).
- Faults: a 429 carries `retry-after` and Cost Management's per-limit
  `x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after`; a 403 is Resource Manager's
  `AuthorizationFailed` for the scope.
"""

import base64
import binascii
import hashlib
import json
import secrets
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from orchestration.sandbox.cloud import (
    AZURE,
    CloudAccount,
    CloudLine,
    cloud_accounts,
    cloud_costs_for_day,
)
from orchestration.sandbox.company import Company, build_company
from orchestration.sandbox.routing import Request, Response, Route

TOKEN_PATH = "/msi/token"
IDENTITY_HEADER = "sandbox-identity-header-not-a-secret"
TOKEN_PREFIX = "sandbox-arm."
TOKEN_LIFETIME_S = 3600
MAX_ROWS_PER_PAGE = 4
RETRY_AFTER_S = 1
QPU_RETRY_AFTER_S = 2
CURRENCY = "USD"
QUERY_SUFFIX = "/providers/Microsoft.CostManagement/query"

_COST_COLUMNS = ("PreTaxCost", "Cost", "CostUSD")
_TYPES = ("ActualCost", "AmortizedCost", "Usage")
_DIMENSIONS: dict[str, Callable[[CloudLine], str]] = {
    "ResourceGroupName": lambda line: line.account.id,
    "ServiceName": lambda line: line.service.name,
    "ResourceLocation": lambda line: line.service.region,
    "SubscriptionId": lambda line: line.account.parent_id or "",
    "ChargeType": lambda line: "Usage",
}
_MAX_CLAUSES = 2

# The estate is the same for every company seed, so the routes can be fixed at import.
_ACCOUNTS = cloud_accounts(build_company(7), AZURE)


def subscription_scope(subscription_id: str) -> str:
    return f"/subscriptions/{subscription_id}"


def resource_group_scope(account: CloudAccount) -> str:
    return f"/subscriptions/{account.parent_id}/resourceGroups/{account.id}"


def billing_account_scope(billing_account_id: str) -> str:
    return f"/providers/Microsoft.Billing/billingAccounts/{billing_account_id}"


def _scope_members() -> dict[str, Callable[[CloudAccount], bool]]:
    """Each scope the sandbox serves, with which resource groups it holds."""
    scopes: dict[str, Callable[[CloudAccount], bool]] = {}
    for account in _ACCOUNTS:
        parent, billing = account.parent_id, account.billing_account_id
        scopes[subscription_scope(parent or "")] = lambda a, p=parent: a.parent_id == p
        scopes[resource_group_scope(account)] = lambda a, rg=account: a == rg
        scopes[billing_account_scope(billing)] = lambda a, b=billing: a.billing_account_id == b
    return scopes


SCOPES = _scope_members()
# What the demo queries: the subscriptions (each holds its resource groups, so adding the
# resource group or billing account scopes as well would count their cost twice).
SANDBOX_SCOPES = sorted({subscription_scope(a.parent_id or "") for a in _ACCOUNTS})


def query_path(scope: str) -> str:
    return scope + QUERY_SUFFIX


class ArmError(Exception):
    """A request Resource Manager would refuse: its status, error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, {"error": {"code": code, "message": message}}, headers or {})


def _fault_for(scope: str) -> Callable[[int], Response]:
    def fault(status: int) -> Response:
        if status == 429:
            return _error(
                429,
                "429",
                "Too many requests. Please retry.",
                {
                    "retry-after": str(RETRY_AFTER_S),
                    "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after": str(
                        QPU_RETRY_AFTER_S
                    ),
                },
            )
        if status == 403:
            return _error(
                403,
                "AuthorizationFailed",
                "The client 'sandbox-identity' with object id "
                "'00000000-0000-0000-0000-000000000000' does not have authorization to perform "
                f"action 'Microsoft.CostManagement/query/action' over scope '{scope}' or the "
                "scope is invalid.",
            )
        return _error(status, "ServiceUnavailable", f"sandbox fault injected: HTTP {status}")

    return fault


# ---------- tokens


def token(request: Request) -> Response:
    """An App Service managed identity token for `resource`, if the identity header is right."""
    if request.headers.get("x-identity-header") != IDENTITY_HEADER:
        return Response(401, {"statusCode": 401, "message": "missing or wrong X-IDENTITY-HEADER"})
    resource = (request.query.get("resource") or ("",))[0]
    if not resource or not (request.query.get("api-version") or ("",))[0]:
        return Response(
            400, {"statusCode": 400, "message": "resource and api-version are required"}
        )
    expires_on = int(time.time()) + TOKEN_LIFETIME_S
    return Response(
        200,
        {
            "access_token": f"{TOKEN_PREFIX}{expires_on}.{secrets.token_hex(16)}",
            "expires_on": str(expires_on),
            "resource": resource,
            "token_type": "Bearer",
            "client_id": "00000000-0000-0000-0000-0000000000a1",
        },
    )


def _authenticate(request: Request) -> None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.startswith(TOKEN_PREFIX):
        raise ArmError(401, "InvalidAuthenticationToken", "The access token is invalid.")
    expires_on = value[len(TOKEN_PREFIX) :].split(".")[0]
    if not expires_on.isdigit():
        raise ArmError(401, "InvalidAuthenticationToken", "The access token is invalid.")
    if int(expires_on) <= time.time():
        raise ArmError(
            401, "ExpiredAuthenticationToken", "The access token expiry UTC time is in the past."
        )


# ---------- queries


def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"null")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ArmError(400, "BadRequest", "The request body must be a query definition object.")
    return body


def _days(body: dict[str, Any]) -> list[date]:
    if body.get("timeframe") != "Custom":
        raise ArmError(400, "BadRequest", "Only the Custom timeframe is served by the sandbox.")
    period = body.get("timePeriod")
    try:
        start = datetime.fromisoformat(period["from"]).date()
        end = datetime.fromisoformat(period["to"]).date()
    except (TypeError, KeyError, ValueError):
        raise ArmError(400, "BadRequest", "timePeriod needs ISO 8601 from and to.") from None
    if end < start or (end - start).days > 31:
        raise ArmError(400, "BadRequest", "timePeriod must run forward over at most 31 days.")
    return [start + timedelta(days=n) for n in range((end - start).days + 1)]


def _aggregation(dataset: dict[str, Any]) -> list[str]:
    aggregation = dataset.get("aggregation")
    if not isinstance(aggregation, dict) or not 1 <= len(aggregation) <= _MAX_CLAUSES:
        raise ArmError(400, "BadRequest", "Query can have 1 or 2 aggregation clauses.")
    names = []
    for alias, clause in aggregation.items():
        name = clause.get("name") if isinstance(clause, dict) else None
        if name not in _COST_COLUMNS or clause.get("function") != "Sum":
            raise ArmError(
                400,
                "BadRequest",
                f"Invalid dataset aggregation '{alias}'; valid columns: {', '.join(_COST_COLUMNS)} with function Sum.",
            )
        names.append(name)
    return names


def _grouping(dataset: dict[str, Any]) -> list[tuple[str, str]]:
    grouping = dataset.get("grouping") or []
    if not isinstance(grouping, list) or len(grouping) > _MAX_CLAUSES:
        raise ArmError(400, "BadRequest", "Query can have up to 2 group by clauses.")
    clauses = []
    for clause in grouping:
        kind = clause.get("type") if isinstance(clause, dict) else None
        name = clause.get("name") if isinstance(clause, dict) else None
        if not (kind == "Dimension" and name in _DIMENSIONS) and not (
            kind == "TagKey" and isinstance(name, str) and name
        ):
            raise ArmError(
                400,
                "BadRequest",
                f"Invalid dataset grouping: '{name}'; valid values: {', '.join(_DIMENSIONS)}.",
            )
        clauses.append((kind, name))
    return clauses


def _filter(dataset: dict[str, Any]) -> Callable[[CloudLine], bool]:
    condition = dataset.get("filter")
    if condition is None:
        return lambda line: True
    dimension = condition.get("dimensions") if isinstance(condition, dict) else None
    if (
        not isinstance(dimension, dict)
        or set(condition) != {"dimensions"}
        or dimension.get("name") not in _DIMENSIONS
        or dimension.get("operator") != "In"
        or not isinstance(dimension.get("values"), list)
    ):
        raise ArmError(400, "BadRequest", "The sandbox filters on one dimension with In only.")
    read = _DIMENSIONS[dimension["name"]]
    wanted = {str(value).lower() for value in dimension["values"]}
    return lambda line: read(line).lower() in wanted


def _group_values(line: CloudLine, clauses: list[tuple[str, str]]) -> tuple[Any, ...]:
    values: list[Any] = []
    for kind, name in clauses:
        if kind == "Dimension":
            values.append(_DIMENSIONS[name](line))
        else:
            tag = next((key for key in line.tags if key.lower() == name.lower()), None)
            values.extend([tag, line.tags[tag]] if tag else [None, None])
    return tuple(values)


def _columns(costs: list[str], clauses: list[tuple[str, str]]) -> list[dict[str, str]]:
    columns = [{"name": name, "type": "Number"} for name in costs]
    columns.append({"name": "UsageDate", "type": "Number"})
    for kind, name in clauses:
        if kind == "Dimension":
            columns.append({"name": name, "type": "String"})
        else:
            columns.extend(
                [{"name": "TagKey", "type": "String"}, {"name": "TagValue", "type": "String"}]
            )
    columns.append({"name": "Currency", "type": "String"})
    return columns


def _skiptoken(path: str, offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([path, offset]).encode()).decode().rstrip("=")


def _offset(request: Request) -> int:
    values = request.query.get("$skiptoken")
    if not values:
        return 0
    try:
        padded = values[0] + "=" * (-len(values[0]) % 4)
        path, offset = json.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError, TypeError):
        raise ArmError(400, "BadRequest", "The $skiptoken is not valid.") from None
    if path != request.path or not isinstance(offset, int) or offset < 0:
        raise ArmError(400, "BadRequest", "The $skiptoken belongs to another query.")
    return offset


def _query(scope: str) -> Callable[[Company, Request], Response]:
    member = SCOPES[scope]

    def handler(company: Company, request: Request) -> Response:
        try:
            _authenticate(request)
            api_version = (request.query.get("api-version") or ("",))[0]
            if not api_version:
                raise ArmError(
                    400,
                    "MissingApiVersionParameter",
                    "The api-version query parameter is required.",
                )
            body = _body(request)
            if body.get("type") not in _TYPES:
                raise ArmError(400, "BadRequest", f"Query type must be one of {', '.join(_TYPES)}.")
            dataset = body.get("dataset")
            if not isinstance(dataset, dict) or dataset.get("granularity") != "Daily":
                raise ArmError(400, "BadRequest", "The sandbox serves Daily granularity only.")
            days = _days(body)
            costs = _aggregation(dataset)
            clauses = _grouping(dataset)
            keep = _filter(dataset)
            offset = _offset(request)
        except ArmError as error:
            return _error(error.status, error.code, error.message)
        totals: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
        for day in days:
            for line in cloud_costs_for_day(company, AZURE, day):
                if member(line.account) and keep(line):
                    usage_date = int(day.strftime("%Y%m%d"))
                    totals[(usage_date, *_group_values(line, clauses))] += line.cost
        rows = [
            [*(float(total) for _ in costs), *key, CURRENCY]
            for key, total in sorted(totals.items(), key=lambda item: [str(v) for v in item[0]])
        ]
        page = rows[offset : offset + MAX_ROWS_PER_PAGE]
        more = offset + MAX_ROWS_PER_PAGE < len(rows)
        host = request.headers.get("host", "127.0.0.1")
        next_link = (
            f"http://{host}{request.path}?api-version={api_version}"
            f"&$skiptoken={_skiptoken(request.path, offset + MAX_ROWS_PER_PAGE)}"
            if more
            else None
        )
        name = str(uuid.UUID(hashlib.md5(request.body + str(offset).encode()).hexdigest()))
        return Response(
            200,
            {
                "id": f"{scope.lstrip('/')}/providers/Microsoft.CostManagement/query/{name}",
                "name": name,
                "type": "Microsoft.CostManagement/query",
                "location": None,
                "sku": None,
                "eTag": None,
                "properties": {
                    "nextLink": next_link,
                    "columns": _columns(costs, clauses),
                    "rows": page,
                },
            },
        )

    return handler


def _token_handler(company: Company, request: Request) -> Response:
    return token(request)


def _token_fault(status: int) -> Response:
    return Response(
        status, {"statusCode": status, "message": f"sandbox fault injected: HTTP {status}"}
    )


ROUTES = {
    ("GET", TOKEN_PATH): Route(_token_handler, _token_fault),
    **{("POST", query_path(scope)): Route(_query(scope), _fault_for(scope)) for scope in SCOPES},
}


# ---------- taxonomy seeds


def _shared(values: list[str]) -> str:
    """The value when all agree, else empty (no opinion)."""
    return values[0] if len(set(values)) == 1 else ""


def source_mapping_rows(company: Company) -> list[tuple[str, ...]]:
    """source_mappings.csv rows for the Azure estate (see `seeds.py`).

    A subscription (key sub_account_id, the ledger's sub account) gets the team, project and
    environment its resource groups share, and no opinion where they differ; each resource
    group (key resource_group_id: its Resource Manager id in lower case, as resource group
    names are unique only within a subscription and compared without case) gets its own.
    """
    rows: list[tuple[str, ...]] = []
    groups: dict[str, list[CloudAccount]] = defaultdict(list)
    for account in cloud_accounts(company, AZURE):
        groups[account.parent_id or ""].append(account)
        team = company.team(account.team)
        rows.append(
            (
                "azure",
                "resource_group_id",
                resource_group_scope(account).lower(),
                team.department,
                team.slug,
                account.project or "",
                account.environment,
            )
        )
    for subscription, accounts in groups.items():
        teams = [account.team for account in accounts]
        department = _shared([company.team(slug).department for slug in teams])
        rows.append(
            (
                "azure",
                "sub_account_id",
                subscription,
                department,
                _shared(teams),
                _shared([account.project or "" for account in accounts]),
                _shared([account.environment for account in accounts]),
            )
        )
    return rows
