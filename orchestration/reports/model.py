"""What a report is made of: tables, lines of text, charts, and the JSON body.

A `Report` holds figures only; the renderers in `text`, `export` and `html` decide how they
look. Money stays `Decimal` until it is rendered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

# How a column's values are shown: `usd` money in cents, `unit_usd` small amounts such as a
# cost per request (to a hundredth of a cent), `count` whole numbers, `hours` and `ms`
# measures, `percent` a fraction shown as a percentage (ROI, shares, rates), `month` and
# `quarter` the first day of the period shown as 2025-07 or 2025-Q3.
Kind = Literal[
    "text", "usd", "unit_usd", "count", "hours", "ms", "percent", "date", "month", "quarter"
]
NUMERIC_KINDS = frozenset({"usd", "unit_usd", "count", "hours", "ms", "percent"})

CENT = Decimal("0.01")
SHARE_PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class Options:
    """What the reader asked for; `None` is the report's default (the latest period, all)."""

    quarter: str | None = None
    scope: str | None = None
    month: str | None = None
    department: str | None = None
    project: str | None = None


@dataclass(frozen=True)
class Column:
    """One column of a table: the row key it shows, its heading, and how values look.

    `missing` is what an empty value reads as (an open phase's end date reads "open").
    """

    key: str
    label: str
    kind: Kind = "text"
    missing: str = "-"

    @property
    def numeric(self) -> bool:
        return self.kind in NUMERIC_KINDS


@dataclass
class Table:
    """Rows under headings, with an optional total line and notes printed beneath.

    `depths` indents the first column row by row, which is how the CFO tree is drawn.
    """

    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    total: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    depths: list[int] | None = None
    empty: str = "no rows"

    def keys(self) -> list[str]:
        return [column.key for column in self.columns]


@dataclass
class Text:
    """Lines of plain prose between tables (adoption, who has no AI usage, caveats)."""

    lines: list[str]


@dataclass
class Section:
    """A heading and what stands under it."""

    heading: str
    blocks: list[Table | Text]


@dataclass(frozen=True)
class Series:
    """One named line, one bar colour, or a donut's slices; `low`/`high` draw a range."""

    name: str
    values: list[float | None]
    low: list[float | None] | None = None
    high: list[float | None] | None = None


@dataclass(frozen=True)
class Chart:
    """A chart the HTML page draws: `line` over periods, grouped `bar`s, or a `donut`.

    `categories` are the x-axis labels (periods, teams, cost categories) or the slices.
    """

    key: str
    title: str
    kind: Literal["line", "bar", "donut"]
    categories: list[str]
    series: list[Series]
    unit: Literal["usd", "percent", "count"] = "usd"
    x_label: str = ""
    y_label: str = ""
    caption: str = ""


@dataclass
class Report:
    """One report's figures, ready to render.

    `main` is the table the CSV holds; `data` is the JSON body beneath the common keys
    (`report`, `title`, `filters`, `rows`); `no_data` says why there is nothing to show.
    """

    name: str
    title: str
    filters: dict[str, Any]
    main: Table
    sections: list[Section] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    no_data: str | None = None


def money(value: object) -> Decimal:
    """An amount from a mart as `Decimal` (numeric columns arrive so; float ones do not)."""
    if value is None:
        return Decimal(0)
    if isinstance(value, Decimal):
        return value
    return Decimal(str(value))


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def share(part: Decimal, whole: Decimal) -> Decimal | None:
    """`part` as a fraction of `whole` to four places (0.1234 is 12.34 %); none of nothing."""
    if whole == 0:
        return None
    return (part / whole).quantize(SHARE_PLACES, rounding=ROUND_HALF_UP)


def roi(value_saved: Decimal, cost: Decimal) -> Decimal | None:
    """(value - cost) / cost, the marts' definition; none when nothing was spent."""
    if cost == 0:
        return None
    return ((value_saved - cost) / cost).quantize(SHARE_PLACES, rounding=ROUND_HALF_UP)


def as_float(value: object) -> float | None:
    """A figure for a chart: charts draw floats, and a missing figure stays missing."""
    if value is None:
        return None
    return float(value)
