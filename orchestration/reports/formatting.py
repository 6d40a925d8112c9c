"""How one value reads: in the terminal (plain figures under a `USD` heading) and on the
HTML page (with a dollar sign)."""

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from orchestration.reports.model import Column
from orchestration.reports.periods import month_label, quarter_label


def cell(value: object, column: Column, *, dollars: bool = False) -> str:
    """`value` as column `column` shows it; `dollars` prefixes money with `$`."""
    if value is None or value == "":
        return column.missing
    if isinstance(value, str) or column.kind == "text":
        return str(value)
    if column.kind == "usd":
        return usd(value, dollars=dollars)
    if column.kind == "unit_usd":
        return usd(value, dollars=dollars, places=4)
    if column.kind == "percent":
        return percent(value)
    if column.kind in {"count", "ms"}:
        return f"{fixed(value, 0):,f}"
    if column.kind == "hours":
        return f"{fixed(value, 1):,f}"
    if column.kind == "month" and isinstance(value, date):
        return month_label(value)
    if column.kind == "quarter" and isinstance(value, date):
        return quarter_label(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def usd(value: object, *, dollars: bool = False, places: int = 2) -> str:
    amount = fixed(value, places)
    sign = "-" if amount < 0 else ""
    return f"{sign}{'$' if dollars else ''}{abs(amount):,f}"


def percent(value: object) -> str:
    """A fraction as a percentage with one decimal: 0.625 reads 62.5%."""
    return f"{fixed(Decimal(str(value)) * 100, 1):,f}%"


def fixed(value: object, places: int) -> Decimal:
    """`value` rounded half up, as people round (0.0345 is 3.5 %, not banker's 3.4 %)."""
    return Decimal(str(value)).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
