"""Months and quarters as the marts hold them (their first day) and as people type them."""

import re
from collections.abc import Callable
from datetime import date

from orchestration.reports.errors import BadInput

_QUARTER = re.compile(r"^(\d{4})-[Qq]([1-4])$")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def parse_quarter(text: str) -> date:
    """`2025-Q3` as the quarter's first day, 2025-07-01."""
    found = _QUARTER.match(text.strip())
    if not found:
        raise BadInput(f"--quarter must look like 2025-Q3, got {text!r}")
    return date(int(found[1]), 3 * int(found[2]) - 2, 1)


def parse_month(text: str) -> date:
    """`2025-07` as the month's first day."""
    found = _MONTH.match(text.strip())
    if not found:
        raise BadInput(f"--month must look like 2025-07, got {text!r}")
    return date(int(found[1]), int(found[2]), 1)


def quarter_label(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def month_label(day: date) -> str:
    return f"{day.year}-{day.month:02d}"


def quarter_end(start: date) -> date:
    """The first day after the quarter that starts on `start`."""
    month = start.month + 3
    return date(start.year + (month - 1) // 12, (month - 1) % 12 + 1, 1)


def choose(
    wanted: date | None,
    available: list[date],
    label: Callable[[date], str],
    *,
    mart: str,
    plural: str,
) -> date:
    """`wanted` if the mart holds it, else the latest period it holds when none was asked for.

    An unknown period is bad input whose message lists the periods there are.
    """
    if wanted is None:
        return max(available)
    if wanted in available:
        return wanted
    known = ", ".join(label(day) for day in sorted(available))
    raise BadInput(f"no data for {label(wanted)} in marts.{mart}; {plural} with data: {known}")
