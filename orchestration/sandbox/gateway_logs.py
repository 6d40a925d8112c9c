"""Northwind Labs' API gateway access log: JSON lines, one file per day, rotated daily.

The gateway in front of the company's AI features writes one JSON object per request it
forwards (a sample of the traffic: the gateway logs one request in a few hundred). The log is
rotated at midnight UTC: the day being written is `access.jsonl`, earlier days are
`access-YYYY-MM-DD.jsonl`. It is what the generic `log_files` collector is shown against.

Lines are drawn from a generator seeded by (company seed, day), so a day's lines never depend on
which days were written, and are in time order within a file.
"""

import json
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from orchestration.sandbox.company import Company
from orchestration.sandbox.product_usage import CUSTOMERS

CURRENT = "access.jsonl"
# Route, method, the service behind it and the feature it belongs to.
ROUTES = (
    ("/v1/checkout/assist", "POST", "checkout-api", "checkout-assistant"),
    ("/v1/support/suggest", "POST", "support-copilot", "support-copilot"),
    ("/v1/search", "GET", "search-service", "knowledge-search"),
)
_STATUSES = ((200, 0.955), (429, 0.02), (500, 0.01), (400, 0.015))


def rotated_name(day: date) -> str:
    return f"access-{day.isoformat()}.jsonl"


def lines_for_day(company: Company, day: date) -> list[dict[str, Any]]:
    """The access log lines of one UTC day, in time order."""
    rng = random.Random(f"{company.seed}|gateway|{day}")
    count = rng.randint(40, 70) if day.weekday() < 5 else rng.randint(15, 30)
    lines = []
    for number in range(count):
        customer = rng.choice(CUSTOMERS)
        routes = [route for route in ROUTES if route[3] in customer.features]
        path, method, service, feature = rng.choice(routes)
        status = rng.choices([s for s, _ in _STATUSES], [w for _, w in _STATUSES])[0]
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
            seconds=rng.randrange(86_400), milliseconds=rng.randrange(1000)
        )
        latency = round(rng.lognormvariate(6.2, 0.5), 1) if status == 200 else rng.randint(3, 40)
        lines.append(
            {
                "ts": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "request_id": f"req_{day:%Y%m%d}_{number:04d}",
                "method": method,
                "route": path,
                "status": status,
                "latency_ms": latency,
                "bytes_sent": rng.randint(900, 16_000) if status == 200 else rng.randint(90, 300),
                "service": service,
                "feature": feature,
                "customer_id": customer.id,
            }
        )
    lines.sort(key=lambda line: line["ts"])
    return lines


def write_logs(company: Company, folder: Path, start: date, end: date) -> Path:
    """Write the log of [start, end) into `folder` (emptied of earlier logs); returns it.

    The last day is the current file, the days before it rotated files.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("access*.jsonl"):
        old.unlink()
    day = start
    while day < end:
        name = CURRENT if day == end - timedelta(days=1) else rotated_name(day)
        with (folder / name).open("w", encoding="utf-8") as handle:
            for line in lines_for_day(company, day):
                handle.write(json.dumps(line, separators=(",", ":")) + "\n")
        day += timedelta(days=1)
    return folder
