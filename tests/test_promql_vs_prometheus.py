"""The PromQL engine against a real Prometheus 2.42 holding the same samples.

`tests/promql_twin.py` loads one sample set into `marts.fct_metrics` (built by dbt in the
module's own database) and into Debian's `prometheus` (blocks made by `promtool`), twice: with
the engine's default one-day lookback and with six hours. Every query below is run through
`instant_query` / `range_query` and through Prometheus's HTTP API, as an instant query at
several times (on a sample, a few hours in, between samples at a fraction of a second, inside
a gap, past the last sample by less than, exactly and more than the lookback) and, unless it
is a bare range selector, as range queries whose steps do and do not land on samples. The
answers must have the same result type, the same label sets and the same (timestamp, value)
points, values within a relative 1e-9 and NaN equal to NaN. Order counts only where
Prometheus fixes it: an instant `topk` with one group lists its series by value, highest
first. The regexes are RE2's, as Prometheus reads them, flags and `\b` included. Queries
outside the supported subset must be refused with bad_data; there only the engine is asked.
Without the Prometheus binaries the module skips, naming the package.
"""

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from promql_twin import (
    END,
    MISSING_BINARIES,
    PROMETHEUS,
    PROMTOOL,
    SAMPLES,
    START,
    TwinSeries,
    load_into_warehouse,
    prometheus_query,
    same_value,
    start_prometheus,
)

from orchestration.query.promql import (
    QueryError,
    Result,
    find_series,
    instant_query,
    label_names,
    label_values,
    range_query,
)

LOOKBACK = timedelta(days=1)
SHORT_LOOKBACK = timedelta(hours=6)
LOOKBACKS = {LOOKBACK: "1d", SHORT_LOOKBACK: "6h"}
"""The lookbacks compared, with Prometheus's spelling of each."""

INSTANT_TIMES = {
    "first sample": START,
    "a few hours in": START + timedelta(hours=5, minutes=30),
    "on a sample, in a gap": datetime(2026, 11, 10, tzinfo=UTC),
    "between samples": datetime(2026, 11, 12, 13, 30, 0, 250000, tzinfo=UTC),
    "on the credit": datetime(2026, 11, 17, tzinfo=UTC),
    "end + 12h": END + timedelta(hours=12),
    "end + lookback": END + LOOKBACK,
    "end + 2d": END + timedelta(days=2),
}
"""Instant evaluation times, by what makes each one interesting."""

RANGES = {
    "6h steps on samples": (START - timedelta(days=1), END + timedelta(days=2), timedelta(hours=6)),
    "7h13m steps off samples": (
        START + timedelta(hours=1, minutes=23, seconds=0.5),
        END + timedelta(days=1, minutes=10),
        timedelta(hours=7, minutes=13),
    ),
    "20m steps over the reset": (
        datetime(2026, 11, 11, 22, tzinfo=UTC),
        datetime(2026, 11, 12, 10, tzinfo=UTC),
        timedelta(minutes=20),
    ),
    "a single step": (
        INSTANT_TIMES["between samples"],
        INSTANT_TIMES["between samples"],
        timedelta(hours=1),
    ),
}
"""Range queries: (start, end, step)."""

SELECTORS = [
    "ai_cost",
    'ai_cost{team="platform"}',
    'ai_cost{team!="platform"}',
    'ai_cost{model=~"claude-.*"}',
    'ai_cost{model!~"gpt-4o.*"}',
    'ai_cost{environment=""}',
    'ai_cost{environment!=""}',
    'ai_cost{environment=~"prod.*|"}',
    'ai_cost{environment!~".+"}',
    'ai_cost{region="us-east-1"}',
    'ai_cost{tier="2"}',
    r'ai_cost{pricing="batch \"50%\" \\ flex"}',
    'ai_cost{model=~"(?i)CLAUDE-.*"}',
    r'ai_cost{model=~"claude\\b.*"}',
    r'ai_cost{model=~"claude-\\d.*|gpt-\\w+"}',
    '{__name__!="ai_cost", team="ml"}',
    '{__name__=~"ai_.*", team="ml"}',
    '{__name__="business_revenue_billed"}',
    '{__name__!~"ai_.*|infra_.*", unit=~"EUR|USD"}',
    r'ai_tokens_output{user_email=~".*@example\\.com"}',
    'infra_cpu_usage_cores{namespace=~"support|batch", region!="eu-west-1"}',
]
AGGREGATIONS = [
    "sum(ai_cost)",
    "sum by (team) (ai_cost)",
    "sum without (model, team) (ai_cost)",
    "avg by (environment) (infra_cpu_usage_cores)",
    "avg without (model) (ai_cost)",
    "min by (source_system) (ai_tokens_output)",
    "max(business_revenue_billed)",
    "max without (customer) (business_revenue_billed)",
    "count(ai_cost)",
    "count by (environment) (ai_cost)",
    'sum by (unit) ({__name__=~".+"})',
    "sum by (nonexistent) (ai_cost)",
    "count without (model) (ai_cost)",
    "sum(ai_cost) by (team)",
]
TOPK = [
    "topk(2, ai_cost)",
    "topk(1, infra_cpu_usage_cores)",
    "topk by (environment) (1, infra_cpu_usage_cores)",
    "topk(2, ai_tokens_output)",
]
RANGE_FUNCTIONS = [
    "rate(ai_tokens_output[1h])",
    "rate(ai_tokens_output[6h])",
    "increase(ai_tokens_output[2d])",
    "increase(ai_tokens_output[30m])",
    "rate(ai_cost[3d])",
    "increase(ai_cost[1d])",
    'increase(ai_cost{team="ml"}[5d])',
    "rate(business_revenue_billed[12h])",
    "rate(infra_cpu_usage_cores[1d])",
    "sum_over_time(ai_cost[3d])",
    "sum_over_time(ai_cost[12h])",
    "sum_over_time(business_revenue_billed[1d])",
    "avg_over_time(ai_tokens_output[6h])",
    "avg_over_time(infra_cpu_usage_cores[30m])",
    "avg_over_time(ai_cost[5d])",
    "increase(ai_tokens_output[20d])",
    "rate(ai_tokens_output[1h30m])",
    "sum_over_time(ai_cost[1w])",
]
OFFSETS = [
    "ai_cost offset 2d",
    "rate(ai_tokens_output[1d] offset 6h)",
    "sum_over_time(ai_cost[2d] offset 1d)",
    "sum(infra_cpu_usage_cores offset 3h)",
    "increase(ai_tokens_output[6h] offset 1d12h)",
]
ARITHMETIC = [
    "ai_cost * 2",
    "2 * ai_cost",
    "ai_cost - 10",
    "100 - ai_cost",
    "1 / ai_cost",
    "ai_cost / 0",
    "-ai_cost",
    "ai_cost % 7",
    "-ai_cost % 3",
    "ai_cost % 0",
    "ai_cost ^ 2",
    "2 ^ ai_cost",
    "2 ^ 3 * 4",
    "1 / 0",
    "-(7 % 3) + 0.5",
    "-2 ^ 2",
    "2 ^ 3 ^ 2",
    "ai_cost ^ 0.5",
    "ai_cost / -0",
    "ai_cost - ai_cost offset 1d",
    "ai_cost / ai_cost offset 1d",
    "infra_cpu_usage_cores * infra_cpu_usage_cores offset 1h",
    "sum by (project) (ai_cost) / sum by (project) (business_revenue_billed)",
    "sum by (project) (business_revenue_billed) % sum by (project) (ai_cost)",
    "sum by (team) (ai_cost) + sum by (team) (infra_cpu_usage_cores)",
    "ai_cost / ignoring(model, tier) ai_cost offset 1d",
    "sum by (team, project) (ai_cost) / on(project) sum by (project) (business_revenue_billed)",
]
NOT_A_NUMBER = [
    "max(ai_cost / 0)",
    "min(ai_cost / 0)",
    "avg(1 / ai_cost)",
    "avg(ai_cost / 0)",
    "count(ai_cost / 0)",
    "sum by (team) (1 / ai_cost)",
    "topk(2, 1 / ai_cost)",
    "ai_cost * Inf",
    "NaN",
    "0 / 0 - 1 / 0",
    "2 ^ 1024",
    "ai_tokens_output ^ 100",
    "ai_tokens_output * 1e308",
    "0.5 ^ ai_tokens_output",
    "sum(ai_tokens_output * 1e305)",
    "sum(infra_cpu_usage_cores * 5e307)",
    "avg(infra_cpu_usage_cores * 5e307)",
    "avg by (environment) (infra_cpu_usage_cores * 5e307)",
    "sum_over_time(ai_cost[3d]) / sum_over_time(ai_cost[3d])",
]
"""Infinities and NaN, also through aggregations (Prometheus's max and min skip a NaN), and
float64 overflow and underflow, which give +Inf and 0 rather than an error (and avg, an
incremental mean in 2.42, stays finite where the sum of its inputs would not)."""
NESTED = [
    "topk(2, sum by (team) (increase(ai_tokens_output[2d])))",
    "sum(rate(ai_cost[1d])) / sum(rate(ai_tokens_output[1d]))",
    "sum by (project) (increase(ai_tokens_output[1d])) * 1000",
    "avg by (team) (sum_over_time(infra_cpu_usage_cores[1d]))",
    "-sum(ai_cost) + 100",
    "(ai_cost + 1) * 2 - ai_cost / 4",
    "(1 + 1) * -rate(ai_tokens_output[3h])",
    "max by (environment) (rate(infra_cpu_usage_cores[2h]))"
    " / count by (environment) (infra_cpu_usage_cores)",
    "sum(sum_over_time(business_revenue_billed[7d])) / sum(sum_over_time(ai_cost[7d]))",
    "count(topk by (team) (1, ai_tokens_output))",
]
RANGE_SELECTORS = [
    '{__name__=~".+"}[30d]',
    "ai_cost[2d]",
    'ai_tokens_output{team="ml"}[3h]',
    "infra_cpu_usage_cores[1h] offset 1d",
]
"""Bare range selectors: an instant query answers a matrix; a range query is an error."""

QUERIES = (
    SELECTORS + AGGREGATIONS + TOPK + RANGE_FUNCTIONS + OFFSETS + ARITHMETIC + NOT_A_NUMBER + NESTED
)
SHORT_LOOKBACK_QUERIES = [
    "ai_cost",
    "ai_tokens_output",
    "sum by (team) (infra_cpu_usage_cores)",
    "ai_cost offset 1d",
    "ai_cost - ai_cost offset 1d",
    "rate(ai_tokens_output[1d])",
]
"""Queries run once more with a six-hour lookback, less than the daily spacing."""
ORDERED = {"topk(2, ai_cost)", "topk(1, infra_cpu_usage_cores)", "topk(2, ai_tokens_output)"}
ORDERED |= {"topk(2, sum by (team) (increase(ai_tokens_output[2d])))", "topk(2, 1 / ai_cost)"}
"""Queries whose instant answer Prometheus lists in a fixed order (one topk group)."""

UNSUPPORTED = [
    'label_replace(ai_cost, "model_family", "$1", "model", "(.*)-.*")',
    "histogram_quantile(0.9, ai_cost)",
    "max_over_time(ai_cost[2d])",
    "rate(ai_cost[2d:1h])",
    "ai_cost @ 1795132800",
    "sum(ai_cost @ end())",
    "quantile(0.5, ai_cost)",
    'count_values("value", ai_cost)',
    "stddev(ai_cost)",
    "sum(ai_cost) / on(team) group_left sum by (team) (ai_tokens_output)",
]

MATCH = [
    ["ai_cost"],
    ['{__name__=~"ai_.*", team="ml"}', 'business_revenue_billed{unit="EUR"}'],
    ['infra_cpu_usage_cores{region!="eu-west-1"}', "infra_cpu_usage_cores"],
    ['{unit=~"tokens|cores", environment!="production"}'],
    ['{__name__=~".+"}'],
]
"""match[] lists for the series, label-name and label-value lookups (any one may match)."""

Answer = tuple[str, list[tuple[tuple[tuple[str, str], ...], list[tuple[float, float]]]]]


def _key(labels: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def _from_prometheus(data: dict) -> Answer:
    kind, result = data["resultType"], data["result"]
    if kind == "scalar":
        return kind, [((), [(float(result[0]), float(result[1]))])]
    if kind == "vector":
        series = [(_key(item["metric"]), [item["value"]]) for item in result]
    else:
        series = [(_key(item["metric"]), item["values"]) for item in result]
    return kind, [
        (labels, [(float(at), float(value)) for at, value in points]) for labels, points in series
    ]


def _from_engine(result: Result) -> Answer:
    return result.result_type, [
        (_key(series.labels), [(float(at), float(value)) for at, value in series.points])
        for series in result.series
    ]


def _show(labels: tuple[tuple[str, str], ...]) -> str:
    return "{" + ", ".join(f"{name}={json.dumps(value)}" for name, value in labels) + "}"


def disagreements(expected: Answer, actual: Answer, *, ordered: bool = False) -> list[str]:
    """How the engine's answer differs from Prometheus's, one line per difference."""
    if expected[0] != actual[0]:
        return [f"result type: Prometheus {expected[0]}, engine {actual[0]}"]
    problems = []
    theirs, ours = dict(expected[1]), dict(actual[1])
    if len(ours) != len(actual[1]):
        problems.append(f"engine repeats a label set: {[_show(key) for key, _ in actual[1]]}")
    for labels in theirs.keys() - ours.keys():
        problems.append(f"only Prometheus has {_show(labels)}: {theirs[labels][:3]}")
    for labels in ours.keys() - theirs.keys():
        problems.append(f"only the engine has {_show(labels)}: {ours[labels][:3]}")
    for labels in theirs.keys() & ours.keys():
        want, got = dict(theirs[labels]), dict(ours[labels])
        if len(got) != len(ours[labels]):
            problems.append(f"{_show(labels)}: the engine repeats a timestamp")
        wrong = [
            f"at {at}: Prometheus {want.get(at, 'nothing')}, engine {got.get(at, 'nothing')}"
            for at in sorted(want.keys() | got.keys())
            if at not in want or at not in got or not same_value(want[at], got[at])
        ]
        if wrong:
            problems.append(f"{_show(labels)}: {'; '.join(wrong[:4])} ({len(wrong)} points)")
    if ordered and not problems and [key for key, _ in expected[1]] != [k for k, _ in actual[1]]:
        problems.append(
            f"order: Prometheus lists the values {[p[0][1] for _, p in expected[1]]},"
            f" the engine {[p[0][1] for _, p in actual[1]]}"
        )
    return problems


def prometheus_instant(url: str, query: str, at: datetime) -> Answer:
    return _from_prometheus(
        prometheus_query(url, "/api/v1/query", {"query": query, "time": at.timestamp()})
    )


def prometheus_range(url: str, query: str, start: datetime, end: datetime, step) -> Answer:
    params = {
        "query": query,
        "start": start.timestamp(),
        "end": end.timestamp(),
        "step": step.total_seconds(),
    }
    return _from_prometheus(prometheus_query(url, "/api/v1/query_range", params))


def engine_instant(conn, query: str, at: datetime, lookback: timedelta = LOOKBACK) -> Answer:
    return _from_engine(instant_query(conn, query, at, lookback=lookback))


def engine_range(
    conn, query: str, start: datetime, end: datetime, step, lookback: timedelta = LOOKBACK
) -> Answer:
    return _from_engine(range_query(conn, query, start, end, step, lookback=lookback))


@dataclass(frozen=True)
class Twin:
    prometheus: dict[timedelta, str]
    """Prometheus URLs by lookback."""
    conn: psycopg.Connection
    """An autocommit connection to the database whose fct_metrics holds the sample set."""


@pytest.fixture(scope="module")
def twin(module_database, tmp_path_factory) -> Iterator[Twin]:
    """The sample set in the warehouse and in a Prometheus per lookback; dbt builds the
    warehouse while the Prometheus servers start."""
    if not (PROMETHEUS and PROMTOOL):
        pytest.skip(MISSING_BINARIES)
    dbt_dir = tmp_path_factory.mktemp("dbt")
    with ThreadPoolExecutor(max_workers=1) as pool, ExitStack() as stack:
        loading = pool.submit(load_into_warehouse, module_database, SAMPLES, dbt_dir)
        urls = {
            lookback: stack.enter_context(
                start_prometheus(SAMPLES, tmp_path_factory.mktemp("prometheus"), lookback=text)
            )
            for lookback, text in LOOKBACKS.items()
        }
        loading.result()
        conn = stack.enter_context(psycopg.connect(module_database, autocommit=True))
        yield Twin(urls, conn)


def _as_answer(samples: list[TwinSeries]) -> Answer:
    return "matrix", [
        (_key(series.prometheus_labels), [(at.timestamp(), value) for at, value in series.samples])
        for series in samples
    ]


def test_prometheus_holds_exactly_the_sample_set(twin):
    answer = prometheus_instant(twin.prometheus[LOOKBACK], '{__name__=~".+"}[30d]', END)
    assert disagreements(_as_answer(SAMPLES), answer) == []
    assert sum(len(points) for _, points in answer[1]) == sum(len(s.samples) for s in SAMPLES)


def _instant_disagreements(twin: Twin, query: str, lookback: timedelta) -> dict[str, list[str]]:
    problems = {}
    for name, at in INSTANT_TIMES.items():
        expected = prometheus_instant(twin.prometheus[lookback], query, at)
        found = disagreements(
            expected,
            engine_instant(twin.conn, query, at, lookback),
            ordered=query in ORDERED,
        )
        if found:
            problems[f"{name} ({at.isoformat()})"] = found
    return problems


def _range_disagreements(twin: Twin, query: str, lookback: timedelta) -> dict[str, list[str]]:
    problems = {}
    for name, (start, end, step) in RANGES.items():
        expected = prometheus_range(twin.prometheus[lookback], query, start, end, step)
        found = disagreements(expected, engine_range(twin.conn, query, start, end, step, lookback))
        if found:
            problems[name] = found
    return problems


def _explained(query: str, problems: dict[str, list[str]]) -> str:
    lines = [f"{query} disagrees with Prometheus at {len(problems)} evaluation(s):"]
    for evaluation, found in problems.items():
        lines += [f"  {evaluation}:", *(f"    {problem}" for problem in found)]
    return "\n".join(lines)


@pytest.mark.parametrize("query", QUERIES + RANGE_SELECTORS)
def test_an_instant_query_answers_as_prometheus_does(twin, query):
    problems = _instant_disagreements(twin, query, LOOKBACK)
    assert not problems, _explained(query, problems)


@pytest.mark.parametrize("query", QUERIES)
def test_a_range_query_answers_as_prometheus_does(twin, query):
    problems = _range_disagreements(twin, query, LOOKBACK)
    assert not problems, _explained(query, problems)


@pytest.mark.parametrize("query", SHORT_LOOKBACK_QUERIES)
def test_a_shorter_lookback_answers_as_prometheus_does(twin, query):
    problems = {
        **_instant_disagreements(twin, query, SHORT_LOOKBACK),
        **_range_disagreements(twin, query, SHORT_LOOKBACK),
    }
    assert not problems, _explained(query, problems)


@pytest.mark.parametrize("bounded", [True, False], ids=["around the data", "unbounded"])
@pytest.mark.parametrize("matchers", MATCH, ids=" or ".join)
def test_series_label_names_and_values_are_prometheus_s(twin, matchers, bounded):
    # Bounds around all the data or none: Prometheus filters these lookups by block and chunk,
    # not by sample, so narrower bounds would compare its storage layout, not the engine.
    url = twin.prometheus[LOOKBACK]
    params = {"match[]": matchers}
    start = end = None
    if bounded:
        start, end = START - timedelta(days=1), END + timedelta(days=1)
        params |= {"start": start.timestamp(), "end": end.timestamp()}
    answers = {
        "series": (
            sorted(map(_key, prometheus_query(url, "/api/v1/series", params))),
            sorted(map(_key, find_series(twin.conn, matchers, start, end))),
        ),
        "labels": (
            prometheus_query(url, "/api/v1/labels", params),
            label_names(twin.conn, matchers, start, end),
        ),
    }
    for name in ("__name__", "team", "environment", "model"):
        answers[f"values of {name}"] = (
            prometheus_query(url, f"/api/v1/label/{name}/values", params),
            label_values(twin.conn, name, matchers, start, end),
        )
    wrong = [
        f"{what}: Prometheus has {len(theirs)}, the engine {len(ours)};"
        f" only Prometheus: {[x for x in theirs if x not in ours][:2]},"
        f" only the engine: {[x for x in ours if x not in theirs][:2]}"
        for what, (theirs, ours) in answers.items()
        if theirs != ours
    ]
    assert not wrong, "\n".join(wrong)


def test_the_comparison_sees_a_wrong_value_a_missing_series_and_nan():
    labels = (("__name__", "ai_cost"),)
    prometheus = ("vector", [(labels, [(1.0, float("nan"))])])
    assert disagreements(prometheus, ("vector", [(labels, [(1.0, float("nan"))])])) == []
    assert disagreements(prometheus, ("vector", [(labels, [(1.0, 0.0)])])) != []
    assert disagreements(prometheus, ("vector", [])) != []
    assert disagreements(prometheus, ("scalar", [((), [(1.0, float("nan"))])])) != []
    close = ("vector", [(labels, [(1.0, 3.0)])])
    assert disagreements(close, ("vector", [(labels, [(1.0, 3.0 * (1 + 1e-12))])])) == []
    assert disagreements(close, ("vector", [(labels, [(1.0, 3.0 * (1 + 1e-6))])])) != []


@pytest.mark.parametrize("query", UNSUPPORTED)
def test_a_query_outside_the_subset_is_refused_with_bad_data(twin, query):
    with pytest.raises(QueryError) as refused:
        instant_query(twin.conn, query, END, lookback=LOOKBACK)
    assert refused.value.error_type == "bad_data", str(refused.value)
