"""A report as JSON (every figure a number) or CSV (the main table, header first).

Every JSON document has the keys `report` (its name), `title`, `filters` (the period and
selections it shows), `rows` (the main table, the same rows as the CSV) and, when there is
nothing to show, `no_data` (why). The rest is the report's own and documented in its module.
`vault report all --format json` prints `{"reports": [...]}`, one such document per report.
"""

import csv
import io
import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from orchestration.reports.model import Report


def document(report: Report) -> dict[str, Any]:
    """The report's JSON body as plain Python values."""
    body: dict[str, Any] = {
        "report": report.name,
        "title": report.title,
        "filters": report.filters,
        "rows": report.main.rows,
    }
    if report.no_data:
        body["no_data"] = report.no_data
    body.update(report.data)
    return plain(body)


def render_json(report: Report) -> str:
    return json.dumps(document(report), indent=2, ensure_ascii=False)


def render_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    keys = report.main.keys()
    writer.writerow(keys)
    for row in report.main.rows:
        writer.writerow([_csv_value(row.get(key)) for key in keys])
    return out.getvalue().rstrip("\n")


def plain(value: Any) -> Any:
    """`value` with `Decimal` as float and dates as ISO text, recursively, so JSON holds
    numbers as numbers."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def _csv_value(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
