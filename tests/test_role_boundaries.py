"""What the reader and the ingest role cannot do, tried on every relation there is.

`test_roles.py` shows each role at work and refused a sample of statements; here the
boundaries are checked exhaustively. After `vault db roles`, `vault db init`'s steps and a
dbt build (every staging view and one mart with its seed, built `--empty`, so the relations
exist with their real columns), each relation of each vault schema is listed from
`pg_class` and tried by logging in as the role:

- the reader may read the marts and nothing else: every table and view in `raw` (prompt
  classes, the people's emails in pushed events), `staging`, `intermediate`, `seeds` and
  `vault_access` is refused;
- the ingest role may insert into the push tables and nothing else: reading any relation of
  any vault schema is refused, the push tables included;
- neither may create a table, a view, a function or a schema: not in `public`, not in any
  vault schema, not in the database. Temporary tables are left as PostgreSQL allows them to
  every role (`roles.py` does not revoke TEMPORARY): they live only for the session and hold
  nothing a role could not read already.

Role names carry a random suffix and are dropped at the end; the test servers trust local
logins, so each role logs in by its name.
"""

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import psycopg
import pytest
from conftest import run_dbt

from orchestration.collectors.registry import discover_collectors
from orchestration.custom.collectors import ensure_custom_tables
from orchestration.warehouse.loader import ensure_raw_tables
from orchestration.warehouse.push import PUSH_TABLES, grant_ingest
from orchestration.warehouse.roles import (
    MARTS_SCHEMA,
    RoleNames,
    hand_over_to_owner,
    setup_roles,
    vault_schemas,
)

RELATION_KINDS = ("r", "p", "v", "m", "f")  # tables, partitioned tables, views, matviews, foreign
PRIVILEGES = "SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER"


def _login(url: str, role: str) -> psycopg.Connection:
    parts = urlsplit(url)
    return psycopg.connect(
        parts._replace(netloc=f"{role}@{parts.hostname}:{parts.port}").geturl(), autocommit=True
    )


@dataclass(frozen=True)
class Warehouse:
    url: str
    names: RoleNames
    department_reader: str

    def relations(self, schemas: list[str]) -> list[str]:
        """Every table and view in `schemas`, quoted, from the catalogue."""
        with psycopg.connect(self.url) as admin:
            rows = admin.execute(
                """
                select format('%%I.%%I', schemas.nspname, relations.relname)
                from pg_class as relations
                inner join pg_namespace as schemas on relations.relnamespace = schemas.oid
                where schemas.nspname = any(%s) and relations.relkind = any(%s)
                order by 1
                """,
                (schemas, list(RELATION_KINDS)),
            ).fetchall()
        return [relation for (relation,) in rows]

    def schemas(self) -> list[str]:
        with psycopg.connect(self.url) as admin:
            rows = admin.execute(
                "select nspname from pg_namespace where nspname = any(%s) order by 1",
                (list(vault_schemas()),),
            ).fetchall()
        return [schema for (schema,) in rows]


@pytest.fixture(scope="module")
def warehouse(module_database, tmp_path_factory) -> Iterator[Warehouse]:
    suffix = f"_{uuid.uuid4().hex[:8]}"
    names = RoleNames().with_suffix(suffix)
    department_reader = f"vault_ops{suffix}"
    roles = [department_reader, names.reader, names.ingest, names.owner, names.department_group]
    try:
        with psycopg.connect(module_database, autocommit=True) as admin:
            setup_roles(admin, names, {department_reader: "engineering"}, environ={})
            for spec in discover_collectors():
                ensure_raw_tables(admin, spec.table)
            ensure_custom_tables(admin)
            grant_ingest(admin, names.ingest)
            hand_over_to_owner(admin, names.owner)
        parts = urlsplit(module_database)
        owner_url = parts._replace(netloc=f"{names.owner}@{parts.hostname}:{parts.port}").geturl()
        built = run_dbt(
            owner_url,
            tmp_path_factory.mktemp("boundaries_dbt"),
            "build",
            "--select",
            "+staging",
            "+dim_model_prices",
            "--resource-type",
            "seed",
            "--resource-type",
            "model",
            "--empty",
            "--vars",
            f'{{"reader_role": "{names.reader}"}}',
        )
        assert built.returncode == 0, built.stdout[-4000:]
        yield Warehouse(module_database, names, department_reader)
    finally:
        with psycopg.connect(module_database, autocommit=True) as admin:
            for role in roles:
                if admin.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone():
                    admin.execute(f'drop owned by "{role}" cascade')
            for role in roles:
                admin.execute(f'drop role if exists "{role}"')


def _refused(conn: psycopg.Connection, statements: list[str]) -> list[str]:
    """The statements of `statements` that did not fail for lack of privilege."""
    allowed = []
    for statement in statements:
        try:
            conn.execute(statement)
        except psycopg.errors.InsufficientPrivilege:
            continue
        allowed.append(statement)
    return allowed


def _granted(url: str, role: str, relations: list[str]) -> list[tuple[str, str]]:
    """(relation, privilege) for each privilege `role` holds on a relation, on the table or
    any column."""
    with psycopg.connect(url) as admin:
        return admin.execute(
            """
            select relation, privilege
            from unnest(%(relations)s::text[]) as relation,
                unnest(string_to_array(%(privileges)s, ', ')) as privilege
            where has_table_privilege(%(role)s, relation::regclass, privilege)
                or (privilege in ('SELECT', 'INSERT', 'UPDATE', 'REFERENCES')
                    and has_any_column_privilege(%(role)s, relation::regclass, privilege))
            order by 1, 2
            """,
            {"relations": relations, "privileges": PRIVILEGES, "role": role},
        ).fetchall()


def test_the_warehouse_holds_what_the_boundaries_are_tried_on(warehouse):
    assert set(warehouse.schemas()) >= {"raw", "staging", "seeds", MARTS_SCHEMA, "vault_access"}
    assert len(warehouse.relations(["raw"])) > 30
    assert len(warehouse.relations(["staging"])) > 20
    assert warehouse.relations([MARTS_SCHEMA])


@pytest.mark.parametrize("who", ["reader", "department reader"])
def test_readers_can_read_no_relation_outside_the_marts(warehouse, who):
    role = warehouse.names.reader if who == "reader" else warehouse.department_reader
    hidden = [schema for schema in warehouse.schemas() if schema != MARTS_SCHEMA]
    relations = warehouse.relations(hidden)
    assert {relation.split(".")[0] for relation in relations} >= {"raw", "staging", "seeds"}
    with _login(warehouse.url, role) as conn:
        assert _refused(conn, [f"select 1 from {relation} limit 1" for relation in relations]) == []
    assert _granted(warehouse.url, role, relations) == []


def test_the_reader_holds_select_and_nothing_more_on_the_marts(warehouse):
    marts = warehouse.relations([MARTS_SCHEMA])
    granted = _granted(warehouse.url, warehouse.names.reader, marts)
    assert granted == [(relation, "SELECT") for relation in marts]


def test_the_ingest_role_can_read_no_relation_at_all(warehouse):
    relations = warehouse.relations(warehouse.schemas())
    push = [f"raw.{table}" for table in PUSH_TABLES]
    assert set(push) <= set(relations)
    with _login(warehouse.url, warehouse.names.ingest) as conn:
        assert _refused(conn, [f"select 1 from {relation} limit 1" for relation in relations]) == []
    # What it holds is INSERT on the push tables, and no more.
    granted = _granted(warehouse.url, warehouse.names.ingest, relations)
    assert granted == [(relation, "INSERT") for relation in sorted(push)]


@pytest.mark.parametrize("who", ["reader", "ingest"])
def test_neither_role_can_create_objects(warehouse, who):
    role = getattr(warehouse.names, who)
    statements = ["create schema boundary_probe"]
    for schema in ["public", *warehouse.schemas()]:
        statements += [
            f"create table {schema}.boundary_probe (n int)",
            f"create view {schema}.boundary_probe_view as select 1 as n",
            f"create function {schema}.boundary_probe() returns int language sql as 'select 1'",
            f"create sequence {schema}.boundary_probe_seq",
        ]
    with _login(warehouse.url, role) as conn:
        assert _refused(conn, statements) == []
        # A temporary table is the session's own, as for every role by default.
        conn.execute("create temporary table boundary_probe (n int)")
        assert conn.execute("select count(*) from boundary_probe").fetchone() == (0,)


@pytest.mark.parametrize("who", ["reader", "ingest"])
def test_neither_role_can_run_the_vault_s_functions_but_the_policies_one(warehouse, who):
    """Only `session_departments()` runs for every role, as the row-level policies call it
    for whoever reads a mart; it tells a session its own departments and nothing else."""
    role = getattr(warehouse.names, who)
    with psycopg.connect(warehouse.url) as admin:
        runnable = admin.execute(
            """
            select functions.oid::regprocedure::text
            from pg_proc as functions
            inner join pg_namespace as schemas on functions.pronamespace = schemas.oid
            where schemas.nspname = any(%s)
                and has_function_privilege(%s, functions.oid, 'EXECUTE')
            """,
            (warehouse.schemas(), role),
        ).fetchall()
    assert runnable == [("vault_access.session_departments()",)]
    with _login(warehouse.url, role) as conn:
        # Not a department reader: no departments of its own (NULL), and no mapping rows.
        assert conn.execute("select vault_access.session_departments()").fetchone() == (None,)
