"""Azure Cost Management's Query API, read with a bearer token from azure-identity.

Each configured scope (a subscription, a resource group, a billing account...) is queried on
its own, one UTC day and one cost type (ActualCost, AmortizedCost) at a time:
`POST {base_url}{scope}/providers/Microsoft.CostManagement/query?api-version=...` with daily
granularity, the cost column summed, and the configured grouping. The answer is positional:
`properties.columns` names the fields and every row of `properties.rows` is a list in that
order, so each row becomes an object keyed by column name (`UsageDate` stays the integer
yyyymmdd the API sends, costs the numbers it sends). A long answer continues at
`properties.nextLink`, which takes the same body again; a link that repeats, or that leaves
`base_url` (it would carry the token elsewhere), is refused.

The cost column depends on the agreement: EA and pay-as-you-go scopes sum `PreTaxCost`,
Microsoft Customer Agreement scopes `Cost` (billing currency) and `CostUSD`. Rows of either
kind are stored as they come, with their `Currency` column; staging picks whichever is there.

Grouping by three things. The API accepts at most two grouping clauses per query, and two
separate two-way queries (say by resource group and service, then by service and tag) cannot be
combined: each holds the whole cost once, so adding them counts it twice, and neither says how
a resource group's cost splits over tag values. With three groupings the client therefore
splits on the first one: a first query grouped by the first two tells which values the first
takes that day, then one query per value, filtered to it (`dimensions In [value]`), grouped by
the other two. Filtered queries of different values never share a cost, and together they hold
all of it but the rows whose first grouping is empty (cost outside any resource group, such as
a purchase), which no filter can select; those are kept from the first query. So every cost is
in exactly one stored row. A filtered record carries the value it was filtered to under
`filter`. This costs one query per value of the first grouping (per resource group, by
default) each day: leave `tag_key` unset for one query per scope and day.

Rate limits: Cost Management throttles per query units, entity and tenant, answering 429 with
`x-ms-ratelimit-microsoft.costmanagement-*-retry-after` headers; `HttpSource` waits the longest
one asks for. A 403 names the role the identity lacks. The token is never logged or stored.
"""

import logging
import os
import time
from collections.abc import Generator, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import dagster as dg
import httpx
from azure.core.credentials import AccessToken, TokenCredential
from azure.core.exceptions import ClientAuthenticationError

from orchestration.collectors.http import HttpSource, HttpStatusError, SourceError
from orchestration.config import check_azure_scopes
from orchestration.warehouse.loader import Rejected

VENDOR = "Azure Cost Management"
TOKEN_SCOPE = "https://management.azure.com/.default"
QUERY_PATH = "{scope}/providers/Microsoft.CostManagement/query"
READER_ROLE = "Cost Management Reader"
AMOUNT_COLUMNS = ("PreTaxCost", "Cost", "CostUSD")
# A token this close to its expiry is replaced before the next request.
_RENEW_BEFORE_S = 300
# Scopes that exist only under a Microsoft Customer Agreement, whose cost column is Cost.
_MCA_SCOPE_PARTS = ("/billingprofiles/", "/invoicesections/", "/customers/")
# A split's filtered queries may differ from the first query by this much (data refreshes
# between the two) before a warning says so.
_SPLIT_TOLERANCE = Decimal("0.01")

logger = logging.getLogger(__name__)


class _ArmBearerToken(httpx.Auth):
    """`Authorization: Bearer` from an azure-identity credential, renewed shortly before expiry.

    Credentials cache tokens themselves, but not all of them (the Azure CLI one runs `az` each
    time), so the client keeps the token until five minutes before it expires.
    """

    def __init__(self, credential: TokenCredential, scope: str) -> None:
        self._credential = credential
        self._scope = scope
        self._token: AccessToken | None = None

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["authorization"] = f"Bearer {self._current()}"
        yield request

    def _current(self) -> str:
        if self._token is None or self._token.expires_on - time.time() < _RENEW_BEFORE_S:
            try:
                self._token = self._credential.get_token(self._scope)
            except ClientAuthenticationError as error:
                # The credential's message says which credentials it tried and why each
                # failed; it holds no secret.
                raise SourceError(
                    f"{VENDOR}: no Azure token for {self._scope}: {error.message}"
                ) from None
        return self._token.token


def is_mca_scope(scope: str) -> bool:
    """Whether `scope` exists only under a Microsoft Customer Agreement (cost column Cost)."""
    lowered = scope.lower()
    if any(part in lowered for part in _MCA_SCOPE_PARTS):
        return True
    # MCA billing account ids look like "<guid>:<guid>_<date>"; EA ones are enrolment numbers.
    prefix = "/providers/microsoft.billing/billingaccounts/"
    return lowered.startswith(prefix) and ":" in lowered[len(prefix) :].split("/")[0]


def usage_day(value: Any) -> date | None:
    """The date of a `UsageDate` (the integer yyyymmdd, or its digits as text); else None."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    text = str(value).strip()
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _row_amount(row: dict[str, Any]) -> Decimal:
    for column in ("Cost", "PreTaxCost"):
        value = row.get(column)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return Decimal(str(value))
    return Decimal(0)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _filterable(value: Any) -> bool:
    """Whether a filter can name `value`: a number, or text that UTF-8 can carry."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate, sent as a JSON escape
            return False
        return True
    return isinstance(value, int | float)


class AzureCostClient(dg.ConfigurableResource):
    """Cost Management Query API over scopes, token from azure-identity's credential chain."""

    scopes: list[str]
    cost_types: list[str] = ["ActualCost"]
    cost_column: str = "auto"
    group_by: list[str] = ["ResourceGroupName", "ServiceName"]
    tag_key: str | None = None
    base_url: str = "https://management.azure.com"
    api_version: str = "2023-03-01"
    timeout_s: float = 60.0
    max_retries: int = 5
    backoff_s: float = 1.0
    credential: str = "default"

    def _credential(self) -> TokenCredential:
        # Imported here: azure-identity is only needed by runs that read Azure.
        from azure.identity import DefaultAzureCredential, ManagedIdentityCredential

        if self.credential == "managed_identity":
            # AZURE_CLIENT_ID picks a user-assigned identity, as in DefaultAzureCredential.
            return ManagedIdentityCredential(client_id=os.environ.get("AZURE_CLIENT_ID") or None)
        if self.credential == "default":
            return DefaultAzureCredential()
        raise ValueError(f"credential {self.credential!r} must be default or managed_identity")

    def _http(self) -> HttpSource:
        return HttpSource(
            vendor=VENDOR,
            base_url=self.base_url,
            headers={"accept": "application/json"},
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            backoff_s=self.backoff_s,
            auth=_ArmBearerToken(self._credential(), TOKEN_SCOPE),
        )

    def _groupings(self) -> list[dict[str, str]]:
        groupings = [{"type": "Dimension", "name": name} for name in self.group_by]
        if self.tag_key:
            groupings.append({"type": "TagKey", "name": self.tag_key})
        if not 1 <= len(groupings) <= 3:
            raise ValueError(f"{VENDOR}: group_by and tag_key must give 1 to 3 groupings")
        return groupings

    def _aggregation(self, scope: str) -> dict[str, dict[str, str]]:
        column = self.cost_column
        if column == "auto":
            column = "Cost" if is_mca_scope(scope) else "PreTaxCost"
        if column == "PreTaxCost":
            return {"totalCost": {"name": "PreTaxCost", "function": "Sum"}}
        if column == "Cost":
            return {
                "totalCost": {"name": "Cost", "function": "Sum"},
                "totalCostUSD": {"name": "CostUSD", "function": "Sum"},
            }
        raise ValueError(f"{VENDOR}: cost_column {column!r} must be auto, PreTaxCost or Cost")

    def cost_rows(
        self, start: datetime, end: datetime, log: Any = None
    ) -> Iterator[dict[str, Any] | Rejected]:
        """Every row for each UTC day in [start, end), scope and cost type, as records.

        A record is the row keyed by column name plus `scope` and `query_type` (and `filter`
        for the filtered queries of a three-way grouping). A row that does not fit its
        columns, or whose UsageDate is unreadable or another day, is `Rejected`.
        """
        scopes = check_azure_scopes(self.scopes)
        for cost_type in self.cost_types:
            if cost_type not in ("ActualCost", "AmortizedCost"):
                raise ValueError(
                    f"{VENDOR}: cost type {cost_type!r} is not ActualCost or AmortizedCost"
                )
        groupings = self._groupings()
        day = start.astimezone(UTC).date()
        with self._http() as http:
            while datetime.combine(day, datetime.min.time(), UTC) < end:
                for scope in scopes:
                    for cost_type in self.cost_types:
                        query = _Query(http, self, scope, cost_type, day, log or logger)
                        yield from query.records(groupings)
                day += timedelta(days=1)


class _Query:
    """The queries of one scope, cost type and day, and the rows they answer."""

    def __init__(
        self,
        http: HttpSource,
        client: AzureCostClient,
        scope: str,
        cost_type: str,
        day: date,
        log: Any,
    ) -> None:
        self.http = http
        self.scope = scope
        self.cost_type = cost_type
        self.day = day
        self.log = log
        self.path = QUERY_PATH.format(scope=scope)
        self.params = {"api-version": client.api_version}
        self.aggregation = client._aggregation(scope)
        self.origin = urlsplit(client.base_url)[:2]

    def records(self, groupings: Sequence[dict[str, str]]) -> Iterator[dict[str, Any] | Rejected]:
        if len(groupings) <= 2:
            yield from self._rows(groupings)
            return
        split = groupings[0]["name"]
        totals: dict[Any, Decimal] = {}
        for row in self._rows(groupings[:2]):
            if isinstance(row, Rejected) or _blank(row.get(split)):
                yield row  # no filter can select an empty value: this row is its only record
            elif not _filterable(row[split]):
                yield Rejected(
                    f"a row of {self.scope} for {self.day} has a {split} that is not a value "
                    "a filter can name",
                    row,
                )
            else:
                totals[row[split]] = totals.get(row[split], Decimal(0)) + _row_amount(row)
        for value, expected in totals.items():
            found = Decimal(0)
            condition = {"dimensions": {"name": split, "operator": "In", "values": [value]}}
            for row in self._rows(groupings[1:], condition):
                if not isinstance(row, Rejected):
                    row["filter"] = {split: value}
                    found += _row_amount(row)
                yield row
            if abs(found - expected) > _SPLIT_TOLERANCE:
                self.log.warning(
                    f"{VENDOR}: {self.scope} {self.cost_type} {self.day}: rows filtered to "
                    f"{split} {value!r} total {found}, the unfiltered query said {expected}; "
                    "the data changed between the queries, reload the day later"
                )

    def _body(
        self, groupings: Sequence[dict[str, str]], condition: dict[str, Any] | None
    ) -> dict[str, Any]:
        dataset: dict[str, Any] = {
            "granularity": "Daily",
            "aggregation": self.aggregation,
            "grouping": list(groupings),
        }
        if condition is not None:
            dataset["filter"] = condition
        day = self.day.isoformat()
        return {
            "type": self.cost_type,
            "timeframe": "Custom",
            "timePeriod": {"from": f"{day}T00:00:00Z", "to": f"{day}T23:59:59Z"},
            "dataset": dataset,
        }

    def _rows(
        self, groupings: Sequence[dict[str, str]], condition: dict[str, Any] | None = None
    ) -> Iterator[dict[str, Any] | Rejected]:
        for properties in self._pages(self._body(groupings, condition)):
            names = [
                column.get("name") if isinstance(column, dict) else None
                for column in properties["columns"]
            ]
            if not all(isinstance(name, str) and name for name in names):
                raise SourceError(f"{VENDOR}: {self.scope} answered a column without a name")
            for row in properties["rows"]:
                if not isinstance(row, list) or len(row) != len(names):
                    yield Rejected(
                        f"a row of {self.scope} does not match its {len(names)} columns", row
                    )
                    continue
                record = dict(zip(names, row, strict=True))
                day = usage_day(record.get("UsageDate"))
                if day != self.day:
                    reason = "an unreadable UsageDate" if day is None else f"UsageDate {day}"
                    yield Rejected(f"a row of {self.scope} for {self.day} has {reason}", row)
                    continue
                yield {**record, "scope": self.scope, "query_type": self.cost_type}

    def _pages(self, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Each answer's `properties`, following `nextLink` with the same body."""
        url, params = self.path, self.params
        seen: set[str] = set()
        while True:
            try:
                answer = self.http.post_json(url, body, params=params)
            except HttpStatusError as error:
                if error.status == 403:
                    raise SourceError(
                        f"{error}; the identity needs the {READER_ROLE} role (or Reader) "
                        f"on {self.scope}"
                    ) from None
                if error.status == 401:
                    raise SourceError(
                        f"{error}; Resource Manager refused the token: check that the "
                        "credential belongs to the tenant of the scope"
                    ) from None
                raise
            properties = answer.get("properties") if isinstance(answer, dict) else None
            if not (
                isinstance(properties, dict)
                and isinstance(properties.get("columns"), list)
                and isinstance(properties.get("rows"), list)
            ):
                raise SourceError(
                    f"{VENDOR}: {self.scope} answered without properties.columns and rows"
                )
            yield properties
            link = properties.get("nextLink")
            if not link:
                return
            if not isinstance(link, str) or link in seen:
                raise SourceError(
                    f"{VENDOR}: {self.scope} gave a repeated nextLink; refusing to loop"
                )
            if urlsplit(link)[:2] != self.origin:
                raise SourceError(
                    f"{VENDOR}: {self.scope} gave a nextLink outside {'://'.join(self.origin)}; "
                    "not sending the token there"
                )
            seen.add(link)
            url, params = link, None
