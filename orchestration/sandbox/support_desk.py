"""Northwind Labs' support desk: tickets per day, queue and customer, in a SQLite database.

The support team answers the business customers of the company's AI features
(`product_usage.CUSTOMERS`) in three queues. The help desk's reporting database keeps one row
per (day, queue, customer) with tickets in `ticket_days`; it is what the generic `sql` collector is shown
against. Days are ISO dates (text), as SQLite stores them; numbers come from a generator seeded
by (company seed, day, queue, customer), so a day never depends on which days were written.
"""

import random
import sqlite3
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from orchestration.sandbox.company import Company
from orchestration.sandbox.product_usage import CUSTOMERS

QUEUES = ("billing", "technical", "how-to")
TEAM = "support"
_WEEKDAY_TICKETS = {"billing": 1.2, "technical": 3.0, "how-to": 2.2}


@dataclass(frozen=True)
class TicketDay:
    day: str
    queue: str
    customer_id: str
    team: str
    opened: int
    closed: int
    first_response_minutes: float


def ticket_days(company: Company, day: date) -> list[TicketDay]:
    """The rows of one day, in (queue, customer) order."""
    rows = []
    for queue in QUEUES:
        for customer in CUSTOMERS:
            rng = random.Random(f"{company.seed}|support|{day}|{queue}|{customer.id}")
            mean = _WEEKDAY_TICKETS[queue] * customer.size * (0.3 if day.weekday() >= 5 else 1)
            opened = max(0, round(rng.gauss(mean, mean / 2)))
            closed = max(0, opened + rng.choice((-1, 0, 0, 1)))
            minutes = round(rng.uniform(4, 95), 1)
            if not opened:
                continue  # the desk keeps rows for days with tickets only
            rows.append(
                TicketDay(day.isoformat(), queue, customer.id, TEAM, opened, closed, minutes)
            )
    return rows


def write_database(company: Company, path: Path, start: date, end: date) -> Path:
    """Write `ticket_days` for the days in [start, end) to a fresh SQLite file at `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as conn:
        conn.execute(
            """
            create table ticket_days (
                day text not null,
                queue text not null,
                customer_id text not null,
                team text not null,
                opened integer not null,
                closed integer not null,
                first_response_minutes real,
                primary key (day, queue, customer_id)
            )
            """
        )
        day = start
        while day < end:
            conn.executemany(
                "insert into ticket_days values (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        r.day,
                        r.queue,
                        r.customer_id,
                        r.team,
                        r.opened,
                        r.closed,
                        r.first_response_minutes,
                    )
                    for r in ticket_days(company, day)
                ],
            )
            day += timedelta(days=1)
    conn.close()
    return path
