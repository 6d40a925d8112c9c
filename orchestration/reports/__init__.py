"""`vault report cfo|department|project|customer|forecast|all`: the reading marts for people.

Each report reads its marts (schema `marts`) once into a `Report`, which is then rendered as
terminal tables, JSON, CSV or one self-contained HTML page with charts. Rendering never goes
back to the warehouse, so every output of one run shows the same figures.

- `cfo`: what the company spends, by cost category (COGS, OpEx, R&D) and quarter, for AI and
  for everything, plus the quarter's P&L cost lines.
- `department`: what each department's AI use costs, the hours it saves and the return on it;
  who uses AI and who does not; which teams get the most from it.
- `project`: what each project cost in each phase of its life, what it earns, and whether and
  when it paid back.
- `customer`: per customer and AI feature in a month, requests, reliability, cost, revenue
  and margin.
- `forecast`: next quarter's cost by category and source, its likely range, and how far off
  the same method was on the last full quarter.
"""

from orchestration.reports.command import add_arguments, run
from orchestration.reports.errors import BadInput, MissingMart, ReportError, WarehouseError

__all__ = [
    "BadInput",
    "MissingMart",
    "ReportError",
    "WarehouseError",
    "add_arguments",
    "run",
]
