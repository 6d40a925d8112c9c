"""Property tests of the parsers of vendor data: garbage in, records or reasons out.

Each parser turns what a vendor gives (a JSON page, a transcript line, a FOCUS row, a custom
source's record, a hook's input, a tracked call) into records, `Rejected` items with a reason,
or the one documented error for an answer that is broken as a whole (`SourceError` for a page,
`FileRefused` for a FOCUS file). Covered here: `parse_json`, the cursor paging that Anthropic
and OpenAI share, Anthropic's Claude Code report, Datadog, Prometheus, GitHub, the transcript
reader, the FOCUS reader, the custom mapping's time and value parsers, the hook, the
tracking checks, OpenAI's usage endpoints, Mixpanel, Azure Cost Management, Stripe (through the
stripe library), Kubernetes nodes (through the official client), the custom log-files reader,
SQL collector and HTTP collector (against the internal metrics API's shape), and the row
handling of AWS Cost Explorer and the Google Cloud billing export, whose SDKs parse the answer
before the client sees it. Hypothesis feeds them arbitrary JSON shapes, wrong types, huge numbers, NaN and
infinity, non-UTF-8 bytes, long strings and deep nesting, mixed with valid records that carry
a `_probe` number: whatever the garbage beside them, every valid record must come out.

The HTTP clients are the real ones, talking HTTP to a `SandboxServer` whose only route answers
the generated pages in turn. The last test pushes generated pages through the real raw loader
into a scratch database and checks every item landed in `raw.<table>` or `raw._rejected`.
"""

import csv
import io
import json
import logging
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg.types.json import Jsonb

from orchestration.clients.anthropic import AnthropicAdminClient
from orchestration.clients.aws import _records as aws_records
from orchestration.clients.aws import natural_key as aws_natural_key
from orchestration.clients.azure import AzureCostClient
from orchestration.clients.claude_code import ClaudeCodeTranscripts, TranscriptFolderResource
from orchestration.clients.datadog import (
    ESTIMATED_COST_PATH,
    QUERY_PATH,
    DatadogClient,
    DatadogQuerySpec,
)
from orchestration.clients.focus import (
    MANDATORY_COLUMNS,
    NUMERIC_COLUMNS,
    PERIOD_COLUMNS,
    read_focus,
)
from orchestration.clients.gcp import export_row_digest, json_safe
from orchestration.clients.gcp_export_table import parse_export_table
from orchestration.clients.github import GithubClient
from orchestration.clients.kubernetes import KubernetesClient
from orchestration.clients.mixpanel import SEGMENTATION_PATH, MixpanelClient
from orchestration.clients.openai import COSTS_PATH, USAGE_ENDPOINTS, USAGE_PATH, OpenAIAdminClient
from orchestration.clients.prometheus import (
    QUERY_RANGE_PATH,
    PrometheusClient,
    PrometheusQuerySpec,
)
from orchestration.clients.stripe import StripeBilling
from orchestration.collectors.files import DeliveredFile, FileRefused
from orchestration.collectors.framework import Window
from orchestration.collectors.http import SourceError, parse_json
from orchestration.custom.entries import HttpApiEntry, JsonMapping, LogSourceEntry, SqlQueryEntry
from orchestration.custom.http_api import collect as collect_http_api
from orchestration.custom.log_files import collect as collect_log_files
from orchestration.custom.mapping import compile_json_mapping, metric_value, parse_time
from orchestration.custom.sql import collect as collect_sql
from orchestration.hook import main as hook
from orchestration.sandbox import azure_cost
from orchestration.sandbox.company import build_company
from orchestration.sandbox.custom_sources import METRICS_TOKEN_ENV, service_metrics_entry
from orchestration.sandbox.internal_metrics import CURSOR_PATH, TOKEN_PREFIX
from orchestration.sandbox.kubernetes_api import (
    DISCOVERY_PATH,
    NAMESPACES_PATH,
    NODES_PATH,
    PODS_PATH,
    write_kubeconfig,
)
from orchestration.sandbox.routing import Response, Route
from orchestration.sandbox.server import SandboxServer
from orchestration.tracking import Tracker
from orchestration.tracking.events import Call, check_call, to_record
from orchestration.warehouse.loader import Rejected, encode_record, replace_partition

LOG = logging.getLogger("test_parsers_properties")
DAY = datetime(2026, 11, 3, tzinfo=UTC)
PROBE = "_probe"

# Deterministic in CI: the same examples every run, and no example database on disk.
PROPERTIES = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# --- strategies ---------------------------------------------------------------------------

# Text as hostile as JSON can carry: NUL, control characters, lone surrogates (sent escaped).
any_text = st.one_of(
    st.text(max_size=20),
    st.text(st.characters(codec=None), max_size=20),
    st.sampled_from(
        ["", "\x00", "\ud800", "\\u0000", "'; drop table x; --", "{{ 1 }}", "9" * 5000]
    ),
)
keys = st.text(max_size=12).filter(lambda key: key != PROBE)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    any_text,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)


def deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def probed(extra: st.SearchStrategy) -> st.SearchStrategy:
    """Valid records: objects of arbitrary extra fields (`tag_probes` gives each its probe)."""
    return st.dictionaries(keys, extra, max_size=3)


class Pages:
    """Hands out probe numbers, one per valid record, unique within one example."""

    def __init__(self) -> None:
        self.next_probe = 0

    def probe(self, record: dict[str, Any]) -> dict[str, Any]:
        self.next_probe += 1
        return {**record, PROBE: self.next_probe}


def tag_probes(value: Any, pages: Pages) -> tuple[Any, set[int]]:
    """`value` with every `("valid", record)` replaced by the record and a fresh probe."""
    if isinstance(value, tuple) and value and value[0] == "valid":
        record = pages.probe(value[1])
        return record, {record[PROBE]}
    if isinstance(value, list):
        out, probes = [], set()
        for item in value:
            tagged, found = tag_probes(item, pages)
            out.append(tagged)
            probes |= found
        return out, probes
    if isinstance(value, dict):
        out_dict, probes = {}, set()
        for key, item in value.items():
            tagged, found = tag_probes(item, pages)
            out_dict[key] = tagged
            probes |= found
        return out_dict, probes
    return value, set()


valid_record = probed(json_values).map(lambda record: ("valid", record))
garbage = st.one_of(json_values, st.just(deep(50)))


def bucket_pages(bounds: tuple[str, str]) -> st.SearchStrategy:
    """Cursor-paged report bodies: buckets of results, valid or not, beside garbage."""
    results = st.one_of(
        st.lists(st.one_of(valid_record, garbage), max_size=5),
        json_values,  # a `results` that is no list at all
    )
    bucket = st.fixed_dictionaries({bounds[0]: any_text, bounds[1]: any_text, "results": results})
    body = st.fixed_dictionaries(
        {"data": st.lists(st.one_of(bucket, bucket, garbage), max_size=4)},
        optional={"has_more": json_values, "next_page": json_values},
    )
    return st.lists(st.one_of(body, body, body, json_values), min_size=1, max_size=3)


def page_bytes(body: Any) -> bytes:
    """The page as a vendor would send it; lone surrogates travel as JSON escapes."""
    return json.dumps(body, ensure_ascii=True).encode()


broken_bytes = st.one_of(
    st.binary(max_size=64),
    st.sampled_from(
        [
            b"",
            b'{"data": [1, 2',
            b'{"data": [NaN]}',
            b'{"data": [Infinity], "has_more": false}',
            b'{"data": [1' + b"0" * 5000 + b"]}",
            b"\xff\xfe{}",
            b"[" * 100_000 + b"]" * 100_000,
            b'{"data": [' + b"[" * 3000 + b"]" * 3000 + b"]}",
        ]
    ),
)

# --- the fake vendor --------------------------------------------------------------------------


class Served:
    """The pages the sandbox's single route answers, one per request, in turn."""

    def __init__(self) -> None:
        self.pages: list[bytes] = []
        self.requests = 0

    def load(self, pages: list[bytes]) -> None:
        self.pages = pages
        self.requests = 0

    def answer(self, company: Any, request: Any) -> Response:
        index = min(self.requests, len(self.pages) - 1)
        self.requests += 1
        return Response(200, self.pages[index])


@pytest.fixture(scope="module")
def served() -> Served:
    return Served()


@pytest.fixture(scope="module")
def vendor_url(served: Served) -> Iterator[str]:
    route = Route(served.answer, lambda status: Response(status, {"error": "fault"}))
    routes = {
        ("GET", path): route
        for path in (
            "/v1/organizations/cost_report",
            "/v1/organizations/usage_report/claude_code",
            COSTS_PATH,
            QUERY_PATH,
            ESTIMATED_COST_PATH,
            QUERY_RANGE_PATH,
            GITHUB_COMMITS,
            GITHUB_PULLS,
        )
    }
    routes.update({("GET", path): route for path in MORE_GET_PATHS})
    routes[("POST", azure_cost.query_path(AZURE_SCOPE))] = route
    routes[("GET", azure_cost.TOKEN_PATH)] = azure_cost.ROUTES[("GET", azure_cost.TOKEN_PATH)]
    with SandboxServer(build_company(7), routes=routes) as server:
        yield server.url


def outcome(items: Iterator[Any]) -> tuple[list[Any], SourceError | None]:
    """Every item a parser yields, and the SourceError that ended it, if one did."""
    out: list[Any] = []
    try:
        for item in items:
            out.append(item)
    except SourceError as error:
        assert str(error), "a SourceError must say what was wrong"
        return out, error
    return out, None


def check_items(items: list[Any]) -> set[int]:
    """Every item is a record or a reasoned rejection; the probes of the records."""
    probes = set()
    for item in items:
        if isinstance(item, Rejected):
            assert isinstance(item.reason, str) and item.reason.strip()
        else:
            assert isinstance(item, dict), f"neither a record nor Rejected: {item!r}"
            if isinstance(item.get(PROBE), int):
                probes.add(item[PROBE])
    return probes


def serve(served: Served, bodies: list[Any], reachable: Any) -> list[set[int]]:
    """Load generated bodies as pages, each but the last saying there is more unless the body
    says otherwise; the probes of the valid records on each page."""
    pages, per_page, raw_pages = Pages(), [], []
    for position, body in enumerate(bodies):
        tagged, _ = tag_probes(body, pages)
        page_shaped = isinstance(tagged, dict) and isinstance(tagged.get("data"), list)
        if page_shaped and "has_more" not in tagged:
            tagged["has_more"] = position < len(bodies) - 1
            tagged["next_page"] = f"page-{position + 1}"
        raw_pages.append(page_bytes(tagged))
        per_page.append(reachable(tagged))
    served.load(raw_pages)
    return per_page


def read_pages(served: Served, per_page: list[set[int]]) -> set[int]:
    """The probes on the pages the client asked for."""
    return set().union(*per_page[: served.requests])


def bucket_probes(tagged: Any) -> set[int]:
    """The probes of a page's valid results: objects in a `results` list of a bucket object."""
    if not (isinstance(tagged, dict) and isinstance(tagged.get("data"), list)):
        return set()
    found = set()
    for bucket in tagged["data"]:
        if isinstance(bucket, dict) and isinstance(bucket.get("results"), list):
            found |= {r[PROBE] for r in bucket["results"] if isinstance(r, dict) and PROBE in r}
    return found


def record_probes(tagged: Any) -> set[int]:
    """The probes of the objects in a page's `data` list."""
    if not (isinstance(tagged, dict) and isinstance(tagged.get("data"), list)):
        return set()
    return {r[PROBE] for r in tagged["data"] if isinstance(r, dict) and PROBE in r}


# --- parse_json -------------------------------------------------------------------------------


@PROPERTIES
@given(st.one_of(broken_bytes, json_values.map(page_bytes)))
def test_parse_json_gives_a_value_or_a_value_error(payload):
    try:
        value = parse_json(payload)
    except ValueError as error:
        assert str(error)
        return
    assert not _has_non_finite(value)


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, list):
        return any(_has_non_finite(item) for item in value)
    if isinstance(value, dict):
        return any(_has_non_finite(item) for item in value.values())
    return False


# --- cursor-paged reports: Anthropic and OpenAI -----------------------------------------------


@PROPERTIES
@given(bodies=bucket_pages(("starting_at", "ending_at")))
def test_anthropic_cost_report_keeps_every_valid_result(served, vendor_url, bodies):
    per_page = serve(served, bodies, bucket_probes)
    client = AnthropicAdminClient(base_url=vendor_url, api_key="sk-ant-admin-test", max_retries=0)
    items, error = outcome(client.cost_report(DAY, DAY + timedelta(days=1)))
    found = check_items(items)
    if error is None:
        assert found == read_pages(served, per_page)


@PROPERTIES
@given(bodies=bucket_pages(("start_time", "end_time")))
def test_openai_costs_keep_every_valid_result(served, vendor_url, bodies):
    per_page = serve(served, bodies, bucket_probes)
    client = OpenAIAdminClient(base_url=vendor_url, api_key="sk-admin-test", max_retries=0)
    items, error = outcome(client.costs(DAY, DAY + timedelta(days=1)))
    found = check_items(items)
    if error is None:
        assert found == read_pages(served, per_page)


@PROPERTIES
@given(
    bodies=st.lists(
        st.one_of(
            st.fixed_dictionaries(
                {"data": st.lists(st.one_of(valid_record, garbage), max_size=5)},
                optional={"has_more": json_values, "next_page": json_values},
            ),
            json_values,
        ),
        min_size=1,
        max_size=3,
    )
)
def test_claude_code_analytics_keeps_every_valid_record(served, vendor_url, bodies):
    per_page = serve(served, bodies, record_probes)
    client = AnthropicAdminClient(base_url=vendor_url, api_key="sk-ant-admin-test", max_retries=0)
    items, error = outcome(client.claude_code_usage(DAY, DAY + timedelta(days=1)))
    found = check_items(items)
    if error is None:
        assert found == read_pages(served, per_page)


@PROPERTIES
@given(payload=broken_bytes)
def test_a_broken_page_is_a_source_error(served, vendor_url, payload):
    served.load([payload])
    client = AnthropicAdminClient(base_url=vendor_url, api_key="sk-ant-admin-test", max_retries=0)
    items, error = outcome(client.cost_report(DAY, DAY + timedelta(days=1)))
    check_items(items)
    try:
        parse_json(payload)
    except ValueError:
        assert error is not None, "a page that is not JSON must fail the fetch"


# --- Datadog and Prometheus: one query each ---------------------------------------------------


def _datadog(vendor_url: str) -> DatadogClient:
    return DatadogClient(
        base_url=vendor_url,
        api_key="dd-api",
        app_key="dd-app",
        max_retries=0,
        queries=[DatadogQuerySpec(name="requests", query="sum:requests{*}", unit="requests")],
    )


@PROPERTIES
@given(
    body=st.one_of(
        st.fixed_dictionaries(
            {"status": st.just("ok"), "series": st.lists(st.one_of(valid_record, garbage))},
            optional={"from_date": json_values, "res_type": json_values},
        ),
        json_values,
    )
)
def test_datadog_series_keep_every_valid_series(served, vendor_url, body):
    tagged, probes = tag_probes(body, Pages())
    served.load([page_bytes(tagged)])
    items, error = outcome(_datadog(vendor_url).metric_series(DAY, DAY + timedelta(days=1)))
    if error is None:
        assert check_items(items) == probes


@PROPERTIES
@given(
    body=st.one_of(
        st.fixed_dictionaries(
            {
                "data": st.lists(
                    st.one_of(
                        st.fixed_dictionaries(
                            {
                                "attributes": st.fixed_dictionaries(
                                    {"charges": st.lists(st.one_of(valid_record, garbage))},
                                    optional={"date": json_values, "org_name": json_values},
                                )
                            }
                        ),
                        garbage,
                    )
                )
            }
        ),
        json_values,
    )
)
def test_datadog_estimated_costs_keep_every_valid_charge(served, vendor_url, body):
    tagged, probes = tag_probes(body, Pages())
    served.load([page_bytes(tagged)])
    items, error = outcome(_datadog(vendor_url).estimated_costs(DAY.date()))
    if error is None:
        assert check_items(items) == probes


@PROPERTIES
@given(
    body=st.one_of(
        st.fixed_dictionaries(
            {
                "status": st.just("success"),
                "data": st.fixed_dictionaries(
                    {
                        "resultType": st.just("matrix"),
                        "result": st.lists(
                            st.one_of(
                                st.fixed_dictionaries(
                                    {
                                        "metric": st.dictionaries(keys, any_text, max_size=3),
                                        "values": json_values,
                                        "probe": valid_record,
                                    }
                                ),
                                garbage,
                            )
                        ),
                    }
                ),
            },
            optional={"warnings": json_values},
        ),
        json_values,
    )
)
def test_prometheus_keeps_every_labelled_series(served, vendor_url, body):
    tagged, _ = tag_probes(body, Pages())
    expected = set()
    if isinstance(tagged, dict) and isinstance(tagged.get("data"), dict):
        for series in tagged["data"]["result"]:
            if isinstance(series, dict) and isinstance(series.get("probe"), dict):
                # The probe rides in a field of the series; the series itself is the record.
                series[PROBE] = series.pop("probe")[PROBE]
                expected.add(series[PROBE])
    served.load([page_bytes(tagged)])
    client = PrometheusClient(
        base_url=vendor_url,
        max_retries=0,
        queries=[PrometheusQuerySpec(name="cpu", query="up", unit="ratio", step="1h")],
    )
    items, error = outcome(client.range_records(DAY, DAY + timedelta(days=1)))
    if error is None:
        assert check_items(items) == expected


# --- GitHub: lists of commits and pull requests -------------------------------------------------

GITHUB_COMMITS = "/repos/acme/app/commits"
GITHUB_PULLS = "/repos/acme/app/pulls"
IN_WINDOW = "2026-11-03T12:00:00Z"
github_garbage = st.one_of(
    garbage,
    st.sampled_from(
        [{"commit": 5}, {"commit": {"committer": 3}}, {"number": [1]}, {"number": "7"}]
    ),
)


def _github(vendor_url: str) -> GithubClient:
    return GithubClient(
        base_url=vendor_url,
        token="ghp_test",
        max_retries=0,
        repositories=["acme/app"],
        pull_request_details=False,
    )


@PROPERTIES
@given(page=st.one_of(st.lists(st.one_of(valid_record, github_garbage), max_size=8), json_values))
def test_github_commits_keep_every_dated_commit(served, vendor_url, page):
    tagged, probes = tag_probes(page, Pages())
    if isinstance(tagged, list):
        for item in tagged:
            if isinstance(item, dict) and PROBE in item:
                item["commit"] = {"committer": {"date": IN_WINDOW}}
    served.load([page_bytes(tagged)])
    items, error = outcome(_github(vendor_url).commits(DAY, DAY + timedelta(days=1), LOG))
    if error is None:
        assert check_items(items) == probes


@PROPERTIES
@given(page=st.one_of(st.lists(st.one_of(valid_record, github_garbage), max_size=8), json_values))
def test_github_pull_requests_keep_every_numbered_pull(served, vendor_url, page):
    tagged, probes = tag_probes(page, Pages())
    if isinstance(tagged, list):
        for item in tagged:
            if isinstance(item, dict) and PROBE in item:
                item.update(number=item[PROBE], created_at=IN_WINDOW, updated_at=IN_WINDOW)
    served.load([page_bytes(tagged)])
    items, error = outcome(_github(vendor_url).pull_requests(DAY, DAY + timedelta(days=1), LOG))
    if error is None:
        assert check_items(items) == probes


# --- Claude Code transcripts --------------------------------------------------------------------


def _transcript_line(number: int, extra: dict[str, Any]) -> bytes:
    line = {
        **extra,
        "type": "assistant",
        "timestamp": (DAY + timedelta(minutes=number)).isoformat().replace("+00:00", "Z"),
        "requestId": f"req_{number}",
        "message": {"id": f"msg_{number}", "usage": {"input_tokens": number, "output_tokens": 1}},
    }
    return json.dumps(line).encode()


bad_lines = st.one_of(
    st.binary(max_size=40).filter(lambda raw: b"\n" not in raw),
    json_values.filter(lambda v: not (isinstance(v, dict) and "timestamp" in v)).map(page_bytes),
    st.just(b"[" * 5000),
    st.just(b'{"timestamp": NaN, "message": {"usage": {}}}'),
    st.just('{"ok": "caf\u00e9"}'.encode("latin-1")),
)


@PROPERTIES
@given(
    lines=st.lists(
        st.one_of(
            st.dictionaries(keys, scalars, max_size=2).map(lambda extra: ("valid", extra)),
            bad_lines,
        ),
        min_size=1,
        max_size=12,
    )
)
def test_transcripts_keep_every_usage_line_and_reject_the_rest(tmp_path_factory, lines):
    folder = tmp_path_factory.mktemp("transcripts")
    (folder / "-work-project").mkdir()
    raw_lines, valid, bad = [], set(), 0
    for number, line in enumerate(lines):
        if isinstance(line, tuple):
            raw_lines.append(_transcript_line(number, line[1]))
            valid.add(f"msg_{number}")
        else:
            raw_lines.append(line)
            bad += bool(line.strip()) and not _is_json_object(line)
    (folder / "-work-project" / "session.jsonl").write_bytes(b"\n".join(raw_lines) + b"\n")
    reader = ClaudeCodeTranscripts(folders=[TranscriptFolderResource(path=str(folder))])
    window = Window(DAY, DAY + timedelta(days=1), DAY.date().isoformat(), LOG)
    items = list(reader.messages(window))
    check_items(items)
    assert {item["message"]["id"] for item in items if isinstance(item, dict)} == valid
    if valid:
        assert sum(isinstance(item, Rejected) for item in items) == bad


def _is_json_object(raw: bytes) -> bool:
    try:
        return isinstance(json.loads(raw), dict)
    except (ValueError, RecursionError):
        return False


# --- FOCUS files ------------------------------------------------------------------------------


def _focus_row(number: int) -> dict[str, str]:
    row = {name: f"value {number}" for name in MANDATORY_COLUMNS}
    row.update({name: "1.25" for name in NUMERIC_COLUMNS if name in row})
    row.update({name: "2026-11-03T00:00:00Z" for name in PERIOD_COLUMNS})
    row["ChargePeriodEnd"] = row["BillingPeriodEnd"] = "2026-11-04T00:00:00Z"
    row["BillingCurrency"] = "USD"
    row["Tags"] = json.dumps({"team": f"t{number}"})
    row["x_Probe"] = str(number)
    return row


file_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
focus_columns = [*MANDATORY_COLUMNS, "Tags", "x_Probe"]


@PROPERTIES
@given(
    rows=st.lists(
        st.one_of(
            st.just(None),
            st.tuples(st.sampled_from(focus_columns[:-1]), st.one_of(file_text, st.just("\x00"))),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_a_focus_file_loads_whole_or_is_refused_with_a_reason(tmp_path_factory, rows):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=focus_columns)
    writer.writeheader()
    for number, change in enumerate(rows):
        row = _focus_row(number)
        if change is not None:
            row[change[0]] = change[1]
        writer.writerow(row)
    path = tmp_path_factory.mktemp("focus") / "export.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    try:
        records = list(read_focus(_delivered(path)))
    except FileRefused as refusal:
        assert refusal.reason.strip()
        assert any(change is not None for change in rows), "a clean file was refused"
        return
    assert [record["x_Probe"] for record in records] == [str(n) for n in range(len(rows))]
    for record in records:
        encode_record(record)  # whatever the reader accepts, the loader can store


@PROPERTIES
@given(content=st.one_of(st.binary(min_size=1, max_size=200), file_text.map(str.encode)))
def test_a_focus_file_of_garbage_is_refused(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("focus") / "export.csv"
    path.write_bytes(content)
    with pytest.raises(FileRefused) as refusal:
        list(read_focus(_delivered(path)))
    assert refusal.value.reason.strip()


def _delivered(path: Path) -> DeliveredFile:
    return DeliveredFile(
        uri=path.as_uri(),
        name=path.name,
        path=path,
        size=path.stat().st_size,
        sha256="0" * 64,
        options={},
        log=LOG,
    )


# --- custom source mappings -------------------------------------------------------------------

MAPPING = compile_json_mapping(
    JsonMapping(
        time="t",
        metrics=[
            {"name": "service.requests", "value": "v", "unit": "requests"},
            {"name": "service.errors", "value": "e", "unit": "errors"},
        ],
        tags={"service": "svc"},
        key=["id"],
    ),
    entry="status_page",
    source_system="status_page",
)
any_value = st.one_of(
    json_values,
    st.integers(min_value=10**300, max_value=10**400),
    st.sampled_from([2**63, -(2**63) - 1]),
    st.floats(),  # NaN and infinity included
    st.just(deep(600)),
)


@PROPERTIES
@given(value=any_value, time_format=st.sampled_from(["auto", "iso", "unix_s", "unix_ms"]))
def test_time_and_value_parsers_refuse_with_a_value_error(value, time_format):
    for parse in (lambda v: parse_time(v, time_format), metric_value):
        try:
            parse(value)
        except ValueError as error:
            assert str(error)


@PROPERTIES
@given(
    records=st.lists(
        st.one_of(
            st.fixed_dictionaries(
                {"t": st.integers(1_700_000_000, 1_900_000_000), "v": st.integers(0, 10**6)},
                optional={"svc": any_value, "e": any_value, "x": any_value},
            ).map(lambda record: ("valid", record)),
            st.dictionaries(st.sampled_from(["t", "v", "e", "svc", "id"]), any_value),
            any_value,
        ),
        max_size=6,
    )
)
def test_a_mapping_keeps_every_readable_metric(records):
    pages = Pages()
    expected, got = set(), set()
    for position, item in enumerate(records):
        if isinstance(item, tuple):
            record = {**pages.probe(item[1]), "id": f"r{position}"}
            expected.add(record[PROBE])
        else:
            record = item
        if not isinstance(record, dict):
            continue
        try:
            moment = MAPPING.observed_at(record)
        except ValueError as error:
            assert str(error)
            continue
        out = MAPPING.observations(record, moment, {"page": 1, "index": position})
        check_items(out)
        got |= {
            o["source"][PROBE]
            for o in out
            if isinstance(o, dict) and o["metric"] == "service.requests" and PROBE in o["source"]
        }
    assert got == expected


# --- the Claude Code hook's input -------------------------------------------------------------

hook_inputs = st.one_of(
    broken_bytes,
    json_values.map(page_bytes),
    st.fixed_dictionaries(
        {"prompt": any_value},
        optional={
            "session_id": any_value,
            "cwd": any_value,
            "hook_event_name": st.one_of(st.just("UserPromptSubmit"), any_text),
        },
    ).map(page_bytes),
)


@PROPERTIES
@given(payload=hook_inputs)
def test_the_hook_records_a_storable_event_or_logs_why_not(tmp_path_factory, payload):
    folder = tmp_path_factory.mktemp("hook")
    spool = folder / "hook.jsonl"
    env = {"VAULT_HOOK_SPOOL": str(spool), "HOME": str(folder), "VAULT_USER_EMAIL": "a@b.test"}
    hook.run(io.BytesIO(payload), env)
    lines = spool.read_bytes().splitlines() if spool.exists() else []
    logged = (folder / "hook.log").read_text() if (folder / "hook.log").exists() else ""
    assert len(lines) + bool(logged) == 1, "exactly one of an event and a log line"
    if lines:
        event = parse_json(lines[0])
        assert event["event_type"] == "prompt_classified"
        encode_record(event)
    else:
        assert "not recorded" in logged or "nothing recorded" in logged


# --- tracked product usage calls --------------------------------------------------------------

# An integer too long for Python to turn into text (and so into JSON); built lazily, since
# even showing it in a strategy's repr fails.
too_long_int = st.builds(lambda: 10**5000)
call_value = st.one_of(any_value, st.decimals(), too_long_int)
call_fields = st.fixed_dictionaries(
    {
        "customer": st.one_of(any_text, call_value),
        "feature": st.one_of(st.just("search"), call_value),
        "model": st.just("gpt-4.1-mini"),
        "provider": st.just("openai"),
        "tokens_in": st.one_of(st.integers(0, 10**6), call_value),
        "tokens_out": st.one_of(st.integers(0, 10**6), st.integers(), call_value),
        "cache_read_tokens": st.integers(0, 10),
        "cache_write_tokens": st.integers(0, 10),
        "cost_usd": st.one_of(st.none(), st.floats(), call_value),
        "latency_ms": st.one_of(st.floats(), call_value),
        "success": st.one_of(st.booleans(), call_value),
        "error_type": st.one_of(st.none(), any_text),
        "request_id": st.one_of(st.none(), any_text),
        "tags": st.one_of(st.none(), st.dictionaries(any_text, call_value, max_size=3), call_value),
        "event_id": st.one_of(st.none(), any_text),
    }
)


@PROPERTIES
@given(fields=call_fields)
def test_every_accepted_call_is_a_storable_record(fields):
    problem = check_call(**fields)
    if problem is not None:
        assert problem.strip()
        return
    call = Call(occurred_at=DAY.timestamp(), **fields)
    encode_record(to_record(call, "00000000-0000-4000-8000-000000000000"))


@settings(PROPERTIES, max_examples=25)
@given(fields=call_fields)
def test_the_tracker_accepts_or_refuses_and_never_raises(tmp_path_factory, fields):
    spool = tmp_path_factory.mktemp("tracking")
    with Tracker(spool_dir=spool, flush_interval=60) as tracker:
        accepted = tracker.track(**fields)
        assert accepted is (check_call(**fields) is None)
        stats = tracker.stats()
    assert (stats.rejected, stats.tracked) == ((0, 1) if accepted else (1, 0))


# --- through the raw loader -------------------------------------------------------------------


@settings(PROPERTIES, max_examples=25)
@given(bodies=bucket_pages(("starting_at", "ending_at")))
def test_the_loader_stores_every_record_or_its_rejection(
    served, vendor_url, module_database, bodies
):
    serve(served, bodies, bucket_probes)
    client = AnthropicAdminClient(base_url=vendor_url, api_key="sk-ant-admin-test", max_retries=0)
    items, error = outcome(client.cost_report(DAY, DAY + timedelta(days=1)))
    if error is not None:
        return
    storable, refused = {}, [item.reason for item in items if isinstance(item, Rejected)]
    for item in items:
        if isinstance(item, dict):
            try:
                storable[item.get(PROBE)] = encode_record(item)
            except ValueError as problem:
                refused.append(str(problem))
    with psycopg.connect(module_database, autocommit=True) as conn:
        result = replace_partition(
            conn,
            source="anthropic",
            table="probe_cost_report",
            partition_key="2026-11-03",
            run_id="properties",
            records=iter(items),
            natural_key=(PROBE,),
        )
        stored = conn.execute(
            "select record from raw.probe_cost_report where partition_key = '2026-11-03'"
        ).fetchall()
        reasons = conn.execute(
            "select reason, raw_text from raw._rejected where table_name = 'probe_cost_report'"
        ).fetchall()
        # Compared as jsonb, whose numbers are numeric: 1e16 and 10000000000000000 are equal.
        unchanged = [
            conn.execute(
                "select count(*) from raw.probe_cost_report where record = %s::jsonb", (text,)
            ).fetchone()[0]
            for probe, text in storable.items()
            if probe is not None
        ]
    assert (result.rows, result.rejected) == (len(stored), len(reasons))
    assert sorted(reason for reason, _ in reasons) == sorted(refused)
    assert all(reason.strip() and raw_text is not None for reason, raw_text in reasons)
    probes_stored = {record.get(PROBE) for (record,) in stored if PROBE in record}
    assert probes_stored == {probe for probe in storable if probe is not None}
    assert all(count == 1 for count in unchanged), "a record must be stored as it came"


MORE_GET_PATHS = (
    *(USAGE_PATH.format(endpoint=endpoint) for endpoint in USAGE_ENDPOINTS),
    SEGMENTATION_PATH,
    CURSOR_PATH,
    NODES_PATH,
    NAMESPACES_PATH,
    PODS_PATH,
    DISCOVERY_PATH,
    "/v1/invoices",
    "/v1/subscriptions",
    "/v1/balance_transactions",
    "/v1/customers",
)


# --- OpenAI usage buckets ---------------------------------------------------------------------


@PROPERTIES
@given(endpoint=st.sampled_from(USAGE_ENDPOINTS), bodies=bucket_pages(("start_time", "end_time")))
def test_openai_usage_keeps_every_valid_result(served, vendor_url, endpoint, bodies):
    per_page = serve(served, bodies, bucket_probes)
    client = OpenAIAdminClient(base_url=vendor_url, api_key="sk-admin-test", max_retries=0)
    items, error = outcome(client.usage(endpoint, DAY, DAY + timedelta(days=1)))
    found = check_items(items)
    if error is None:
        assert found == read_pages(served, per_page)


# --- Mixpanel: one segmentation answer per event ----------------------------------------------

MIXPANEL_EVENTS = ["signup", "search"]


@PROPERTIES
@given(
    body=st.one_of(
        st.fixed_dictionaries(
            {
                "data": st.fixed_dictionaries(
                    {
                        "series": json_values,
                        "values": st.dictionaries(
                            any_text, st.one_of(st.dictionaries(any_text, json_values), garbage)
                        ),
                    }
                )
            },
            optional={"legend_size": json_values},
        ),
        st.fixed_dictionaries({"data": json_values}),
        json_values,
    )
)
def test_mixpanel_keeps_each_answer_or_says_it_has_no_values(served, vendor_url, body):
    served.load([page_bytes(body)])
    client = MixpanelClient(
        base_url=vendor_url,
        project_id=1,
        username="sa",
        secret="secret",
        events=MIXPANEL_EVENTS,
        property_name="plan",
        max_retries=0,
    )
    items, error = outcome(client.event_counts(DAY, DAY + timedelta(days=1)))
    check_items(items)
    has_values = isinstance(body, dict) and isinstance(body.get("data"), dict)
    has_values = has_values and isinstance(body["data"].get("values"), dict)
    assert (error is None) is has_values
    if has_values:
        assert [item["event"] for item in items] == MIXPANEL_EVENTS
        assert all(item["data"] == json.loads(page_bytes(body))["data"] for item in items)


# --- Azure Cost Management: columns and rows --------------------------------------------------

AZURE_SCOPE = "/subscriptions/00000000-0000-4000-8000-000000000001"
AZURE_COLUMNS = ["UsageDate", "PreTaxCost", "ResourceGroupName", "ServiceName", PROBE]
azure_garbage_rows = st.one_of(
    garbage,
    st.lists(scalars, max_size=6),
    st.sampled_from(
        [[20261103, 1.5, ["rg"], "svc", None], [20261103, "1.5", {"rg": 1}, None, None]]
    ),
    st.tuples(
        st.one_of(
            any_value, st.sampled_from([20261103, 20261104, "2026113", 2026110.5, "20261303"])
        ),
        any_value,
        any_value,
        any_value,
        st.none(),
    ).map(list),
)
azure_valid_rows = st.tuples(
    st.sampled_from([20261103, "20261103", 20261103.0]),
    st.floats(allow_nan=False, allow_infinity=False),
    any_text,
    any_text,
).map(lambda row: ("valid", list(row)))


def azure_bodies(columns: st.SearchStrategy) -> st.SearchStrategy:
    properties = st.fixed_dictionaries(
        {"columns": columns, "rows": st.lists(st.one_of(azure_valid_rows, azure_garbage_rows))},
        optional={"nextLink": st.one_of(st.none(), json_values)},
    )
    return st.lists(
        st.one_of(st.fixed_dictionaries({"properties": properties}), json_values),
        min_size=1,
        max_size=3,
    )


azure_columns = st.one_of(
    st.just([{"name": name, "type": "String"} for name in AZURE_COLUMNS]),
    st.lists(st.one_of(st.fixed_dictionaries({"name": any_text}), json_values), max_size=5),
)


def _azure_rows(bodies: list[Any], pages: Pages) -> tuple[list[bytes], list[set[int]]]:
    """The pages with a probe ending each valid row; the probes on each page."""
    raw, per_page = [], []
    for body in bodies:
        probes = set()
        properties = body.get("properties") if isinstance(body, dict) else None
        if isinstance(properties, dict):
            named = [c.get("name") if isinstance(c, dict) else None for c in properties["columns"]]
            rows = []
            for row in properties["rows"]:
                if isinstance(row, tuple):
                    probe = pages.probe({})[PROBE]
                    row = [*row[1], probe]
                    if named == AZURE_COLUMNS:
                        probes.add(probe)
                rows.append(row)
            properties["rows"] = rows
        raw.append(page_bytes(body))
        per_page.append(probes)
    return raw, per_page


@pytest.fixture(scope="module")
def azure_identity(vendor_url: str) -> Iterator[None]:
    """The sandbox's managed-identity token endpoint, and no other credential to pick."""
    with pytest.MonkeyPatch.context() as patch:
        for variable in (
            "AZURE_CLIENT_ID",
            "AZURE_CLIENT_SECRET",
            "AZURE_TENANT_ID",
            "MSI_ENDPOINT",
        ):
            patch.delenv(variable, raising=False)
        patch.setenv("IDENTITY_ENDPOINT", vendor_url + azure_cost.TOKEN_PATH)
        patch.setenv("IDENTITY_HEADER", azure_cost.IDENTITY_HEADER)
        yield


def _azure(vendor_url: str, **settings: Any) -> AzureCostClient:
    return AzureCostClient(
        base_url=vendor_url,
        scopes=[AZURE_SCOPE],
        credential="managed_identity",
        max_retries=0,
        **settings,
    )


@PROPERTIES
@given(bodies=azure_bodies(azure_columns))
def test_azure_keeps_every_row_of_the_day(served, vendor_url, azure_identity, bodies):
    raw, per_page = _azure_rows(bodies, Pages())
    served.load(raw)
    items, error = outcome(_azure(vendor_url).cost_rows(DAY, DAY + timedelta(days=1), LOG))
    found = check_items(items)
    if error is None:
        assert found == read_pages(served, per_page)
        assert all(item["scope"] == AZURE_SCOPE for item in items if isinstance(item, dict))


@settings(PROPERTIES, max_examples=25)
@given(bodies=azure_bodies(st.just([{"name": name} for name in AZURE_COLUMNS])))
def test_azure_split_queries_reject_or_fail_and_never_crash(
    served, vendor_url, azure_identity, bodies
):
    # Three groupings: the rows are totalled by their first grouping's value, which may be
    # anything a vendor sends, and each value is queried again with a filter.
    raw, _ = _azure_rows(bodies, Pages())
    served.load(raw)
    client = _azure(vendor_url, tag_key="team")
    items, _ = outcome(client.cost_rows(DAY, DAY + timedelta(days=1), LOG))
    check_items(items)


# --- Stripe: lists through the stripe library -------------------------------------------------

STRIPE_FIELDS = {"id", "object", "lines", "items", "ended_at", "status"}
stripe_extra = st.dictionaries(keys.filter(lambda key: key not in STRIPE_FIELDS), json_values)
stripe_garbage = st.one_of(
    garbage,
    st.sampled_from(
        [
            {"id": "in_x", "lines": [1, 2]},
            {"id": "in_x", "lines": "many"},
            {"id": "in_x", "lines": {"has_more": True, "data": 5}},
            {"id": "sub_x", "items": [{"id": "si_1"}]},
            {"id": "sub_x", "ended_at": "yesterday"},
            {"id": "sub_x", "ended_at": [1]},
            {"id": "sub_x", "status": ["active"]},
            {"id": ["in_x"]},
        ]
    ),
)


def stripe_pages(kind: str) -> st.SearchStrategy:
    page = st.fixed_dictionaries(
        {
            "object": st.just("list"),
            "data": st.lists(
                st.one_of(stripe_extra.map(lambda extra: ("valid", extra)), stripe_garbage),
                max_size=5,
            ),
        },
        optional={"has_more": json_values},
    )
    return st.lists(st.one_of(page, page, json_values), min_size=1, max_size=2)


def _stripe_serve(served: Served, bodies: list[Any], prefix: str) -> list[set[int]]:
    pages, raw, per_page = Pages(), [], []
    for position, body in enumerate(bodies):
        tagged, probes = tag_probes(body, pages)
        if isinstance(tagged, dict) and isinstance(tagged.get("data"), list):
            for item in tagged["data"]:
                if isinstance(item, dict) and PROBE in item:
                    item["id"] = f"{prefix}_{item[PROBE]}"
            tagged.setdefault("has_more", position < len(bodies) - 1)
        raw.append(page_bytes(tagged))
        per_page.append(probes)
    served.load(raw)
    return per_page


@PROPERTIES
@given(
    kind=st.sampled_from(["invoices", "subscriptions", "balance_transactions", "customers"]),
    data=st.data(),
)
def test_stripe_keeps_every_valid_object(served, vendor_url, kind, data):
    bodies = data.draw(stripe_pages(kind))
    per_page = _stripe_serve(served, bodies, kind[:3])
    client = StripeBilling(base_url=vendor_url, api_key="sk_test_properties", max_retries=0)
    end = DAY + timedelta(days=1)
    fetch = client.customers(end) if kind == "customers" else getattr(client, kind)(DAY, end)
    items, error = outcome(fetch)
    found = check_items(items)
    if error is None:
        assert found == read_pages(served, per_page)


# --- AWS Cost Explorer: one day's results -----------------------------------------------------

# The SDK parses Cost Explorer's answer before the client sees it, so the generated results go
# straight to the function that turns one `ResultsByTime` item into records.
AWS_DEFINITIONS = [{"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}, {"Type": "TAG", "Key": "team"}]
AWS_ATTRIBUTES = {"111122223333": {"Value": "111122223333", "Attributes": {"description": "Ops"}}}
aws_group_garbage = st.one_of(
    garbage,
    st.fixed_dictionaries({"Keys": st.one_of(json_values, st.lists(json_values, max_size=3))}),
    st.sampled_from([{"Keys": [["111122223333"], "team$a"]}, {"Keys": [{"a": 1}, None]}]),
)
aws_results = st.one_of(
    st.fixed_dictionaries(
        {
            "TimePeriod": st.just({"Start": "2026-11-03", "End": "2026-11-04"}),
            "Groups": st.lists(
                st.one_of(
                    st.tuples(st.sampled_from(["111122223333", "999"]), any_text).map(
                        lambda keys: ("valid", {"Keys": list(keys)})
                    ),
                    aws_group_garbage,
                ),
                max_size=5,
            ),
        },
        optional={"Estimated": json_values, "Total": json_values},
    ),
    st.fixed_dictionaries({"TimePeriod": json_values}),
    garbage,
)


@PROPERTIES
@given(results=st.lists(aws_results, max_size=4))
def test_aws_results_keep_every_group_whose_keys_fit(results):
    pages = Pages()
    items, expected = [], set()
    for result in results:
        if isinstance(result, dict) and isinstance(result.get("Groups"), list):
            groups = []
            for group in result["Groups"]:
                if isinstance(group, tuple):
                    group = {**group[1], "Metrics": pages.probe({})}
                    expected.add(group["Metrics"][PROBE])
                groups.append(group)
            result = {**result, "Groups": groups}
        items.extend(aws_records(result, AWS_DEFINITIONS, AWS_ATTRIBUTES, {"shared": 1}))
    check_items(items)
    got = {item["metrics"][PROBE] for item in items if isinstance(item, dict)}
    assert got == expected
    for item in items:
        if isinstance(item, dict):
            assert aws_natural_key(item).startswith("2026-11-03")
            try:
                encode_record(item)
            except ValueError as error:  # the loader stores it as a rejection with this reason
                assert str(error)


# --- Google Cloud billing export rows ---------------------------------------------------------

# What the BigQuery client hands back for an export row's columns: timestamps, dates, NUMERIC
# as Decimal, FLOAT64 (NaN and infinity included), BYTES, RECORDs and REPEATED fields.
# BigQuery's STRING is valid UTF-8: no lone surrogates.
bigquery_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    file_text,
    st.just("\x00"),
    st.datetimes(timezones=st.just(UTC)),
    st.dates(),
    st.decimals(allow_nan=False),
    st.floats(),
    st.binary(max_size=8),
    st.times(),
)
bigquery_values = st.recursive(
    bigquery_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.tuples(inner), st.dictionaries(file_text, inner, max_size=3)
    ),
    max_leaves=10,
)


def _json_only(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _json_only(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_json_only(item) for item in value)
    return value is None or isinstance(value, bool | str)


@PROPERTIES
@given(row=st.dictionaries(file_text, bigquery_values, max_size=6))
def test_gcp_export_rows_become_json_that_keeps_their_values(row):
    record = json_safe(row)
    assert _json_only(record), "numbers and times travel as text, the rest as JSON"
    assert set(record) == {str(key) for key in row}
    json.dumps(record, allow_nan=False)
    assert len(export_row_digest(record)) == 32
    try:
        encode_record(record)
    except ValueError as error:  # only text Postgres cannot hold: NUL
        assert "NUL" in str(error)


@PROPERTIES
@given(value=st.one_of(any_text, st.sampled_from(["a.b.c", "proj-123456.ds.t", "x:y.z.a.b"])))
def test_gcp_export_table_ids_parse_or_say_which_part_is_wrong(value):
    try:
        table = parse_export_table(value)
    except ValueError as error:
        assert str(error)
        return
    assert table.sql and table.table_id.count(".") >= 2


# --- custom sources: log files, SQL rows and the internal metrics API -------------------------


def _log_entry(folder: Path) -> LogSourceEntry:
    return LogSourceEntry.model_validate(
        {
            "name": "gateway",
            "path": str(folder / "access.log*"),
            "mapping": {
                "time": "ts",
                "metrics": [{"name": "gateway.latency", "value": "latency_ms", "unit": "ms"}],
                "tags": {"route": "route"},
            },
        }
    )


def _observed(items: list[Any], metric: str) -> set[int]:
    """The probes of the records' sources that gave `metric`."""
    return {
        item["source"][PROBE]
        for item in items
        if isinstance(item, dict) and item["metric"] == metric and PROBE in item["source"]
    }


@PROPERTIES
@given(
    lines=st.lists(
        st.one_of(
            st.dictionaries(keys, scalars, max_size=2).map(lambda extra: ("valid", extra)),
            bad_lines,
        ),
        min_size=1,
        max_size=10,
    )
)
def test_log_files_keep_every_dated_line_and_reject_the_rest(tmp_path_factory, lines):
    folder = tmp_path_factory.mktemp("logs")
    raw_lines, valid = [], set()
    for number, line in enumerate(lines, start=1):
        if isinstance(line, tuple):
            moment = DAY + timedelta(minutes=number)
            record = {**line[1], "ts": moment.isoformat(), "latency_ms": number, PROBE: number}
            raw_lines.append(json.dumps(record).encode())
            valid.add(number)
        else:
            raw_lines.append(line)
    (folder / "access.log").write_bytes(b"\n".join(raw_lines) + b"\n")
    entry = _log_entry(folder)
    window = Window(DAY, DAY + timedelta(days=1), DAY.date().isoformat(), LOG)
    items = list(collect_log_files(entry, window))
    check_items(items)
    assert _observed(items, "gateway.latency") == valid
    if valid:
        bad = sum(bool(line.strip()) for line in lines if not isinstance(line, tuple))
        assert sum(isinstance(item, Rejected) for item in items) >= bad


METRICS_TOKEN = f"{TOKEN_PREFIX}properties"
metric_point_garbage = st.one_of(
    garbage,
    st.fixed_dictionaries(
        {"ts": any_value, "service": any_value, "stats": st.one_of(json_values, st.just({}))}
    ),
)


@PROPERTIES
@given(
    page=st.one_of(
        st.fixed_dictionaries(
            {"data": st.lists(st.one_of(valid_record, metric_point_garbage), max_size=6)},
            optional={"meta": st.one_of(st.just({"next_cursor": None}), json_values)},
        ),
        json_values,
    )
)
def test_internal_metrics_keep_every_dated_point(served, vendor_url, page):
    tagged, probes = tag_probes(page, Pages())
    if isinstance(tagged, dict) and isinstance(tagged.get("data"), list):
        for point in tagged["data"]:
            if isinstance(point, dict) and PROBE in point:
                point.update(
                    ts=(DAY + timedelta(hours=point[PROBE] % 24)).isoformat(),
                    service="checkout",
                    stats={"requests": point[PROBE], "errors": 0, "latency_ms": {"p95": 1.5}},
                    owner={"team": "payments", "project": "shop"},
                    region="eu-west-1",
                )
    served.load([page_bytes(tagged)])
    entry = HttpApiEntry.model_validate({**service_metrics_entry(vendor_url), "max_retries": 0})
    window = Window(DAY, DAY + timedelta(days=1), DAY.date().isoformat(), LOG)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(METRICS_TOKEN_ENV, METRICS_TOKEN)
        items, error = outcome(collect_http_api(entry, window))
    check_items(items)
    if error is None:
        assert _observed(items, "service.requests") == probes


SQL_URL_ENV = "VAULT_PROPERTIES_SQL_URL"
SQL_ENTRY = SqlQueryEntry.model_validate(
    {
        "name": "tickets",
        "url_env": SQL_URL_ENV,
        "query": (
            'select id, probe as "_probe", at, v, queue from probe_rows '
            "where :window_start < :window_end order by id"
        ),
        "mapping": {
            "time": "at",
            "metrics": [{"name": "support.tickets", "value": "v", "unit": "tickets"}],
            "tags": {"queue": "queue"},
            "key": ["id"],
        },
    }
)
# What Postgres can hold: no NUL in text or jsonb.
pg_text = file_text.filter(lambda text: "\x00" not in text)
pg_json = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**40), max_value=10**40),
        st.floats(allow_nan=False, allow_infinity=False),
        pg_text,
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(pg_text, inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(PROPERTIES, max_examples=25)
@given(
    rows=st.lists(
        st.one_of(
            st.tuples(st.integers(0, 10**6), st.one_of(st.none(), pg_text)).map(
                lambda row: ("valid", row)
            ),
            st.tuples(
                st.one_of(st.none(), pg_text, st.just("2026-11-03 05:00")),
                pg_json,
                st.one_of(st.none(), pg_text),
            ),
        ),
        max_size=6,
    )
)
def test_sql_rows_keep_every_dated_row(module_database, rows):
    expected, values = set(), []
    for number, row in enumerate(rows, start=1):
        if row[0] == "valid":
            at = (DAY + timedelta(minutes=number)).isoformat()
            values.append((number, number, at, Jsonb(row[1][0]), row[1][1]))
            expected.add(number)
        else:
            values.append((number, None, row[0], Jsonb(row[1]), row[2]))
    with psycopg.connect(module_database, autocommit=True) as conn:
        conn.execute(
            "create table if not exists probe_rows "
            "(id int primary key, probe int, at text, v jsonb, queue text)"
        )
        conn.execute("truncate probe_rows")
        with conn.cursor() as cursor:
            cursor.executemany("insert into probe_rows values (%s, %s, %s, %s, %s)", values)
    window = Window(DAY, DAY + timedelta(days=1), DAY.date().isoformat(), LOG)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SQL_URL_ENV, module_database)
        items = list(collect_sql(SQL_ENTRY, window))
    check_items(items)
    assert _observed(items, "support.tickets") == expected


# --- Kubernetes nodes -------------------------------------------------------------------------

k8s_node_garbage = st.one_of(
    garbage,
    st.fixed_dictionaries(
        {
            "metadata": st.one_of(json_values, st.fixed_dictionaries({"name": any_value})),
            "status": st.one_of(
                json_values, st.fixed_dictionaries({"capacity": st.one_of(json_values, scalars)})
            ),
        }
    ),
    st.sampled_from(
        [
            {"metadata": {"name": "n", "labels": [1]}, "status": {"capacity": {"cpu": "4"}}},
            {"metadata": {"name": "n"}, "status": {"capacity": {"cpu": 4, "memory": [1]}}},
            {"metadata": {"name": "n"}, "status": {"capacity": {"cpu": "4", "memory": "1Zi"}}},
        ]
    ),
)


@PROPERTIES
@given(
    page=st.one_of(
        st.fixed_dictionaries(
            {"items": st.lists(st.one_of(valid_record, k8s_node_garbage), max_size=5)},
            optional={"metadata": st.one_of(st.just({}), json_values)},
        ),
        json_values,
    )
)
def test_kubernetes_nodes_keep_every_priced_node(served, vendor_url, tmp_path_factory, page):
    tagged, probes = tag_probes(page, Pages())
    if isinstance(tagged, dict) and isinstance(tagged.get("items"), list):
        for node in tagged["items"]:
            if isinstance(node, dict) and PROBE in node:
                node.update(
                    metadata={"name": f"node-{node[PROBE]}", "labels": {"pool": "general"}},
                    status={"capacity": {"cpu": "4", "memory": "16Gi"}},
                )
    served.load([page_bytes(tagged)])
    kubeconfig = write_kubeconfig(tmp_path_factory.mktemp("kube") / "kubeconfig", vendor_url)
    client = KubernetesClient(kubeconfig=str(kubeconfig), backoff_s=0, max_retries=0)
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    items, error = outcome(client.node_snapshot(hour, hour + timedelta(hours=1)))
    check_items(items)
    if error is None:
        got = {item["node"][PROBE] for item in items if isinstance(item, dict)}
        assert got == probes


# --- Kubernetes pods --------------------------------------------------------------------------

k8s_object_garbage = st.one_of(
    garbage,
    st.fixed_dictionaries(
        {"metadata": st.one_of(json_values, st.fixed_dictionaries({"name": any_value}))},
        optional={"namespace": any_value, "labels": any_value},
    ),
)


def _k8s_list(items: Any) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.fixed_dictionaries({"items": st.lists(items, max_size=5)}),
        json_values,
    )


@PROPERTIES
@given(
    namespaces=_k8s_list(st.one_of(k8s_object_garbage, st.just({"metadata": {"name": "team-a"}}))),
    discovery=st.one_of(json_values, st.fixed_dictionaries({"groups": json_values})),
    pods=_k8s_list(st.one_of(valid_record, k8s_object_garbage)),
)
def test_kubernetes_pods_keep_every_named_pod(
    served, vendor_url, tmp_path_factory, namespaces, discovery, pods
):
    tagged, probes = tag_probes(pods, Pages())
    if isinstance(tagged, dict) and isinstance(tagged.get("items"), list):
        for pod in tagged["items"]:
            if isinstance(pod, dict) and PROBE in pod:
                pod["metadata"] = {"namespace": "team-a", "name": f"pod-{pod[PROBE]}"}
    # The snapshot asks for the namespaces, then the API groups (none serves metrics here,
    # or the answer is garbage), then the pods.
    served.load([page_bytes(namespaces), page_bytes(discovery), page_bytes(tagged)])
    kubeconfig = write_kubeconfig(tmp_path_factory.mktemp("kube") / "kubeconfig", vendor_url)
    client = KubernetesClient(kubeconfig=str(kubeconfig), backoff_s=0, max_retries=0)
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    items, error = outcome(client.pod_snapshot(hour, hour + timedelta(hours=1)))
    check_items(items)
    if error is None:
        got = {item["pod"][PROBE] for item in items if isinstance(item, dict)}
        assert got == probes
