"""The department AI marts, built by dbt on a real PostgreSQL.

Everything upstream of claude_code_sessions and fct_ai_usage is built empty (`--empty`: the
tables exist with their real columns but no rows), with the real seeds. A few Claude Code
sessions and API usage rows of people from people.csv, over three months, are then written
into those two tables, and dbt builds the department marts with their unit tests, data
tests and singular checks. The figures are checked against the definitions, worked out
here from the rows written, and the singular checks are shown to fail when a session goes
missing or a person's month drops out of people_without_ai_usage.
"""

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

import psycopg
import pytest
from conftest import run_dbt

from orchestration.dbt.assets import ensure_sources_exist
from orchestration.warehouse.connection import WarehouseResource

DEPARTMENT_MODELS = [
    "int_claude_code_sessions_valued",
    "int_person_months_flagged",
    "department_ai_monthly",
    "department_ai_adoption",
    "people_without_ai_usage",
    "team_ai_roi",
]
SESSION_CHECK = "assert_department_ai_marts_keep_every_session"
ADOPTION_CHECK = "assert_department_ai_adoption_matches_people_lists"
STRANGER = "contractor@outside.example"
OCTOBER, NOVEMBER, DECEMBER = date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)


@dataclass(frozen=True)
class Person:
    email: str
    department: str
    team: str
    hourly_cost_usd: Decimal


@dataclass(frozen=True)
class Session:
    session_id: str
    user_email: str
    task_class: str
    active_minutes: int
    cost_usd: Decimal
    started_at: datetime


def _query(url: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(url) as connection:
        return connection.execute(sql, params).fetchall()


def _people(url: str) -> dict[str, Person]:
    rows = _query(url, "select email, department, team, hourly_cost_usd from seeds.people")
    return {email: Person(email, *rest) for email, *rest in rows}


def _cast(people: dict[str, Person]) -> dict[str, Person]:
    """Four people from people.csv: two engineers of different teams, one person of each of
    two other departments."""
    by_email = sorted(people.values(), key=lambda person: person.email)
    engineers = [person for person in by_email if person.department == "engineering"]
    first = engineers[0]
    second = next(person for person in engineers if person.team != first.team)
    others = [person for person in by_email if person.department != "engineering"]
    third = others[0]
    fourth = next(person for person in others if person.department != third.department)
    return {"first": first, "second": second, "third": third, "fourth": fourth}


def _sessions(cast: dict[str, Person]) -> list[Session]:
    first, second, third = cast["first"], cast["second"], cast["third"]
    return [
        Session("n1", first.email.upper(), "tests", 60, Decimal("2.00"), _at(11, 3)),
        Session("n2", first.email, "bug_fix", 30, Decimal("1.00"), _at(11, 10)),
        Session("n3", first.email, "unclassified", 15, Decimal("0.10"), _at(11, 20)),
        Session("n4", second.email, "code_review", 120, Decimal("4.00"), _at(11, 12)),
        Session("n5", STRANGER, "tests", 45, Decimal("0.75"), _at(11, 5)),
        # 23:30 UTC on the last day of October: an October session.
        Session("o1", third.email, "documentation", 90, Decimal("0.50"), _at(10, 31, 23)),
    ]


def _at(month: int, day: int, hour: int = 9) -> datetime:
    return datetime(2026, month, day, hour, 30, tzinfo=UTC)


def _write_usage(url: str, sessions: list[Session], cast: dict[str, Person]) -> None:
    """The sessions into claude_code_sessions; API usage into fct_ai_usage: the third person
    in November (tokens), the second in October (a row without tokens, which is no use),
    the fourth in December."""
    usage = [
        ("u1", cast["third"].email, 1200, _at(11, 2, 0)),
        ("u2", cast["second"].email, 0, _at(10, 7, 0)),
        ("u3", cast["fourth"].email, 500, _at(12, 1, 0)),
    ]
    with psycopg.connect(url) as connection:
        for session in sessions:
            connection.execute(
                "insert into marts.claude_code_sessions (session_id, user_email, task_class,"
                " estimated_cost_usd, active_minutes, started_at, ended_at)"
                " values (%s, %s, %s, %s, %s, %s, %s)",
                (
                    session.session_id,
                    session.user_email,
                    session.task_class,
                    session.cost_usd,
                    session.active_minutes,
                    session.started_at,
                    session.started_at,
                ),
            )
        for usage_id, email, tokens, day in usage:
            connection.execute(
                "insert into marts.fct_ai_usage (ai_usage_id, source_system, user_email, tokens,"
                " requests, cost_usd, usage_started_at) values (%s, 'openai', %s, %s, 1, 0, %s)",
                (usage_id, email, tokens, day),
            )


@pytest.fixture(scope="module")
def built(module_database, tmp_path_factory):
    """The scratch warehouse after the department marts' dbt build; yields what it needs."""
    ensure_sources_exist(WarehouseResource(url=module_database))
    target = tmp_path_factory.mktemp("dbt")
    upstream = run_dbt(
        module_database,
        target,
        "build",
        "--select",
        "+claude_code_sessions",
        "+fct_ai_usage",
        "people",
        "teams",
        "task_classes",
        "--resource-type",
        "seed",
        "--resource-type",
        "model",
        "--empty",
    )
    assert upstream.returncode == 0, upstream.stdout[-4000:]
    cast = _cast(_people(module_database))
    sessions = _sessions(cast)
    _write_usage(module_database, sessions, cast)
    build = run_dbt(
        module_database,
        target,
        "build",
        "--select",
        *DEPARTMENT_MODELS,
        SESSION_CHECK,
        ADOPTION_CHECK,
    )
    results = json.loads((target / "target" / "run_results.json").read_text())["results"]
    return {
        "url": module_database,
        "target": target / "target",
        "build": build,
        "results": results,
        "cast": cast,
        "sessions": sessions,
    }


def _statuses(results: list[dict]) -> dict[str, str]:
    return {result["unique_id"]: result["status"] for result in results}


def test_unit_tests_data_tests_and_checks_of_the_marts_pass(built):
    assert built["build"].returncode == 0, built["build"].stdout[-6000:]
    statuses = _statuses(built["results"])
    unit_tests = [uid for uid in statuses if uid.startswith("unit_test.")]
    checks = [uid for uid in statuses if uid.split(".")[-1] in (SESSION_CHECK, ADOPTION_CHECK)]
    assert len(unit_tests) == 6
    assert len(checks) == 2
    assert set(statuses.values()) <= {"success", "pass"}


def _factors(url: str) -> dict[str, Decimal]:
    rows = _query(url, "select task_class, estimated_time_saved_factor from seeds.task_classes")
    return dict(rows)


def _roi(value: Decimal, cost: Decimal) -> Decimal | None:
    if cost == 0:
        return None
    return ((value - cost) / cost).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def _expected(built, grain: str) -> dict[tuple, tuple]:
    """A mart's figures worked out from the sessions written, per department, month and task
    class (grain "task_class") or per department, team and month (grain "team"): sessions,
    active hours, AI cost, hours saved, value saved and ROI."""
    people = _people(built["url"])
    factors = _factors(built["url"])
    totals: dict[tuple, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 5)
    for session in built["sessions"]:
        person = people.get(session.user_email.lower())
        department = person.department if person else "unallocated"
        team = person.team if person else "unallocated"
        hours = Decimal(session.active_minutes) / 60
        saved = hours * factors.get(session.task_class, Decimal(0))
        value = saved * (person.hourly_cost_usd if person else Decimal(0))
        month = session.started_at.date().replace(day=1)
        key = (
            (department, month, session.task_class)
            if grain == "task_class"
            else (department, team, month)
        )
        row = totals[key]
        for position, amount in enumerate((Decimal(1), hours, session.cost_usd, saved, value)):
            row[position] += amount
    return {key: (*figures, _roi(figures[4], figures[2])) for key, figures in totals.items()}


def test_department_ai_monthly_follows_the_definitions(built):
    rows = _query(
        built["url"],
        "select department, month, task_class, sessions, active_hours, ai_cost_usd,"
        " hours_saved, value_saved_usd, roi from marts.department_ai_monthly",
    )
    actual = {(department, month, task): tuple(rest) for department, month, task, *rest in rows}
    assert actual == _expected(built, "task_class")
    assert actual[("unallocated", NOVEMBER, "tests")] == (
        1,
        Decimal("0.75"),
        Decimal("0.75"),
        Decimal("0.75"),
        Decimal(0),
        Decimal(-1),
    )


def test_no_session_is_lost_or_counted_twice(built):
    sessions = built["sessions"]
    for mart in ("department_ai_monthly", "team_ai_roi"):
        [(count, cost)] = _query(
            built["url"], f"select sum(sessions), sum(ai_cost_usd) from marts.{mart}"
        )
        assert (count, cost) == (len(sessions), sum(session.cost_usd for session in sessions))


def test_teams_rank_by_roi_within_their_department_and_idle_teams_have_no_rank(built):
    url = built["url"]
    first, second = built["cast"]["first"], built["cast"]["second"]
    expected = _expected(built, "team")
    roi = {team: expected[("engineering", team, NOVEMBER)][5] for team in (first.team, second.team)}
    assert roi[first.team] != roi[second.team]
    best = max(roi, key=roi.get)
    rows = _query(
        url,
        "select team, sessions, ai_cost_usd, roi, roi_rank_in_department from marts.team_ai_roi"
        " where department = 'engineering' and month = %s",
        (NOVEMBER,),
    )
    ranked = {team: (roi_value, rank) for team, _, _, roi_value, rank in rows if rank is not None}
    assert ranked == {team: (roi[team], 1 if team == best else 2) for team in roi}
    [(engineering_teams,)] = _query(
        url, "select count(*) from seeds.teams where department = 'engineering'"
    )
    idle = [tuple(rest) for team, *rest in rows if team not in roi]
    assert idle == [(0, Decimal(0), None, None)] * (engineering_teams - 2)


def test_adoption_counts_people_with_and_without_ai_each_month(built):
    url, cast = built["url"], built["cast"]
    people = _people(url)
    using = {
        OCTOBER: {cast["third"].email},
        NOVEMBER: {cast["first"].email, cast["second"].email, cast["third"].email},
        DECEMBER: {cast["fourth"].email},
    }
    expected = {}
    for month, users in using.items():
        for department in {person.department for person in people.values()}:
            staff = {email for email, person in people.items() if person.department == department}
            expected[(department, month)] = (len(staff), len(staff & users), len(staff - users))
    rows = _query(
        url,
        "select department, month, people, people_using_ai, people_without_ai"
        " from marts.department_ai_adoption",
    )
    assert {(department, month): tuple(rest) for department, month, *rest in rows} == expected
    without = _query(
        url, "select email from marts.people_without_ai_usage where month = %s", (NOVEMBER,)
    )
    assert {email for (email,) in without} == set(people) - using[NOVEMBER]


def _check_rows(connection: psycopg.Connection, target, check: str) -> list[tuple]:
    """The failing rows of a singular check, from the SQL dbt compiled for it in the build."""
    sql = (target / "compiled" / "vault" / "tests" / f"{check}.sql").read_text()
    return connection.execute(sql).fetchall()


def test_the_checks_fail_when_a_session_or_a_person_goes_missing(built):
    url, target = built["url"], built["target"]
    with psycopg.connect(url, autocommit=True) as connection:
        assert _check_rows(connection, target, SESSION_CHECK) == []
        assert _check_rows(connection, target, ADOPTION_CHECK) == []
        # A session the marts have not seen, and a person's month taken out of the list.
        connection.execute(
            "insert into marts.claude_code_sessions (session_id, user_email, task_class,"
            " estimated_cost_usd, active_minutes, started_at)"
            " values ('late', %s, 'tests', 1, 60, %s)",
            (built["cast"]["first"].email, _at(11, 25)),
        )
        dropped = connection.execute(
            "delete from marts.people_without_ai_usage"
            " where ctid = (select min(ctid) from marts.people_without_ai_usage) returning *"
        ).fetchone()
        try:
            missing_session = _check_rows(connection, target, SESSION_CHECK)
            missing_person = _check_rows(connection, target, ADOPTION_CHECK)
        finally:
            connection.execute("delete from marts.claude_code_sessions where session_id = 'late'")
            connection.execute(
                "insert into marts.people_without_ai_usage (department, team, month, email,"
                " name, role) values (%s, %s, %s, %s, %s, %s)",
                dropped,
            )
    # Both marts are one session and $1 short in November; the adoption figures of the
    # department and month the person was taken from no longer match the list.
    shortfalls = [
        (mart, month, sessions - in_mart, cost - cost_in_mart)
        for mart, month, sessions, in_mart, cost, cost_in_mart in missing_session
    ]
    assert sorted(shortfalls) == [
        ("department_ai_monthly", NOVEMBER, 1, 1),
        ("team_ai_roi", NOVEMBER, 1, 1),
    ]
    department, _, month, *_ = dropped
    assert [(row[0], row[1]) for row in missing_person] == [(department, month)]
