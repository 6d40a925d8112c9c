"""The dbt taxonomy seeds that describe the sandbox company.

`dbt_project/seeds/people.csv` and `source_mappings.csv` (and the other seeds `write_seeds`
writes: teams, Stripe customers, GitHub users) are generated from `build_company()` and
committed, so the demo warehouse attributes the sandbox's usage to the right people, teams
and projects. A test regenerates them and compares bytes, so they cannot drift from the
company. Regenerate after changing the company with `python -m orchestration.sandbox seeds`.

In `source_mappings.csv` an empty cell means "no opinion": a workspace shared by production and
development keys names no environment (its keys do), and a Claude Code project folder names no
team or department, because those come from the engineer's row in `people.csv`.
"""

import csv
import io
from pathlib import Path

from orchestration.sandbox import (
    aws_ce,
    azure_cost,
    datadog_api,
    gcp_billing,
    github_org,
    prometheus_api,
    stripe_account,
)
from orchestration.sandbox.company import DEVELOPMENT, Company
from orchestration.sandbox.focus_files import source_mapping_rows as focus_mapping_rows
from orchestration.sandbox.openai_org import build_organization
from orchestration.sandbox.product_usage import CUSTOMERS

TEAM_COLUMNS = ("team", "name", "department")
PEOPLE_COLUMNS = ("email", "name", "team", "department", "role", "hourly_cost_usd")
MAPPING_COLUMNS = (
    "source_system",
    "key_name",
    "key_value",
    "department",
    "team",
    "project",
    "environment",
)


def _csv(columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buffer.getvalue()


def people_csv(company: Company) -> str:
    """people.csv: one row per person, in email order."""
    rows = [
        (p.email, p.name, p.team, p.department, p.role, str(p.hourly_cost_usd))
        for p in sorted(company.people, key=lambda person: person.email)
    ]
    return _csv(PEOPLE_COLUMNS, rows)


def teams_csv(company: Company) -> str:
    """teams.csv: one row per team with its department, in team order."""
    rows = [(t.slug, t.name, t.department) for t in sorted(company.teams, key=lambda t: t.slug)]
    return _csv(TEAM_COLUMNS, rows)


def departments_csv(company: Company) -> str:
    """departments.csv: one row per department with its default cost category."""
    rows = [
        (d.slug, d.name, d.default_cost_category)
        for d in sorted(company.departments, key=lambda d: d.slug)
    ]
    return _csv(("department", "name", "default_cost_category"), rows)


def projects_csv(company: Company) -> str:
    """projects.csv: one row per project with its parent, owners and kind."""
    rows = []
    for project in sorted(company.projects, key=lambda p: p.slug):
        team = company.team(project.team)
        rows.append(
            (
                project.slug,
                project.name,
                project.parent,
                team.department,
                team.slug,
                project.kind,
                str(project.customer_facing).lower(),
            )
        )
    columns = ("project", "name", "parent_project", "department", "team", "kind")
    return _csv((*columns, "customer_facing"), rows)


def project_phases_csv(company: Company) -> str:
    """project_phases.csv: each project's lifecycle, one row per phase, `ended_on` exclusive."""
    rows = [
        (
            project.slug,
            phase.name,
            phase.starts.isoformat(),
            phase.ends.isoformat() if phase.ends else "",
        )
        for project in sorted(company.projects, key=lambda p: p.slug)
        for phase in project.phases
    ]
    return _csv(("project", "phase", "started_on", "ended_on"), rows)


def customers_csv(company: Company) -> str:
    """customers.csv: the businesses that buy the AI features, as the services name them."""
    rows = [(c.id, c.name, c.plan) for c in sorted(CUSTOMERS, key=lambda c: c.id)]
    return _csv(("customer", "name", "plan"), rows)


def features_csv(company: Company) -> str:
    """features.csv: each sold feature, the project behind it and its Stripe product."""
    account = stripe_account.account_for(company)
    rows = [
        (product.feature, product.name, product.feature, product.id)
        for product in sorted(account.products, key=lambda p: p.feature)
    ]
    return _csv(("feature", "name", "project", "stripe_product_id"), rows)


def source_mappings_csv(company: Company) -> str:
    """source_mappings.csv: every workspace, project, API key and Claude Code project folder."""
    rows: list[tuple[str, ...]] = []

    def owner(project_slug: str) -> tuple[str, str, str]:
        team = company.team(company.project(project_slug).team)
        return team.department, team.slug, project_slug

    for workspace in company.workspaces:
        environment = workspace.environment or ""
        rows.append(
            ("anthropic", "workspace_id", workspace.id, *owner(workspace.project), environment)
        )
    for key in company.api_keys:
        rows.append(("anthropic", "api_key_id", key.id, *owner(key.project), key.environment))
    organization = build_organization(company)
    for openai_project in organization.projects:
        environment = openai_project.environment or ""
        row = ("openai", "project_id", openai_project.id, *owner(openai_project.project))
        rows.append((*row, environment))
    for openai_key in organization.api_keys:
        row = ("openai", "api_key_id", openai_key.id, *owner(openai_key.project))
        rows.append((*row, openai_key.environment))
    for checkout in company.checkouts:
        # No team or department: Claude Code usage is the engineer's, whose team people.csv
        # gives, even in a repository another team owns.
        row = ("claude_code", "project_dir", checkout.project_dir, "", "", checkout.project)
        rows.append((*row, DEVELOPMENT))
    rows.extend(azure_cost.source_mapping_rows(company))
    rows.extend(aws_ce.source_mapping_rows(company))
    rows.extend(gcp_billing.source_mapping_rows(company))
    rows.extend(focus_mapping_rows(company))
    rows.extend(prometheus_api.source_mapping_rows(company))
    rows.extend(datadog_api.source_mapping_rows(company))
    rows.extend(stripe_account.source_mapping_rows(company))
    rows.extend(github_org.source_mapping_rows(company))
    rows.sort()
    return _csv(MAPPING_COLUMNS, rows)


def stripe_customers_csv(company: Company) -> str:
    """stripe_customers.csv: the Stripe customers the seed maps to a house customer."""
    rows = stripe_account.stripe_customer_rows(company)
    return _csv(("stripe_customer_id", "customer"), rows)


def github_users_csv(company: Company) -> str:
    """github_users.csv: every GitHub login of the company's people, with their email."""
    return _csv(("login", "email"), github_org.github_user_rows(company))


def write_seeds(company: Company, seeds_dir: Path) -> list[Path]:
    """Write the taxonomy seed files into `seeds_dir`; the paths written."""
    seeds_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in (
        ("people.csv", people_csv(company)),
        ("teams.csv", teams_csv(company)),
        ("departments.csv", departments_csv(company)),
        ("projects.csv", projects_csv(company)),
        ("project_phases.csv", project_phases_csv(company)),
        ("customers.csv", customers_csv(company)),
        ("features.csv", features_csv(company)),
        ("source_mappings.csv", source_mappings_csv(company)),
        ("stripe_customers.csv", stripe_customers_csv(company)),
        ("github_users.csv", github_users_csv(company)),
    ):
        path = seeds_dir / name
        path.write_bytes(text.encode())
        written.append(path)
    return written
