"""AWS Cost Explorer's GetCostAndUsage, through boto3 and the standard AWS credential chain.

One call asks for a window [start, end) at DAILY granularity (Cost Explorer's `End` is
exclusive, `YYYY-MM-DD`) with the configured metrics and at most two group-bys, and follows
`NextPageToken` until it is absent. Every (day, group) of the answer becomes one record, as
Cost Explorer states it: amounts stay the strings it sends (staging parses them to numeric),
`Estimated` is kept, and so are the `DimensionValueAttributes` that name the record's linked
accounts. Ungrouped, a day's `Total` is its one record.

Cost Explorer never says which payer account it is reporting for, and dbt cannot read
vault.yaml, so each record also carries the billing account (configured, or the account of the
credentials from STS) and which metric the ledger bills, taken at collection time.

Throttling (`ThrottlingException`, Cost Explorer's `LimitExceededException`) and transient
errors are retried by botocore itself (`retry_mode`, `max_retries`); what is left after that
fails the partition with a `SourceError` naming the service, the operation and AWS's error code
and message. Credentials are never part of a message.
"""

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date
from functools import partial
from typing import Any

import boto3
import dagster as dg
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ProfileNotFound,
)

from orchestration.collectors.http import SourceError
from orchestration.config import AWS_DEFAULT_METRICS, AwsConfig, check_aws_query
from orchestration.warehouse.loader import Rejected

VENDOR = "AWS Cost Explorer"
OPERATION = "GetCostAndUsage"
IAM_ACTION = "ce:GetCostAndUsage"
# Far more than a day's groups need; a vendor that keeps giving new tokens is stopped here.
MAX_PAGES = 1000
_ACCESS_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})


class AwsCostExplorerClient(dg.ConfigurableResource):
    """Daily cost and usage from AWS Cost Explorer; credentials from the standard AWS chain."""

    region: str = "us-east-1"
    profile: str | None = None
    endpoint_url: str | None = None
    max_retries: int = 5
    retry_mode: str = "standard"
    metrics: list[str] = list(AWS_DEFAULT_METRICS)
    billed_cost_metric: str = "UnblendedCost"
    # Each {"type": DIMENSION | TAG | COST_CATEGORY, "key": ...}; plain mappings because
    # Dagster's config schema takes those as defaults, not nested Config objects.
    group_by: list[dict[str, str]] = [
        {"type": "DIMENSION", "key": "SERVICE"},
        {"type": "DIMENSION", "key": "LINKED_ACCOUNT"},
    ]
    billing_account_id: str | None = None
    billing_account_name: str | None = None

    @classmethod
    def from_config(cls, section: AwsConfig) -> "AwsCostExplorerClient":
        """The client a vault.yaml `aws` section describes."""
        return cls(
            region=section.region,
            profile=section.profile,
            endpoint_url=section.endpoint_url,
            max_retries=section.max_retries,
            retry_mode=section.retry_mode,
            metrics=list(section.metrics),
            billed_cost_metric=section.billed_cost_metric,
            group_by=[{"type": g.type, "key": g.key} for g in section.group_by],
            billing_account_id=section.billing_account_id,
            billing_account_name=section.billing_account_name,
        )

    def request(self, start: date, end: date, next_page_token: str | None = None) -> dict[str, Any]:
        """The GetCostAndUsage parameters for the days in [start, end), one page of them.

        The sandbox builds its requests with this too: moto matches an answer to the exact
        request body, so both sides must send the same parameters in the same order.
        """
        self.check()
        if end <= start:
            raise ValueError(f"{VENDOR}: the window {start} .. {end} is empty")
        params: dict[str, Any] = {
            "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
            "Granularity": "DAILY",
            "Metrics": list(self.metrics),
        }
        if self.group_by:
            params["GroupBy"] = [{"Type": kind, "Key": key} for kind, key in self.groupings()]
        if next_page_token:
            params["NextPageToken"] = next_page_token
        return params

    def groupings(self) -> list[tuple[str, str]]:
        """`group_by` as (type, key) pairs."""
        pairs = []
        for group in self.group_by:
            if set(group) != {"type", "key"}:
                raise ValueError(
                    f"{VENDOR}: a group_by item needs exactly the keys type and key, got {group}"
                )
            pairs.append((group["type"], group["key"]))
        return pairs

    def check(self) -> None:
        """Refuse a query GetCostAndUsage would reject, before any request is made."""
        try:
            check_aws_query(self.metrics, self.groupings(), self.billed_cost_metric)
        except ValueError as error:
            raise ValueError(f"{VENDOR}: {error}") from None

    def cost_and_usage(self, start: date, end: date) -> Iterator[dict[str, Any] | Rejected]:
        """One record per day and group in [start, end), every page read.

        All pages are read before the first record is yielded: `DimensionValueAttributes`
        (the account names) may come on any page, and a window is a day, a few thousand
        groups at most.
        """
        ce = self.boto_client("ce")
        billing_id, billing_name = self._billing_account()
        pages = list(self._pages(ce, start, end))
        attributes = {
            item["Value"]: item
            for page in pages
            for item in page.get("DimensionValueAttributes") or []
            if isinstance(item, Mapping) and isinstance(item.get("Value"), str)
        }
        requested = [{"Type": kind, "Key": key} for kind, key in self.groupings()]
        shared = {
            "billing_account_id": billing_id,
            "billing_account_name": billing_name,
            "billed_cost_metric": self.billed_cost_metric,
        }
        for page in pages:
            definitions = page.get("GroupDefinitions") or requested
            for result in page.get("ResultsByTime") or []:
                yield from _records(result, definitions, attributes, shared)

    def boto_client(self, service: str) -> Any:
        """A boto3 client for `service` from the standard chain, with botocore's retries."""
        try:
            session = boto3.Session(profile_name=self.profile, region_name=self.region)
        except ProfileNotFound:
            raise SourceError(
                f"{VENDOR}: AWS profile {self.profile!r} (the aws.profile key in vault.yaml) "
                "is not in the AWS config or credentials file"
            ) from None
        config = Config(
            retries={"mode": self.retry_mode, "max_attempts": self.max_retries},
            user_agent_extra="observability-vault",
        )
        return session.client(service, endpoint_url=self.endpoint_url, config=config)

    def _pages(self, ce: Any, start: date, end: date) -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        token: str | None = None
        while True:
            params = self.request(start, end, token)
            page = self._call(OPERATION, partial(ce.get_cost_and_usage, **params))
            yield page
            token = page.get("NextPageToken") or None
            if token is None:
                return
            if token in seen:
                raise SourceError(
                    f"{VENDOR}: {OPERATION} for {start} .. {end} gave a NextPageToken it had "
                    "already given; refusing to loop"
                )
            seen.add(token)
            if len(seen) >= MAX_PAGES:
                raise SourceError(
                    f"{VENDOR}: {OPERATION} for {start} .. {end} is still paging after "
                    f"{MAX_PAGES} pages; refusing to go on"
                )

    def _billing_account(self) -> tuple[str, str]:
        """The payer account: configured, else the account the credentials belong to.

        Cost Explorer called with the management account's credentials reports the whole
        organisation, so the caller's account is the payer; with a member account's, set
        billing_account_id.
        """
        account_id = self.billing_account_id
        if account_id is None:
            sts = self.boto_client("sts")
            account_id = str(self._call("GetCallerIdentity", sts.get_caller_identity)["Account"])
        return account_id, self.billing_account_name or account_id

    def _call(self, operation: str, call: Callable[[], Any]) -> dict[str, Any]:
        """`call()`, with what botocore could not retry away turned into a `SourceError`."""
        where = f"{VENDOR}: {operation}"
        try:
            return call()
        except ClientError as error:
            details = error.response.get("Error") or {}
            code = details.get("Code") or "UnknownError"
            message = (details.get("Message") or "").strip()
            attempts = 1 + int(
                (error.response.get("ResponseMetadata") or {}).get("RetryAttempts", 0)
            )
            text = f"{where} failed with {code}: {message}".rstrip(": ")
            if code in _ACCESS_DENIED:
                action = IAM_ACTION if operation == OPERATION else "sts:GetCallerIdentity"
                raise SourceError(
                    f"{text}; the credentials need the IAM action {action}"
                    + (" and Cost Explorer enabled for the account" if action == IAM_ACTION else "")
                ) from None
            if attempts > 1:
                text += f" (gave up after {attempts} attempts)"
            raise SourceError(text) from None
        except NoCredentialsError:
            raise SourceError(
                f"{where}: no AWS credentials found in the standard chain "
                "(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the aws.profile "
                "key, ~/.aws/credentials, SSO, or an instance or task role)"
            ) from None
        except EndpointConnectionError as error:
            raise SourceError(
                f"{where}: could not reach {error.kwargs.get('endpoint_url')}"
            ) from None
        except BotoCoreError as error:
            raise SourceError(f"{where} failed: {type(error).__name__}: {error}") from None


def _records(
    result: Any,
    definitions: Sequence[Mapping[str, Any]],
    attributes: Mapping[str, Mapping[str, Any]],
    shared: Mapping[str, Any],
) -> Iterator[dict[str, Any] | Rejected]:
    """The records of one day (`ResultsByTime` item): one per group, or its Total."""
    if not isinstance(result, Mapping) or not isinstance(result.get("TimePeriod"), Mapping):
        yield Rejected(f"a {OPERATION} result has no TimePeriod", result)
        return
    groups = result.get("Groups") or []
    if not definitions:
        groups = [{"Keys": [], "Metrics": result.get("Total") or {}}]
    for group in groups:
        keys = group.get("Keys") if isinstance(group, Mapping) else None
        if (
            not isinstance(keys, list)
            or len(keys) != len(definitions)
            or not all(isinstance(key, str) for key in keys)
        ):
            yield Rejected(f"a {OPERATION} group's Keys do not match its GroupDefinitions", group)
            continue
        named = [
            attributes[key]
            for key, definition in zip(keys, definitions, strict=True)
            if definition.get("Type") == "DIMENSION" and key in attributes
        ]
        yield {
            "time_period": dict(result["TimePeriod"]),
            "group_definitions": [dict(definition) for definition in definitions],
            "keys": list(keys),
            "metrics": group.get("Metrics") or {},
            "estimated": result.get("Estimated"),
            "dimension_value_attributes": named,
            **shared,
        }


def natural_key(record: Mapping[str, Any]) -> str:
    """day|group keys: one Cost Explorer group on one day."""
    period = record.get("time_period") or {}
    return "|".join([str(period.get("Start", "")), *(str(key) for key in record.get("keys") or [])])
