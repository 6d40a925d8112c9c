"""The warehouse's roles on a real PostgreSQL, each one exercised by logging in as it.

The roles are set up the way a deployment does it: `setup_roles` as the server's admin before
any raw table exists, then `vault db init`'s steps as the same admin, then dbt building the
marts connected as the owner (seeds and the models upstream of two marts, built `--empty`, so
the tables exist with their real columns; one department mart is then rebuilt with rows).
Every role name carries a random suffix, so runs sharing a server never collide, and every
role is dropped at the end. The test servers use trust authentication, so a role logs in by
its name alone; a private embedded server with SCRAM authentication checks real password
logins.
"""

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
from conftest import REPO_ROOT, run_dbt, scratch_database

from orchestration.collectors.registry import discover_collectors
from orchestration.custom.collectors import ensure_custom_tables
from orchestration.forecast.asset import CREATE_SQL as FORECAST_TABLE_SQL
from orchestration.warehouse.embedded import EmbeddedPostgres
from orchestration.warehouse.loader import ensure_raw_tables
from orchestration.warehouse.push import copy_events, grant_ingest
from orchestration.warehouse.roles import (
    RoleNames,
    RolesError,
    hand_over_to_owner,
    run_roles_command,
    scram_matches,
    setup_roles,
    vault_schemas,
)

BUILT_MARTS = ("+people_without_ai_usage", "+cfo_cost_by_quarter")
ENGINEER = "bilal.petrov@northwind-labs.example"  # engineering in seeds/people.csv


def _as(url: str, user: str, password: str | None = None) -> str:
    parts = urlsplit(url)
    credentials = f"{user}:{password}" if password else user
    return parts._replace(netloc=f"{credentials}@{parts.hostname}:{parts.port}").geturl()


@dataclass(frozen=True)
class Vault:
    url: str
    names: RoleNames
    readers: dict[str, str]
    target: Path
    first_changes: list[str]
    second_changes: list[str]
    catalog_before: list[tuple]
    catalog_after: list[tuple]
    handed_over: list[str]

    def login(self, role: str) -> psycopg.Connection:
        return psycopg.connect(_as(self.url, role), autocommit=True)

    @property
    def engineering(self) -> str:
        return next(role for role, dept in self.readers.items() if dept == "engineering")

    @property
    def finance(self) -> str:
        return next(role for role, dept in self.readers.items() if dept == "finance")


def _catalog(conn: psycopg.Connection, names: RoleNames) -> list[tuple]:
    """Everything `setup_roles` could change: roles, memberships, owners, grants, policies."""
    return conn.execute(
        """
        select 'role', rolname, rolcanlogin::text || rolsuper::text, null from pg_roles
            where rolname like '%%' || %(suffix)s
        union all
        select 'member', member::regrole::text, roleid::regrole::text, null
            from pg_auth_members where member::regrole::text like '%%' || %(suffix)s
        union all
        select 'schema', nspname, nspowner::regrole::text, nspacl::text from pg_namespace
        union all
        select 'relation', oid::regclass::text, relowner::regrole::text,
            relacl::text || relrowsecurity::text from pg_class where relkind in ('r', 'v', 'p')
        union all
        select 'policy', polrelid::regclass::text, polname, pg_get_expr(polqual, polrelid)
            from pg_policy
        union all
        select 'default', defaclnamespace::regnamespace::text, defaclrole::regrole::text,
            defaclacl::text from pg_default_acl
        union all
        select 'database', datname, datdba::regrole::text, datacl::text from pg_database
            where datname = current_database()
        order by 1, 2, 3
        """,
        {"suffix": names.owner.removeprefix("vault_owner")},
    ).fetchall()


def _drop_roles(url: str, roles: list[str]) -> None:
    with psycopg.connect(url, autocommit=True) as admin:
        for role in roles:
            if admin.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone():
                admin.execute(f'drop owned by "{role}" cascade')
        for role in roles:
            admin.execute(f'drop role if exists "{role}"')


@pytest.fixture(scope="module")
def vault(module_database, tmp_path_factory) -> Iterator[Vault]:
    suffix = f"_{uuid.uuid4().hex[:8]}"
    names = RoleNames().with_suffix(suffix)
    readers = {f"vault_eng{suffix}": "engineering", f"vault_fin{suffix}": "finance"}
    roles = [*readers, names.reader, names.ingest, names.owner, names.department_group]
    target = tmp_path_factory.mktemp("roles_dbt")
    try:
        with psycopg.connect(module_database, autocommit=True) as admin:
            first = setup_roles(admin, names, readers, environ={})
            before = _catalog(admin, names)
            second = setup_roles(admin, names, readers, environ={})
            after = _catalog(admin, names)
            # `vault db init`, run by the admin after `vault db roles`.
            for spec in discover_collectors():
                ensure_raw_tables(admin, spec.table)
            ensure_custom_tables(admin)
            grant_ingest(admin, names.ingest)
            handed_over = hand_over_to_owner(admin, names.owner)
        owner_url = _as(module_database, names.owner)
        build = run_dbt(
            owner_url,
            target,
            "build",
            "--select",
            *BUILT_MARTS,
            "--resource-type",
            "seed",
            "--resource-type",
            "model",
            "--empty",
            "--vars",
            json.dumps({"reader_role": names.reader}),
        )
        assert build.returncode == 0, build.stdout[-4000:]
        with psycopg.connect(owner_url, autocommit=True) as owner:
            owner.execute(FORECAST_TABLE_SQL)  # the forecast asset's own table, not dbt's
        yield Vault(
            module_database, names, readers, target, first.changes, second.changes,
            before, after, handed_over,
        )  # fmt: skip
    finally:
        _drop_roles(module_database, roles)


@pytest.fixture(scope="module")
def rebuilt(vault) -> dict[str, int]:
    """One engineering session in marts.claude_code_sessions, then dbt rebuilds
    people_without_ai_usage from it (a new table) and dim_model_prices from its seed;
    returns the old and new oids of people_without_ai_usage."""
    owner_url = _as(vault.url, vault.names.owner)
    with psycopg.connect(owner_url, autocommit=True) as owner:
        owner.execute(
            "insert into marts.claude_code_sessions (session_id, user_email, department,"
            " task_class, estimated_cost_usd, active_minutes, started_at, ended_at)"
            " values ('s1', %s, 'engineering', 'feature', 1.5, 30, %s, %s)",
            (ENGINEER, datetime(2026, 11, 3, 9, tzinfo=UTC), datetime(2026, 11, 3, 10, tzinfo=UTC)),
        )
        oid = "select 'marts.people_without_ai_usage'::regclass::oid::int"
        before = owner.execute(oid).fetchone()[0]
        done = run_dbt(
            owner_url,
            vault.target,
            "run",
            "--select",
            "int_person_months_flagged",  # built --empty: a view that returns no rows
            "people_without_ai_usage",
            "dim_model_prices",
            "--vars",
            json.dumps({"reader_role": vault.names.reader}),
        )
        assert done.returncode == 0, done.stdout[-4000:]
        return {"before": before, "after": owner.execute(oid).fetchone()[0]}


def test_a_second_run_changes_nothing(vault):
    assert f"created role {vault.names.owner} (login)" in vault.first_changes
    assert vault.second_changes == []
    assert vault.catalog_after == vault.catalog_before


def test_objects_an_admin_creates_after_the_roles_are_handed_to_the_owner(vault):
    assert any(line.startswith("handed ") and " in raw " in line for line in vault.handed_over)
    with psycopg.connect(vault.url) as admin:
        foreign = admin.execute(
            """
            select format('%%s.%%s', schemas.nspname, relations.relname),
                relations.relowner::regrole::text
            from pg_class as relations
            inner join pg_namespace as schemas on relations.relnamespace = schemas.oid
            where schemas.nspname = any(%s) and relations.relkind in ('r', 'v', 'p')
                and relations.relowner <> %s::regrole
            union all
            select nspname, nspowner::regrole::text from pg_namespace
            where nspname = any(%s) and nspowner <> %s::regrole
            """,
            (list(vault_schemas()), vault.names.owner) * 2,
        ).fetchall()
        tables = admin.execute(
            "select count(*) from pg_tables where schemaname = any(%s)", (list(vault_schemas()),)
        ).fetchone()[0]
    assert foreign == []
    assert tables > 40


def test_the_owner_builds_the_marts_and_is_no_superuser(vault):
    with vault.login(vault.names.owner) as owner:
        assert owner.execute(
            "select rolsuper or rolcreaterole from pg_roles where rolname = current_user"
        ).fetchone() == (False,)
        owner.execute("create schema owner_scratch")
        owner.execute("create table owner_scratch.notes (n int)")
        owner.execute("insert into owner_scratch.notes values (1)")
        owner.execute("drop schema owner_scratch cascade")
        assert owner.execute("select count(*) from seeds.people").fetchone()[0] > 10
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            owner.execute(f'create role "{vault.names.owner}_child"')
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            owner.execute("select rolpassword from pg_authid")


def test_the_ingest_role_inserts_into_the_push_tables_and_nothing_else(vault):
    event = {"event_id": "e1", "occurred_at": "2026-11-03T09:00:00Z", "event_type": "Stop"}
    with vault.login(vault.names.ingest) as ingest:
        for table in ("claude_code_hook_events", "product_usage_events"):
            assert copy_events(ingest, table, [event], client_id="roles-test") == 1
        for statement in (
            "select count(*) from raw.claude_code_hook_events",
            "delete from raw.product_usage_events",
            "insert into raw._collector_state select * from raw._collector_state",
            "select count(*) from raw.anthropic_cost_report",
            "select count(*) from marts.cfo_cost_by_quarter",
            "create table raw.mine (n int)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                ingest.execute(statement)


def test_the_reader_reads_the_marts_and_nothing_else(vault):
    with vault.login(vault.names.reader) as reader:
        for table in ("dim_model_prices", "cfo_cost_by_quarter", "fct_costs", "cost_forecasts"):
            reader.execute(f"select count(*) from marts.{table}")
        for statement in (
            "select 1 from raw.anthropic_cost_report limit 1",
            "select 1 from staging.stg_aws__cost_explorer limit 1",
            "select 1 from intermediate.int_person_months_flagged limit 1",
            "select 1 from seeds.people limit 1",
            "select 1 from vault_access.department_readers limit 1",
            "insert into marts.dim_model_prices select * from marts.dim_model_prices",
            "update marts.cfo_cost_by_quarter set quarter = quarter",
            "delete from marts.dim_model_prices",
            "truncate marts.dim_model_prices",
            "create table marts.mine (n int)",
            "create schema mine",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reader.execute(statement)


def test_a_rebuilt_mart_keeps_its_grant_and_its_row_level_security(vault, rebuilt):
    assert rebuilt["after"] != rebuilt["before"]  # dbt replaced the table
    count = "select department, count(*) from marts.people_without_ai_usage group by 1 order by 1"
    with psycopg.connect(vault.url) as admin:
        everyone = dict(admin.execute(count).fetchall())
    assert {"engineering", "finance", "product"} <= set(everyone)
    with vault.login(vault.names.reader) as reader:
        assert dict(reader.execute(count).fetchall()) == everyone
    with vault.login(vault.engineering) as engineering:
        assert dict(engineering.execute(count).fetchall()) == {
            "engineering": everyone["engineering"]
        }
        sessions = engineering.execute("select session_id from marts.claude_code_sessions")
        assert sessions.fetchall() == [("s1",)]
        # SET ROLE to the group does not lift the limit: the policy looks at the login.
        engineering.execute(f'set role "{vault.names.department_group}"')
        assert dict(engineering.execute(count).fetchall()) == {
            "engineering": everyone["engineering"]
        }
    with vault.login(vault.finance) as finance:
        assert dict(finance.execute(count).fetchall()) == {"finance": everyone["finance"]}
        assert finance.execute("select count(*) from marts.claude_code_sessions").fetchone() == (0,)
        assert finance.execute("select count(*) from marts.dim_model_prices").fetchone()[0] > 0


@pytest.mark.parametrize("table", ["cfo_cost_by_quarter", "cost_forecasts"])
def test_a_department_reader_is_refused_marts_without_a_department_column(vault, rebuilt, table):
    with vault.login(vault.engineering) as engineering:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            engineering.execute(f"select count(*) from marts.{table}")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            engineering.execute("select 1 from raw.anthropic_cost_report limit 1")


def test_a_department_reader_without_a_department_sees_no_rows(vault, rebuilt):
    with psycopg.connect(vault.url, autocommit=True) as admin:
        admin.execute(
            "delete from vault_access.department_readers where role_name = %s", (vault.finance,)
        )
        try:
            with vault.login(vault.finance) as finance:
                rows = finance.execute("select count(*) from marts.people_without_ai_usage")
                assert rows.fetchone() == (0,)
        finally:
            setup_roles(admin, vault.names, vault.readers, environ={})


def test_the_command_prints_changes_and_urls_but_no_password(vault, monkeypatch):
    secret = f"pw-{uuid.uuid4().hex}"
    monkeypatch.setenv("VAULT_READER_PASSWORD", secret)
    lines: list[str] = []
    errors: list[str] = []
    code = run_roles_command(vault.url, [], lines.append, errors.append, vault.names)
    assert (code, errors) == (0, [])
    assert f"set the password of {vault.names.reader} from VAULT_READER_PASSWORD" in lines
    assert any(f"//{vault.names.reader}:***@" in line for line in lines)
    assert any(f"//{vault.names.owner}@" in line for line in lines)
    assert not any(secret in line for line in lines)
    with psycopg.connect(vault.url) as admin:
        stored = admin.execute(
            "select rolpassword from pg_authid where rolname = %s", (vault.names.reader,)
        ).fetchone()[0]
    assert scram_matches(stored, secret) and not scram_matches(stored, secret + "x")
    lines.clear()
    assert run_roles_command(vault.url, [], lines.append, errors.append, vault.names) == 0
    assert lines[0] == "nothing to change: the roles were already in place"


def test_vault_db_roles_without_privilege_says_what_it_needs(vault):
    done = subprocess.run(
        [sys.executable, "-m", "orchestration.cli", "db", "roles"],
        env={**os.environ, "VAULT_DATABASE_URL": _as(vault.url, vault.names.reader)},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert f"connected as {vault.names.reader}" in done.stderr
    assert "needs a superuser, or a role with CREATEROLE" in done.stderr


@pytest.mark.parametrize(
    ("attributes", "reason"),
    [("superuser login", "is a superuser"), ("nologin", "lacks LOGIN")],
)
def test_an_existing_role_unfit_for_its_job_is_refused(vault, attributes, reason):
    names = RoleNames().with_suffix(f"_{uuid.uuid4().hex[:8]}")
    with psycopg.connect(vault.url, autocommit=True) as admin:
        admin.execute(f'create role "{names.reader}" {attributes}')
        try:
            with pytest.raises(RolesError, match=f"role {names.reader} exists but {reason}"):
                setup_roles(admin, names, environ={})
            created = admin.execute(
                "select count(*) from pg_roles where rolname = %s", (names.owner,)
            ).fetchone()
            assert created == (0,)  # one transaction: nothing was left behind
        finally:
            admin.execute(f'drop role "{names.reader}"')


def test_bad_department_reader_arguments_are_refused(vault):
    lines: list[str] = []
    errors: list[str] = []
    code = run_roles_command(vault.url, ["sales"], lines.append, errors.append, vault.names)
    assert code == 1 and errors == ["--department-reader takes ROLE=DEPARTMENT, got 'sales'"]
    errors.clear()
    code = run_roles_command(
        vault.url, [f"{vault.names.reader}=sales"], lines.append, errors.append, vault.names
    )
    assert code == 1 and "use a new lower-case role name" in errors[0]


@pytest.fixture(scope="module")
def password_server(tmp_path_factory) -> Iterator[str]:
    """A private embedded server that asks every role but its admin for a SCRAM password."""
    server = EmbeddedPostgres(tmp_path_factory.mktemp("scram") / "postgres")
    url = server.ensure_running()
    hba = server.data_dir / "pg_hba.conf"
    hba.write_text(
        "local all all trust\n"
        "host all postgres 127.0.0.1/32 trust\n"
        "host all all 127.0.0.1/32 scram-sha-256\n"
    )
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("select pg_reload_conf()")
    yield url
    server.stop()


def test_roles_log_in_with_the_passwords_from_the_environment(password_server):
    names = RoleNames()
    owner_password = f"owner-{uuid.uuid4().hex}"
    with psycopg.connect(password_server, autocommit=True) as admin:
        setup_roles(admin, names, environ={"VAULT_OWNER_PASSWORD": owner_password})
    with psycopg.connect(_as(password_server, names.owner, owner_password)) as owner:
        assert owner.execute("select current_user").fetchone() == (names.owner,)
    for role, password in (
        (names.owner, owner_password + "x"),
        (names.reader, "anything"),  # VAULT_READER_PASSWORD unset: no password at all
    ):
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(_as(password_server, role, password))


def test_a_createrole_admin_that_owns_the_database_sets_the_roles_up(server_url):
    suffix = f"_{uuid.uuid4().hex[:8]}"
    names = RoleNames().with_suffix(suffix)
    admin_role = f"vault_admin{suffix}"
    roles = [f"vault_fin{suffix}", *names.login_roles().values(), names.department_group]
    try:
        with scratch_database(server_url) as url:
            with psycopg.connect(url, autocommit=True) as superuser:
                superuser.execute(f'create role "{admin_role}" login createrole')
                database = urlsplit(url).path[1:]
                superuser.execute(f'alter database "{database}" owner to "{admin_role}"')
            try:
                with psycopg.connect(_as(url, admin_role), autocommit=True) as admin:
                    setup_roles(admin, names, {f"vault_fin{suffix}": "finance"}, environ={})
                    assert setup_roles(admin, names, environ={}).changes == []
                    owners = admin.execute(
                        "select distinct nspowner::regrole::text from pg_namespace"
                        " where nspname = any(%s)",
                        (list(vault_schemas()),),
                    ).fetchall()
                assert owners == [(names.owner,)]
            finally:
                _drop_roles(url, roles)
    finally:
        with psycopg.connect(server_url, autocommit=True) as superuser:
            superuser.execute(f'drop role if exists "{admin_role}"')
