"""The PromQL engine over `marts.fct_metrics`: numbers worked out by hand, the label model,
refusals, hostile text kept as parameters, and the metric_type index in use.

A real PostgreSQL holds a small `marts.fct_metrics` with the dbt model's columns: daily
costs for two teams (one day split over two rows), a rising request counter with a reset,
two metric types that sanitise to one name, tags that become labels, and hostile label
values. Each expected value below is derived in the comment beside it.
"""

import json
import math
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from orchestration.query.promql import (
    QueryError,
    find_series,
    instant_query,
    label_names,
    label_values,
    range_query,
    to_sql,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
DROP_X = "'; drop table x; --"
DOLLARS = "$$ drop table x $$"
QUOTES = 'it\'s "quoted"'

FACT_DDL = """
create schema marts;
create table marts.fct_metrics (
    metric_id text primary key,
    observed_at timestamptz not null,
    source_system text not null,
    metric_type text not null,
    value numeric,
    unit text,
    tags jsonb,
    department text,
    team text,
    user_email text,
    project text,
    customer text,
    feature text,
    cost_category text,
    environment text,
    service text,
    region text
);
create index fct_metrics_metric_type_observed_at on marts.fct_metrics (metric_type, observed_at);
create index fct_metrics_observed_at on marts.fct_metrics (observed_at);
create table x (kept int);
"""


def _row(at, source, metric_type, value, unit, tags=None, **columns):
    return {
        "observed_at": at,
        "source_system": source,
        "metric_type": metric_type,
        "value": value,
        "unit": unit,
        "tags": json.dumps(tags or {}),
        **columns,
    }


ROWS = [
    # ai_cost: team a 1, 2, 3, 4 and team b 10, 20 (15 + 5 in two rows), 30, 40 on days 0-3.
    *(_row(T0 + i * DAY, "anthropic", "ai.cost", i + 1, "USD", team="a") for i in range(4)),
    _row(T0, "anthropic", "ai.cost", 10, "USD", team="b"),
    _row(T0 + DAY, "anthropic", "ai.cost", 15, "USD", team="b"),
    _row(T0 + DAY, "anthropic", "ai.cost", 5, "USD", team="b"),
    _row(T0 + 2 * DAY, "anthropic", "ai.cost", 30, "USD", team="b"),
    _row(T0 + 3 * DAY, "anthropic", "ai.cost", 40, "USD", team="b"),
    # ai_cost_estimated: team a only, 2, 4, 6, 8, from another source system.
    *(
        _row(T0 + i * DAY, "product", "ai.cost_estimated", 2 * (i + 1), "USD", team="a")
        for i in range(4)
    ),
    # ai_requests: an hourly counter 0, 10, 20, 5 (a reset), 15.
    *(
        _row(T0 + i * HOUR, "product", "ai.requests", v, "requests", team="a")
        for i, v in enumerate([0, 10, 20, 5, 15])
    ),
    # Two metric types with one name, and tags that become labels.
    _row(
        T0,
        "openai",
        "ai.tokens.output",
        100,
        "tokens",
        {
            "gpu.type": "a100",
            "__hidden": "x",
            "team": "from-tag",
            "count": 3,
            "flag": True,
            "nested": {"a": 1},
            "none": None,
            "empty": "",
            "9lives": "cat",
        },
        team="c",
        department="",
    ),
    _row(
        T0, "openai", "ai_tokens_output", 50, "tokens", {"gpu.type": "a100", "team": "x"}, team="c"
    ),
    _row(T0, "openai", "ai.tokens.input", 7, "tokens", {"gpu.type": "a100"}, team="c"),
    _row(T0, "openai", "2xx.rate-ok", 1, "ratio"),
    # Hostile label values, in a column and in a tag.
    _row(T0, "product", "app.hostile", 1, "events", {"note": DOLLARS}, project=DROP_X),
    _row(T0, "product", "app.hostile", 2, "events", {"note": QUOTES}, project="plain"),
]


@pytest.fixture(scope="module")
def warehouse(module_database):
    with psycopg.connect(module_database, autocommit=True) as conn:
        conn.execute(FACT_DDL)
        with conn.cursor() as cursor:
            for number, row in enumerate(ROWS):
                names = ", ".join(["metric_id", *row])
                marks = ", ".join(["%s"] * (len(row) + 1))
                cursor.execute(
                    f"insert into marts.fct_metrics ({names}) values ({marks})",
                    [f"m{number}", *row.values()],
                )
    return module_database


@pytest.fixture
def conn(warehouse):
    with psycopg.connect(warehouse, autocommit=True) as connection:
        yield connection


def _vector(conn, query, at, **kwargs):
    """{frozenset(labels): value} of an instant query's vector result."""
    result = instant_query(conn, query, at, **kwargs)
    assert result.result_type == "vector", result
    for series in result.series:
        assert series.points[0][0] == at.timestamp()
    return {frozenset(s.labels.items()): s.points[0][1] for s in result.series}


def _by_team(conn, query, at):
    return {dict(labels).get("team"): value for labels, value in _vector(conn, query, at).items()}


def _scalar(conn, query):
    result = instant_query(conn, query, T0)
    assert result.result_type == "scalar"
    [series] = result.series
    assert series.labels == {}
    return series.points[0][1]


def test_instant_selector_takes_the_latest_sample_in_a_closed_lookback(conn):
    # Half a day after day 3's sample it is still the latest; exactly a day after, the
    # window's start is closed, so it still counts; a second later nothing is left.
    assert _by_team(conn, "ai_cost", T0 + 3.5 * DAY) == {"a": 4.0, "b": 40.0}
    assert _by_team(conn, "ai_cost", T0 + 4 * DAY) == {"a": 4.0, "b": 40.0}
    assert _vector(conn, "ai_cost", T0 + 4 * DAY + timedelta(seconds=1)) == {}
    # A shorter lookback sees nothing between two daily samples.
    assert _vector(conn, "ai_cost", T0 + 1.5 * DAY, lookback=HOUR) == {}
    # Before the first sample, nothing.
    assert _vector(conn, "ai_cost", T0 - timedelta(seconds=1)) == {}


def test_selector_keeps_the_name_and_the_column_labels(conn):
    assert _vector(conn, 'ai_cost{team="a"}', T0) == {
        frozenset(
            {
                "__name__": "ai_cost",
                "source_system": "anthropic",
                "unit": "USD",
                "team": "a",
            }.items()
        ): 1.0
    }


def test_rows_of_one_series_and_time_are_summed(conn):
    # Team b's day 1 is two rows, 15 and 5.
    assert _by_team(conn, 'ai_cost{team="b"}', T0 + DAY) == {"b": 20.0}


def test_label_model_of_tags_and_names(conn):
    # ai.tokens.output and ai_tokens_output sanitise to one name; their rows differ in tags,
    # so they are two series. The column team wins over the tag team; __hidden, null and
    # empty tags are dropped, like the empty department column; numbers, booleans and
    # objects are JSON text; a key with a leading digit gets a "_".
    result = _vector(conn, "ai_tokens_output", T0)
    assert result == {
        frozenset(
            {
                "__name__": "ai_tokens_output",
                "source_system": "openai",
                "unit": "tokens",
                "team": "c",
                "gpu_type": "a100",
                "count": "3",
                "flag": "true",
                "nested": '{"a": 1}',
                "_9lives": "cat",
            }.items()
        ): 100.0,
        frozenset(
            {
                "__name__": "ai_tokens_output",
                "source_system": "openai",
                "unit": "tokens",
                "team": "c",
                "gpu_type": "a100",
            }.items()
        ): 50.0,
    }
    assert _by_team(conn, 'sum by (team) (ai_tokens_output{gpu_type="a100"})', T0) == {"c": 150.0}
    # A leading digit in a metric name gets a "_".
    assert list(_vector(conn, "_2xx_rate_ok", T0).values()) == [1.0]


def test_matchers_treat_a_missing_label_as_empty_and_anchor_regexes(conn):
    assert _by_team(conn, 'ai_cost{team=~"a|b"}', T0) == {"a": 1.0, "b": 10.0}
    # Anchored at both ends: "b." needs a second character and "" matches no team; an
    # inner "^" changes nothing.
    assert _by_team(conn, 'ai_cost{team=~"^a"}', T0) == {"a": 1.0}
    assert _vector(conn, 'ai_cost{team=~"b."}', T0) == {}
    assert _vector(conn, 'ai_cost{team=~""}', T0) == {}
    assert _by_team(conn, 'ai_cost{team!~"a"}', T0) == {"b": 10.0}
    assert _by_team(conn, 'ai_cost{team!="a"}', T0) == {"b": 10.0}
    # region is on no row: = "" matches every series, != "" none.
    assert len(_vector(conn, 'ai_cost{region=""}', T0)) == 2
    assert _vector(conn, 'ai_cost{region!=""}', T0) == {}
    assert len(_vector(conn, 'ai_cost{region=~".*"}', T0)) == 2
    # Name matchers by regex, resolved to metric types.
    names = {
        dict(labels)["__name__"]
        for labels in _vector(conn, '{__name__=~"ai_cost.*", team="a"}', T0)
    }
    assert names == {"ai_cost", "ai_cost_estimated"}
    assert _vector(conn, '{__name__=~"ai_cost", __name__!="ai_cost"}', T0) == {}


def test_regexes_mean_what_they_mean_in_re2(conn):
    # A leading flag group, RE2's \b word boundary and named groups (the PromQL
    # string escapes each backslash once more).
    assert _by_team(conn, 'ai_cost{team=~"(?i)A"}', T0) == {"a": 1.0}
    assert _by_team(conn, r'ai_cost{source_system=~"anthropic\\b.*"}', T0) == {"a": 1.0, "b": 10.0}
    assert _vector(conn, r'ai_cost{source_system=~"anthrop\\b.*"}', T0) == {}
    assert _by_team(conn, 'ai_cost{team=~"(?P<t>b)"}', T0) == {"b": 10.0}
    for query, named in [
        (r'ai_cost{team=~"\\pL"}', "regex Unicode class"),
        ('ai_cost{team=~"a(?i)b"}', "regex flags inside"),
    ]:
        with pytest.raises(QueryError, match=named) as error:
            instant_query(conn, query, T0)
        assert error.value.error_type == "bad_data"


def test_hostile_label_values_and_regexes_are_parameters(conn):
    for query, expected in [
        ('app_hostile{project="\'; drop table x; --"}', 1.0),
        ('app_hostile{note="$$ drop table x $$"}', 1.0),
        ('app_hostile{note="it\'s \\"quoted\\""}', 2.0),
        ('app_hostile{project=~"\'; drop.*"}', 1.0),
        ('app_hostile{project=~".*\'.*", note=~"[$]{2}.*"}', 1.0),
    ]:
        assert list(_vector(conn, query, T0).values()) == [expected], query
    [labels] = _vector(conn, 'app_hostile{project!="plain"}', T0)
    assert dict(labels)["project"] == DROP_X
    assert dict(labels)["note"] == DOLLARS
    assert label_values(conn, "project", ["app_hostile"], None, None) == [DROP_X, "plain"]
    # The table the hostile text names is still there.
    assert conn.execute("select count(*) from x").fetchone() == (0,)
    statement, params, _ = to_sql('app_hostile{project="\'; drop table x; --"}', T0, T0, HOUR)
    assert DROP_X not in statement
    assert DROP_X in params.values()


def test_offset_shifts_selectors(conn):
    assert _by_team(conn, "ai_cost offset 1d", T0 + 2 * DAY) == {"a": 2.0, "b": 20.0}
    # A negative offset looks ahead.
    assert _by_team(conn, "ai_cost offset -1d", T0 + DAY) == {"a": 3.0, "b": 30.0}
    # [T0 + 1d, T0 + 2d]: 2 + 3.
    assert _by_team(conn, 'sum_over_time(ai_cost{team="a"}[1d] offset 1d)', T0 + 3 * DAY) == {
        "a": 5.0
    }


def test_over_time_functions_include_both_window_ends(conn):
    # [T0 + 1d, T0 + 3d] holds days 1, 2 and 3: 2 + 3 + 4 = 9, mean 3.
    assert _by_team(conn, 'sum_over_time(ai_cost{team="a"}[2d])', T0 + 3 * DAY) == {"a": 9.0}
    assert _by_team(conn, 'avg_over_time(ai_cost{team="a"}[2d])', T0 + 3 * DAY) == {"a": 3.0}
    # The name is dropped.
    [labels] = _vector(conn, 'avg_over_time(ai_cost{team="a"}[2d])', T0 + 3 * DAY)
    assert "__name__" not in dict(labels)


def test_increase_and_rate_correct_resets_and_extrapolate(conn):
    at = T0 + 4 * HOUR
    # [T0, T0 + 4h]: 0, 10, 20, 5, 15. 15 - 0 plus 20 for the reset = 35; the samples touch
    # both ends, so no extrapolation.
    assert _by_team(conn, "increase(ai_requests[4h])", at) == {"a": 35.0}
    assert _by_team(conn, "rate(ai_requests[4h])", at) == {"a": 35.0 / 14400}
    # [T0 + 30m, T0 + 3h30m]: 10, 20, 5 -> 5 - 10 + 20 = 15 over 2h sampled; both ends are
    # half an hour away (< 1.1 x the 1h average), so 15 x (7200 + 1800 + 1800) / 7200.
    assert _by_team(conn, "increase(ai_requests[3h])", T0 + 3.5 * HOUR) == {"a": 22.5}
    # [T0 - 4h, T0 + 6h]: 35 over 4h. The start extrapolates only to the zero point, which is
    # the first sample (value 0); the end is 2h away (> 1.1h), so half an interval:
    # 35 x (14400 + 1800) / 14400.
    assert _by_team(conn, "increase(ai_requests[10h])", T0 + 6 * HOUR) == {"a": 39.375}
    # ai_cost{team="a"} over [T0 - 2d, T0 + 3d]: 1, 2, 3, 4 -> 3 over 3 days. The zero point
    # is 1 day before the first sample (3d x 1/3), < 1.1 days, so it is used in full; the end
    # touches: 3 x (259200 + 86400) / 259200 = 4.
    assert _by_team(conn, 'increase(ai_cost{team="a"}[5d])', T0 + 3 * DAY) == {"a": 4.0}
    assert _by_team(conn, 'rate(ai_cost{team="a"}[5d])', T0 + 3 * DAY) == {"a": 4.0 / 432000}
    # One sample is not enough.
    assert _vector(conn, "rate(ai_requests[30m])", at) == {}


def test_aggregations(conn):
    at = T0 + 2 * DAY  # team a 3, team b 30
    assert _by_team(conn, "sum(ai_cost)", at) == {None: 33.0}
    assert _by_team(conn, "avg(ai_cost)", at) == {None: 16.5}
    assert _by_team(conn, "min(ai_cost)", at) == {None: 3.0}
    assert _by_team(conn, "max(ai_cost)", at) == {None: 30.0}
    assert _by_team(conn, "count(ai_cost)", at) == {None: 2.0}
    assert _vector(conn, "sum by (team) (ai_cost)", at) == {
        frozenset({"team": "a"}.items()): 3.0,
        frozenset({"team": "b"}.items()): 30.0,
    }
    # without drops the listed labels and the name.
    assert _vector(conn, "sum without (team) (ai_cost)", at) == {
        frozenset({"source_system": "anthropic", "unit": "USD"}.items()): 33.0
    }
    assert _vector(conn, "sum by (__name__) (ai_cost)", at) == {
        frozenset({"__name__": "ai_cost"}.items()): 33.0
    }
    # 1.7e307 + 1.7e308 leaves the double range: the sum is +Inf, the mean is not.
    assert _by_team(conn, "sum(ai_cost * 1.7e307)", T0) == {None: math.inf}
    assert _by_team(conn, "avg(ai_cost * 1.7e307)", T0) == {None: pytest.approx(9.35e307)}


def test_topk_keeps_every_label(conn):
    at = T0 + 2 * DAY
    [labels] = _vector(conn, "topk(1, ai_cost)", at)
    assert dict(labels) == {
        "__name__": "ai_cost",
        "source_system": "anthropic",
        "unit": "USD",
        "team": "b",
    }
    # An instant topk lists its series highest first, group by group.
    ordered = instant_query(conn, "topk(2, ai_cost)", at).series
    assert [s.labels["team"] for s in ordered] == ["b", "a"]
    assert _by_team(conn, "topk by (team) (1, ai_cost)", at) == {"a": 3.0, "b": 30.0}
    assert _by_team(conn, "topk(5, ai_cost)", at) == {"a": 3.0, "b": 30.0}
    assert _vector(conn, "topk(0, ai_cost)", at) == {}
    # k is truncated: 1.9 is 1.
    assert _by_team(conn, "topk(1.9, ai_cost)", at) == {"b": 30.0}
    # Over [T0, T0 + 3d] both teams' samples touch the ends: 4 - 1 and 40 - 10.
    assert _by_team(conn, "topk(2, sum by (team) (increase(ai_cost[3d])))", at + DAY) == {
        "a": 3.0,
        "b": 30.0,
    }


def test_vector_scalar_arithmetic_either_side(conn):
    at = T0 + DAY  # team a 2, team b 20
    assert _by_team(conn, "ai_cost * 2", at) == {"a": 4.0, "b": 40.0}
    assert _by_team(conn, "100 - ai_cost", at) == {"a": 98.0, "b": 80.0}
    assert _by_team(conn, "ai_cost / 4", at) == {"a": 0.5, "b": 5.0}
    assert _by_team(conn, "2 ^ ai_cost", at) == {"a": 4.0, "b": 1048576.0}
    assert _by_team(conn, "ai_cost % 3", at) == {"a": 2.0, "b": 2.0}
    assert _by_team(conn, "-ai_cost", at) == {"a": -2.0, "b": -20.0}
    assert _by_team(conn, "(ai_cost + 1) * 2", at) == {"a": 6.0, "b": 42.0}
    for labels in _vector(conn, "ai_cost * 2", at):
        assert "__name__" not in dict(labels)


def test_division_by_zero_and_special_values(conn):
    at = T0 + DAY
    values = _by_team(conn, "ai_cost / (ai_cost - ai_cost)", at)
    assert values == {"a": math.inf, "b": math.inf}
    assert _by_team(conn, "-ai_cost / 0", at) == {"a": -math.inf, "b": -math.inf}
    zero = _by_team(conn, "(ai_cost - ai_cost) / (ai_cost - ai_cost)", at)
    assert all(math.isnan(v) for v in zero.values()) and len(zero) == 2
    assert _scalar(conn, "1 / 0") == math.inf
    assert _scalar(conn, "-1 / 0") == -math.inf
    assert math.isnan(_scalar(conn, "0 / 0"))
    assert _scalar(conn, "1 / -0") == -math.inf
    assert math.isnan(_scalar(conn, "5 % 0"))
    assert _scalar(conn, "5.5 % 2") == 1.5
    assert _scalar(conn, "-5.5 % 2") == -1.5
    assert _scalar(conn, "7 % Inf") == 7.0
    # Exact, like Go's math.Mod: 1 is 9 x 0.1000000000000000055... plus 0.09999999999999995.
    assert _scalar(conn, "1 % 0.1") == math.fmod(1, 0.1) == 0.09999999999999995
    assert _scalar(conn, "1e300 % 7e-300") == math.fmod(1e300, 7e-300)
    assert math.copysign(1, _scalar(conn, "-4 % 2")) == -1.0
    assert math.isnan(_scalar(conn, "Inf % 2"))
    assert _scalar(conn, "2 ^ 10") == 1024.0
    assert _scalar(conn, "0 ^ -1") == math.inf
    assert math.isnan(_scalar(conn, "(-8) ^ 0.5"))
    assert _scalar(conn, "(-2) ^ 3") == -8.0
    assert _scalar(conn, "NaN ^ 0") == 1.0
    assert _scalar(conn, "10 ^ 400") == math.inf
    # At the edges of the double range: 2^1024 overflows, 2^-1074 is the smallest subnormal.
    assert _scalar(conn, "2 ^ 1024") == math.inf
    assert _scalar(conn, "2 ^ 1023") == 2.0**1023
    assert _scalar(conn, "2 ^ -1074") == 5e-324
    assert _scalar(conn, "2 ^ -1075") == 0.0
    assert _scalar(conn, "1e308 * 10") == math.inf
    assert _scalar(conn, "-1e308 * 10") == -math.inf
    assert _scalar(conn, "1e-300 * 1e-300") == 0.0
    assert _scalar(conn, "1e308 + 1e308") == math.inf
    assert _scalar(conn, "1e300 / 1e-300") == math.inf
    assert _scalar(conn, "(1 + 2) * -3") == -9.0


def test_vector_vector_matching(conn):
    at = T0 + 2 * DAY  # ai_cost a 3, b 30; ai_cost_estimated a 6 (source_system product)
    # All labels but the name must match: source_system differs, so nothing does.
    assert _vector(conn, "ai_cost / ai_cost_estimated", at) == {}
    assert _vector(conn, "ai_cost / ignoring(source_system) ai_cost_estimated", at) == {
        frozenset({"team": "a", "unit": "USD"}.items()): 0.5
    }
    assert _vector(conn, "ai_cost / on(team) ai_cost_estimated", at) == {
        frozenset({"team": "a"}.items()): 0.5
    }
    assert _by_team(conn, "ai_cost - ai_cost", at) == {"a": 0.0, "b": 0.0}
    assert _by_team(conn, "ai_cost_estimated / on(team) (ai_cost - ai_cost)", at) == {"a": math.inf}
    assert _vector(conn, "sum(rate(ai_cost[3d])) / sum(rate(ai_cost_estimated[3d]))", at + DAY) == {
        frozenset(): pytest.approx(44.0 / 8.0)
    }


def test_comparisons_filter_or_give_booleans(conn):
    at = T0 + DAY  # ai_cost a 2, b 20; ai_cost_estimated a 4
    assert _by_team(conn, "ai_cost > 5", at) == {"b": 20.0}
    [labels] = _vector(conn, "ai_cost > 5", at)
    assert dict(labels)["__name__"] == "ai_cost"
    # With the scalar on the left, the vector's value is kept.
    assert _by_team(conn, "5 < ai_cost", at) == {"b": 20.0}
    assert _by_team(conn, "ai_cost == 2", at) == {"a": 2.0}
    assert _by_team(conn, "ai_cost != 2", at) == {"b": 20.0}
    assert _by_team(conn, "ai_cost >= 20", at) == {"b": 20.0}
    assert _by_team(conn, "ai_cost <= 2", at) == {"a": 2.0}
    assert _vector(conn, "ai_cost > bool 5", at) == {
        frozenset({"source_system": "anthropic", "unit": "USD", "team": "a"}.items()): 0.0,
        frozenset({"source_system": "anthropic", "unit": "USD", "team": "b"}.items()): 1.0,
    }
    assert _scalar(conn, "1 > bool 2") == 0.0
    assert _scalar(conn, "2 >= bool 2") == 1.0
    # NaN equals nothing, itself included, and differs from everything.
    nan = "(ai_cost - ai_cost) / (ai_cost - ai_cost)"
    assert _vector(conn, f"{nan} == {nan}", at) == {}
    assert len(_vector(conn, f"{nan} != 0", at)) == 2
    assert _vector(conn, f"{nan} > -Inf", at) == {}
    # Vector to vector: the left sample, with its name, for the pairs that pass.
    assert _vector(conn, "ai_cost < ignoring(source_system) ai_cost_estimated", at) == {
        frozenset({"__name__": "ai_cost", "team": "a", "unit": "USD"}.items()): 2.0
    }
    assert _vector(conn, "ai_cost > ignoring(source_system) ai_cost_estimated", at) == {}
    assert _vector(conn, "ai_cost > bool on(team) ai_cost_estimated", at) == {
        frozenset({"team": "a"}.items()): 0.0
    }
    with pytest.raises(QueryError, match="BOOL") as error:
        instant_query(conn, "1 > 2", at)
    assert error.value.error_type == "bad_data"


def test_ambiguous_matches_fail_as_in_prometheus(conn):
    at = T0 + 2 * DAY
    with pytest.raises(QueryError, match="many-to-one matching must be explicit") as error:
        instant_query(conn, "ai_cost / on(unit) ai_cost_estimated", at)
    assert error.value.error_type == "execution"
    with pytest.raises(QueryError, match="duplicate series for the match group") as error:
        instant_query(conn, "ai_cost_estimated / on(unit) ai_cost", at)
    assert error.value.error_type == "execution"
    # Dropping the name leaves two series with one label set.
    with pytest.raises(QueryError, match="same labelset"):
        instant_query(conn, '-{__name__=~"ai_tokens_(input|output)", count=""}', T0)


def test_range_query_evaluates_every_step(conn):
    result = range_query(conn, 'ai_cost{team="a"}', T0, T0 + 2 * DAY, 12 * HOUR)
    assert result.result_type == "matrix"
    [series] = result.series
    assert series.labels["__name__"] == "ai_cost"
    start = T0.timestamp()
    assert series.points == [
        (start, 1.0),
        (start + 43200, 1.0),
        (start + 86400, 2.0),
        (start + 129600, 2.0),
        (start + 172800, 3.0),
    ]
    # Steps past the lookback give no point; the last step may fall short of end.
    result = range_query(conn, "sum(ai_cost)", T0 + 3 * DAY, T0 + 5 * DAY + HOUR, 20 * HOUR)
    [series] = result.series
    assert series.points == [(start + 3 * 86400, 44.0), (start + 3 * 86400 + 72000, 44.0)]
    scalar = range_query(conn, "2 * 3", T0, T0 + 2 * HOUR, HOUR)
    assert scalar.result_type == "matrix"
    assert scalar.series[0].labels == {}
    assert [v for _, v in scalar.series[0].points] == [6.0, 6.0, 6.0]


def test_instant_range_selector_is_a_matrix_of_samples(conn):
    result = instant_query(conn, 'ai_cost{team="a"}[1d]', T0 + 2 * DAY)
    assert result.result_type == "matrix"
    [series] = result.series
    assert series.labels["__name__"] == "ai_cost"
    assert series.points == [((T0 + DAY).timestamp(), 2.0), ((T0 + 2 * DAY).timestamp(), 3.0)]
    with pytest.raises(QueryError, match="range vector") as error:
        range_query(conn, "ai_cost[1d]", T0, T0 + DAY, HOUR)
    assert error.value.error_type == "bad_data"


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("histogram_quantile(0.9, ai_cost)", 'function "histogram_quantile"'),
        ('label_replace(ai_cost, "a", "b", "c", "d")', 'function "label_replace"'),
        ("irate(ai_cost[1d])", 'function "irate"'),
        ("ai_cost and ai_cost_estimated", 'set operator "and"'),
        ("ai_cost unless ai_cost_estimated", 'set operator "unless"'),
        ("ai_cost or ai_cost_estimated", 'set operator "or"'),
        ("sum_over_time(ai_cost[1d:1h])", "subquery"),
        ("ai_cost @ 1793491200", "@ modifier"),
        ('"text"', "string literal"),
        ("quantile(0.5, ai_cost)", 'aggregation "quantile"'),
        ("bottomk(1, ai_cost)", 'aggregation "bottomk"'),
        ("stddev(ai_cost)", 'aggregation "stddev"'),
        ('count_values("v", ai_cost)', 'aggregation "count_values"'),
        ("ai_cost / on(team) group_left ai_cost_estimated", '"group_left"'),
        ("ai_cost_estimated / on(team) group_right ai_cost", '"group_right"'),
    ],
)
def test_unsupported_constructs_are_bad_data(conn, query, named):
    with pytest.raises(QueryError) as error:
        instant_query(conn, query, T0)
    assert error.value.error_type == "bad_data"
    assert str(error.value) == f"unsupported PromQL: {named}"


def test_parse_errors_are_bad_data(conn):
    with pytest.raises(QueryError, match="parse error") as error:
        instant_query(conn, "sum(ai_cost", T0)
    assert error.value.error_type == "bad_data"


def test_series_and_label_metadata(conn):
    series = find_series(conn, ['ai_cost{team="a"}', "ai_cost_estimated"], None, None)
    assert [s["__name__"] for s in series] == ["ai_cost", "ai_cost_estimated"]
    assert find_series(conn, ["ai_cost"], T0 + 10 * DAY, None) == []
    assert len(find_series(conn, ["ai_cost"], T0 + 3 * DAY, T0 + 3 * DAY)) == 2
    assert label_names(conn, ["ai_cost"], None, None) == [
        "__name__",
        "source_system",
        "team",
        "unit",
    ]
    assert "gpu_type" in label_names(conn, [], None, None)
    assert label_values(conn, "team", ["ai_cost"], None, None) == ["a", "b"]
    assert label_values(conn, "__name__", [], None, None) == [
        "_2xx_rate_ok",
        "ai_cost",
        "ai_cost_estimated",
        "ai_requests",
        "ai_tokens_input",
        "ai_tokens_output",
        "app_hostile",
    ]
    assert label_values(conn, "__name__", [], T0 + DAY, T0 + 2 * DAY) == [
        "ai_cost",
        "ai_cost_estimated",
    ]
    with pytest.raises(QueryError) as error:
        find_series(conn, ["sum(ai_cost)"], None, None)
    assert error.value.error_type == "bad_data"


def test_name_selectors_use_the_metric_type_index(warehouse):
    with psycopg.connect(warehouse, autocommit=True) as conn:
        conn.execute(
            "insert into marts.fct_metrics (metric_id, observed_at, source_system, metric_type,"
            " value, unit, tags) select 'bulk' || n, %s::timestamptz + n * interval '1 minute',"
            " 'product', 'bulk.metric_' || (n %% 40), n, 'events', '{}'"
            " from generate_series(1, 60000) as n",
            [T0 - 100 * DAY],
        )
        conn.execute("analyze marts.fct_metrics")
        try:
            for query in ['sum(rate({__name__=~"ai_cost.*"}[1d]))', "ai_cost"]:
                statement, params, _ = to_sql(query, T0, T0 + 3 * DAY, HOUR)
                plan = "\n".join(
                    row[0] for row in conn.execute("explain " + statement, params).fetchall()
                )
                assert "fct_metrics_metric_type_observed_at" in plan, plan
                assert "Seq Scan on fct_metrics" not in plan, plan
            assert _by_team(conn, "ai_cost", T0) == {"a": 1.0, "b": 10.0}
            # A heavy query under a tiny timeout fails as "timeout"; the timeout was local to
            # the query's transaction.
            with pytest.raises(QueryError) as error:
                range_query(
                    conn,
                    'sum(sum_over_time({__name__=~"bulk_.*"}[100d]))',
                    T0 - 100 * DAY,
                    T0,
                    HOUR,
                    timeout_s=0.05,
                )
            assert error.value.error_type == "timeout"
            assert conn.execute("show statement_timeout").fetchone() == ("0",)
        finally:
            conn.execute("delete from marts.fct_metrics where metric_id like 'bulk%%'")
