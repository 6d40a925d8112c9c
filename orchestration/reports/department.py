"""Each department's AI use in one month: cost, hours saved, return, adoption, team ranking.

Reads `marts.department_ai_monthly` (per task class), `marts.department_ai_adoption`,
`marts.people_without_ai_usage` and `marts.team_ai_roi`. A department's total ROI is worked
out from its totals, as the marts define ROI: (value saved - AI cost) / AI cost.

JSON, beside the common keys (`rows` are the task-class rows of the departments shown):

    "departments": [{"department",
                     "task_classes": [...rows], "total": {"sessions", "active_hours",
                         "ai_cost_usd", "hours_saved", "value_saved_usd", "roi"},
                     "adoption": {"people", "people_using_ai", "people_without_ai",
                                  "share_using_ai"} or null,
                     "people_without_ai": [{"email", "name", "team", "role"}],
                     "teams": [{"team", "sessions", "ai_cost_usd", "hours_saved",
                                "value_saved_usd", "roi", "roi_rank_in_department"}]}]
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from orchestration.reports.errors import BadInput
from orchestration.reports.model import (
    Chart,
    Column,
    Options,
    Report,
    Section,
    Series,
    Table,
    Text,
    as_float,
    cents,
    money,
    roi,
    share,
)
from orchestration.reports.periods import choose, month_label, parse_month
from orchestration.reports.reading import Marts

MARTS = (
    "department_ai_monthly",
    "department_ai_adoption",
    "people_without_ai_usage",
    "team_ai_roi",
)
OPTIONS = ("month", "department")

ROW_COLUMNS = [
    Column("department", "department"),
    Column("month", "month", "month"),
    Column("task_class", "task class"),
    Column("task_class_label", "label"),
    Column("sessions", "sessions", "count"),
    Column("active_hours", "active hours", "hours"),
    Column("ai_cost_usd", "AI cost USD", "usd"),
    Column("hours_saved", "hours saved", "hours"),
    Column("value_saved_usd", "value saved USD", "usd"),
    Column("roi", "ROI", "percent"),
]
TASK_COLUMNS = [Column("task_class_label", "task class"), *ROW_COLUMNS[4:]]
TEAM_COLUMNS = [
    Column("roi_rank_in_department", "rank", "count"),
    Column("team", "team"),
    Column("sessions", "sessions", "count"),
    Column("ai_cost_usd", "AI cost USD", "usd"),
    Column("hours_saved", "hours saved", "hours"),
    Column("value_saved_usd", "value saved USD", "usd"),
    Column("roi", "ROI", "percent"),
]


def build(marts: Marts, options: Options) -> Report:
    marts.require(*MARTS)
    wanted = parse_month(options.month) if options.month else None
    months = _months(marts)
    if not months:
        return _empty(options)
    month = choose(wanted, months, month_label, mart="department_ai_monthly", plural="months")
    departments = _departments(marts, options.department)
    tasks = _for(_task_rows(marts, month), departments)
    adoption = {row["department"]: row for row in _adoption(marts, month)}
    without = _grouped(_without(marts, month))
    teams = _grouped(_teams(marts, month))
    by_department = _grouped(tasks)
    shown = [d for d in departments if d in by_department or d in adoption or d in teams]
    documents = [
        department_document(
            name,
            by_department.get(name, []),
            adoption.get(name),
            without.get(name, []),
            teams.get(name, []),
        )
        for name in shown
    ]
    label = month_label(month)
    return Report(
        name="department",
        title=f"Department AI use and ROI, {label} (from marts.department_ai_monthly and "
        "the adoption and team marts)",
        filters={"month": label, "department": options.department},
        main=Table("", ROW_COLUMNS, tasks),
        sections=[_section(document, label) for document in documents],
        charts=_charts(marts, documents, departments, label),
        data={"departments": documents},
    )


def department_document(
    department: str,
    tasks: list[dict[str, Any]],
    adoption: dict[str, Any] | None,
    without: list[dict[str, Any]],
    teams: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "department": department,
        "task_classes": tasks,
        "total": task_total(tasks),
        "adoption": _adoption_document(adoption),
        "people_without_ai": [
            {key: person[key] for key in ("email", "name", "team", "role")} for person in without
        ],
        "teams": [{key: team[key] for key in team if key != "department"} for team in teams],
    }


def task_total(tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """The department's month over all task classes; ROI from the summed cost and value."""
    cost = sum((money(row["ai_cost_usd"]) for row in tasks), Decimal(0))
    value = sum((money(row["value_saved_usd"]) for row in tasks), Decimal(0))
    return {
        "sessions": sum(row["sessions"] or 0 for row in tasks),
        "active_hours": sum((money(row["active_hours"]) for row in tasks), Decimal(0)),
        "ai_cost_usd": cents(cost),
        "hours_saved": sum((money(row["hours_saved"]) for row in tasks), Decimal(0)),
        "value_saved_usd": cents(value),
        "roi": roi(value, cost),
    }


def _months(marts: Marts) -> list[date]:
    rows = marts.rows(
        """
        select month from marts.department_ai_monthly
        union
        select month from marts.department_ai_adoption
        order by month
        """
    )
    return [row["month"] for row in rows]


def _departments(marts: Marts, wanted: str | None) -> list[str]:
    rows = marts.rows(
        """
        select department from marts.department_ai_monthly
        union
        select department from marts.department_ai_adoption
        order by department
        """
    )
    known = [row["department"] for row in rows]
    if wanted is None:
        return known
    if wanted not in known:
        raise BadInput(
            f"no department {wanted!r} in marts.department_ai_monthly or "
            f"marts.department_ai_adoption; departments: {', '.join(known)}"
        )
    return [wanted]


def _task_rows(marts: Marts, month: date) -> list[dict[str, Any]]:
    return marts.rows(
        """
        select
            department, month, task_class, task_class_label, sessions, active_hours,
            ai_cost_usd, hours_saved, value_saved_usd, roi
        from marts.department_ai_monthly
        where month = %s
        order by department, ai_cost_usd desc, task_class
        """,
        (month,),
    )


def _adoption(marts: Marts, month: date) -> list[dict[str, Any]]:
    return marts.rows(
        """
        select department, people, people_using_ai, people_without_ai
        from marts.department_ai_adoption
        where month = %s
        """,
        (month,),
    )


def _without(marts: Marts, month: date) -> list[dict[str, Any]]:
    return marts.rows(
        """
        select department, team, email, name, role
        from marts.people_without_ai_usage
        where month = %s
        order by department, name, email
        """,
        (month,),
    )


def _teams(marts: Marts, month: date) -> list[dict[str, Any]]:
    return marts.rows(
        """
        select
            department, team, sessions, ai_cost_usd, hours_saved, value_saved_usd, roi,
            roi_rank_in_department
        from marts.team_ai_roi
        where month = %s
        order by department, roi_rank_in_department nulls last, team
        """,
        (month,),
    )


def _history(marts: Marts) -> list[dict[str, Any]]:
    return marts.rows(
        """
        select month, department, sum(ai_cost_usd) as ai_cost_usd
        from marts.department_ai_monthly
        group by month, department
        order by month, department
        """
    )


def _section(document: dict[str, Any], month: str) -> Section:
    blocks: list[Table | Text] = [Text([_adoption_line(document["adoption"], month)])]
    blocks.append(
        Table(
            "AI use by task class",
            TASK_COLUMNS,
            document["task_classes"],
            total={"task_class_label": "total", **document["total"]},
            empty="no AI sessions this month",
        )
    )
    blocks.append(Text([_without_line(document["people_without_ai"])]))
    blocks.append(
        Table(
            "Teams by ROI (1 = best in the department)",
            TEAM_COLUMNS,
            document["teams"],
            notes=["teams without AI cost have no ROI and no rank"]
            if any(team["roi_rank_in_department"] is None for team in document["teams"])
            else [],
            empty="no team figures this month",
        )
    )
    return Section(document["department"], blocks)


def _adoption_document(adoption: dict[str, Any] | None) -> dict[str, Any] | None:
    if adoption is None:
        return None
    people = adoption["people"] or 0
    return {
        "people": people,
        "people_using_ai": adoption["people_using_ai"],
        "people_without_ai": adoption["people_without_ai"],
        "share_using_ai": share(Decimal(adoption["people_using_ai"] or 0), Decimal(people)),
    }


def _adoption_line(adoption: dict[str, Any] | None, month: str) -> str:
    if adoption is None:
        return f"adoption: no headcount for this department in {month}"
    line = f"people using AI in {month}: {adoption['people_using_ai']} of {adoption['people']}"
    if adoption["share_using_ai"] is not None:
        line += f" ({adoption['share_using_ai'] * 100:.1f}%)"
    return line


def _without_line(people: list[dict[str, Any]]) -> str:
    if not people:
        return "without AI usage: nobody"
    names = ", ".join(f"{p['name']} ({p['team']}, {p['role']})" for p in people)
    return f"without AI usage: {names}"


def _charts(
    marts: Marts, documents: list[dict[str, Any]], departments: list[str], month: str
) -> list[Chart]:
    teams = [(doc["department"], team) for doc in documents for team in doc["teams"]]
    roi_by_team = Chart(
        key="department-roi-by-team",
        title=f"ROI by team, {month}",
        kind="bar",
        categories=[f"{team['team']} ({department})" for department, team in teams],
        series=[Series("ROI", [as_float(team["roi"]) for _, team in teams])],
        unit="percent",
        x_label="team (department)",
        y_label="ROI",
        caption="(value saved - AI cost) / AI cost; teams without AI cost have no bar",
    )
    history = [row for row in _history(marts) if row["department"] in departments]
    periods = sorted({row["month"] for row in history})
    amounts = {(row["month"], row["department"]): row["ai_cost_usd"] for row in history}
    names = sorted({row["department"] for row in history})
    over_time = Chart(
        key="department-cost-over-time",
        title="Cost over time: AI cost by department",
        kind="line",
        categories=[month_label(period) for period in periods],
        series=[
            Series(name, [as_float(amounts.get((period, name), 0)) for period in periods])
            for name in names
        ],
        x_label="month",
        y_label="AI cost (USD)",
    )
    by_task: dict[str, Decimal] = defaultdict(Decimal)
    for document in documents:
        for task in document["task_classes"]:
            by_task[task["task_class_label"] or task["task_class"]] += money(task["ai_cost_usd"])
    breakdown = Chart(
        key="department-task-breakdown",
        title=f"Category breakdown: AI cost by task class, {month}",
        kind="donut",
        categories=list(by_task),
        series=[Series("AI cost", [as_float(amount) for amount in by_task.values()])],
    )
    return [roi_by_team, over_time, breakdown]


def _for(rows: list[dict[str, Any]], departments: list[str]) -> list[dict[str, Any]]:
    return [row for row in rows if row["department"] in departments]


def _grouped(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[row["department"]].append(row)
    return grouped


def _empty(options: Options) -> Report:
    return Report(
        name="department",
        title="Department AI use and ROI (from marts.department_ai_monthly)",
        filters={"month": options.month, "department": options.department},
        main=Table("", ROW_COLUMNS, []),
        data={"departments": []},
        no_data="marts.department_ai_monthly and marts.department_ai_adoption have no rows yet",
    )
