"""A subset of PromQL answered from `marts.fct_metrics`, with Prometheus 2.42's semantics.

A query is parsed with `promql_parser` and compiled to one SQL statement with bound
parameters: the warehouse builds the step grid, finds the samples, applies windows,
functions, aggregations and arithmetic; Python only turns the rows into `Series`. No text
of the query is ever written into the SQL; label names, values, regexes and numbers all
travel as parameters.

The label model (how a row of fct_metrics becomes a sample of a series):

- `__name__` is the row's metric_type with every character outside `[a-zA-Z0-9_:]` turned
  into `_`, and a `_` put in front of a leading digit: `ai.tokens.output` is
  `ai_tokens_output`. Selectors on the name are resolved to metric_type values first, by a
  skip scan over the (metric_type, observed_at) index, so only the matching metric types'
  rows are read.
- The columns source_system, unit, department, team, user_email, project, customer,
  feature, cost_category, environment, service and region are labels of the same name when
  they are neither null nor empty.
- Each key of `tags` is a label too: the key with every character outside `[a-zA-Z0-9_]`
  turned into `_` and a `_` before a leading digit; keys that then start with `__` are
  dropped (that prefix is Prometheus's own), as are null and empty values. Strings are used
  as they are, numbers, booleans, objects and arrays as their JSON text. When two keys give
  the same name, the key that needed no change wins, otherwise the one sorting last. A column
  wins over a tag of the same name.
- Rows of the same series (name and labels) with the same observed_at are one sample whose
  value is their sum; the sample's time is observed_at. Values are double precision.

Evaluation follows Prometheus 2.42: an instant vector selector at time t takes each series'
latest sample in the closed window [t - offset - lookback, t - offset]; a range selector
`x[d]` takes the samples in [t - offset - d, t - offset]. The lookback defaults to one day
(`DEFAULT_LOOKBACK`), because the vault's samples are hourly or daily. Division by zero,
`%` and `^` give Prometheus's +Inf, -Inf and NaN rather than database errors. Label
matchers treat a missing label as ''; regexes are RE2's, anchored at both ends, and are
rewritten into the Postgres regex that matches the same strings (see `_regex`). Anything
outside the subset is refused with a `QueryError` of type "bad_data" naming the construct.
"""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import promql_parser
import psycopg

from orchestration.custom.entries import TAXONOMY_FIELDS

DEFAULT_LOOKBACK = timedelta(days=1)
FACT_TABLE = "marts.fct_metrics"
# fct_metrics columns that are labels of the same name (when not null and not '').
LABEL_COLUMNS = ("source_system", "unit", *TAXONOMY_FIELDS)
NAME_LABEL = "__name__"
# work_mem for one query's transaction (see `_run`).
QUERY_WORK_MEM = "64MB"

_RANGE_FUNCTIONS = ("rate", "increase", "sum_over_time", "avg_over_time")
_AGGREGATIONS = ("sum", "avg", "min", "max", "count", "topk")
_ARITHMETIC = ("+", "-", "*", "/", "%", "^")
_COMPARISONS = ("==", "!=", ">", "<", ">=", "<=")
# Natural logarithms of the largest finite double and of 2^-1075 (below which a result
# rounds to zero), and half the largest double: past them a sum, product, quotient or power
# of finite doubles overflows or underflows, where Postgres raises an error and Go (and so
# Prometheus) gives an infinity or a zero.
_LN_MAX = math.log(1.7976931348623157e308)
_LN_MIN = -1075 * math.log(2)
_HALF_MAX = 8.988465674311579e307

_INF = "'Infinity'::float8"
_NINF = "'-Infinity'::float8"
_NAN = "'NaN'::float8"


class QueryError(Exception):
    """A query the engine cannot answer.

    error_type is Prometheus's: "bad_data" (unparsable, unsupported or a bad argument),
    "execution" (the warehouse failed, or the evaluation did, as Prometheus's would) or
    "timeout" (the statement timeout was hit).
    """

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


@dataclass(frozen=True)
class Series:
    """One series of a result: its labels and its (unix seconds, value) points, ascending."""

    labels: dict[str, str]
    points: list[tuple[float, float]]


@dataclass(frozen=True)
class Result:
    """A query's answer: "vector" (one point per series), "matrix" or "scalar"."""

    result_type: str
    series: list[Series]


def _unsupported(what: str) -> QueryError:
    return QueryError("bad_data", f"unsupported PromQL: {what}")


def _parse(query: str) -> Any:
    try:
        return promql_parser.parse(query)
    except (ValueError, TypeError) as error:
        raise QueryError("bad_data", f"parse error: {error}") from None


def _sanitised(expression: str, allowed: str) -> str:
    """SQL turning the text `expression` into a Prometheus name over the characters `allowed`."""
    return (
        f"(case when {expression} ~ '^[0-9]' then '_' else '' end"
        f" || regexp_replace({expression}, '[^{allowed}]', '_', 'g'))"
    )


def _finite(x: str) -> str:
    # NaN sorts above every number in Postgres, so this is false for NaN as well.
    return f"({x} > {_NINF} and {x} < {_INF})"


def _is_nan(x: str) -> str:
    return f"({x} = {_NAN})"


def _negative(x: str) -> str:
    """True when x has its sign bit set (negative numbers, -0 and -Inf)."""
    return f"({x} < 0 or {x}::text = '-0')"


def _signed(sign_negative: str, magnitude: str) -> str:
    return f"(case when {sign_negative} then -{magnitude} else {magnitude} end)"


def _arithmetic(op: str, a: str, b: str) -> str:
    """SQL for `a op b` on double precision values with Go's IEEE results.

    Postgres raises errors for division by zero, overflow, underflow, zero to a negative
    power and a negative number to a fractional one; each case is answered first, the way
    Go's float64 arithmetic and math.Mod / math.Pow answer it.
    """
    both_finite = f"({_finite(a)} and {_finite(b)})"
    opposite = f"({_negative(a)} <> {_negative(b)})"
    if op in ("+", "-"):
        total = f"({a} {op} {b})"
        half = f"({a} / 2 {op} {b} / 2)"
        return (
            f"(case when {both_finite} and abs({a}) > {_HALF_MAX / 2!r}"
            f" and abs({b}) > {_HALF_MAX / 2!r} and abs({half}) > {_HALF_MAX!r}"
            f" then {_signed(f'{half} < 0', _INF)} else {total} end)"
        )
    if op == "*":
        logs = f"(ln(abs({a})) + ln(abs({b})))"
        return (
            f"(case when {both_finite} and {a} <> 0 and {b} <> 0 and {logs} > {_LN_MAX!r}"
            f" then {_signed(opposite, _INF)}"
            f" when {both_finite} and {a} <> 0 and {b} <> 0 and {logs} < {_LN_MIN!r}"
            f" then {_signed(opposite, '0::float8')} else {a} * {b} end)"
        )
    if op == "/":
        logs = f"(ln(abs({a})) - ln(abs({b})))"
        return (
            f"(case when {b} = 0 then (case when {_is_nan(a)} or {a} = 0 then {_NAN}"
            f" else {_signed(opposite, _INF)} end)"
            f" when {both_finite} and {a} <> 0 and {logs} > {_LN_MAX!r}"
            f" then {_signed(opposite, _INF)}"
            f" when {both_finite} and {a} <> 0 and {logs} < {_LN_MIN!r}"
            f" then {_signed(opposite, '0::float8')} else {a} / {b} end)"
        )
    if op == "%":
        return _modulo(a, b)
    if op == "^":
        odd = f"({_finite(b)} and {b} = trunc({b}) and mod({b}::numeric, 2) <> 0)"
        growth = f"({b} * ln(abs({a})))"
        usual = f"({both_finite} and {a} <> 0 and abs({a}) <> 1 and {b} <> 0)"
        infinity = _signed(f"{a} < 0 and {odd}", _INF)
        zero = _signed(f"{a} < 0 and {odd}", "0::float8")
        # Close to either edge the double logarithm cannot decide; numeric can: at least
        # 2^1024 is infinite, at most 2^-1075 rounds to zero.
        exact = f"({b}::numeric * ln(abs({a})::numeric))"
        edge = (
            f"(case when {exact} >= 1024 * ln(2::numeric) then {infinity}"
            f" when {exact} <= -1075 * ln(2::numeric) then {zero} else power({a}, {b}) end)"
        )
        return (
            f"(case when {b} = 0 then 1::float8"
            f" when {a} = 0 and {b} < 0 then {_signed(f'{odd} and {_negative(a)}', _INF)}"
            f" when {a} < 0 and {both_finite} and {b} <> trunc({b}) then {_NAN}"
            f" when {usual} and {growth} > {_LN_MAX + 1e-6!r} then {infinity}"
            f" when {usual} and {growth} < {_LN_MIN - 1e-6!r} then {zero}"
            f" when {usual} and ({growth} > {_LN_MAX - 1e-6!r} or {growth} < {_LN_MIN + 1e-6!r})"
            f" then {edge} else power({a}, {b}) end)"
        )
    raise _unsupported(f'operator "{op}"')


def _compare(op: str, a: str, b: str) -> str:
    """SQL for Go's float comparison `a op b`: false with a NaN, except that NaN != x.

    Postgres instead treats NaN as equal to itself and greater than every number.
    """
    nan = f"({_is_nan(a)} or {_is_nan(b)})"
    if op == "!=":
        return f"({a} <> {b} or {nan})"
    sql_op = "=" if op == "==" else op
    return f"({a} {sql_op} {b} and not {nan})"


def _total(value: str, order: str = "", *, mean: bool = False) -> str:
    """SQL: the sum (or mean) of `value` over a group, overflowing to an infinity as Go does.

    Postgres's sum and avg of double precision raise an error where the running sum leaves
    the double range. Summing the values scaled by 2^-32 gives the same rounding at every
    step (scaling by a power of two is exact) without leaving the range; scaling back
    overflows to +-Inf only if the result itself does. A mean of huge values stays finite,
    as Prometheus's incremental mean does.
    """
    scaled = f"sum({value} * {2.0**-32!r}{order})"
    if mean:
        scaled = f"({scaled} / count(*))"
    return _arithmetic("*", scaled, "4294967296::float8")


def _exponent(v: str) -> str:
    """SQL: the binary exponent e of a normal, finite, non-zero v (2^e <= |v| < 2^(e+1))."""
    scaled = f"abs({v}) * power(2::float8, (- guess.e)::float8)"
    return (
        f"(select guess.e + case when {scaled} >= 2 then 1 when {scaled} < 1 then -1 else 0 end"
        f" from (select floor(ln(abs({v})) / ln(2::float8))::int as e) as guess)"
    )


def _mantissa(v: str, e: str) -> str:
    """SQL: |v| / 2^(e - 52) as an exact numeric integer (53 bits, cast in two halves: a
    double converts to numeric with only 15 significant digits)."""
    return (
        "(select trunc(bits.m / 67108864)::numeric * 67108864"
        " + (bits.m - trunc(bits.m / 67108864) * 67108864)::numeric"
        f" from (select abs({v}) * power(2::float8, (- {e})::float8) * 4503599627370496 as m)"
        " as bits)"
    )


def _modulo(a: str, b: str) -> str:
    """SQL for Go's math.Mod(a, b), exactly: NaN for a zero divisor, an infinite dividend or
    a NaN; a for an infinite divisor or |a| < |b|; otherwise the remainder with a's sign,
    computed on the two numbers as exact integers over b's binary exponent (the remainder of
    two doubles is always a double, so the result is exact)."""
    x, y = "operands.x", "operands.y"
    exact = (
        f"(select {_signed(_negative(x), 'abs(mod(parts.mx * power(2::numeric, parts.ex - parts.ey), parts.my)::float8 * power(2::float8, (parts.ey - 52)::float8))')}"
        f" from (select exps.ex, exps.ey, {_mantissa(x, 'exps.ex')} as mx,"
        f" {_mantissa(y, 'exps.ey')} as my"
        f" from (select {_exponent(x)} as ex, {_exponent(y)} as ey) as exps) as parts)"
    )
    # A subnormal divisor has no 53-bit mantissa; the remainder is then taken in floating
    # point, exact while the quotient is small.
    approximate = f"({x} - {y} * trunc({x} / {y}))"
    return (
        f"(select case when {y} = 0 or {_is_nan(x)} or {_is_nan(y)} or not {_finite(x)}"
        f" then {_NAN} when not {_finite(y)} or abs({x}) < abs({y}) then {x}"
        f" when abs({y}) < 2.2250738585072014e-308 then {approximate}"
        f" else {exact} end from (select ({a})::float8 as x, ({b})::float8 as y) as operands)"
    )


# RE2 escapes that mean something else in a Postgres ARE, and their ARE spelling.
_RE2_ESCAPES = {"b": r"\y", "B": r"\Y", "z": r"\Z"}
_RE2_FLAGS = {"i", "s"}


def _regex(re2: str) -> str:
    r"""A label matcher's RE2 regex as the Postgres ARE that matches the same strings.

    Prometheus anchors the regex at both ends and compiles it with Go's RE2, where `.` does
    not match a newline unless the `s` flag is set. A leading flag group `(?i)`, `(?s)` or
    `(?is)` becomes the ARE's embedded options; `\b`, `\B` and `\z` are
    rewritten; `(?P<name>` becomes a plain group. What an ARE cannot say (flags further in,
    Unicode classes) is refused rather than matched differently.
    """
    flags: set[str] = set()
    rest = re2
    while rest.startswith("(?") and ")" in rest:
        group = rest[2 : rest.index(")")]
        if not group or set(group) - _RE2_FLAGS:
            break
        flags |= set(group)
        rest = rest[len(group) + 3 :]
    out: list[str] = []
    i, in_class = 0, False
    while i < len(rest):
        char = rest[i]
        if char == "\\" and i + 1 < len(rest):
            escaped = rest[i + 1]
            if escaped in "pP":
                raise _unsupported(f"regex Unicode class \\{escaped} in {re2!r}")
            out.append(
                _RE2_ESCAPES.get(escaped, "\\" + escaped) if not in_class else "\\" + escaped
            )
            i += 2
            continue
        if in_class:
            in_class = char != "]" or out[-1] == "["
        elif char == "[":
            in_class = True
        elif rest.startswith("(?P<", i):
            out.append("(")
            i = rest.index(">", i) + 1
            continue
        elif rest.startswith("(?", i) and not rest.startswith("(?:", i):
            raise _unsupported(f"regex flags inside {re2!r}")
        out.append(char)
        i += 1
    options = ("i" if "i" in flags else "") + ("" if "s" in flags else "p")
    return (f"(?{options})" if options else "") + f"^(?:{''.join(out)})$"


def _labels_sql(row: str, name: str) -> tuple[str, str]:
    """SQL building a row's label set (jsonb) from fct_metrics row `row` and its name.

    Returns a lateral join that turns the row's tags into labels and the label set's
    expression. As a lateral join over `tags` alone, the tag labels can be computed once
    per distinct tags value (Postgres memoizes such a join) rather than once per row.
    """
    key = "tag.key"
    label = _sanitised(key, "a-zA-Z0-9_")
    tags = (
        "cross join lateral (select coalesce(jsonb_object_agg(named.label, named.value"
        " order by named.exact, named.key), '{}'::jsonb) as labels"
        f" from (select {key} as key, {label} as label, {key} = {label} as exact,"
        " case jsonb_typeof(tag.value) when 'string' then tag.value #>> '{}'"
        " else tag.value::text end as value"
        f" from jsonb_each(case when jsonb_typeof({row}.tags) = 'object'"
        f" then {row}.tags else '{{}}'::jsonb end) as tag"
        " where jsonb_typeof(tag.value) <> 'null') as named"
        " where named.label <> '' and left(named.label, 2) <> '__' and named.value <> '')"
        " as tag_labels"
    )
    columns = ", ".join(f"'{column}', nullif({row}.{column}, '')" for column in LABEL_COLUMNS)
    labels = (
        f"(tag_labels.labels || jsonb_strip_nulls(jsonb_build_object('{NAME_LABEL}', {name},"
        f" {columns})))"
    )
    return tags, labels


def _seconds(span: timedelta) -> Decimal:
    """A duration in seconds, exactly (microseconds included)."""
    return Decimal(span // timedelta(microseconds=1)) / 1_000_000


def _keyed(window: str) -> str:
    """SQL: a window CTE's rows with their label set as text in the "C" collation, a key that
    sorts and compares much faster than jsonb (equal label sets print equally)."""
    return f'(select ts, labels::text collate "C" as key, t, v from {window}) as keyed'


_MILLISECOND = timedelta(milliseconds=1)


def _milliseconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@dataclass
class _Vector:
    cte: str  # a CTE with columns ts, labels, v


@dataclass
class _Scalar:
    sql: str  # a constant double precision expression


@dataclass
class _Matrix:
    selector: Any  # promql_parser.MatrixSelector


class _Compiler:
    """Turns a parsed expression into CTEs of one statement, collecting the parameters."""

    def __init__(
        self,
        start: datetime,
        end: datetime,
        lookback: timedelta,
        step: timedelta = timedelta(seconds=1),
    ) -> None:
        self.start = start
        self.end = end
        self.lookback = lookback
        self.params: dict[str, Any] = {}
        self.ctes: list[tuple[str, str]] = []
        self.checks: list[str] = []
        # The step grid: start + k x step for k = 0 .. last. Positions on it are computed in
        # exact numeric seconds, so a sample lands on the same steps Prometheus's
        # millisecond arithmetic puts it on.
        self.grid_start = self.param(start, "timestamptz")
        self.grid_step = self.param(step, "interval")
        self.grid_last = self.param((end - start) // step if end >= start else -1, "bigint")
        self.start_seconds = self.param(
            _seconds(start - datetime(1970, 1, 1, tzinfo=UTC)), "numeric"
        )
        self.step_seconds = self.param(_seconds(step), "numeric")

    def step_time(self, k: str) -> str:
        """SQL: the time of step number k."""
        return f"({self.grid_start} + {k} * {self.grid_step})"

    def position(self, seconds: str) -> str:
        """SQL: where a time given in epoch seconds falls on the grid, in steps (numeric)."""
        return f"(({seconds} - {self.start_seconds}) / {self.step_seconds})"

    def param(self, value: Any, cast: str) -> str:
        key = f"p{len(self.params)}"
        self.params[key] = value
        return f"%({key})s::{cast}"

    def cte(self, body: str) -> str:
        name = f"node_{len(self.ctes)}"
        self.ctes.append((name, body))
        return name

    def statement(self, final: str) -> str:
        parts = [
            "metric_types as ((select metric_type from "
            f"{FACT_TABLE} order by metric_type limit 1) union all select (select next.metric_type"
            f" from {FACT_TABLE} as next where next.metric_type > metric_types.metric_type"
            " order by next.metric_type limit 1) from metric_types"
            " where metric_types.metric_type is not null)",
            "metric_names as (select metric_type, "
            f"{_sanitised('metric_type', 'a-zA-Z0-9_:')} as name from metric_types"
            " where metric_type is not null)",
        ]
        parts += [f"{name} as ({body})" for name, body in self.ctes]
        return "with recursive " + ",\n".join(parts) + "\n" + final

    # Selectors ----------------------------------------------------------------------

    def matcher_condition(self, labels: str, matcher: Any) -> str:
        value = f"coalesce({labels} ->> {self.param(matcher.name, 'text')}, '')"
        return self.match(value, matcher)

    def match(self, value: str, matcher: Any) -> str:
        op = matcher.op
        if op == promql_parser.MatchOp.Equal:
            return f"{value} = {self.param(matcher.value, 'text')}"
        if op == promql_parser.MatchOp.NotEqual:
            return f"{value} <> {self.param(matcher.value, 'text')}"
        pattern = self.param(_regex(matcher.value), "text")
        if op == promql_parser.MatchOp.Re:
            return f"{value} ~ {pattern}"
        return f"{value} !~ {pattern}"

    def samples(self, selector: Any, width: timedelta) -> str:
        """A CTE of (labels, t, v): the selected series' samples any step can reach."""
        if selector.at is not None:
            raise _unsupported("@ modifier")
        if selector.matchers.or_matchers:
            raise _unsupported('"or" between label matchers')
        offset = selector.offset or timedelta(0)
        matchers = list(selector.matchers.matchers)
        name_conditions = [
            self.match("name", matcher) for matcher in matchers if matcher.name == NAME_LABEL
        ]
        if selector.name is not None:
            name_conditions.append(f"name = {self.param(selector.name, 'text')}")
        label_conditions = [
            self.matcher_condition("sample.labels", matcher)
            for matcher in matchers
            if matcher.name != NAME_LABEL
        ]
        names = self.cte(
            "select metric_type, name from metric_names where "
            + (" and ".join(name_conditions) or "true")
        )
        low = self.param(self.start - offset - width, "timestamptz")
        high = self.param(self.end - offset, "timestamptz")
        tag_join, labels = _labels_sql("fact", "names.name")
        return self.cte(
            "select sample.labels, sample.observed_at as t, sum(sample.value)::float8 as v"
            f" from (select {labels} as labels, fact.observed_at, fact.value"
            f" from {FACT_TABLE} as fact join {names} as names"
            f" on names.metric_type = fact.metric_type {tag_join}"
            f" where fact.metric_type = any(array(select metric_type from {names}))"
            f" and fact.observed_at >= {low} and fact.observed_at <= {high}) as sample"
            f" where {' and '.join(label_conditions) or 'true'}"
            " group by sample.labels, sample.observed_at"
        )

    def instant_selector(self, selector: Any) -> _Vector:
        """Each series' latest sample at each step, if it is at most the lookback old.

        A sample at t is the answer at the steps s with t <= s - offset <= t + lookback and
        s - offset before the series' next sample: each sample yields exactly its steps,
        so the work grows with the answer, not with steps x samples.
        """
        samples = self.samples(selector, self.lookback)
        offset = self.param(_seconds(selector.offset or timedelta(0)), "numeric")
        lookback = self.param(_seconds(self.lookback), "numeric")
        t = "extract(epoch from sample.t)"
        following = "extract(epoch from sample.next_t)"
        first = f"greatest(0, ceil({self.position(f'{t} + {offset}')}))"
        last = (
            f"least({self.grid_last}, floor({self.position(f'{t} + {offset} + {lookback}')}),"
            f" coalesce(ceil({self.position(f'{following} + {offset}')}) - 1, {self.grid_last}))"
        )
        return _Vector(
            self.cte(
                f"select {self.step_time('k')} as ts, sample.labels, sample.v"
                " from (select labels, t, v, lead(t) over"
                ' (partition by labels::text collate "C" order by t)'
                f" as next_t from {samples}) as sample,"
                f" generate_series({first}::bigint, {last}::bigint) as k"
            )
        )

    def range_samples(self, matrix: Any) -> str:
        """A CTE of (ts, labels, t, v): each step's samples of the range selector.

        A sample at t is in the window of the steps s with t <= s - offset <= t + range.
        """
        selector = matrix.vector_selector
        samples = self.samples(selector, matrix.range)
        offset = self.param(_seconds(selector.offset or timedelta(0)), "numeric")
        width = self.param(_seconds(matrix.range), "numeric")
        t = "extract(epoch from sample.t)"
        first = f"greatest(0, ceil({self.position(f'{t} + {offset}')}))"
        last = f"least({self.grid_last}, floor({self.position(f'{t} + {offset} + {width}')}))"
        return self.cte(
            f"select {self.step_time('k')} as ts, sample.labels, sample.t, sample.v"
            f" from {samples} as sample, generate_series({first}::bigint, {last}::bigint) as k"
        )

    def unique(self, cte: str) -> None:
        """Fail the query, as Prometheus does, when a step holds one label set twice."""
        self.checks.append(
            "(select 'labelset' as kind, ts, labels, null::float8 as v, null::timestamptz as t"
            f" from {cte} group by ts, labels having count(*) > 1 limit 1)"
        )

    # Expressions --------------------------------------------------------------------

    def compile(self, node: Any) -> _Vector | _Scalar | _Matrix:
        if isinstance(node, promql_parser.ParenExpr):
            return self.compile(node.expr)
        if isinstance(node, promql_parser.NumberLiteral):
            return _Scalar(self.param(float(node.val), "float8"))
        if isinstance(node, promql_parser.VectorSelector):
            return self.instant_selector(node)
        if isinstance(node, promql_parser.MatrixSelector):
            return _Matrix(node)
        if isinstance(node, promql_parser.UnaryExpr):
            return self.negate(self.compile(node.expr))
        if isinstance(node, promql_parser.Call):
            return self.call(node)
        if isinstance(node, promql_parser.AggregateExpr):
            return self.aggregate(node)
        if isinstance(node, promql_parser.BinaryExpr):
            return self.binary(node)
        if isinstance(node, promql_parser.SubqueryExpr):
            raise _unsupported("subquery")
        if isinstance(node, promql_parser.StringLiteral):
            raise _unsupported("string literal")
        raise _unsupported(f"expression {type(node).__name__}")

    def vector(self, value: _Vector | _Scalar | _Matrix, where: str) -> _Vector:
        if not isinstance(value, _Vector):
            kind = "scalar" if isinstance(value, _Scalar) else "range vector"
            raise QueryError("bad_data", f"{where} expects an instant vector, got a {kind}")
        return value

    def negate(self, value: _Vector | _Scalar | _Matrix) -> _Vector | _Scalar:
        if isinstance(value, _Scalar):
            return _Scalar(f"(- {value.sql})")
        vector = self.vector(value, "unary minus")
        result = _Vector(
            self.cte(
                f"select ts, labels - '{NAME_LABEL}'::text as labels, - v as v from {vector.cte}"
            )
        )
        self.unique(result.cte)
        return result

    def call(self, node: Any) -> _Vector:
        name = node.func.name
        if name not in _RANGE_FUNCTIONS:
            raise _unsupported(f'function "{name}"')
        argument = node.args[0]
        while isinstance(argument, promql_parser.ParenExpr):
            argument = argument.expr
        if not isinstance(argument, promql_parser.MatrixSelector):
            if isinstance(argument, promql_parser.SubqueryExpr):
                raise _unsupported("subquery")
            raise QueryError("bad_data", f'function "{name}" expects a range vector selector')
        window = self.range_samples(argument)
        if name == "sum_over_time":
            body = (
                f"select ts, key::jsonb as labels, {_total('v', ' order by t')} as v"
                f" from {_keyed(window)} group by ts, key"
            )
        elif name == "avg_over_time":
            body = (
                f"select ts, key::jsonb as labels, {_total('v', ' order by t', mean=True)} as v"
                f" from {_keyed(window)} group by ts, key"
            )
        else:
            body = self.extrapolated_rate(window, argument, is_rate=name == "rate")
        result = _Vector(
            self.cte(f"select ts, labels - '{NAME_LABEL}'::text as labels, v from ({body}) as f")
        )
        self.unique(result.cte)
        return result

    def extrapolated_rate(self, window: str, matrix: Any, *, is_rate: bool) -> str:
        """SQL of rate / increase: Prometheus's extrapolatedRate for counters.

        The increase between the window's first and last sample, corrected for counter
        resets, is extrapolated towards the window's edges: all the way when the edge is
        closer than 1.1 average sample intervals, half an interval otherwise, and never
        past the time the counter would have been zero.
        """
        offset = self.param(matrix.vector_selector.offset or timedelta(0), "interval")
        width = self.param(matrix.range, "interval")
        seconds = self.param(matrix.range.total_seconds(), "float8")
        stats = (
            "select ts, key::jsonb as labels, count(*) as n,"
            " (array_agg(v order by t))[1] as first_v,"
            " (array_agg(v order by t desc))[1] as last_v,"
            " min(t) as first_t, max(t) as last_t,"
            " coalesce(sum(previous) filter (where v < previous"
            f" and previous <> {_NAN}), 0) as resets"
            " from (select ts, key, t, v,"
            " lag(v) over (partition by ts, key order by t) as previous"
            f" from {_keyed(window)}) as ordered group by ts, key having count(*) >= 2"
        )
        spans = (
            "select ts, labels, n, first_v, (last_v - first_v) + resets as delta,"
            f" extract(epoch from first_t - (ts - {offset} - {width}))::float8 as to_start,"
            f" extract(epoch from (ts - {offset}) - last_t)::float8 as to_end,"
            " extract(epoch from last_t - first_t)::float8 as sampled"
            f" from ({stats}) as stats"
        )
        # Counters cannot go below zero: extrapolate to the start no further than zero.
        starts = (
            "select ts, labels, delta, sampled, sampled / (n - 1) as average,"
            f" case when delta > 0 and delta <> {_NAN} and first_v >= 0 and first_v <> {_NAN}"
            " and sampled * (first_v / delta) < to_start then sampled * (first_v / delta)"
            " else to_start end as to_start, to_end"
            f" from ({spans}) as spans"
        )
        factor = (
            "(sampled + case when to_start < average * 1.1 then to_start else average / 2 end"
            " + case when to_end < average * 1.1 then to_end else average / 2 end) / sampled"
        )
        if is_rate:
            factor = f"({factor}) / {seconds}"
        return f"select ts, labels, delta * ({factor}) as v from ({starts}) as starts"

    def kept(self, labels: str, names: Sequence[str]) -> str:
        """SQL: the label set `labels` reduced to `names` (those it has)."""
        if not names:
            return "'{}'::jsonb"
        pairs = []
        for name in sorted(set(names)):
            key = self.param(name, "text")
            pairs.append(f"{key}, {labels} -> {key}")
        return f"jsonb_strip_nulls(jsonb_build_object({', '.join(pairs)}))"

    def group_key(self, node: Any, labels: str) -> str:
        modifier = node.modifier
        if modifier is None:
            return "'{}'::jsonb"
        if modifier.type == promql_parser.AggModifierType.Without:
            names = self.param(list(modifier.labels), "text[]")
            return f"({labels} - {names} - '{NAME_LABEL}'::text)"
        return self.kept(labels, list(modifier.labels))

    def aggregate(self, node: Any) -> _Vector:
        op = str(node.op)
        if op not in _AGGREGATIONS:
            raise _unsupported(f'aggregation "{op}"')
        vector = self.vector(self.compile(node.expr), f'aggregation "{op}"')
        key = self.group_key(node, "labels")
        if op == "topk":
            k = self.compile(node.param)
            if not isinstance(k, _Scalar):
                raise QueryError("bad_data", 'the "topk" parameter must be a number')
            # Prometheus truncates k to an integer and sorts NaN below every number.
            ranked = (
                f"select ts, labels, v, row_number() over (partition by ts, {key}"
                f" order by v = {_NAN}, v desc) as place from {vector.cte}"
            )
            return _Vector(
                self.cte(
                    f"select ts, labels, v from ({ranked}) as ranked where"
                    f" {_finite(k.sql)} and place <= trunc({k.sql})"
                )
            )
        value = {
            "sum": _total("v"),
            "avg": _total("v", mean=True),
            "min": "min(v)",
            # Postgres sorts NaN above every number; Prometheus's max ignores NaN unless
            # every value is NaN.
            "max": f"coalesce(max(v) filter (where v <> {_NAN}), {_NAN})",
            "count": "count(*)::float8",
        }[op]
        return _Vector(
            self.cte(
                f"select ts, key as labels, {value} as v"
                f" from (select ts, {key} as key, v from {vector.cte}) as keyed group by ts, key"
            )
        )

    def binary(self, node: Any) -> _Vector | _Scalar:
        op = str(node.op)
        modifier = node.modifier
        if op not in _ARITHMETIC and op not in _COMPARISONS:
            kind = "set operator" if op in ("and", "or", "unless") else "operator"
            raise _unsupported(f'{kind} "{op}"')
        as_bool = modifier is not None and modifier.return_bool
        left = self.compile(node.lhs)
        right = self.compile(node.rhs)
        if isinstance(left, _Matrix) or isinstance(right, _Matrix):
            raise QueryError("bad_data", f'operator "{op}" expects instant vectors or scalars')
        if isinstance(left, _Scalar) and isinstance(right, _Scalar):
            if op in _COMPARISONS:
                if not as_bool:
                    raise QueryError(
                        "bad_data", "comparisons between scalars must use BOOL modifier"
                    )
                return _Scalar(
                    f"(case when {_compare(op, left.sql, right.sql)} then 1 else 0 end)::float8"
                )
            return _Scalar(_arithmetic(op, left.sql, right.sql))
        if isinstance(left, _Scalar) or isinstance(right, _Scalar):
            vector = left if isinstance(left, _Vector) else right
            a = left.sql if isinstance(left, _Scalar) else "v"
            b = right.sql if isinstance(right, _Scalar) else "v"
            if op in _COMPARISONS and not as_bool:
                # A filter: the vector's samples that pass, unchanged, name included.
                return _Vector(
                    self.cte(f"select ts, labels, v from {vector.cte} where {_compare(op, a, b)}")
                )
            value = (
                f"(case when {_compare(op, a, b)} then 1 else 0 end)::float8"
                if op in _COMPARISONS
                else _arithmetic(op, a, b)
            )
            result = _Vector(
                self.cte(
                    f"select ts, labels - '{NAME_LABEL}'::text as labels, {value} as v"
                    f" from {vector.cte}"
                )
            )
            self.unique(result.cte)
            return result
        return self.vector_match(op, modifier, left, right)

    def vector_match(self, op: str, modifier: Any, left: _Vector, right: _Vector) -> _Vector:
        """One-to-one matching: pairs with equal labels, ignoring __name__ (or on / ignoring).

        Arithmetic and `bool` comparisons give the matching labels (the left side's labels
        without __name__, or only those of on (...), or without those of ignoring (...)); a
        filtering comparison keeps the left side's sample, its name too unless on (...)
        leaves it out.
        """
        if modifier is not None and modifier.card != promql_parser.VectorMatchCardinality.OneToOne:
            which = (
                "group_left"
                if modifier.card == promql_parser.VectorMatchCardinality.ManyToOne
                else "group_right"
            )
            raise _unsupported(f'"{which}"')
        matching = modifier.matching if modifier is not None else None
        as_bool = modifier is not None and modifier.return_bool
        if matching is None:
            signature = f"labels - '{NAME_LABEL}'::text"
            kept = "l.labels"
        elif matching.type == promql_parser.LabelModifierType.Include:
            signature = self.kept("labels", list(matching.labels))
            kept = "l.signature"
        else:
            names = self.param(list(matching.labels), "text[]")
            signature = f"labels - {names} - '{NAME_LABEL}'::text"
            kept = f"l.labels - {names}"
        sides = []
        for side in (left, right):
            sides.append(
                self.cte(
                    f"select ts, labels, v, {signature} as signature,"
                    f" count(*) over (partition by ts, {signature}) as copies from {side.cte}"
                )
            )
        lhs, rhs = sides
        self.checks.append(
            "(select 'many_right' as kind, r.ts, r.signature as labels, null::float8 as v,"
            f" null::timestamptz as t from {rhs} as r where r.copies > 1"
            f" and exists (select from {lhs} as l where l.ts = r.ts) limit 1)"
        )
        self.checks.append(
            "(select 'many_left' as kind, l.ts, l.signature as labels, null::float8 as v,"
            f" null::timestamptz as t from {lhs} as l where l.copies > 1 and exists"
            f" (select from {rhs} as r where r.ts = l.ts and r.signature = l.signature) limit 1)"
        )
        pairs = f"from {lhs} as l join {rhs} as r on r.ts = l.ts and r.signature = l.signature"
        if op not in _COMPARISONS:
            body = (
                f"select l.ts, l.signature as labels, {_arithmetic(op, 'l.v', 'r.v')} as v {pairs}"
            )
        elif as_bool:
            body = (
                "select l.ts, l.signature as labels,"
                f" (case when {_compare(op, 'l.v', 'r.v')} then 1 else 0 end)::float8 as v {pairs}"
            )
        else:
            body = f"select l.ts, {kept} as labels, l.v {pairs} where {_compare(op, 'l.v', 'r.v')}"
        return _Vector(self.cte(body))


def _check_error(kind: str, labels: dict[str, str]) -> QueryError:
    group = "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"
    if kind == "labelset":
        return QueryError("execution", "vector cannot contain metrics with the same labelset")
    if kind == "many_right":
        return QueryError(
            "execution",
            f"found duplicate series for the match group {group} on the right hand-side of the"
            " operation; many-to-many matching not allowed: matching labels must be unique on"
            " one side",
        )
    return QueryError(
        "execution",
        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
    )


def _run(
    conn: psycopg.Connection, statement: str, params: dict[str, Any], timeout_s: float | None
) -> list[tuple]:
    try:
        with conn.transaction():
            # Step arithmetic in UTC: a step of days must not follow a local zone's clock.
            conn.execute("select set_config('TimeZone', 'UTC', true)")
            # Label sets are sorted and hashed per sample; with Postgres's default 4MB a
            # month of hourly series spills to disk, which triples the time.
            conn.execute("select set_config('work_mem', %s, true)", [QUERY_WORK_MEM])
            if timeout_s is not None:
                milliseconds = max(1, math.ceil(timeout_s * 1000))
                conn.execute(
                    "select set_config('statement_timeout', %s, true)", [str(milliseconds)]
                )
            return conn.execute(statement, params).fetchall()
    except psycopg.errors.InvalidRegularExpression as error:
        raise QueryError("bad_data", f"invalid regular expression: {error}") from None
    except psycopg.errors.QueryCanceled as error:
        raise QueryError("timeout", f"query timed out in query execution: {error}") from None
    except psycopg.Error as error:
        raise QueryError("execution", f"the warehouse failed: {error}") from None


def to_sql(
    query: str,
    start: datetime,
    end: datetime,
    step: timedelta,
    lookback: timedelta = DEFAULT_LOOKBACK,
    *,
    is_range: bool = True,
) -> tuple[str, dict[str, Any], str]:
    """The statement, its parameters and the result type a query runs as (e.g. for EXPLAIN).

    The statement yields (kind, step seconds, labels, value, sample seconds) rows; a kind
    other than "sample" reports a failed evaluation (see `_check_error`).
    """
    # Prometheus evaluates at whole milliseconds.
    start, end = _milliseconds(_as_utc(start)), _milliseconds(_as_utc(end))
    step = max(step // _MILLISECOND * _MILLISECOND, _MILLISECOND)
    if lookback <= timedelta(0):
        raise QueryError("bad_data", "the lookback must be positive")
    expression = _parse(query)
    compiler = _Compiler(start, end, lookback, step)
    steps = (
        f"select {compiler.step_time('k')} as ts from generate_series(0, {compiler.grid_last}) as k"
    )
    compiler.ctes.append(("steps", steps))
    value = compiler.compile(expression)
    if isinstance(value, _Matrix):
        if is_range:
            raise QueryError(
                "bad_data",
                'invalid expression type "range vector" for range query,'
                " must be Scalar or instant Vector",
            )
        window = compiler.range_samples(value.selector)
        rows = f"select 'sample' as kind, ts, labels, v, t from {window}"
        result_type = "matrix"
    elif isinstance(value, _Scalar):
        rows = (
            "select 'sample' as kind, ts, '{}'::jsonb as labels,"
            f" {value.sql} as v, null::timestamptz as t from steps"
        )
        result_type = "scalar"
    else:
        rows = f"select 'sample' as kind, ts, labels, v, null::timestamptz as t from {value.cte}"
        result_type = "vector"
    final = " union all ".join([*compiler.checks, f"({rows})"])
    statement = compiler.statement(
        "select kind, extract(epoch from ts)::float8, labels, v,"
        f" extract(epoch from t)::float8 from ({final}) as answer"
    )
    return statement, compiler.params, result_type


def _evaluate(
    conn: psycopg.Connection,
    query: str,
    start: datetime,
    end: datetime,
    step: timedelta,
    lookback: timedelta,
    timeout_s: float | None,
    *,
    is_range: bool,
) -> Result:
    statement, params, result_type = to_sql(query, start, end, step, lookback, is_range=is_range)
    found = _run(conn, statement, params, timeout_s)
    grouped: dict[tuple, list[tuple[float, float]]] = {}
    for kind, ts, labels, v, t in found:
        if kind != "sample":
            raise _check_error(kind, labels)
        key = tuple(sorted(labels.items()))
        grouped.setdefault(key, []).append((t if t is not None else ts, float(v)))
    series = [Series(dict(key), sorted(points)) for key, points in sorted(grouped.items())]
    if is_range:
        return Result("matrix", series)
    top = _unwrapped(_parse(query))
    if (
        result_type == "vector"
        and isinstance(top, promql_parser.AggregateExpr)
        and str(top.op) == "topk"
    ):
        series.sort(key=_topk_order(top.modifier))
    return Result(result_type, series)


def _unwrapped(node: Any) -> Any:
    while isinstance(node, promql_parser.ParenExpr):
        node = node.expr
    return node


def _topk_order(modifier: Any) -> Any:
    """Prometheus lists an instant topk's series group by group, highest value first, NaN last."""

    def key(series: Series) -> tuple:
        labels = series.labels
        if modifier is None:
            group: tuple = ()
        elif modifier.type == promql_parser.AggModifierType.Without:
            dropped = {*modifier.labels, NAME_LABEL}
            group = tuple(sorted((k, v) for k, v in labels.items() if k not in dropped))
        else:
            group = tuple((k, labels.get(k, "")) for k in sorted(modifier.labels))
        value = series.points[0][1]
        return (group, math.isnan(value), -value if not math.isnan(value) else 0.0)

    return key


def instant_query(
    conn: psycopg.Connection,
    query: str,
    at: datetime,
    *,
    lookback: timedelta = DEFAULT_LOOKBACK,
    timeout_s: float | None = None,
) -> Result:
    """Evaluate `query` at `at`: a vector, a scalar, or a matrix for a bare range selector."""
    return _evaluate(conn, query, at, at, timedelta(seconds=1), lookback, timeout_s, is_range=False)


def range_query(
    conn: psycopg.Connection,
    query: str,
    start: datetime,
    end: datetime,
    step: timedelta,
    *,
    lookback: timedelta = DEFAULT_LOOKBACK,
    timeout_s: float | None = None,
) -> Result:
    """Evaluate `query` at start, start + step, ... up to end; always a matrix."""
    if step <= timedelta(0):
        raise QueryError(
            "bad_data", "zero or negative query resolution step widths are not accepted"
        )
    if _as_utc(end) < _as_utc(start):
        raise QueryError("bad_data", "end timestamp must not be before start time")
    return _evaluate(conn, query, start, end, step, lookback, timeout_s, is_range=True)


# Series metadata ------------------------------------------------------------------------


def _selectors(matchers: Iterable[str]) -> list[Any]:
    selectors = []
    for text in matchers:
        parsed = _parse(text)
        if not isinstance(parsed, promql_parser.VectorSelector):
            raise QueryError("bad_data", f"match[] must be a series selector, got {text!r}")
        if parsed.offset is not None or parsed.at is not None:
            raise QueryError("bad_data", f"match[] must be a plain series selector, got {text!r}")
        selectors.append(parsed)
    return selectors


def _series_statement(
    matchers: Sequence[str], start: datetime | None, end: datetime | None, select: str
) -> tuple[str, dict[str, Any]]:
    """A statement selecting `select` (over a CTE `found` of distinct label sets)."""
    low = _as_utc(start) if start is not None else datetime(1, 1, 1, tzinfo=UTC)
    high = _as_utc(end) if end is not None else datetime(9999, 12, 31, tzinfo=UTC)
    compiler = _Compiler(low, high, timedelta(0))
    selectors = _selectors(matchers)
    if not selectors:
        selectors = _selectors(['{__name__=~".+"}'])
    parts = [f"select labels from {compiler.samples(s, timedelta(0))}" for s in selectors]
    compiler.ctes.append(("found", " union ".join(parts)))
    return compiler.statement(select), compiler.params


def find_series(
    conn: psycopg.Connection,
    matchers: Sequence[str],
    start: datetime | None,
    end: datetime | None,
) -> list[dict[str, str]]:
    """The label sets of the series any of `matchers` selects with samples in [start, end]."""
    if not matchers:
        raise QueryError("bad_data", "no match[] parameter provided")
    statement, params = _series_statement(matchers, start, end, "select distinct labels from found")
    rows = _run(conn, statement, params, None)
    return sorted((row[0] for row in rows), key=lambda labels: sorted(labels.items()))


def label_names(
    conn: psycopg.Connection,
    matchers: Sequence[str],
    start: datetime | None,
    end: datetime | None,
) -> list[str]:
    """The label names of the selected series (all series without matchers), sorted."""
    statement, params = _series_statement(
        matchers, start, end, "select distinct jsonb_object_keys(labels) from found"
    )
    return sorted(row[0] for row in _run(conn, statement, params, None))


def label_values(
    conn: psycopg.Connection,
    name: str,
    matchers: Sequence[str],
    start: datetime | None,
    end: datetime | None,
) -> list[str]:
    """The values label `name` takes in the selected series (all without matchers), sorted."""
    if name == NAME_LABEL and not matchers:
        return _metric_names(conn, start, end)
    statement, params = _series_statement(
        matchers, start, end, "select distinct labels ->> %(label)s from found"
    )
    rows = _run(conn, statement, {**params, "label": name}, None)
    return sorted(row[0] for row in rows if row[0] is not None)


def _metric_names(
    conn: psycopg.Connection, start: datetime | None, end: datetime | None
) -> list[str]:
    """Every metric name, read from the metric_type index rather than from every row."""
    compiler = _Compiler(datetime.now(UTC), datetime.now(UTC), timedelta(0))
    if start is None and end is None:
        statement = compiler.statement("select distinct name from metric_names")
    else:
        low = compiler.param(
            _as_utc(start) if start else datetime(1, 1, 1, tzinfo=UTC), "timestamptz"
        )
        high = compiler.param(
            _as_utc(end) if end else datetime(9999, 12, 31, tzinfo=UTC), "timestamptz"
        )
        statement = compiler.statement(
            "select distinct names.name from metric_names as names where exists"
            f" (select from {FACT_TABLE} as fact where fact.metric_type = names.metric_type"
            f" and fact.observed_at >= {low} and fact.observed_at <= {high})"
        )
    return sorted(row[0] for row in _run(conn, statement, compiler.params, None))
