"""Cost Explorer for the sandbox: the estate's AWS lines as moto's GetCostAndUsage answers.

moto's server implements Cost Explorer but tracks no costs: it answers GetCostAndUsage from a
queue of results that a client POSTs to `/moto-api/static/ce/cost-and-usage-results`. The first
request whose body moto has not seen takes the next queued result, and moto then gives that
result to every later request with the same body; a request it has not seen, with the queue
empty, gets an empty answer and takes nothing.

Left at that, which page answers which request would depend on the order requests arrive in:
one unexpected request (another configuration, a retry of the collector after a crash halfway)
would shift every page after it. So `serve_cost_and_usage` binds each page to its request
itself: it queues exactly one page, sends that page's exact request (built by the collector's
own client, so the body is byte for byte the collector's), and checks that the answer is the
page. After that the binding holds for good, whatever order the collector, its retries or a
rerun ask in; the queue is always empty again, so nothing is left to be taken by mistake.

`cost_and_usage_pages` is the fake itself: `cloud_costs_for_day`'s AWS lines grouped the way
the request asks (DIMENSION SERVICE, LINKED_ACCOUNT, REGION, USAGE_TYPE, RECORD_TYPE; any
TAG key as `key$value`, `key$` when untagged; COST_CATEGORY as uncategorised), amounts as
Cost Explorer's decimal strings, the days just before "today" marked Estimated, and answers of
more than `page_size` groups split into pages chained by NextPageToken.

moto is a development dependency: it is imported only when a server is started.
"""

import hashlib
import json
import logging
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import TYPE_CHECKING, Any

from orchestration.sandbox.cloud import AWS, CloudLine, cloud_accounts, cloud_costs_for_day
from orchestration.sandbox.company import Company

if TYPE_CHECKING:  # the seeds import this module; they need neither boto3 nor Dagster
    from orchestration.clients.aws import AwsCostExplorerClient

RESULTS_PATH = "/moto-api/static/ce/cost-and-usage-results"
RESET_PATH = "/moto-api/reset"
# Groups per page: small, so that a sandbox day (16 groups by service and account) pages.
DEFAULT_PAGE_SIZE = 10
# Cost Explorer's last days are not final; the sandbox marks this many before "today".
ESTIMATED_DAYS = 2
# moto accepts any key pair; these make plain that they are not real ones.
SANDBOX_ACCESS_KEY_ID = "AKIASANDBOXNOTAREALKEY"
SANDBOX_SECRET_ACCESS_KEY = "sandbox-secret-not-a-real-aws-secret"
SANDBOX_ENV = {
    "AWS_ACCESS_KEY_ID": SANDBOX_ACCESS_KEY_ID,
    "AWS_SECRET_ACCESS_KEY": SANDBOX_SECRET_ACCESS_KEY,
    # Never wait for an instance role that a laptop does not have.
    "AWS_EC2_METADATA_DISABLED": "true",
}
_COST_METRICS = {
    "UnblendedCost": lambda line: line.cost,
    "BlendedCost": lambda line: line.cost,
    "AmortizedCost": lambda line: line.cost,
    "NetUnblendedCost": lambda line: line.net_cost,
    "NetAmortizedCost": lambda line: line.net_cost,
}


class SandboxBindingError(RuntimeError):
    """moto did not answer a request with the page bound to it."""


def group_key(line: CloudLine, group_type: str, key: str) -> str:
    """What Cost Explorer would put in a group's Keys for `line`."""
    if group_type == "TAG":
        return f"{key}${line.tags.get(key, '')}"
    if group_type == "COST_CATEGORY":
        return f"{key}$"  # the estate defines no cost categories: everything uncategorised
    dimensions = {
        "SERVICE": line.service.name,
        "LINKED_ACCOUNT": line.account.id,
        "REGION": line.service.region,
        "USAGE_TYPE": line.service.usage_type,
        "RECORD_TYPE": "Usage",
    }
    if key not in dimensions:
        raise ValueError(f"the sandbox's Cost Explorer cannot group by DIMENSION {key}")
    return dimensions[key]


def metric_values(lines: Sequence[CloudLine], metrics: Iterable[str]) -> dict[str, Any]:
    """Cost Explorer's Metrics for the sum of `lines`: decimal strings and their units."""
    values: dict[str, Any] = {}
    for metric in metrics:
        if metric == "UsageQuantity":
            units = {line.service.unit for line in lines}
            amount = sum((line.usage_quantity for line in lines), Decimal(0))
            unit = units.pop() if len(units) == 1 else "N/A"
        elif metric in _COST_METRICS:
            amount = sum((_COST_METRICS[metric](line) for line in lines), Decimal(0))
            unit = "USD"
        else:
            raise ValueError(f"the sandbox's Cost Explorer has no metric {metric}")
        values[metric] = {"Amount": f"{amount:.10f}", "Unit": unit}
    return values


def cost_and_usage_pages(
    company: Company,
    request: Mapping[str, Any],
    *,
    today: date,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> list[dict[str, Any]]:
    """Every page Cost Explorer would answer `request` with, the first page first.

    A NextPageToken in `request` is ignored: the pages are those of the whole query.
    """
    request = {name: value for name, value in request.items() if name != "NextPageToken"}
    if request.get("Granularity") != "DAILY":
        raise ValueError("the sandbox's Cost Explorer answers DAILY granularity only")
    start = date.fromisoformat(request["TimePeriod"]["Start"])
    end = date.fromisoformat(request["TimePeriod"]["End"])
    group_by = [(g["Type"], g["Key"]) for g in request.get("GroupBy") or []]
    metrics = list(request["Metrics"])
    names = {account.id: account.name for account in cloud_accounts(company, AWS)}

    # (day, group keys, that group's lines), in Cost Explorer's order: by day, then group.
    entries: list[tuple[date, tuple[str, ...], list[CloudLine]]] = []
    for offset in range((end - start).days):
        day = start + timedelta(days=offset)
        groups: dict[tuple[str, ...], list[CloudLine]] = {}
        for line in cloud_costs_for_day(company, AWS, day):
            keys = tuple(group_key(line, kind, key) for kind, key in group_by)
            groups.setdefault(keys, []).append(line)
        entries.extend((day, keys, lines) for keys, lines in groups.items())

    chunks = [entries[i : i + page_size] for i in range(0, len(entries), page_size)] or [[]]
    stem = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()[:32]
    pages = []
    for number, chunk in enumerate(chunks, start=1):
        results: dict[date, dict[str, Any]] = {}
        accounts: list[str] = []
        for day, keys, lines in chunk:
            result = results.setdefault(
                day,
                {
                    "TimePeriod": {
                        "Start": day.isoformat(),
                        "End": (day + timedelta(days=1)).isoformat(),
                    },
                    "Total": {},
                    "Groups": [],
                    "Estimated": day >= today - timedelta(days=ESTIMATED_DAYS),
                },
            )
            if group_by:
                result["Groups"].append(
                    {"Keys": list(keys), "Metrics": metric_values(lines, metrics)}
                )
            else:
                result["Total"] = metric_values(lines, metrics)
            for (kind, key), value in zip(group_by, keys, strict=True):
                if (kind, key) == ("DIMENSION", "LINKED_ACCOUNT") and value not in accounts:
                    accounts.append(value)
        page: dict[str, Any] = {
            "GroupDefinitions": [{"Type": kind, "Key": key} for kind, key in group_by],
            "ResultsByTime": list(results.values()),
            "DimensionValueAttributes": [
                {"Value": account, "Attributes": {"description": names[account]}}
                for account in accounts
            ],
        }
        if number < len(chunks):
            page["NextPageToken"] = f"{stem}-{number + 1}"
        pages.append(page)
    return pages


def answer_page(
    company: Company,
    request: Mapping[str, Any],
    *,
    today: date,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> dict[str, Any] | None:
    """The page that answers `request` (the first, or the one its NextPageToken names);
    None for a token that this query never gave."""
    pages = cost_and_usage_pages(company, request, today=today, page_size=page_size)
    token = request.get("NextPageToken")
    if not token:
        return pages[0]
    for previous, page in pairwise(pages):
        if previous.get("NextPageToken") == token:
            return page
    return None


def serve_cost_and_usage(
    endpoint_url: str,
    client: "AwsCostExplorerClient",
    company: Company,
    windows: Iterable[tuple[date, date]],
    *,
    today: date,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> int:
    """Bind in moto every page `client` will ask for over `windows`; returns how many.

    Each window is one collector run's [start, end) (a partition: one day). Binding a window
    that is already bound to the same pages is a no-op, so calling this twice is safe.
    """
    ce = _boto_ce(endpoint_url, client.region)
    bound = 0
    for start, end in windows:
        pages = cost_and_usage_pages(
            company, client.request(start, end), today=today, page_size=page_size
        )
        token = None
        for page in pages:
            _bind(ce, endpoint_url, client.request(start, end, token), page)
            token = page.get("NextPageToken")
            bound += 1
    return bound


def source_mapping_rows(company: Company) -> list[tuple[str, ...]]:
    """source_mappings.csv rows: each linked account's department, team, project and
    environment, for the charges no team tag attributes."""
    rows = []
    for account in cloud_accounts(company, AWS):
        team = company.team(account.team)
        rows.append(
            (
                "aws",
                "sub_account_id",
                account.id,
                team.department,
                team.slug,
                account.project or "",  # shared platform spend belongs to no project
                account.environment,
            )
        )
    return rows


def daily_windows(start: date, end: date) -> list[tuple[date, date]]:
    """One window per day in [start, end): what a daily partition's run asks for."""
    return [
        (start + timedelta(days=n), start + timedelta(days=n + 1))
        for n in range((end - start).days)
    ]


def prepare_sandbox_section(
    company: Company, endpoint_url: str, start: date, end: date
) -> dict[str, Any]:
    """The vault.yaml `aws` section for moto at `endpoint_url`, its days [start, end) bound.

    "Today" is `end`: the last two days collected are still estimated, as they would be.
    """
    from orchestration.clients.aws import AwsCostExplorerClient
    from orchestration.config import AwsConfig

    payer = cloud_accounts(company, AWS)[0]
    section = {
        "endpoint_url": endpoint_url,
        "region": "us-east-1",
        "max_retries": 3,
        "billing_account_id": payer.billing_account_id,
        "billing_account_name": payer.billing_account_name,
    }
    client = AwsCostExplorerClient.from_config(AwsConfig.model_validate(section))
    serve_cost_and_usage(endpoint_url, client, company, daily_windows(start, end), today=end)
    return section


def reset(endpoint_url: str) -> None:
    """Forget every binding (and all other state) of the moto server."""
    _post(endpoint_url + RESET_PATH, {})


@contextmanager
def optional_moto_server() -> Iterator[str | None]:
    """`moto_server()`, or None where moto (a development dependency) is not installed."""
    try:
        import moto.server  # noqa: F401
    except ImportError:
        yield None
        return
    with moto_server() as url:
        yield url


@contextmanager
def moto_server(host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """A moto server in a thread of this process (port 0: a free one); yields its URL."""
    from moto.server import ThreadedMotoServer

    # werkzeug logs every request at INFO on its own handler unless told otherwise.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    try:
        bound_host, bound_port = server.get_host_and_port()
        yield f"http://{bound_host}:{bound_port}"
    finally:
        server.stop()


def _boto_ce(endpoint_url: str, region: str) -> Any:
    import boto3

    return boto3.client(
        "ce",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=SANDBOX_ACCESS_KEY_ID,
        aws_secret_access_key=SANDBOX_SECRET_ACCESS_KEY,
    )


_ANSWER_FIELDS = ("GroupDefinitions", "ResultsByTime", "DimensionValueAttributes", "NextPageToken")


def _answer(response: Mapping[str, Any]) -> dict[str, Any]:
    return {name: response[name] for name in _ANSWER_FIELDS if response.get(name)}


def _bind(ce: Any, endpoint_url: str, request: dict[str, Any], page: dict[str, Any]) -> None:
    """Make moto answer exactly `request` with `page` from now on."""
    expected = _answer(page)
    already = _answer(ce.get_cost_and_usage(**request))
    if already:  # moto answers this body already; with an empty queue that took nothing
        if already != expected:
            raise SandboxBindingError(
                f"moto at {endpoint_url} already answers {request['TimePeriod']} with other "
                f"results; reset it first (POST {RESET_PATH})"
            )
        return
    _post(endpoint_url + RESULTS_PATH, {"results": [page]})
    answered = _answer(ce.get_cost_and_usage(**request))
    if answered != expected:
        raise SandboxBindingError(
            f"moto at {endpoint_url} did not answer {request['TimePeriod']} with the page "
            "queued for it (was another result still queued?)"
        )


def _post(url: str, body: Any) -> None:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
