"""Each project's life: what every phase cost and earned, then its return and payback.

Reads `marts.project_lifecycle` (a row per project, scope and phase) and `marts.project_roi`.
A project's own figures are always shown; a project with sub-projects also gets the figures
of it and its sub-projects together (scope `with_sub_projects`). Where engineer time is
estimated from Claude Code sessions rather than recorded in time entries, the table says so.

JSON, beside the common keys (`rows` are the lifecycle rows of the projects shown):

    "projects": [{"project", "name", "parent_project", "sub_projects": [...],
                  "lifecycle": {"own": [...rows], "with_sub_projects": [...rows]},
                  "roi": {"own": {...} or null, "with_sub_projects": {...} or null}}]

(`with_sub_projects` keys appear only for projects with sub-projects.)
"""

from __future__ import annotations

from collections import defaultdict
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
)
from orchestration.reports.reading import Marts

MARTS = ("project_lifecycle", "project_roi")
OPTIONS = ("project",)
PHASE_ORDER = ("R&D", "development", "production", "unallocated")
SCOPES = ("own", "with_sub_projects")
SCOPE_LABELS = {"own": "own", "with_sub_projects": "with sub-projects"}
PHASE_TITLES = {
    "own": "Phases: the project's own figures",
    "with_sub_projects": "Phases: the project with its sub-projects",
}
BASIS_LABELS = {
    "time_entries": "time entries",
    "estimated_from_sessions": "estimated",
    "mixed": "partly estimated",
    "none": "none",
}
ESTIMATED_BASES = frozenset({"estimated_from_sessions", "mixed"})
# What a top-level project's parent_project holds: the seed leaves it empty, a mart may say so.
NO_PARENT = frozenset({"", "none"})

LIFECYCLE_KEYS = (
    "project",
    "name",
    "parent_project",
    "scope",
    "phase",
    "phase_started_on",
    "phase_ended_on",
    "engineers",
    "ai_tool_cost_usd",
    "engineer_hours",
    "engineer_time_cost_usd",
    "engineer_time_basis",
    "infrastructure_cost_usd",
    "customer_requests",
    "production_ai_cost_usd",
    "attributed_revenue_usd",
    "margin_usd",
)
ROW_COLUMNS = [
    Column(key, key, "usd" if key.endswith("_usd") else "text") for key in LIFECYCLE_KEYS
]
PHASE_COLUMNS = [
    Column("phase", "phase"),
    Column("phase_started_on", "from", "date"),
    Column("phase_ended_on", "to", "date", missing="open"),
    Column("engineers", "engineers", "count"),
    Column("engineer_hours", "eng. hours", "hours"),
    Column("engineer_time_basis_label", "eng. time from"),
    Column("engineer_time_cost_usd", "eng. time USD", "usd"),
    Column("ai_tool_cost_usd", "AI tools USD", "usd"),
    Column("infrastructure_cost_usd", "infra USD", "usd"),
    Column("production_ai_cost_usd", "prod. AI USD", "usd"),
    Column("customer_requests", "requests", "count"),
    Column("attributed_revenue_usd", "revenue USD", "usd"),
    Column("margin_usd", "margin USD", "usd"),
]
ROI_COLUMNS = [
    Column("scope_label", "scope"),
    Column("first_month", "since", "month"),
    Column("months", "months", "count"),
    Column("total_investment_usd", "investment USD", "usd"),
    Column("revenue_to_date_usd", "revenue USD", "usd"),
    Column("margin_to_date_usd", "margin USD", "usd"),
    Column("roi_to_date", "ROI to date", "percent"),
    Column("payback_months", "payback months", "count", missing="not paid back"),
]


def build(marts: Marts, options: Options) -> Report:
    marts.require(*MARTS)
    lifecycle = _lifecycle(marts)
    returns = _returns(marts)
    if not lifecycle and not returns:
        return _empty(options)
    projects = _projects(lifecycle, returns, options.project)
    children = _children(lifecycle, returns)
    by_project = defaultdict(list)
    for row in lifecycle:
        by_project[row["project"]].append(row)
    roi_by = {(row["project"], row["scope"]): row for row in returns}
    documents = [
        project_document(project, by_project[project], roi_by, children.get(project, []))
        for project in projects
    ]
    rows = [row for project in projects for row in sorted(by_project[project], key=_phase_key)]
    return Report(
        name="project",
        title="Project lifecycle and ROI (from marts.project_lifecycle and marts.project_roi)",
        filters={"project": options.project},
        main=Table("", ROW_COLUMNS, rows),
        sections=[_section(document) for document in documents],
        charts=_charts(documents),
        data={"projects": documents},
    )


def project_document(
    project: str,
    rows: list[dict[str, Any]],
    roi_by: dict[tuple[str, str], dict[str, Any]],
    sub_projects: list[str],
) -> dict[str, Any]:
    scopes = SCOPES if sub_projects else SCOPES[:1]
    first = rows[0] if rows else roi_by.get((project, "own"), {})
    return {
        "project": project,
        "name": first.get("name"),
        "parent_project": parent_of(first),
        "sub_projects": sub_projects,
        "lifecycle": {
            scope: sorted((row for row in rows if row["scope"] == scope), key=_phase_key)
            for scope in scopes
        },
        "roi": {scope: _roi_document(roi_by.get((project, scope))) for scope in scopes},
    }


def _lifecycle(marts: Marts) -> list[dict[str, Any]]:
    return marts.rows(
        f"""
        select {", ".join(LIFECYCLE_KEYS)}
        from marts.project_lifecycle
        order by project, scope, phase_started_on nulls last
        """
    )


def _returns(marts: Marts) -> list[dict[str, Any]]:
    return marts.rows(
        """
        select
            project, name, parent_project, scope, first_month, months, total_investment_usd,
            revenue_to_date_usd, margin_to_date_usd, roi_to_date, payback_months
        from marts.project_roi
        order by project, scope
        """
    )


def _projects(
    lifecycle: list[dict[str, Any]], returns: list[dict[str, Any]], wanted: str | None
) -> list[str]:
    known = sorted({row["project"] for row in [*lifecycle, *returns]})
    if wanted is None:
        return known
    if wanted not in known:
        raise BadInput(
            f"no project {wanted!r} in marts.project_lifecycle or marts.project_roi; "
            f"projects: {', '.join(known)}"
        )
    return [wanted]


def _children(
    lifecycle: list[dict[str, Any]], returns: list[dict[str, Any]]
) -> dict[str, list[str]]:
    children: dict[str, set[str]] = defaultdict(set)
    for row in [*lifecycle, *returns]:
        parent = parent_of(row)
        if parent:
            children[parent].add(row["project"])
    return {parent: sorted(kids) for parent, kids in children.items()}


def parent_of(row: dict[str, Any]) -> str | None:
    """The project's parent, or None for a top-level project."""
    parent = row.get("parent_project")
    return None if parent is None or parent.strip() in NO_PARENT else parent


def _section(document: dict[str, Any]) -> Section:
    heading = document["project"]
    if document["name"]:
        heading = f"{document['name']} ({document['project']})"
    blocks: list[Table | Text] = []
    if document["parent_project"]:
        blocks.append(Text([f"part of {document['parent_project']}"]))
    if document["sub_projects"]:
        blocks.append(Text([f"sub-projects: {', '.join(document['sub_projects'])}"]))
    for scope, rows in document["lifecycle"].items():
        blocks.append(_phase_table(scope, rows))
    roi_rows = [
        {"scope_label": SCOPE_LABELS[scope], **figures}
        for scope, figures in document["roi"].items()
        if figures is not None
    ]
    blocks.append(Table("Return", ROI_COLUMNS, roi_rows, empty="no ROI figures yet"))
    return Section(heading, blocks)


def _phase_table(scope: str, rows: list[dict[str, Any]]) -> Table:
    shown = [
        {**row, "engineer_time_basis_label": _basis_label(row["engineer_time_basis"])}
        for row in rows
    ]
    notes = []
    if any(row["engineer_time_basis"] in ESTIMATED_BASES for row in rows):
        notes.append(
            "estimated: engineer time worked out from Claude Code sessions' active hours, "
            "where no time entries were recorded"
        )
    return Table(
        PHASE_TITLES[scope],
        PHASE_COLUMNS,
        shown,
        notes=notes,
        empty="no phase figures",
    )


def _roi_document(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    keys = (
        "first_month",
        "months",
        "total_investment_usd",
        "revenue_to_date_usd",
        "margin_to_date_usd",
        "roi_to_date",
        "payback_months",
    )
    return {key: row[key] for key in keys}


def _charts(documents: list[dict[str, Any]]) -> list[Chart]:
    own = [(doc["project"], doc["roi"]["own"]) for doc in documents if doc["roi"]["own"]]
    names = [project for project, _ in own]
    money_chart = Chart(
        key="project-investment-revenue",
        title="Investment and revenue to date by project",
        kind="bar",
        categories=names,
        series=[
            Series("investment", [as_float(roi["total_investment_usd"]) for _, roi in own]),
            Series("revenue", [as_float(roi["revenue_to_date_usd"]) for _, roi in own]),
        ],
        x_label="project (own figures)",
        y_label="USD",
    )
    roi_chart = Chart(
        key="project-roi",
        title="ROI to date by project",
        kind="bar",
        categories=names,
        series=[Series("ROI to date", [as_float(roi["roi_to_date"]) for _, roi in own])],
        unit="percent",
        x_label="project (own figures)",
        y_label="ROI",
    )
    return [money_chart, roi_chart]


def _basis_label(basis: str | None) -> str:
    return BASIS_LABELS.get(basis or "none", basis or "none")


def _phase_key(row: dict[str, Any]) -> tuple:
    phase = row["phase"]
    rank = PHASE_ORDER.index(phase) if phase in PHASE_ORDER else len(PHASE_ORDER)
    return (row["scope"], rank, row["phase_started_on"] is None, row["phase_started_on"], phase)


def _empty(options: Options) -> Report:
    return Report(
        name="project",
        title="Project lifecycle and ROI (from marts.project_lifecycle and marts.project_roi)",
        filters={"project": options.project},
        main=Table("", ROW_COLUMNS, []),
        data={"projects": []},
        no_data="marts.project_lifecycle and marts.project_roi have no rows yet",
    )
