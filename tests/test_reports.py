"""`vault report cfo|department|project|customer|forecast|all` over the reading marts.

The marts are created here in a scratch database with the contract's columns and a few rows
each, whose totals, shares and ROI were worked out by hand (the comments beside the rows
show the sums). The reports run through `orchestration.cli.main` with the warehouse URL in
`VAULT_DATABASE_URL`, as a user runs them. The HTML page is opened in a real headless
Chromium, which runs the page's chart script; the test then counts what it drew.
"""

import json
import os
import re
import shutil
import subprocess
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import psycopg
import pytest
from conftest import scratch_database

from orchestration.cli import cmd_report, main, parser

# -- the marts, with the contract's columns ------------------------------------------------

TABLES = {
    "cfo_cost_by_quarter": """
        quarter date, scope text, cost_category text, detail_kind text, detail text,
        cost_usd numeric(14, 2), estimated_cost_usd numeric(14, 2)""",
    "pnl_by_month": """
        month date, pnl_line text, label text, sort_order integer, cost_usd numeric(14, 2)""",
    "department_ai_monthly": """
        department text, month date, task_class text, task_class_label text,
        sessions integer, active_hours numeric(10, 2), ai_cost_usd numeric(14, 2),
        hours_saved numeric(10, 2), value_saved_usd numeric(14, 2), roi numeric(10, 4)""",
    "department_ai_adoption": """
        department text, month date, people integer, people_using_ai integer,
        people_without_ai integer""",
    "people_without_ai_usage": """
        department text, team text, month date, email text, name text, role text""",
    "team_ai_roi": """
        department text, team text, month date, sessions integer, ai_cost_usd numeric(14, 2),
        hours_saved numeric(10, 2), value_saved_usd numeric(14, 2), roi numeric(10, 4),
        roi_rank_in_department integer""",
    "project_lifecycle": """
        project text, name text, parent_project text, scope text, phase text,
        phase_started_on date, phase_ended_on date, engineers integer,
        ai_tool_cost_usd numeric(14, 2), engineer_hours numeric(10, 1),
        engineer_time_cost_usd numeric(14, 2), engineer_time_basis text,
        infrastructure_cost_usd numeric(14, 2), customer_requests bigint,
        production_ai_cost_usd numeric(14, 2), attributed_revenue_usd numeric(14, 2),
        margin_usd numeric(14, 2)""",
    "project_roi": """
        project text, name text, parent_project text, scope text, first_month date,
        months integer, total_investment_usd numeric(14, 2), revenue_to_date_usd numeric(14, 2),
        margin_to_date_usd numeric(14, 2), roi_to_date numeric(10, 4), payback_months integer""",
    "customer_feature_unit_economics": """
        customer text, customer_name text, feature text, month date, requests bigint,
        failed_requests bigint, success_rate numeric(6, 4), p95_latency_ms numeric(10, 1),
        ai_cost_usd numeric(14, 2), infrastructure_cost_usd numeric(14, 2),
        revenue_usd numeric(14, 2), margin_usd numeric(14, 2),
        cost_per_request_usd numeric(12, 6)""",
    "cost_forecasts": """
        forecast_quarter date, cost_category text, x_source_system text,
        forecast_usd numeric(14, 2), lower_usd numeric(14, 2), upper_usd numeric(14, 2),
        interval_level numeric(4, 2), model text, history_from date, history_to date,
        history_days integer, backtest_quarter date, backtest_actual_usd numeric(14, 2),
        backtest_forecast_usd numeric(14, 2), backtest_mape numeric(8, 4),
        backtest_note text, generated_at timestamptz""",
}


def rows(text: str) -> list[tuple]:
    """Rows written one a line, cells between ' | ', `null` for an empty value; Postgres casts
    each cell to its column's type."""
    return [
        tuple(None if cell.strip() == "null" else cell.strip() for cell in line.split("|"))
        for line in text.strip().splitlines()
    ]


ROWS = {
    # 2025-Q3, AI: COGS 400 (support-copilot 300, knowledge-search 100), R&D 200 (bug_fix 150
    # of which 50 estimated, agent-lab 50), unallocated 25 (estimated): total 625, 75 estimated.
    # 2025-Q3, all: COGS 1,000 (cloud 600, ai 400), OpEx 250, R&D 1,700 (engineer time 1,500
    # of which 300 estimated, ai 200 of which 50), unallocated 50 (ai 25 estimated, cloud 25):
    # total 3,000, 375 estimated. 2025-Q2 holds the earlier quarter of the history.
    "cfo_cost_by_quarter": rows("""
        2025-07-01 | ai  | COGS        | feature    | support-copilot  |  300 |   0
        2025-07-01 | ai  | COGS        | feature    | knowledge-search |  100 |   0
        2025-07-01 | ai  | R&D         | task_class | bug_fix          |  150 |  50
        2025-07-01 | ai  | R&D         | project    | agent-lab        |   50 |   0
        2025-07-01 | ai  | unallocated | project    | unallocated      |   25 |  25
        2025-07-01 | all | COGS        | cost_kind  | ai               |  400 |   0
        2025-07-01 | all | COGS        | cost_kind  | cloud            |  600 |   0
        2025-07-01 | all | OpEx        | cost_kind  | saas             |  250 |   0
        2025-07-01 | all | R&D         | cost_kind  | ai               |  200 |  50
        2025-07-01 | all | R&D         | cost_kind  | engineer_time    | 1500 | 300
        2025-07-01 | all | unallocated | cost_kind  | ai               |   25 |  25
        2025-07-01 | all | unallocated | cost_kind  | cloud            |   25 |   0
        2025-04-01 | ai  | COGS        | feature    | support-copilot  |  200 |   0
        2025-04-01 | all | COGS        | cost_kind  | cloud            |  500 |   0
        2025-04-01 | all | R&D         | cost_kind  | engineer_time    | 1000 |   0
    """),
    # Q3: cogs_ai 100 + 150 + 150 = 400, cogs_hosting 200 + 400 = 600, rnd_people 3 x 500 =
    # 1,500, opex_tools 250: total 2,750. June and October lie outside the quarter.
    "pnl_by_month": rows("""
        2025-07-01 | cogs_ai      | Cost of revenue: AI inference     |  10 | 100
        2025-07-01 | cogs_hosting | Cost of revenue: hosting          |  20 | 200
        2025-07-01 | rnd_people   | R&D: engineering time             |  70 | 500
        2025-08-01 | cogs_ai      | Cost of revenue: AI inference     |  10 | 150
        2025-08-01 | rnd_people   | R&D: engineering time             |  70 | 500
        2025-09-01 | cogs_ai      | Cost of revenue: AI inference     |  10 | 150
        2025-09-01 | cogs_hosting | Cost of revenue: hosting          |  20 | 400
        2025-09-01 | rnd_people   | R&D: engineering time             |  70 | 500
        2025-09-01 | opex_tools   | Operating expense: SaaS and tools | 100 | 250
        2025-06-01 | cogs_ai      | Cost of revenue: AI inference     |  10 | 999
        2025-10-01 | rnd_people   | R&D: engineering time             |  70 | 777
    """),
    # Engineering, July: 15 sessions, 30 h, cost 150, 12 h saved, value 950, ROI 800/150.
    "department_ai_monthly": rows("""
        engineering | 2025-07-01 | bug_fix      | Bug fix      | 10 | 20 | 100 |  10 | 800 |    7
        engineering | 2025-07-01 | feature_work | Feature work |  5 | 10 |  50 |   2 | 150 |    2
        finance     | 2025-07-01 | reporting    | Reporting    |  2 |  1 |  20 | 0.5 |  10 | -0.5
        engineering | 2025-06-01 | bug_fix      | Bug fix      |  4 |  8 |  40 |   4 | 320 |    7
    """),
    "department_ai_adoption": rows("""
        engineering | 2025-07-01 | 4 | 2 | 2
        finance     | 2025-07-01 | 2 | 1 | 1
        engineering | 2025-06-01 | 4 | 1 | 3
        finance     | 2025-06-01 | 2 | 0 | 2
    """),
    "people_without_ai_usage": rows("""
        engineering | platform | 2025-07-01 | dana@example.com | Dana Fox | engineer
        engineering | checkout | 2025-07-01 | ari@example.com  | Ari Moss | engineer
        finance     | fpa      | 2025-07-01 | lee@example.com  | Lee Park | analyst
    """),
    "team_ai_roi": rows("""
        engineering | checkout | 2025-07-01 |  5 |  50 |   2 | 150 |    2 |    2
        engineering | platform | 2025-07-01 | 10 | 100 |  10 | 800 |    7 |    1
        engineering | research | 2025-07-01 |  0 |   0 |   0 |   0 | null | null
        finance     | fpa      | 2025-07-01 |  2 |  20 | 0.5 |  10 | -0.5 |    1
    """),
    # A top-level project's parent is '' in the seed and may read 'none' in a mart: both occur.
    "project_lifecycle": rows("""
        knowledge-search | Knowledge Search | | own | production | 2026-07-01 | null | 2 | 80 | 50 | 4000 | estimated_from_sessions | 900 | 12000 | 600 | 9000 | 3420
        knowledge-search | Knowledge Search | | own | R&D | 2025-10-15 | 2026-02-01 | 3 | 120 | 200 | 16000 | time_entries | 300 | 0 | 0 | 0 | -16420
        knowledge-search | Knowledge Search | | with_sub_projects | R&D | 2025-10-15 | 2026-02-01 | 4 | 150 | 260 | 20800 | mixed | 350 | 0 | 0 | 0 | -21300
        support-copilot | Support Copilot | knowledge-search | own | production | 2026-06-01 | null | 1 | 30 | 20 | 1600 | time_entries | 200 | 5000 | 250 | 8000 | 5920
        agent-lab | Agent Lab | none | own | R&D | 2025-10-01 | null | 1 | 200 | 10 | 800 | time_entries | 0 | 0 | 0 | 0 | -1000
    """),
    "project_roi": rows("""
        knowledge-search | Knowledge Search |                  | own               | 2025-10-01 | 10 | 21420 |  9000 | -12420 | -0.5798 | null
        knowledge-search | Knowledge Search |                  | with_sub_projects | 2025-10-01 | 10 | 30000 | 17000 | -13000 | -0.4333 |   14
        support-copilot  | Support Copilot  | knowledge-search | own               | 2025-11-01 |  9 |  5000 |  8000 |   3000 |     0.6 |    7
        agent-lab        | Agent Lab        | none             | own               | 2025-10-01 | 10 |  1000 |     0 |  -1000 |      -1 | null
    """),
    # July: requests 3,500, failed 55, AI 140, infrastructure 35, revenue 350, margin 175.
    "customer_feature_unit_economics": rows("""
        cus_A | Kestrel Freight       | support-copilot  | 2025-07-01 | 1000 | 10 | 0.99 | 850 | 40 | 10 | 200 | 150 | 0.05
        cus_A | Kestrel Freight       | knowledge-search | 2025-07-01 |  500 |  5 | 0.99 | 400 | 10 |  5 |  50 |  35 | 0.03
        cus_B | Lumen Health Partners | support-copilot  | 2025-07-01 | 2000 | 40 | 0.98 | 900 | 90 | 20 | 100 | -10 | 0.055
        cus_A | Kestrel Freight       | support-copilot  | 2025-06-01 |  800 |  8 | 0.99 | 800 | 30 |  8 | 150 | 112 | 0.0475
    """),
    # 2025-Q4, COGS: 2 series, forecast 4,500, lows 3,900, highs 5,250; R&D 9,000, 8,000,
    # 10,000; all: 13,500, 11,900, 15,250.
    "cost_forecasts": rows("""
        2025-10-01 | COGS | anthropic     | 3000 | 2500 |  3600 | 0.8 | ets  | 2025-01-01 | 2025-09-30 | 273 | 2025-07-01 | 2800 | 2600 | 0.0712 | null | 2025-10-02 06:00+00
        2025-10-01 | COGS | aws           | 1500 | 1400 |  1650 | 0.8 | ets  | 2025-01-01 | 2025-09-30 | 273 | 2025-07-01 | 1450 | 1500 | 0.0345 | null | 2025-10-02 06:00+00
        2025-10-01 | R&D  | engineer_time | 9000 | 8000 | 10000 | 0.8 | mean | 2025-09-20 | 2025-09-30 |  11 | null       | null | null | null   | 11 days of history, too short to hold a quarter out | 2025-10-02 06:00+00
    """),
}


def create_marts(url: str, names: list[str], *, with_rows: bool = True) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create schema if not exists marts")
        for name in names:
            conn.execute(f"create table marts.{name} ({TABLES[name]})")
            if with_rows:
                rows = ROWS[name]
                marks = ", ".join(["%s"] * len(rows[0]))
                with conn.cursor() as cursor:
                    cursor.executemany(f"insert into marts.{name} values ({marks})", rows)


@pytest.fixture(scope="module")
def marts_url(module_database):
    create_marts(module_database, list(TABLES))
    return module_database


@pytest.fixture
def vault(marts_url, monkeypatch, capsys):
    """Runs `vault report ...` against the marts; returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("VAULT_DATABASE_URL", marts_url)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(["report", *argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def table_after(text: str, heading: str, *, tree: bool = False) -> list[list[str]]:
    """The table that follows the line `heading`: its heading line, rows and total line, each
    split into cells at runs of two or more spaces, up to the next blank line. Rule lines are
    left out; in a `tree`, a row hanging from its parent ('├─ ', '└─ ') starts with '>'."""
    lines = text.splitlines()
    rows: list[list[str]] = []
    for line in lines[lines.index(heading) + 1 :]:
        if not line.strip():
            if rows:
                break
            continue
        if set(line.replace(" ", "")) == {"-"}:
            continue
        parts = re.split(r"\s{2,}", line.strip())
        child = tree and line.startswith(("├─ ", "└─ "))
        rows.append([">" + parts[0][3:], *parts[1:]] if child else parts)
    return rows


def row(cells: str) -> list[str]:
    """A table row written as its cells joined by ' | '."""
    return cells.split(" | ")


def part(text: str, heading: str) -> str:
    """The section of a report under `heading` (with its dashed underline), up to the next."""
    after = text.split(f"\n{heading}\n{'-' * len(heading)}\n", 1)[1]
    return re.split(r"\n\n[^\n]+\n-+\n", after, maxsplit=1)[0]


# -- cfo -------------------------------------------------------------------------------------


def test_cfo_tree_has_each_nodes_subtotal_share_and_a_total_line(vault):
    code, out, _ = vault("cfo", "--quarter", "2025-Q3")
    assert code == 0, out
    header = ["cost category / detail", "cost USD", "share", "of which estimated USD"]
    assert table_after(out, "AI cost, 2025-Q3", tree=True) == [
        header,
        ["COGS", "400.00", "64.0%", "0.00"],
        [">support-copilot (feature)", "300.00", "48.0%", "0.00"],
        [">knowledge-search (feature)", "100.00", "16.0%", "0.00"],
        ["R&D", "200.00", "32.0%", "50.00"],
        [">bug_fix (task_class)", "150.00", "24.0%", "50.00"],
        [">agent-lab (project)", "50.00", "8.0%", "0.00"],
        ["unallocated", "25.00", "4.0%", "25.00"],
        [">unallocated (project)", "25.00", "4.0%", "25.00"],
        ["total AI cost", "625.00", "100.0%", "75.00"],
    ]
    assert table_after(out, "All cost, 2025-Q3", tree=True) == [
        header,
        ["COGS", "1,000.00", "33.3%", "0.00"],
        [">cloud", "600.00", "20.0%", "0.00"],
        [">ai", "400.00", "13.3%", "0.00"],
        ["OpEx", "250.00", "8.3%", "0.00"],
        [">saas", "250.00", "8.3%", "0.00"],
        ["R&D", "1,700.00", "56.7%", "350.00"],
        [">engineer_time", "1,500.00", "50.0%", "300.00"],
        [">ai", "200.00", "6.7%", "50.00"],
        ["unallocated", "50.00", "1.7%", "25.00"],
        [">ai", "25.00", "0.8%", "25.00"],
        [">cloud", "25.00", "0.8%", "0.00"],
        ["total all cost", "3,000.00", "100.0%", "375.00"],
    ]
    assert "AI cost is part of all cost: the two totals are never to be added." in out
    # The quarter's three months only, by the P&L's sort order.
    assert table_after(out, "P&L cost lines, 2025-Q3") == [
        ["P&L line", "code", "cost USD"],
        ["Cost of revenue: AI inference", "cogs_ai", "400.00"],
        ["Cost of revenue: hosting", "cogs_hosting", "600.00"],
        ["R&D: engineering time", "rnd_people", "1,500.00"],
        ["Operating expense: SaaS and tools", "opex_tools", "250.00"],
        ["total", "2,750.00"],
    ]


def test_cfo_defaults_to_the_latest_quarter_and_shows_only_the_scope_asked_for(vault):
    code, out, _ = vault("cfo", "--scope", "ai")
    assert code == 0, out
    assert out.startswith("CFO cost view, 2025-Q3")
    assert "All cost, 2025-Q3" not in out
    assert table_after(out, "AI cost, 2025-Q3")[-1] == [
        "total AI cost",
        "625.00",
        "100.0%",
        "75.00",
    ]

    code, out, _ = vault("cfo", "--quarter", "2025-Q2", "--scope", "all")
    assert code == 0, out
    assert table_after(out, "All cost, 2025-Q2")[-1] == [
        "total all cost",
        "1,500.00",
        "100.0%",
        "0.00",
    ]


def test_cfo_json_nests_scope_category_and_detail_with_totals_as_numbers(vault):
    code, out, _ = vault("cfo", "--quarter", "2025-Q3", "--format", "json")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["report"] == "cfo"
    assert doc["filters"] == {"quarter": "2025-Q3", "scope": "both"}
    ai, everything = doc["tree"]
    assert (ai["scope"], ai["cost_usd"], ai["estimated_cost_usd"], ai["share"]) == (
        "ai",
        625.0,
        75.0,
        1.0,
    )
    assert [c["cost_category"] for c in ai["categories"]] == ["COGS", "R&D", "unallocated"]
    cogs = ai["categories"][0]
    assert (cogs["cost_usd"], cogs["share"]) == (400.0, 0.64)
    assert cogs["details"] == [
        {
            "detail_kind": "feature",
            "detail": "support-copilot",
            "cost_usd": 300.0,
            "estimated_cost_usd": 0.0,
            "share": 0.48,
        },
        {
            "detail_kind": "feature",
            "detail": "knowledge-search",
            "cost_usd": 100.0,
            "estimated_cost_usd": 0.0,
            "share": 0.16,
        },
    ]
    assert (everything["cost_usd"], everything["estimated_cost_usd"]) == (3000.0, 375.0)
    assert [c["share"] for c in everything["categories"]] == [0.3333, 0.0833, 0.5667, 0.0167]
    assert doc["pnl"]["total_usd"] == 2750.0
    assert [row["pnl_line"] for row in doc["pnl"]["rows"]] == [
        "cogs_ai",
        "cogs_hosting",
        "rnd_people",
        "opex_tools",
    ]
    assert len(doc["rows"]) == 12
    assert doc["rows"][0] == {
        "quarter": "2025-07-01",
        "scope": "ai",
        "cost_category": "COGS",
        "detail_kind": "feature",
        "detail": "support-copilot",
        "cost_usd": 300.0,
        "estimated_cost_usd": 0.0,
        "share": 0.48,
    }


def test_cfo_csv_is_the_leaves_with_a_header_first(vault):
    code, out, _ = vault("cfo", "--quarter", "2025-Q3", "--scope", "all", "--format", "csv")
    assert code == 0, out
    assert out.splitlines() == [
        "quarter,scope,cost_category,detail_kind,detail,cost_usd,estimated_cost_usd,share",
        "2025-07-01,all,COGS,cost_kind,cloud,600.00,0.00,0.2000",
        "2025-07-01,all,COGS,cost_kind,ai,400.00,0.00,0.1333",
        "2025-07-01,all,OpEx,cost_kind,saas,250.00,0.00,0.0833",
        "2025-07-01,all,R&D,cost_kind,engineer_time,1500.00,300.00,0.5000",
        "2025-07-01,all,R&D,cost_kind,ai,200.00,50.00,0.0667",
        "2025-07-01,all,unallocated,cost_kind,ai,25.00,25.00,0.0083",
        "2025-07-01,all,unallocated,cost_kind,cloud,25.00,0.00,0.0083",
    ]


# -- bad input and a warehouse that is not ready ---------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["cfo", "--quarter", "2024-Q1"],
            "no data for 2024-Q1 in marts.cfo_cost_by_quarter; quarters with data: "
            "2025-Q2, 2025-Q3",
        ),
        (["cfo", "--quarter", "2025-07"], "--quarter must look like 2025-Q3, got '2025-07'"),
        (
            ["customer", "--month", "2024-12"],
            "no data for 2024-12 in marts.customer_feature_unit_economics; months with data: "
            "2025-06, 2025-07",
        ),
        (
            ["department", "--department", "legal"],
            "no department 'legal' in marts.department_ai_monthly or "
            "marts.department_ai_adoption; departments: engineering, finance",
        ),
        (
            ["project", "--project", "moonshot"],
            "no project 'moonshot' in marts.project_lifecycle or marts.project_roi; "
            "projects: agent-lab, knowledge-search, support-copilot",
        ),
        (
            ["customer", "--quarter", "2025-Q3"],
            "--quarter does not apply to `vault report customer` (it takes --month)",
        ),
        (["all", "--format", "csv"], "--format csv is one report's table"),
    ],
)
def test_bad_input_ends_with_exit_code_2_and_says_what_exists(vault, argv, message):
    code, out, err = vault(*argv)
    assert code == 2
    assert out == ""
    assert err.startswith(f"vault: {message}")


@pytest.fixture(scope="module")
def half_built_url(server_url):
    """A warehouse where the CFO mart exists but not the P&L one, and the forecast mart is
    empty."""
    with scratch_database(server_url) as url:
        create_marts(url, ["cfo_cost_by_quarter", "cost_forecasts"], with_rows=False)
        yield url


def test_a_missing_mart_ends_with_exit_code_1_and_says_how_to_build_it(
    half_built_url, monkeypatch, capsys
):
    monkeypatch.setenv("VAULT_DATABASE_URL", half_built_url)
    assert main(["report", "cfo"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vault: the warehouse has no marts.pnl_by_month yet;")
    assert "`make demo`" in err and "dbt build" in err
    assert main(["report", "department"]) == 1
    err = capsys.readouterr().err
    assert (
        "no marts.department_ai_monthly, marts.department_ai_adoption, "
        "marts.people_without_ai_usage, marts.team_ai_roi yet" in err
    )


def test_an_empty_mart_prints_no_data(half_built_url, monkeypatch, capsys):
    monkeypatch.setenv("VAULT_DATABASE_URL", half_built_url)
    assert main(["report", "forecast"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "Cost forecasts (from marts.cost_forecasts)",
        "",
        "no data: marts.cost_forecasts has no rows yet",
    ]
    assert main(["report", "forecast", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["rows"], doc["no_data"]) == ([], "marts.cost_forecasts has no rows yet")


def test_all_reports_say_in_place_which_marts_are_not_built(
    half_built_url, server_url, monkeypatch, capsys
):
    monkeypatch.setenv("VAULT_DATABASE_URL", half_built_url)
    assert main(["report", "all"]) == 0
    out = capsys.readouterr().out
    assert "cfo report\n\nno data: the warehouse has no marts.pnl_by_month yet;" in out
    assert "no data: marts.cost_forecasts has no rows yet" in out
    with scratch_database(server_url) as nothing_built:
        monkeypatch.setenv("VAULT_DATABASE_URL", nothing_built)
        assert main(["report", "all", "--format", "json"]) == 1
    assert capsys.readouterr().err.startswith("vault: none of the reports' marts exist yet")


def test_an_unreachable_warehouse_ends_with_exit_code_1(monkeypatch, capsys):
    monkeypatch.setenv("VAULT_DATABASE_URL", "postgresql://postgres:secret@127.0.0.1:9/vault")
    assert main(["report", "customer"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("vault: cannot reach the warehouse at postgresql://postgres:***@")
    assert "secret" not in err


def test_the_costs_summary_is_still_a_report():
    args = parser().parse_args(["report", "costs", "--days", "7"])
    assert (args.what, args.days, args.run) == ("costs", 7, cmd_report)


# -- department, project, customer, forecast -------------------------------------------------


def test_department_shows_task_classes_adoption_people_without_ai_and_team_ranking(vault):
    code, out, _ = vault("department")
    assert code == 0, out
    engineering = part(out, "engineering")
    assert "people using AI in 2025-07: 2 of 4 (50.0%)" in engineering
    assert table_after(engineering, "AI use by task class") == [
        row(
            "task class | sessions | active hours | AI cost USD | hours saved | "
            "value saved USD | ROI"
        ),
        ["Bug fix", "10", "20.0", "100.00", "10.0", "800.00", "700.0%"],
        ["Feature work", "5", "10.0", "50.00", "2.0", "150.00", "200.0%"],
        # ROI of the totals: (950 - 150) / 150
        ["total", "15", "30.0", "150.00", "12.0", "950.00", "533.3%"],
    ]
    assert "without AI usage: Ari Moss (checkout, engineer), Dana Fox (platform, engineer)" in (
        engineering
    )
    assert table_after(engineering, "Teams by ROI (1 = best in the department)") == [
        ["rank", "team", "sessions", "AI cost USD", "hours saved", "value saved USD", "ROI"],
        ["1", "platform", "10", "100.00", "10.0", "800.00", "700.0%"],
        ["2", "checkout", "5", "50.00", "2.0", "150.00", "200.0%"],
        ["-", "research", "0", "0.00", "0.0", "0.00", "-"],
        ["teams without AI cost have no ROI and no rank"],
    ]
    finance = part(out, "finance")
    assert "people using AI in 2025-07: 1 of 2 (50.0%)" in finance
    assert "without AI usage: Lee Park (fpa, analyst)" in finance


def test_department_json_for_one_department_and_month(vault):
    code, out, _ = vault(
        "department", "--department", "engineering", "--month", "2025-06", "--format", "json"
    )
    assert code == 0, out
    doc = json.loads(out)
    assert doc["filters"] == {"month": "2025-06", "department": "engineering"}
    (engineering,) = doc["departments"]
    assert engineering["total"] == {
        "sessions": 4,
        "active_hours": 8.0,
        "ai_cost_usd": 40.0,
        "hours_saved": 4.0,
        "value_saved_usd": 320.0,
        "roi": 7.0,
    }
    assert engineering["adoption"] == {
        "people": 4,
        "people_using_ai": 1,
        "people_without_ai": 3,
        "share_using_ai": 0.25,
    }
    assert (engineering["people_without_ai"], engineering["teams"]) == ([], [])


def test_project_shows_phases_own_and_with_sub_projects_then_return_and_payback(vault):
    code, out, _ = vault("project")
    assert code == 0, out
    search = part(out, "Knowledge Search (knowledge-search)")
    assert "sub-projects: support-copilot" in search
    assert table_after(search, "Phases: the project's own figures") == [
        row(
            "phase | from | to | engineers | eng. hours | eng. time from | eng. time USD | "
            "AI tools USD | infra USD | prod. AI USD | requests | revenue USD | margin USD"
        ),
        row(
            "R&D | 2025-10-15 | 2026-02-01 | 3 | 200.0 | time entries | 16,000.00 | 120.00 | "
            "300.00 | 0.00 | 0 | 0.00 | -16,420.00"
        ),
        row(
            "production | 2026-07-01 | open | 2 | 50.0 | estimated | 4,000.00 | 80.00 | 900.00 | "
            "600.00 | 12,000 | 9,000.00 | 3,420.00"
        ),
        [
            "estimated: engineer time worked out from Claude Code sessions' active hours, "
            "where no time entries were recorded"
        ],
    ]
    assert table_after(search, "Phases: the project with its sub-projects")[1][:6] == [
        "R&D",
        "2025-10-15",
        "2026-02-01",
        "4",
        "260.0",
        "partly estimated",
    ]
    assert table_after(search, "Return") == [
        row(
            "scope | since | months | investment USD | revenue USD | margin USD | ROI to date | "
            "payback months"
        ),
        row("own | 2025-10 | 10 | 21,420.00 | 9,000.00 | -12,420.00 | -58.0% | not paid back"),
        row("with sub-projects | 2025-10 | 10 | 30,000.00 | 17,000.00 | -13,000.00 | -43.3% | 14"),
    ]
    assert "part of" not in part(out, "Agent Lab (agent-lab)")
    copilot = part(out, "Support Copilot (support-copilot)")
    assert "part of knowledge-search" in copilot
    assert "with its sub-projects" not in copilot
    assert "estimated:" not in copilot
    assert table_after(copilot, "Return")[1][-1] == "7"


def test_project_json_and_csv_for_one_project(vault):
    code, out, _ = vault("project", "--project", "knowledge-search", "--format", "json")
    assert code == 0, out
    (search,) = json.loads(out)["projects"]
    assert search["sub_projects"] == ["support-copilot"]
    assert [row["phase"] for row in search["lifecycle"]["own"]] == ["R&D", "production"]
    assert search["lifecycle"]["own"][1]["phase_ended_on"] is None
    assert search["roi"]["with_sub_projects"]["payback_months"] == 14
    assert search["roi"]["own"]["roi_to_date"] == -0.5798

    code, out, _ = vault("project", "--project", "knowledge-search", "--format", "csv")
    lines = out.splitlines()
    assert lines[0].split(",")[:6] == [
        "project",
        "name",
        "parent_project",
        "scope",
        "phase",
        "phase_started_on",
    ]
    assert len(lines) == 4  # the header, two own phases, one with sub-projects


def test_customer_rows_and_totals_of_the_latest_month(vault):
    code, out, _ = vault("customer")
    assert code == 0, out
    assert table_after(out, "Customers and features, 2025-07") == [
        row(
            "customer | feature | requests | failed | success | p95 ms | AI cost USD | "
            "infra USD | revenue USD | margin USD | cost/request USD"
        ),
        row(
            "Kestrel Freight | knowledge-search | 500 | 5 | 99.0% | 400 | 10.00 | 5.00 | 50.00 | "
            "35.00 | 0.0300"
        ),
        row(
            "Kestrel Freight | support-copilot | 1,000 | 10 | 99.0% | 850 | 40.00 | 10.00 | "
            "200.00 | 150.00 | 0.0500"
        ),
        row(
            "Lumen Health Partners | support-copilot | 2,000 | 40 | 98.0% | 900 | 90.00 | "
            "20.00 | 100.00 | -10.00 | 0.0550"
        ),
        ["total", "3,500", "55", "140.00", "35.00", "350.00", "175.00"],
        ["cost/request: this row's AI and infrastructure cost per request"],
    ]
    code, out, _ = vault("customer", "--month", "2025-06", "--format", "csv")
    assert out.splitlines() == [
        "customer,customer_name,feature,month,requests,failed_requests,success_rate,"
        "p95_latency_ms,ai_cost_usd,infrastructure_cost_usd,revenue_usd,margin_usd,"
        "cost_per_request_usd",
        "cus_A,Kestrel Freight,support-copilot,2025-06-01,800,8,0.9900,800.0,30.00,8.00,"
        "150.00,112.00,0.047500",
    ]


def test_forecast_shows_interval_backtest_mape_as_percent_and_totals_per_category(vault):
    code, out, _ = vault("forecast")
    assert code == 0, out
    quarter = part(out, "Forecast for 2025-Q4")
    assert "made 2025-10-02 06:00 UTC from daily history 2025-01-01 to 2025-09-30" in quarter
    rows = table_after(quarter, "By cost category and source")
    assert rows[1:4] == [
        row(
            "COGS | anthropic | 3,000.00 | 2,500.00 | 3,600.00 | 80.0% | ets | 2025-Q3 | "
            "2,800.00 | 2,600.00 | 7.1%"
        ),
        row(
            "COGS | aws | 1,500.00 | 1,400.00 | 1,650.00 | 80.0% | ets | 2025-Q3 | 1,450.00 | "
            "1,500.00 | 3.5%"
        ),
        row(
            "R&D | engineer_time | 9,000.00 | 8,000.00 | 10,000.00 | 80.0% | mean | none | - | "
            "- | -"
        ),
    ]
    assert (
        "no backtest for R&D engineer_time: 11 days of history, too short to hold a quarter out"
        in quarter
    )
    assert table_after(quarter, "Totals per cost category")[1:4] == [
        ["COGS", "2", "4,500.00", "3,900.00", "5,250.00"],
        ["R&D", "1", "9,000.00", "8,000.00", "10,000.00"],
        ["total", "3", "13,500.00", "11,900.00", "15,250.00"],
    ]
    code, out, _ = vault("forecast", "--format", "json")
    doc = json.loads(out)
    assert doc["total"] == [
        {
            "forecast_quarter": "2025-10-01",
            "series": 3,
            "forecast_usd": 13500.0,
            "lower_usd": 11900.0,
            "upper_usd": 15250.0,
        }
    ]
    assert [row["backtest_mape"] for row in doc["rows"]] == [0.0712, 0.0345, None]


# -- the HTML page ---------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# What the page's script must draw for the rows above: bars, line points and donut slices per
# chart, each with a <title> tooltip.
EXPECTED_SHAPES = {
    # 4 categories x 2 quarters
    "cfo-cost-over-time": {"point": 8, "line": 4},
    "cfo-category-breakdown": {"slice": 4},
    # research has no AI cost, so no ROI and no bar; finance's fpa loses money
    "department-roi-by-team": {"bar": 3, "negative": 1},
    "department-cost-over-time": {"point": 4, "line": 2},
    "department-task-breakdown": {"slice": 3},
    # 3 projects x investment and revenue; agent-lab's revenue of 0 is a bar of no height
    "project-investment-revenue": {"bar": 6, "negative": 0},
    "project-roi": {"bar": 3, "negative": 2},
    "customer-margin": {"bar": 2, "negative": 1},
    "customer-cost-over-time": {"point": 6, "line": 3},
    "forecast-by-category": {"bar": 2, "range": 2},
    # R&D's series has no backtest
    "forecast-backtest": {"bar": 2},
}


class ChartShapes(HTMLParser):
    """Counts, per chart figure of a page, its elements (as "<tag>") and their classes, and
    collects the tooltips."""

    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str | None] = {}
        self.shapes: dict[str, Counter] = {}
        self.tooltips: list[str] = []
        self._chart: str | None = None
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "body":
            self.body = attributes
        elif tag == "figure" and attributes.get("data-chart"):
            self._chart = attributes["data-chart"]
            self.shapes[self._chart] = Counter()
        elif self._chart and tag == "title":
            self._in_title = True
        elif self._chart:
            self.shapes[self._chart][f"<{tag}>"] += 1
            for name in (attributes.get("class") or "").split():
                self.shapes[self._chart][name] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._chart = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.tooltips.append(data)
            self.shapes[self._chart]["tooltip"] += 1


def rendered_dom(page: Path, profile: Path) -> str:
    """The page's DOM after headless Chromium loaded it and its scripts ran."""
    command = [CHROMIUM, "--headless", "--disable-gpu", f"--user-data-dir={profile}"]
    if os.geteuid() == 0:
        command.append("--no-sandbox")  # Chromium's sandbox refuses to run as root
    done = subprocess.run(
        [*command, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_html_page_is_self_contained_and_holds_only_the_reports_charts(vault, tmp_path):
    page = tmp_path / "cfo.html"
    code, out, err = vault("cfo", "--html", str(page))
    assert code == 0
    assert out.startswith("CFO cost view, 2025-Q3")
    assert err == f"vault: wrote {page}\n"
    html = page.read_text()
    assert re.findall(r'<figure class="chart" data-chart="([^"]+)"', html) == [
        "cfo-cost-over-time",
        "cfo-category-breakdown",
    ]
    # Nothing to fetch: no external script, stylesheet, image or font.
    assert not re.search(r"<link|\ssrc=|@import|url\(|href=\"(?!#)", html)
    assert '<td class="num">$3,000.00</td>' in html


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="chromium is not on PATH (Debian: apt-get install chromium; CI installs it)",
)
def test_chromium_draws_every_chart_of_the_all_reports_page(vault, tmp_path):
    page = tmp_path / "all.html"
    code, _, err = vault("all", "--html", str(page))
    assert code == 0, err
    parsed = ChartShapes()
    parsed.feed(rendered_dom(page, tmp_path / "profile"))
    assert parsed.body.get("data-charts") == "ready", parsed.body.get("data-chart-error")
    assert parsed.body.get("data-chart-count") == str(len(EXPECTED_SHAPES))
    assert set(parsed.shapes) == set(EXPECTED_SHAPES)
    for chart, expected in EXPECTED_SHAPES.items():
        shapes = parsed.shapes[chart]
        assert shapes["<svg>"] == 1, chart
        assert {name: shapes[name] for name in expected} == expected, chart
        drawn = shapes["bar"] + shapes["point"] + shapes["slice"]
        assert shapes["tooltip"] >= drawn, chart
    assert "platform (engineering) \u00b7 ROI: 700.0%" in parsed.tooltips
    assert "COGS: $1,000.00 (33.3%)" in parsed.tooltips
    assert "COGS \u00b7 forecast: $4,500.00 (range $3,900.00 to $5,250.00)" in parsed.tooltips
