"""One set of samples held twice: in a real Prometheus and in `marts.fct_metrics`.

The PromQL the vault answers must give what Prometheus 2.42 gives for the same data, so the
tests that prove it need the same samples in both places. `SAMPLES` is a small, fixed copy of
the vault's shape (late 2026, daily rows at 00:00 UTC and hourly ones, the columns and tags
the label model turns into labels) with the awkward cases a query engine gets wrong: a
counter that resets, a gap longer than the lookback, uneven spacing, zeros to divide by, a
negative amount, a label held in the tags rather than its column, tags and blank columns that
must make no label, and one sample the warehouse keeps as two rows that add up.

`load_into_warehouse` builds the real dbt model (empty) in a scratch database and inserts the
rows; `start_prometheus` writes the same series as OpenMetrics text, turns them into TSDB
blocks with `promtool` and serves them from Debian's `prometheus` on a free loopback port.
Neither makes anything up: a label set, a timestamp and a value are the same on both sides.
"""

import json
import math
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import psycopg
import pytest
from conftest import run_dbt

from orchestration.dbt.assets import ensure_sources_exist
from orchestration.warehouse.connection import WarehouseResource

PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
MISSING_BINARIES = (
    "needs Prometheus and promtool: apt-get install prometheus (Debian's package has both)"
)
needs_prometheus = pytest.mark.skipif(not (PROMETHEUS and PROMTOOL), reason=MISSING_BINARIES)

START = datetime(2026, 11, 2, tzinfo=UTC)
"""Midnight UTC of the sample set's first day: no sample is earlier."""
END = datetime(2026, 11, 20, tzinfo=UTC)
"""Midnight UTC of the last day: no sample is later."""

# fct_metrics columns that become labels of the same name (the rest of a label set goes to tags).
LABEL_COLUMNS = (
    "source_system",
    "unit",
    "department",
    "team",
    "user_email",
    "project",
    "customer",
    "feature",
    "cost_category",
    "environment",
    "service",
    "region",
)


@dataclass(frozen=True)
class TwinSeries:
    """One series: its fct_metrics metric_type, its labels and its (time, value) samples.

    `in_tags` names labels that are also fct_metrics columns but are stored in `tags` (the
    column left null), which the label model must still read. `split` names sample times the
    warehouse stores as two rows whose values add up to the sample's. `hidden_tags` are
    stored in `tags` too but make no label (a key a column shadows, a `__` key, a null or
    empty value), and `blank_columns` hold '' instead of null: neither may show.
    """

    metric_type: str
    labels: dict[str, str]
    samples: list[tuple[datetime, float]]
    in_tags: frozenset[str] = field(default_factory=frozenset)
    split: frozenset[datetime] = field(default_factory=frozenset)
    hidden_tags: dict[str, object] = field(default_factory=dict)
    blank_columns: frozenset[str] = field(default_factory=frozenset)

    @property
    def name(self) -> str:
        """The Prometheus metric name: metric_type's dots become underscores."""
        return self.metric_type.replace(".", "_")

    @property
    def prometheus_labels(self) -> dict[str, str]:
        """The full label set Prometheus shows, `__name__` included."""
        return {"__name__": self.name, **self.labels}


def _days(first: datetime, last: datetime, *, skip: Sequence[datetime] = ()) -> list[datetime]:
    days = []
    day = first
    while day <= last:
        if day not in skip:
            days.append(day)
        day += timedelta(days=1)
    return days


def _hours(first: datetime, last: datetime) -> list[datetime]:
    hours = []
    hour = first
    while hour <= last:
        hours.append(hour)
        hour += timedelta(hours=1)
    return hours


def _amounts(rng: random.Random, times: list[datetime], low: float, high: float):
    return [(at, round(rng.uniform(low, high), 3)) for at in times]


def _build_samples() -> list[TwinSeries]:
    rng = random.Random(20261102)
    days = _days(START, END)
    hours = _hours(START, END)
    cost = "ai.cost"
    usd = {"unit": "USD"}
    checkout = {"department": "engineering", "team": "platform", "project": "checkout-assistant"}
    support = {"department": "engineering", "team": "ml", "project": "support-copilot"}
    campaigns = {"department": "marketing", "team": "growth", "project": "campaign-writer"}

    # ai_cost: a zero every Sunday and a credit (a negative amount) on 17 November.
    campaign_costs = _amounts(rng, days, 2, 9)
    campaign_costs = [
        (at, 0.0 if at.weekday() == 6 else -3.5 if at.day == 17 else value)
        for at, value in campaign_costs
    ]
    gap = [START + timedelta(days=offset) for offset in (7, 8, 9)]  # 9 to 11 November
    costs = [
        TwinSeries(
            cost,
            {
                "source_system": "anthropic",
                **checkout,
                "environment": "production",
                **usd,
                "model": "claude-sonnet-4.5",
                "tier": "2",
            },
            _amounts(rng, days, 20, 60),
            hidden_tags={"team": "shadowed", "__origin": "invoice", "discount": None, "note": ""},
        ),
        TwinSeries(
            cost,
            {
                "source_system": "anthropic",
                **support,
                "environment": "production",
                **usd,
                "model": "claude-haiku-4.5",
            },
            _amounts(rng, _days(START, END, skip=gap), 5, 15),
        ),
        TwinSeries(
            cost,
            {
                "source_system": "openai",
                **campaigns,
                "environment": "staging",
                **usd,
                "model": "gpt-4o",
            },
            campaign_costs,
        ),
        # No environment at all, a region that lives in the tags, quotes and a backslash.
        TwinSeries(
            cost,
            {
                "source_system": "openai",
                **checkout,
                **usd,
                "model": "gpt-4o-mini",
                "region": "us-east-1",
                "pricing": 'batch "50%" \\ flex',
            },
            [(at, round(value, 2)) for at, value in _amounts(rng, days, 1, 4)],
            in_tags=frozenset({"region"}),
            blank_columns=frozenset({"environment", "customer"}),
            split=frozenset({START + timedelta(days=8)}),
        ),
    ]

    # ai_tokens_output, hourly. A running total (a counter) that resets on 12 November at
    # 06:00, with some hours missing and some samples off the hour.
    counter, total = [], 0
    for at in hours:
        if rng.random() < 0.1:
            continue
        if at.hour % 7 == 3:
            at += timedelta(minutes=20)
        if at == datetime(2026, 11, 12, 6, tzinfo=UTC):
            total = 0
        total += rng.randrange(500, 5000)
        counter.append((at, float(total)))
    gap_start, gap_end = (
        datetime(2026, 11, 14, 2, tzinfo=UTC),
        datetime(2026, 11, 15, 8, tzinfo=UTC),
    )
    per_hour = [(at, float(rng.randrange(0, 3000))) for at in hours if not gap_start < at < gap_end]
    # Every third hour, some at :45, a zero each night at 03:00.
    sparse = [
        (
            at + timedelta(minutes=45) if at.hour % 9 == 6 else at,
            0.0 if at.hour == 3 else float(rng.randrange(100, 900)),
        )
        for at in hours
        if at.hour % 3 == 0
    ]
    tokens = "ai.tokens.output"
    output = [
        TwinSeries(
            tokens,
            {
                "source_system": "anthropic",
                **checkout,
                "environment": "production",
                "unit": "tokens",
                "model": "claude-sonnet-4.5",
            },
            counter,
        ),
        TwinSeries(
            tokens,
            {
                "source_system": "anthropic",
                **support,
                "environment": "production",
                "unit": "tokens",
                "model": "claude-haiku-4.5",
                "user_email": "dev@example.com",
            },
            per_hour,
        ),
        TwinSeries(
            tokens,
            {
                "source_system": "openai",
                **campaigns,
                "environment": "staging",
                "unit": "tokens",
                "model": "gpt-4o",
            },
            sparse,
        ),
    ]

    # infra_cpu_usage_cores, hourly; the support API idles at zero overnight.
    cpu = "infra.cpu.usage_cores"
    kubernetes = {"source_system": "kubernetes", "unit": "cores"}
    idle = [(at, 0.0 if at.hour < 6 else value) for at, value in _amounts(rng, hours, 0.2, 1.5)]
    cores = [
        TwinSeries(
            cpu,
            {
                **kubernetes,
                **checkout,
                "environment": "production",
                "service": "checkout-api",
                "region": "eu-west-1",
                "namespace": "checkout-assistant",
            },
            _amounts(rng, hours, 0.5, 3.0),
        ),
        TwinSeries(
            cpu,
            {
                **kubernetes,
                **support,
                "environment": "production",
                "service": "support-api",
                "region": "eu-west-1",
                "namespace": "support",
            },
            idle,
        ),
        TwinSeries(
            cpu,
            {
                **kubernetes,
                **campaigns,
                "environment": "staging",
                "service": "batch-worker",
                "region": "us-east-1",
                "namespace": "batch",
            },
            _amounts(rng, hours, 0.1, 4.0),
        ),
    ]

    # business_revenue_billed, daily; nothing billed at weekends, one customer starts late.
    billed = "business.revenue.billed"
    stripe = {"source_system": "stripe", "department": "sales"}

    def weekdays(values):
        return [(at, 0.0 if at.weekday() >= 5 else value) for at, value in values]

    revenue = [
        TwinSeries(
            billed,
            {**stripe, "customer": "cus_lumen", "project": "checkout-assistant", "unit": "USD"},
            weekdays(_amounts(rng, days, 300, 900)),
        ),
        TwinSeries(
            billed,
            {**stripe, "customer": "cus_kestrel", "project": "support-copilot", "unit": "EUR"},
            weekdays(_amounts(rng, days, 100, 400)),
        ),
        TwinSeries(
            billed,
            {**stripe, "customer": "cus_orbit", "project": "campaign-writer", "unit": "USD"},
            weekdays(_amounts(rng, _days(START + timedelta(days=7), END), 50, 200)),
        ),
    ]
    return costs + output + cores + revenue


SAMPLES: list[TwinSeries] = _build_samples()
"""The sample set both sides hold, built the same way on every run."""


def series_count_by_name(samples: Sequence[TwinSeries]) -> dict[str, int]:
    """How many series each metric name has."""
    counts: dict[str, int] = {}
    for series in samples:
        counts[series.name] = counts.get(series.name, 0) + 1
    return counts


def _rows(series: TwinSeries) -> Iterator[tuple]:
    """fct_metrics rows (metric_id, observed_at, metric_type, value, tags, *label columns)."""
    columns = {
        name: value
        for name, value in series.labels.items()
        if name in LABEL_COLUMNS and name not in series.in_tags
    }
    # A tag of digits is stored as a JSON number: the label model reads back the same text.
    tags = {
        name: int(value) if value.isdigit() else value
        for name, value in series.labels.items()
        if name not in columns
    }
    tags.update(series.hidden_tags)
    columns.update(dict.fromkeys(series.blank_columns, ""))
    key = json.dumps(series.prometheus_labels, sort_keys=True)
    for at, value in series.samples:
        exact = Decimal(repr(value))
        parts = [exact] if at not in series.split else [exact / 4, exact - exact / 4]
        for part_number, part in enumerate(parts):
            yield (
                f"{key}|{at.isoformat()}|{part_number}",
                at,
                series.metric_type,
                part,
                json.dumps(tags),
                *(columns.get(name) for name in LABEL_COLUMNS),
            )


def load_into_warehouse(url: str, samples: Sequence[TwinSeries], dbt_dir: Path | None = None):
    """Build `marts.fct_metrics` (the real dbt model, from empty sources) in the database at
    `url` and insert `samples` into it; `dbt_dir` holds dbt's target and logs (a temporary
    folder if not given). Fails with dbt's output if the build fails.
    """
    with tempfile.TemporaryDirectory(prefix="promql-twin-dbt-") as scratch:
        target = dbt_dir or Path(scratch)
        ensure_sources_exist(WarehouseResource(url=url))
        built = run_dbt(
            url,
            target,
            "build",
            "--empty",
            "--select",
            "+fct_metrics",
            "--resource-type",
            "seed",
            "--resource-type",
            "model",
        )
        assert built.returncode == 0, built.stdout[-4000:]
    columns = ", ".join(LABEL_COLUMNS)
    placeholders = ", ".join(["%s"] * len(LABEL_COLUMNS))
    with psycopg.connect(url) as conn:
        with conn.cursor() as cursor:
            cursor.executemany(
                "insert into marts.fct_metrics (metric_id, observed_at, metric_type, value,"
                f" tags, {columns}) values (md5(%s), %s, %s, %s, %s::jsonb, {placeholders})",
                [row for series in samples for row in _rows(series)],
            )
        conn.execute("analyze marts.fct_metrics")


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def openmetrics_text(samples: Sequence[TwinSeries]) -> str:
    """The samples as OpenMetrics text, one family per metric name, for `promtool`."""
    lines = []
    for name in series_count_by_name(samples):
        lines.append(f"# TYPE {name} gauge")
        for series in samples:
            if series.name != name:
                continue
            labels = ",".join(
                f'{label}="{_label_value(value)}"' for label, value in sorted(series.labels.items())
            )
            for at, value in series.samples:
                lines.append(f"{name}{{{labels}}} {value!r} {int(at.timestamp())}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# One client for every API call: a new one per call costs more than most queries take.
_HTTP = httpx.Client(timeout=30)


def prometheus_query(url: str, path: str, params: dict) -> dict:
    """`data` of a successful Prometheus API answer; fails with the body otherwise."""
    response = _HTTP.get(f"{url}{path}", params=params)
    body = response.json()
    assert body.get("status") == "success", f"Prometheus answered {response.status_code}: {body}"
    return body["data"]


def _series_counts(url: str) -> dict[str, int]:
    data = prometheus_query(
        url,
        "/api/v1/series",
        {
            "match[]": '{__name__=~".+"}',
            "start": (START - timedelta(days=1)).timestamp(),
            "end": (END + timedelta(days=1)).timestamp(),
        },
    )
    counts: dict[str, int] = {}
    for labels in data:
        counts[labels["__name__"]] = counts.get(labels["__name__"], 0) + 1
    return counts


@contextmanager
def start_prometheus(
    samples: Sequence[TwinSeries], home: Path, lookback: str = "1d"
) -> Iterator[str]:
    """A Prometheus serving `samples` from blocks made by promtool; yields its URL.

    The server scrapes nothing (an empty scrape config), keeps its data for ten years (block
    age counts from the newest block, so late 2026 stays) and looks back `lookback` for an
    instant selector. It is ready once it lists as many series of each metric as the sample set
    has. It is stopped when the block exits, whatever happened inside.
    """
    if not (PROMETHEUS and PROMTOOL):
        pytest.skip(MISSING_BINARIES)
    home.mkdir(parents=True, exist_ok=True)
    source, data = home / "samples.om.txt", home / "data"
    source.write_text(openmetrics_text(samples))
    made = subprocess.run(
        [PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", "--quiet", str(source), str(data)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, f"promtool failed: {made.stdout[-2000:]}{made.stderr[-2000:]}"
    (home / "prometheus.yml").write_text(json.dumps({"scrape_configs": []}))
    port = _free_port()
    log = (home / "prometheus.log").open("w")
    server = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={home / 'prometheus.yml'}",
            f"--storage.tsdb.path={data}",
            "--storage.tsdb.retention.time=10y",
            f"--query.lookback-delta={lookback}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        expected = series_count_by_name(samples)
        deadline = time.monotonic() + 60
        while True:
            try:
                ready = _HTTP.get(f"{url}/-/ready", timeout=2).status_code == 200
                if ready and _series_counts(url) == expected:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"Prometheus did not serve the samples (log: {home / 'prometheus.log'})"
                )
            time.sleep(0.2)
        yield url
    finally:
        _stop(server)
        log.close()


def same_value(left: float, right: float) -> bool:
    """Equal within a relative 1e-9 (and 1e-12 near zero); NaN equals NaN."""
    if math.isnan(left) or math.isnan(right):
        return math.isnan(left) and math.isnan(right)
    if math.isinf(left) or math.isinf(right):
        return left == right
    return math.isclose(left, right, rel_tol=1e-9, abs_tol=1e-12)
