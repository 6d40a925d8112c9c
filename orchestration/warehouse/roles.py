"""The warehouse's roles: who owns the vault's schemas, who may push events, who may read.

Three login roles, none of them a superuser:

- the owner (`vault_owner`) owns every schema the vault writes (`raw`, `staging`,
  `intermediate`, `marts`, `seeds`, `vault_access`, and dbt's target schema when it exists)
  and everything in them, and may create schemas in the database. Collectors, dbt and Dagster
  connect as it, so a leaked service credential cannot create roles or read other databases.
- the ingest role (`vault_ingest`, see `orchestration.warehouse.push`) may only insert into
  the push tables.
- the reader (`vault_reader`) may read the marts and nothing else: BI tools connect as it.

Optionally, department readers see only their own department's rows. They are members of a
group role (`vault_department_reader`, no login) that is granted SELECT only on the marts that
have a `department` (or `x_department`) column, plus a few tables that hold no department's
numbers (`SHARED_MARTS`). Those tables get row-level security: a policy shows a department
reader the rows of the department the mapping table `vault_access.department_readers` gives
it, and shows everyone else every row. They are deliberately not members of `vault_reader`:
a member would inherit SELECT on every mart, and totals such as `cfo_cost_by_quarter` reveal
what other departments spend. A table that dbt rebuilds is a new table without policies and
without the group's grant, so until `vault_access.apply_row_level_security` runs again (dbt's
on-run-end, or `vault db roles`) a department reader is refused it rather than shown all rows.

`setup_roles` is idempotent: it changes only what differs, in one transaction, and says what it
changed. Passwords are never sent in clear text: libpq computes the SCRAM verifier.
"""

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

import psycopg
from psycopg import sql

from orchestration.warehouse.connection import redact
from orchestration.warehouse.push import INGEST_ROLE, grant_ingest

OWNER_ROLE = "vault_owner"
READER_ROLE = "vault_reader"
DEPARTMENT_READER_GROUP = "vault_department_reader"

ACCESS_SCHEMA = "vault_access"
MAPPING_TABLE = "department_readers"
MARTS_SCHEMA = "marts"
# Schemas the loader and dbt create (dbt_project.yml's +schema values used as written,
# see macros/generate_schema_name.sql) and the access schema of this module.
VAULT_SCHEMAS = ("raw", "staging", "intermediate", MARTS_SCHEMA, "seeds", ACCESS_SCHEMA)
# dbt's target schema (profiles.yml), used by any node without a custom schema; taken over
# when it exists, never created here.
TARGET_SCHEMA_ENV = "VAULT_DB_SCHEMA"
DEFAULT_TARGET_SCHEMA = "analytics"

# Marts without a department column that department readers may still read: reference data
# that carries no department's numbers.
SHARED_MARTS = ("dim_model_prices",)
DEPARTMENT_COLUMNS = ("department", "x_department")
POLICY_NAME = "department_rows"

PASSWORD_ENVS = {
    "owner": "VAULT_OWNER_PASSWORD",
    "ingest": "VAULT_INGEST_PASSWORD",
    "reader": "VAULT_READER_PASSWORD",
}
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_ROLES_LOCK = "vault.roles"


class RolesError(RuntimeError):
    """The roles cannot be set up: not enough privilege, or a role that is unfit for its job."""


@dataclass(frozen=True)
class RoleNames:
    """The names of the vault's roles; the defaults are what services and docs expect."""

    owner: str = OWNER_ROLE
    ingest: str = INGEST_ROLE
    reader: str = READER_ROLE
    department_group: str = DEPARTMENT_READER_GROUP

    def with_suffix(self, suffix: str) -> "RoleNames":
        """The same roles with `suffix` appended, so several setups can share one server."""
        return replace(
            self,
            owner=self.owner + suffix,
            ingest=self.ingest + suffix,
            reader=self.reader + suffix,
            department_group=self.department_group + suffix,
        )

    def login_roles(self) -> dict[str, str]:
        return {"owner": self.owner, "ingest": self.ingest, "reader": self.reader}


@dataclass
class RolesReport:
    """What `setup_roles` changed (empty when everything was already in place) and notes."""

    changes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Role -> the environment variable its password came from, for roles given one.
    passwords: dict[str, str] = field(default_factory=dict)


def department_password_env(role: str) -> str:
    """The variable that holds a department reader's password: `VAULT_READER_<ROLE>_PASSWORD`."""
    return f"VAULT_READER_{role.upper()}_PASSWORD"


def parse_department_readers(values: Sequence[str]) -> dict[str, str]:
    """`ROLE=DEPARTMENT` strings as a mapping; a role named twice must name one department."""
    readers: dict[str, str] = {}
    for value in values:
        role, sep, department = value.partition("=")
        role, department = role.strip(), department.strip()
        if not sep or not role or not department:
            raise RolesError(f"--department-reader takes ROLE=DEPARTMENT, got {value!r}")
        if readers.get(role, department) != department:
            raise RolesError(f"role {role} is given two departments: {readers[role]}, {department}")
        readers[role] = department
    return readers


# -- checks ---------------------------------------------------------------------------------


def _check_admin(conn: psycopg.Connection) -> bool:
    """Refuse a connection that cannot manage roles; returns whether it is a superuser."""
    user, database, is_super, can_create_roles, owns_database = conn.execute(
        """
        select current_user, current_database(), roles.rolsuper, roles.rolcreaterole,
            pg_has_role(current_user, databases.datdba, 'MEMBER')
        from pg_roles as roles, pg_database as databases
        where roles.rolname = current_user and databases.datname = current_database()
        """
    ).fetchone()
    if is_super:
        return True
    if not can_create_roles:
        raise RolesError(
            f"vault db roles needs a superuser, or a role with CREATEROLE that owns database "
            f"{database}; connected as {user}, which is neither (connect as the server's "
            "admin, e.g. postgres)"
        )
    if not owns_database:
        raise RolesError(
            f"{user} has CREATEROLE but does not own database {database}, so it cannot let "
            f"the owner create schemas there: connect as a superuser or as the database's "
            f"owner (alter database {database} owner to {user})"
        )
    return False


def _check_role(conn: psycopg.Connection, role: str, owner: str, *, login: bool) -> bool:
    """Refuse an existing role unfit for its job; returns whether it exists."""
    row = conn.execute(
        """
        select rolsuper, rolcanlogin, rolcreaterole, rolreplication, rolbypassrls,
            rolname <> %(owner)s and exists (select from pg_roles where rolname = %(owner)s)
                and pg_has_role(rolname, %(owner)s, 'MEMBER')
        from pg_roles where rolname = %(role)s
        """,
        {"role": role, "owner": owner},
    ).fetchone()
    if row is None:
        return False
    is_super, can_login, can_create_roles, replicates, bypasses_rls, member_of_owner = row
    unfit = [
        reason
        for reason, present in (
            ("is a superuser", is_super),
            ("has CREATEROLE", can_create_roles),
            ("has REPLICATION", replicates),
            ("has BYPASSRLS", bypasses_rls),
            ("lacks LOGIN", login and not can_login),
            ("can log in", not login and can_login),
            (f"is a member of {owner} and so holds all its rights", member_of_owner),
        )
        if present
    ]
    if unfit:
        raise RolesError(
            f"role {role} exists but {' and '.join(unfit)}; the vault does not change an "
            "existing role's attributes: fix it (alter role ...) or drop it, then run again"
        )
    return True


# -- roles and passwords --------------------------------------------------------------------


def _ensure_role(
    conn: psycopg.Connection, role: str, owner: str, report: RolesReport, *, login: bool = True
) -> None:
    if _check_role(conn, role, owner, login=login):
        return
    attributes = "login" if login else "nologin"
    conn.execute(sql.SQL("create role {} " + attributes).format(sql.Identifier(role)))
    report.changes.append(f"created role {role} ({attributes})")


def scram_matches(verifier: str | None, password: str) -> bool:
    """Whether a stored SCRAM-SHA-256 verifier (pg_authid.rolpassword) is for `password`."""
    match = re.fullmatch(r"SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)", verifier or "")
    if not match:
        return False
    iterations, salt, stored_key = int(match[1]), base64.b64decode(match[2]), match[3]
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    expected = base64.b64encode(hashlib.sha256(client_key).digest()).decode()
    return hmac.compare_digest(expected, stored_key)


def _ensure_password(
    conn: psycopg.Connection,
    role: str,
    env_var: str,
    environ: Mapping[str, str],
    report: RolesReport,
    *,
    is_super: bool,
) -> None:
    password = environ.get(env_var, "")
    if not password:
        report.notes.append(
            f"{env_var} is not set: the password of {role} is left as it is (a new role has "
            "none, which is enough for trust or peer authentication on a local server)"
        )
        return
    report.passwords[role] = env_var
    if is_super:
        stored = conn.execute(
            "select rolpassword from pg_authid where rolname = %s", (role,)
        ).fetchone()[0]
        if scram_matches(stored, password):
            return
    verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256")
    conn.execute(
        sql.SQL("alter role {} password {}").format(
            sql.Identifier(role), sql.Literal(verifier.decode())
        )
    )
    report.changes.append(f"set the password of {role} from {env_var}")


def _let_admin_act_as(conn: psycopg.Connection, owner: str, report: RolesReport) -> None:
    """A CREATEROLE admin must be able to SET ROLE to the owner to hand objects over to it."""
    option = "SET" if conn.info.server_version >= 160000 else "MEMBER"
    if conn.execute("select pg_has_role(current_user, %s, %s)", (owner, option)).fetchone()[0]:
        return
    grant = "grant {} to current_user"
    if conn.info.server_version >= 160000:
        grant += " with set true, inherit false"
    conn.execute(sql.SQL(grant).format(sql.Identifier(owner)))
    report.changes.append(f"let {conn.info.user} act as {owner} (to hand objects over to it)")


# -- schemas and ownership ------------------------------------------------------------------


def vault_schemas(environ: Mapping[str, str] = os.environ) -> tuple[str, ...]:
    """Every schema the vault writes, dbt's target schema last."""
    target = environ.get(TARGET_SCHEMA_ENV) or DEFAULT_TARGET_SCHEMA
    return VAULT_SCHEMAS if target in VAULT_SCHEMAS else (*VAULT_SCHEMAS, target)


def _ensure_schemas(conn: psycopg.Connection, owner: str, report: RolesReport) -> None:
    for schema in VAULT_SCHEMAS:
        exists = conn.execute("select 1 from pg_namespace where nspname = %s", (schema,)).fetchone()
        if not exists:
            conn.execute(sql.SQL("create schema {}").format(sql.Identifier(schema)))
            report.changes.append(f"created schema {schema} owned by {owner}")


# Objects in the vault's schemas not owned by the owner, with the statement that hands each
# over. Extension members and sequences that belong to a column (they follow their table)
# are left alone. A role can only give away what it may act as (a superuser: anything).
_FOREIGN_OBJECTS_SQL = """
with schemas as (
    select oid, nspname from pg_namespace where nspname = any(%(schemas)s)
),

relations as (
    select
        schemas.nspname,
        case relations.relkind
            when 'v' then 'view'
            when 'm' then 'materialized view'
            when 'S' then 'sequence'
            when 'f' then 'foreign table'
            when 'c' then 'type'
            else 'table'
        end as kind,
        format('%%I.%%I', schemas.nspname, relations.relname) as identity,
        relations.relowner as owner_oid
    from pg_class as relations
    inner join schemas on relations.relnamespace = schemas.oid
    where relations.relkind in ('r', 'p', 'v', 'm', 'S', 'f', 'c')
        and not exists (
            select from pg_depend as depends
            where depends.classid = 'pg_class'::regclass
                and depends.objid = relations.oid
                and (
                    depends.deptype = 'e'
                    or (relations.relkind = 'S' and depends.deptype in ('a', 'i'))
                )
        )
),

routines as (
    select
        schemas.nspname,
        case routines.prokind
            when 'p' then 'procedure' when 'a' then 'aggregate' else 'function'
        end as kind,
        routines.oid::regprocedure::text as identity,
        routines.proowner as owner_oid
    from pg_proc as routines
    inner join schemas on routines.pronamespace = schemas.oid
    where not exists (
        select from pg_depend as depends
        where depends.classid = 'pg_proc'::regclass
            and depends.objid = routines.oid and depends.deptype = 'e'
    )
),

types as (
    select
        schemas.nspname,
        case types.typtype when 'd' then 'domain' else 'type' end as kind,
        format('%%I.%%I', schemas.nspname, types.typname) as identity,
        types.typowner as owner_oid
    from pg_type as types
    inner join schemas on types.typnamespace = schemas.oid
    where types.typtype in ('d', 'e', 'r')
        and not exists (
            select from pg_depend as depends
            where depends.classid = 'pg_type'::regclass
                and depends.objid = types.oid and depends.deptype = 'e'
        )
),

owned_schemas as (
    select
        nspname, 'schema' as kind, format('%%I', nspname) as identity,
        (select nspowner from pg_namespace where oid = schemas.oid) as owner_oid
    from schemas
),

candidates as (
    select * from owned_schemas
    union all select * from relations
    union all select * from routines
    union all select * from types
)

select nspname, kind, identity, pg_get_userbyid(owner_oid)
from candidates
where owner_oid <> %(owner)s::regrole
order by kind = 'schema' desc, nspname, kind, identity
"""


def _adopt(conn: psycopg.Connection, owner: str, schemas: Sequence[str]) -> dict[str, int]:
    """Hand every object in `schemas` over to `owner`; returns how many, per schema."""
    adopted: dict[str, int] = {}
    rows = conn.execute(_FOREIGN_OBJECTS_SQL, {"schemas": list(schemas), "owner": owner})
    for schema, kind, identity, previous in rows.fetchall():
        try:
            conn.execute(
                sql.SQL("alter {} {} owner to {}").format(
                    sql.SQL(kind), sql.SQL(identity), sql.Identifier(owner)
                )
            )
        except psycopg.errors.InsufficientPrivilege as error:
            raise RolesError(
                f"cannot hand {kind} {identity} (owned by {previous}) over to {owner}: "
                f"{error.diag.message_primary}; run vault db roles as a superuser"
            ) from error
        adopted[schema] = adopted.get(schema, 0) + 1
    return adopted


def hand_over_to_owner(conn: psycopg.Connection, owner: str = OWNER_ROLE) -> list[str]:
    """After an admin created objects in the vault's schemas (`vault db init`), give them to
    the owner role, so dbt and the collectors connected as it can alter and replace them.

    Does nothing when the owner role does not exist yet (`vault db roles` hands everything
    over when it creates it) or when the connection is the owner itself. Returns one line per
    schema that had objects handed over.
    """
    can_act = conn.execute(
        """
        select exists (select from pg_roles where rolname = %(owner)s)
            and current_user <> %(owner)s
            and (
                (select rolsuper from pg_roles where rolname = current_user)
                or pg_has_role(current_user, %(owner)s, 'MEMBER')
            )
        """,
        {"owner": owner},
    ).fetchone()[0]
    if not can_act:
        return []
    with conn.transaction():
        adopted = _adopt(conn, owner, _existing(conn, vault_schemas()))
    return [
        f"handed {count} objects in {schema} over to {owner}" for schema, count in adopted.items()
    ]


def _existing(conn: psycopg.Connection, schemas: Sequence[str]) -> list[str]:
    rows = conn.execute(
        "select nspname from pg_namespace where nspname = any(%s)", (list(schemas),)
    ).fetchall()
    return [row[0] for row in rows]


# -- the reader -----------------------------------------------------------------------------


def _grant_reader(conn: psycopg.Connection, names: RoleNames, report: RolesReport) -> None:
    """Reader: USAGE on marts, SELECT on its tables now and later, nothing elsewhere."""
    reader, owner, marts = names.reader, names.owner, sql.Identifier(MARTS_SCHEMA)
    for role in (reader, names.department_group):
        if not _has(conn, "has_schema_privilege(%s, %s, 'USAGE')", role, MARTS_SCHEMA):
            conn.execute(
                sql.SQL("grant usage on schema {} to {}").format(marts, sql.Identifier(role))
            )
            report.changes.append(f"let {role} use schema {MARTS_SCHEMA}")
    unreadable = conn.execute(
        """
        select count(*) from pg_class as relations
        inner join pg_namespace as schemas on relations.relnamespace = schemas.oid
        where schemas.nspname = %s and relations.relkind in ('r', 'p', 'v', 'm', 'f')
            and not has_table_privilege(%s, relations.oid, 'SELECT')
        """,
        (MARTS_SCHEMA, reader),
    ).fetchone()[0]
    if unreadable:
        conn.execute(
            sql.SQL("grant select on all tables in schema {} to {}").format(
                marts, sql.Identifier(reader)
            )
        )
        report.changes.append(f"let {reader} read {unreadable} more tables in {MARTS_SCHEMA}")
    if not _has_default_select(conn, owner, MARTS_SCHEMA, reader):
        conn.execute(
            sql.SQL(
                "alter default privileges for role {} in schema {} grant select on tables to {}"
            ).format(sql.Identifier(owner), marts, sql.Identifier(reader))
        )
        report.changes.append(
            f"tables {owner} creates in {MARTS_SCHEMA} from now on are readable by {reader}"
        )
    for role in (reader, names.department_group):
        conn.execute(
            sql.SQL(
                "revoke insert, update, delete, truncate, references, trigger "
                "on all tables in schema {} from {}"
            ).format(marts, sql.Identifier(role))
        )
        others = [s for s in vault_schemas() if s not in (MARTS_SCHEMA, ACCESS_SCHEMA)]
        for schema in _existing(conn, others):
            if _has(conn, "has_schema_privilege(%s, %s, 'USAGE')", role, schema):
                conn.execute(
                    sql.SQL("revoke all on schema {} from {}").format(
                        sql.Identifier(schema), sql.Identifier(role)
                    )
                )
                report.changes.append(f"{role} may no longer use schema {schema}")


def _has(conn: psycopg.Connection, check: str, *args: str) -> bool:
    return bool(conn.execute(f"select {check}", args).fetchone()[0])


def _has_default_select(conn: psycopg.Connection, owner: str, schema: str, grantee: str) -> bool:
    return _has(
        conn,
        """exists (
            select from pg_default_acl as defaults
            inner join pg_namespace as schemas on defaults.defaclnamespace = schemas.oid
            cross join lateral aclexplode(defaults.defaclacl) as entries
            where defaults.defaclrole = %s::regrole and schemas.nspname = %s
                and defaults.defaclobjtype = 'r' and entries.grantee = %s::regrole
                and entries.privilege_type = 'SELECT'
        )""",
        owner,
        schema,
        grantee,
    )


# -- department readers and row-level security ----------------------------------------------


def _mapping_sql() -> sql.Composed:
    return sql.SQL(
        """
        create table if not exists {table} (
            role_name text primary key,
            department text not null
        );
        comment on table {table} is
            'Department readers: each login role here sees only its department''s rows of '
            'the marts with a department column (vault db roles --department-reader).'
        """
    ).format(table=sql.Identifier(ACCESS_SCHEMA, MAPPING_TABLE))


def _session_departments_body(group: str) -> str:
    """NULL for a session that is not a department reader (sees every row), else its
    departments (an empty array when the mapping has none: it sees nothing)."""
    table = sql.Identifier(ACCESS_SCHEMA, MAPPING_TABLE).as_string(None)
    return f"""
    select case
        when pg_has_role(session_user, {sql.Literal(group).as_string(None)}, 'MEMBER')
            then array(
                select readers.department from {table} as readers
                where readers.role_name = session_user
            )
    end
"""


def _apply_body(group: str) -> str:
    """The function dbt's on-run-end and `vault db roles` call on the marts schema."""
    departments = f"{ACCESS_SCHEMA}.session_departments()"
    shared = ", ".join(sql.Literal(name).as_string(None) for name in SHARED_MARTS)
    columns = ", ".join(sql.Literal(name).as_string(None) for name in DEPARTMENT_COLUMNS)
    group_literal = sql.Literal(group).as_string(None)
    return f"""
declare
    scoped record;
    changed integer := 0;
begin
    for scoped in
        select
            tables.oid,
            tables.relname,
            tables.relrowsecurity,
            (
                select attributes.attname from pg_attribute as attributes
                where attributes.attrelid = tables.oid and attributes.attnum > 0
                    and not attributes.attisdropped
                    and attributes.attname in ({columns})
                order by attributes.attname
                limit 1
            ) as column_name
        from pg_class as tables
        inner join pg_namespace as schemas on tables.relnamespace = schemas.oid
        where schemas.nspname = target_schema
            and tables.relkind in ('r', 'p')
            and not tables.relispartition
            and pg_has_role(tables.relowner, 'USAGE')
    loop
        if scoped.column_name is null then
            if scoped.relname in ({shared})
                and not has_table_privilege({group_literal}, scoped.oid, 'SELECT')
            then
                execute format('grant select on %I.%I to %I',
                    target_schema, scoped.relname, {group_literal});
                changed := changed + 1;
            elsif scoped.relname not in ({shared})
                and has_table_privilege({group_literal}, scoped.oid, 'SELECT')
            then
                execute format('revoke select on %I.%I from %I',
                    target_schema, scoped.relname, {group_literal});
                changed := changed + 1;
            end if;
            continue;
        end if;
        if not scoped.relrowsecurity then
            execute format('alter table %I.%I enable row level security',
                target_schema, scoped.relname);
            changed := changed + 1;
        end if;
        if not exists (
            select from pg_policy
            where polrelid = scoped.oid and polname = {sql.Literal(POLICY_NAME).as_string(None)}
        ) then
            execute format(
                'create policy {POLICY_NAME} on %I.%I for select using ('
                '(select {departments}) is null '
                'or %I::text = any((select {departments})::text[]))',
                target_schema, scoped.relname, scoped.column_name);
            changed := changed + 1;
        end if;
        if not has_table_privilege({group_literal}, scoped.oid, 'SELECT') then
            execute format('grant select on %I.%I to %I',
                target_schema, scoped.relname, {group_literal});
            changed := changed + 1;
        end if;
    end loop;
    return changed;
end
"""


def _ensure_function(
    conn: psycopg.Connection,
    signature: str,
    returns: str,
    language: str,
    body: str,
    *,
    volatility: str,
    security_definer: bool,
    report: RolesReport,
) -> None:
    name = signature.partition("(")[0]
    current = conn.execute(
        """
        select routines.prosrc from pg_proc as routines
        inner join pg_namespace as schemas on routines.pronamespace = schemas.oid
        where schemas.nspname = %s and routines.proname = %s
        """,
        (ACCESS_SCHEMA, name),
    ).fetchone()
    if current is not None and current[0] == body:
        return
    conn.execute(
        sql.SQL(
            "create or replace function {schema}.{signature} returns {returns} "
            "language {language} {volatility} {security} "
            "set search_path = pg_catalog, pg_temp as {body}"
        ).format(
            schema=sql.Identifier(ACCESS_SCHEMA),
            signature=sql.SQL(signature),
            returns=sql.SQL(returns),
            language=sql.SQL(language),
            volatility=sql.SQL(volatility),
            security=sql.SQL("security definer" if security_definer else "security invoker"),
            body=sql.Literal(body),
        )
    )
    report.changes.append(f"{'updated' if current else 'created'} function {ACCESS_SCHEMA}.{name}")


def _ensure_access(conn: psycopg.Connection, names: RoleNames, report: RolesReport) -> None:
    """The mapping table and the two functions row-level security is made of."""
    conn.execute(_mapping_sql())
    _ensure_function(
        conn,
        "session_departments()",
        "text[]",
        "sql",
        _session_departments_body(names.department_group),
        volatility="stable",
        security_definer=True,
        report=report,
    )
    _ensure_function(
        conn,
        "apply_row_level_security(target_schema text)",
        "integer",
        "plpgsql",
        _apply_body(names.department_group),
        volatility="volatile",
        security_definer=False,
        report=report,
    )
    # Policies call session_departments() as whoever reads a mart, so every role may look
    # the function up; it only ever tells a session its own departments.
    access = sql.Identifier(ACCESS_SCHEMA)
    conn.execute(sql.SQL("grant usage on schema {} to public").format(access))
    conn.execute(
        sql.SQL("revoke all on function {}.apply_row_level_security(text) from public").format(
            access
        )
    )


def _map_department_readers(
    conn: psycopg.Connection, readers: Mapping[str, str], report: RolesReport
) -> None:
    table = sql.Identifier(ACCESS_SCHEMA, MAPPING_TABLE)
    for role, department in readers.items():
        previous = conn.execute(
            sql.SQL("select department from {} where role_name = %s").format(table), (role,)
        ).fetchone()
        if previous is None or previous[0] != department:
            conn.execute(
                sql.SQL(
                    "insert into {} (role_name, department) values (%s, %s) "
                    "on conflict (role_name) do update set department = excluded.department"
                ).format(table),
                (role, department),
            )
            report.changes.append(f"{role} sees department {department!r} only")


# -- the whole setup ------------------------------------------------------------------------


def setup_roles(
    conn: psycopg.Connection,
    names: RoleNames = RoleNames(),
    department_readers: Mapping[str, str] | None = None,
    environ: Mapping[str, str] = os.environ,
) -> RolesReport:
    """Create or update the owner, ingest and reader roles (and department readers), hand the
    vault's schemas and their objects to the owner, and apply row-level security to the marts.

    Runs in one transaction: on any error nothing is changed. Roles, passwords and
    memberships are the admin's work; everything inside the vault's schemas is done as the
    owner (`set local role`), so what is created there is the owner's from the start. Raises
    `RolesError` when the connection lacks the privilege or an existing role is unfit.
    """
    report = RolesReport()
    readers = department_readers or {}
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (_ROLES_LOCK,))
        is_super = _check_admin(conn)
        _ensure_roles(conn, names, readers, environ, report, is_super=is_super)
        adopted = _adopt(conn, names.owner, _existing(conn, vault_schemas(environ)))
        report.changes += [
            f"handed {count} objects in {schema} over to {names.owner}"
            for schema, count in adopted.items()
        ]
        conn.execute(sql.SQL("set local role {}").format(sql.Identifier(names.owner)))
        _ensure_schemas(conn, names.owner, report)
        grant_ingest(conn, names.ingest)
        _ensure_access(conn, names, report)
        _map_department_readers(conn, readers, report)
        _grant_reader(conn, names, report)
        secured = conn.execute(
            sql.SQL("select {}.apply_row_level_security(%s)").format(sql.Identifier(ACCESS_SCHEMA)),
            (MARTS_SCHEMA,),
        ).fetchone()[0]
        if secured:
            report.changes.append(
                f"applied row-level security and department readers' grants in "
                f"{MARTS_SCHEMA} ({secured} changes)"
            )
        conn.execute("reset role")
    return report


def _ensure_roles(
    conn: psycopg.Connection,
    names: RoleNames,
    readers: Mapping[str, str],
    environ: Mapping[str, str],
    report: RolesReport,
    *,
    is_super: bool,
) -> None:
    """The admin's part: roles, memberships, passwords and the owner's right to add schemas."""
    for role in names.login_roles().values():
        _check_role(conn, role, names.owner, login=True)
    _check_role(conn, names.department_group, names.owner, login=False)
    for role in names.login_roles().values():
        _ensure_role(conn, role, names.owner, report)
    _ensure_role(conn, names.department_group, names.owner, report, login=False)
    reserved = {names.owner, names.ingest, names.reader, names.department_group}
    for role in readers:
        if not _ROLE_NAME.match(role) or role in reserved:
            raise RolesError(
                f"department reader {role!r}: use a new lower-case role name "
                f"(letters, digits, _), not one of {', '.join(sorted(reserved))}"
            )
        _ensure_role(conn, role, names.owner, report)
        if not _has(conn, "pg_has_role(%s, %s, 'MEMBER')", role, names.department_group):
            conn.execute(
                sql.SQL("grant {} to {}").format(
                    sql.Identifier(names.department_group), sql.Identifier(role)
                )
            )
            report.changes.append(f"made {role} a department reader")
    passwords = {role: PASSWORD_ENVS[key] for key, role in names.login_roles().items()}
    passwords |= {role: department_password_env(role) for role in readers}
    for role, env_var in passwords.items():
        _ensure_password(conn, role, env_var, environ, report, is_super=is_super)
    if not is_super:
        _let_admin_act_as(conn, names.owner, report)
    database = conn.info.dbname
    if not _has(conn, "has_database_privilege(%s, current_database(), 'CREATE')", names.owner):
        conn.execute(
            sql.SQL("grant create on database {} to {}").format(
                sql.Identifier(database), sql.Identifier(names.owner)
            )
        )
        report.changes.append(f"let {names.owner} create schemas in database {database}")


def role_url(admin_url: str, role: str, *, has_password: bool) -> str:
    """The URL a role connects with: the admin URL's server and database, the password
    shown as `***`."""
    parts = urlsplit(admin_url)
    host = parts.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    credentials = f"{role}:***" if has_password else role
    port = f":{parts.port}" if parts.port else ""
    return parts._replace(netloc=f"{credentials}@{host}{port}").geturl()


def run_roles_command(
    url: str,
    department_readers: Sequence[str],
    out: Callable[[str], None],
    err: Callable[[str], None],
    names: RoleNames = RoleNames(),
) -> int:
    """`vault db roles`: set the roles up through `url` (an admin) and say what changed."""
    try:
        readers = parse_department_readers(department_readers)
        with psycopg.connect(url, autocommit=True) as conn:
            report = setup_roles(conn, names, readers)
    except RolesError as error:
        err(str(error))
        return 1
    except psycopg.Error as error:
        err(f"vault db roles failed on {redact(url)}: {error}")
        return 1
    for change in report.changes or ["nothing to change: the roles were already in place"]:
        out(change)
    for note in report.notes:
        out(f"note: {note}")
    out("connect as:")
    uses = {
        names.owner: "collectors, dbt and Dagster (VAULT_DATABASE_URL)",
        names.ingest: "the Claude Code hook and product usage tracking (insert only)",
        names.reader: "BI tools (marts only)",
        **{role: f"department {dept} only" for role, dept in readers.items()},
    }
    for role, use in uses.items():
        out(f"  {role_url(url, role, has_password=role in report.passwords)}  {use}")
    return 0
