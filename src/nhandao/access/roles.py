"""Who may do what in the warehouse: the runtime roles, their grants, analysts' province scopes.

`nhandao_loader` appends to `raw`; `nhandao_transformer` reads `raw` and builds everything after
it (reference, staging, intermediate, audit, marts) and writes `monitoring`; `nhandao_analyst`
(a group) reads `marts` only. An analyst login scoped to provinces sees only their rows of every
marts table with a `current_province_code` column (row-level security); scopes live in
`access.analyst_scopes`, which only the admin writes. `nhandao_query`, the login `nhandao query`
runs as, is an analyst of every province whose transactions are read-only by default. None of
these roles is a superuser: the admin (the warehouse URL's user) runs `ensure_roles`, the
pipeline connects as the roles.

Passwords: from NHANDAO_LOADER_PASSWORD, NHANDAO_TRANSFORMER_PASSWORD, NHANDAO_QUERY_PASSWORD;
on the embedded server, those not given are generated and kept in its password file
(`warehouse.credentials_path()`), analysts' too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

import psycopg
from psycopg import errors, sql

from nhandao import reference, warehouse
from nhandao.logins import (
    ANALYST,
    LOADER,
    OWN_LOGINS,
    PASSWORD_VARIABLES,
    QUERY,
    RUNTIME_ROLES,
    TRANSFORMER,
    set_password,
)

READ_ONLY_SETTING = "default_transaction_read_only=on"

# The schemas the transformer builds into: it owns what is in them (dbt seeds go to reference).
TRANSFORMER_SCHEMAS = ("reference", "staging", "intermediate", "audit", "marts")
SCOPE_COLUMN = "current_province_code"
ALL_PROVINCES = "*"  # the scope of an unscoped analyst
POLICY = "analyst_province_scope"
LOGIN_PATTERN = re.compile(r"[a-z_][a-z0-9_]{0,62}")
PROVINCE_PATTERN = re.compile(r"[0-9]{2}")

# Attributes of every role nhandao creates, besides LOGIN: no way to widen its own rights.
SAFE_ATTRIBUTES = "nosuperuser nocreatedb nocreaterole noreplication nobypassrls inherit"
ELEVATED = ("rolsuper", "rolcreatedb", "rolcreaterole", "rolreplication", "rolbypassrls")

SCOPES_DDL = f"""
create schema if not exists access;
create table if not exists access.analyst_scopes (
    role_name text not null,
    province_code text not null,
    granted_at timestamptz not null default now(),
    primary key (role_name, province_code)
);
comment on table access.analyst_scopes is
    'Provinces each analyst login sees in marts (''{ALL_PROVINCES}'': all); only the admin writes';
alter table access.analyst_scopes enable row level security;
"""

# Evaluated as the analyst: the subqueries read access.analyst_scopes, where row-level security
# shows each analyst only their own rows. `set role nhandao_analyst` leaves no scope: no rows.
PROVINCE_POLICY = """
create policy {policy} on {table} as permissive for select to {analyst}
using (
    {column} in (
        select scope.province_code from access.analyst_scopes as scope
        where scope.role_name = current_user
    )
    or exists (
        select from access.analyst_scopes as scope
        where scope.role_name = current_user and scope.province_code = {all_provinces}
    )
)
"""


# Fail closed: a marts table created with current_province_code is protected the moment it is
# created, by whoever creates it (its owner), even if the caller forgets secure_marts. Event
# triggers need a superuser to create; they run as the user whose command fired them.
PROTECT_FUNCTION = """
create or replace function access.protect_marts_relations() returns event_trigger
language plpgsql set search_path = pg_catalog, pg_temp as $fn$
declare
    created record;
begin
    for created in
        select distinct command.objid, class.relkind, class.relrowsecurity, class.reloptions
        from pg_event_trigger_ddl_commands() as command
        join pg_class as class on class.oid = command.objid
        where command.schema_name = 'marts' and command.classid = 'pg_class'::regclass
            and exists (
                select from pg_attribute as a where a.attrelid = command.objid
                    and a.attname = {column} and a.attnum > 0 and not a.attisdropped
            )
    loop
        if created.relkind in ('r', 'p') then
            if not created.relrowsecurity then
                execute format('alter table %s enable row level security', created.objid::regclass);
            end if;
            if not exists (
                select from pg_policy where polrelid = created.objid and polname = {policy}
            ) then
                execute format({policy_sql}, created.objid::regclass);
            end if;
        elsif created.relkind = 'v' then
            if not coalesce(created.reloptions, '{{}}') @> array['security_invoker=true'] then
                execute format(
                    'alter view %s set (security_invoker = true)', created.objid::regclass
                );
            end if;
        elsif created.relkind in ('m', 'f') then
            raise exception '% has % but row-level security cannot apply to it',
                created.objid::regclass, {column};
        end if;
    end loop;
end
$fn$
"""
PROTECT_TRIGGER = "nhandao_protect_marts"
PROTECT_TAGS = (
    "CREATE TABLE",
    "CREATE TABLE AS",
    "SELECT INTO",
    "ALTER TABLE",
    "CREATE VIEW",
    "CREATE MATERIALIZED VIEW",
    "CREATE FOREIGN TABLE",
)


class AccessError(Exception):
    """A role or scope request that nhandao refuses (unknown province, a privileged role, …)."""


def login_passwords(
    conn: psycopg.Connection, logins: Iterable[str], given: Mapping[str, str | None] | None = None
) -> dict[str, str | None]:
    """The passwords to give `logins`: `given`, else their NHANDAO_*_PASSWORD variable; on the
    embedded server, else the one kept in its password file or a new one, and the file keeps
    them. Elsewhere a login with neither gets none (None)."""
    logins = list(logins)
    chosen = {
        login: os.environ.get(PASSWORD_VARIABLES[login])
        for login in logins
        if login in PASSWORD_VARIABLES
    }
    chosen.update(given or {})
    chosen = {login: password for login, password in chosen.items() if password}
    if warehouse.is_embedded_connection(conn):
        return dict(warehouse.embedded_passwords(logins, chosen))
    return {login: chosen.get(login) for login in logins}


def _kept_where(conn: psycopg.Connection, logins: Iterable[str]) -> str:
    """Where the passwords of `logins` come from, for the admin (never the passwords)."""
    logins = list(logins)
    if warehouse.is_embedded_connection(conn):
        return f"passwords of {', '.join(logins)}: kept in {warehouse.credentials_path()}"
    variables = [PASSWORD_VARIABLES[login] for login in logins if login in PASSWORD_VARIABLES]
    unset = [name for name in variables if not os.environ.get(name)]
    return f"passwords of {', '.join(logins)}: from {', '.join(variables)}" + (
        f" ({', '.join(unset)} unset: those left as they were)" if unset else ""
    )


def _role_attributes(conn: psycopg.Connection, role: str) -> dict | None:
    row = conn.execute(
        "select rolcanlogin, " + ", ".join(ELEVATED) + " from pg_roles where rolname = %s",
        (role,),
    ).fetchone()
    return None if row is None else dict(zip(("rolcanlogin", *ELEVATED), row, strict=True))


def _make_read_only(conn: psycopg.Connection, role: str) -> bool:
    """Make `role`'s transactions read-only by default (in every database); say if it changed."""
    if conn.execute(
        "select exists (select from pg_db_role_setting where setdatabase = 0"
        " and setrole = to_regrole(%s) and %s = any(setconfig))",
        (role, READ_ONLY_SETTING),
    ).fetchone()[0]:
        return False
    conn.execute(
        sql.SQL("alter role {} set default_transaction_read_only = on").format(sql.Identifier(role))
    )
    return True


def _retry_concurrent(conn: psycopg.Connection, change, attempts: int = 5):
    """Run `change` in a transaction, again if another session changed the same role at once
    (roles are the whole server's: two databases' setups may touch one together)."""
    for attempt in range(attempts):
        try:
            with conn.transaction():
                return change()
        except errors.InternalError_ as exc:
            if "concurrently" not in str(exc) or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def _ensure_role(
    conn: psycopg.Connection,
    role: str,
    login: bool,
    password: str | None = None,
    member_of: str | None = None,
    read_only: bool = False,
) -> str:
    """Create `role` or bring its attributes back to the safe ones (and, if `read_only`, make
    its transactions read-only by default); say which."""
    name = sql.Identifier(role)
    attributes = sql.SQL(("login " if login else "nologin ") + SAFE_ATTRIBUTES)
    # Roles are shared by every database of the server: another session may be creating or
    # altering the same role right now. Its error means the role exists; look again.
    for attempt in range(5):
        try:
            with conn.transaction():
                found = _role_attributes(conn, role)
                if found is None:
                    conn.execute(sql.SQL("create role {} {}").format(name, attributes))
                    status = "created"
                elif found["rolcanlogin"] != login or any(found[a] for a in ELEVATED):
                    conn.execute(sql.SQL("alter role {} {}").format(name, attributes))
                    status = "attributes reset"
                else:
                    status = "exists"
                if password and set_password(conn, role, password):
                    status += ", password set"
                if read_only and _make_read_only(conn, role):
                    status += ", read-only by default"
                if (
                    member_of
                    and not conn.execute(
                        "select exists (select from pg_auth_members"
                        " where roleid = to_regrole(%s) and member = to_regrole(%s))",
                        (member_of, role),
                    ).fetchone()[0]
                ):
                    conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(member_of), name))
            return status
        except (errors.DuplicateObject, errors.UniqueViolation, errors.InternalError_) as exc:
            concurrent = not isinstance(exc, errors.InternalError_) or "concurrently" in str(exc)
            if not concurrent or attempt == 4:
                raise
    raise AssertionError("unreachable")


def _grants(dbname: str) -> list[sql.Composable]:
    """Every grant of the runtime roles on the current database (idempotent statements)."""
    db = sql.Identifier(dbname)
    loader, transformer, analyst = map(sql.Identifier, RUNTIME_ROLES)
    built = sql.SQL(", ").join(map(sql.Identifier, TRANSFORMER_SCHEMAS))
    statements = [
        # connect, and temporary tables for the loader's work (not for analysts: nothing written)
        "revoke temporary on database {db} from public",
        "grant connect on database {db} to {loader}, {transformer}, {analyst}",
        "grant temporary on database {db} to {loader}, {transformer}",
        # raw: append-only at run time; the loader adds, the transformer reads
        "grant usage on schema raw to {loader}, {transformer}",
        "revoke update, delete, truncate on all tables in schema raw from {loader}, {transformer}",
        "grant select, insert on all tables in schema raw to {loader}",
        "grant usage on all sequences in schema raw to {loader}",
        "grant select on all tables in schema raw to {transformer}",
        "grant execute on all functions in schema raw to {loader}, {transformer}",
        "alter default privileges in schema raw grant select, insert on tables to {loader}",
        "alter default privileges in schema raw grant usage on sequences to {loader}",
        "alter default privileges in schema raw grant select on tables to {transformer}",
        # the dbt layers and the published marts: the transformer creates, replaces, drops
        "grant usage, create on schema {built} to {transformer}",
        # ...and reads marts tables the admin made (a build run as the admin): status reads them
        "grant select on all tables in schema marts to {transformer}",
        "alter default privileges in schema marts grant select on tables to {transformer}",
        # monitoring: gate runs, results and publications are added, never rewritten
        "grant usage on schema monitoring to {transformer}",
        "grant select, insert on all tables in schema monitoring to {transformer}",
        "grant usage on all sequences in schema monitoring to {transformer}",
        "alter default privileges in schema monitoring"
        " grant select, insert on tables to {transformer}",
        "alter default privileges in schema monitoring grant usage on sequences to {transformer}",
        # ...except what is published of each province's year, which the publisher keeps current
        "grant update, delete on monitoring.published_parts to {transformer}",
        # analysts read marts, including every table the transformer (or the admin) adds later
        "grant usage on schema marts to {analyst}",
        "grant select on all tables in schema marts to {analyst}",
        "alter default privileges for role {transformer} in schema marts"
        " grant select on tables to {analyst}",
        "alter default privileges in schema marts grant select on tables to {analyst}",
        # the scopes: analysts read their own row (the marts policy does, as them); the
        # transformer names the table in the policy it creates on its marts tables
        "grant usage on schema access to {analyst}, {transformer}",
        "revoke all on access.analyst_scopes from {analyst}, {transformer}",
        "grant select on access.analyst_scopes to {analyst}",
        "drop policy if exists own_scope on access.analyst_scopes",
        "create policy own_scope on access.analyst_scopes for select to {analyst}"
        " using (role_name = current_user)",
    ]
    names = dict(db=db, loader=loader, transformer=transformer, analyst=analyst, built=built)
    return [sql.SQL(statement).format(**names) for statement in statements]


def _relation_kind(relkind: str) -> sql.SQL:
    kinds = {"v": "view", "m": "materialized view", "f": "foreign table"}
    return sql.SQL(kinds.get(relkind, "table"))


def _hand_to_transformer(conn: psycopg.Connection) -> list[str]:
    """Give the transformer what an earlier build (run as the admin) left in its schemas."""
    found = conn.execute(
        "select n.nspname, c.relname, c.relkind from pg_class as c"
        " join pg_namespace as n on n.oid = c.relnamespace"
        " where n.nspname = any(%s) and c.relkind in ('r', 'p', 'v', 'm', 'f')"
        " and c.relowner <> %s::regrole order by 1, 2",
        (list(TRANSFORMER_SCHEMAS), TRANSFORMER),
    ).fetchall()
    for schema, name, kind in found:
        conn.execute(
            sql.SQL("alter {} {} owner to {}").format(
                _relation_kind(kind), sql.Identifier(schema, name), sql.Identifier(TRANSFORMER)
            )
        )
    return [f"{schema}.{name}" for schema, name, _ in found]


def _province_policy(table: sql.Composable) -> sql.Composed:
    return sql.SQL(PROVINCE_POLICY).format(
        policy=sql.Identifier(POLICY),
        table=table,
        analyst=sql.Identifier(ANALYST),
        column=sql.Identifier(SCOPE_COLUMN),
        all_provinces=sql.Literal(ALL_PROVINCES),
    )


def _install_protect_trigger(conn: psycopg.Connection) -> str:
    """The event trigger that protects marts tables as they are created (needs a superuser)."""
    policy_sql = _province_policy(sql.SQL("%s")).as_string(conn)
    function = sql.SQL(PROTECT_FUNCTION).format(
        column=sql.Literal(SCOPE_COLUMN),
        policy=sql.Literal(POLICY),
        policy_sql=sql.Literal(policy_sql),
    )
    trigger = sql.Identifier(PROTECT_TRIGGER)
    try:
        with conn.transaction():
            conn.execute(function)
            conn.execute(sql.SQL("drop event trigger if exists {}").format(trigger))
            conn.execute(
                sql.SQL(
                    "create event trigger {} on ddl_command_end when tag in ({})"
                    " execute function access.protect_marts_relations()"
                ).format(trigger, sql.SQL(", ").join(map(sql.Literal, PROTECT_TAGS)))
            )
    except errors.InsufficientPrivilege:
        return (
            f"event trigger {PROTECT_TRIGGER}: not installed (needs a superuser); call"
            " secure_marts after creating marts tables"
        )
    return f"event trigger {PROTECT_TRIGGER}: marts tables are protected as they are created"


def is_set_up(conn: psycopg.Connection) -> bool:
    """True when `ensure_roles` has run on this database (read from the catalog: any role may
    ask, with or without rights on the access schema)."""
    return conn.execute(
        "select exists (select from pg_class join pg_namespace on relnamespace = pg_namespace.oid"
        " where nspname = 'access' and relname = 'analyst_scopes')"
    ).fetchone()[0]


def ensure_roles(
    conn: psycopg.Connection, passwords: Mapping[str, str | None] | None = None
) -> list[str]:
    """Create the roles and the query login and grant them their rights on the current
    database; run as the admin (a superuser, or the database owner with CREATEROLE).
    `passwords` (default: `login_passwords`) are set for the loader, transformer and query
    login. Idempotent; returns what it did."""
    if passwords is None:
        passwords = login_passwords(conn, OWN_LOGINS)
    done = []
    for role, login in ((LOADER, True), (TRANSFORMER, True), (ANALYST, False)):
        done.append(f"role {role}: {_ensure_role(conn, role, login, passwords.get(role))}")
    status = _ensure_role(
        conn, QUERY, True, passwords.get(QUERY), member_of=ANALYST, read_only=True
    )
    done.append(f"login {QUERY} (nhandao query; every province): {status}")
    # analyst logins made before analysts were read-only by default
    plain = [
        name
        for name in analyst_logins(conn)
        if (found := _role_attributes(conn, name)) and not any(found[a] for a in ELEVATED)
    ]
    made = [
        name for name in plain if _retry_concurrent(conn, lambda n=name: _make_read_only(conn, n))
    ]
    if made:
        done.append(f"now read-only by default: {', '.join(made)}")
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('nhandao.access.roles'))")
        dbname = conn.execute("select current_database()").fetchone()[0]
        conn.execute(SCOPES_DDL)
        if conn.execute("select to_regnamespace('public') is not null").fetchone()[0]:
            conn.execute("revoke create on schema public from public")
        for statement in _grants(dbname):
            conn.execute(statement)
        conn.execute(
            "delete from access.analyst_scopes where role_name = %s and province_code <> %s",
            (QUERY, ALL_PROVINCES),
        )
        conn.execute(
            "insert into access.analyst_scopes (role_name, province_code) values (%s, %s)"
            " on conflict do nothing",
            (QUERY, ALL_PROVINCES),
        )
        done.append(f"grants on database {dbname}: applied")
        moved = _hand_to_transformer(conn)
        if moved:
            done.append(f"now owned by {TRANSFORMER}: {', '.join(moved)}")
        done.append(_install_protect_trigger(conn))
        secured = secure_marts(conn)
        if secured:
            done.append(f"row-level security by province on: {', '.join(secured)}")
    done.append(_kept_where(conn, OWN_LOGINS))
    return done


def _has_policy(conn: psycopg.Connection, oid: int) -> bool:
    return conn.execute(
        "select exists (select from pg_policy where polrelid = %s and polname = %s)", (oid, POLICY)
    ).fetchone()[0]


def secure_marts(conn: psycopg.Connection, schema: str = "marts") -> list[str]:
    """Let analysts read every table of `schema`, and only their provinces' rows of those with a
    current_province_code column. Run by the tables' owner (the transformer) or the admin, in
    the transaction that creates the tables; changes nothing (takes no lock) when already done.
    Returns the tables it protected just now."""
    analyst = sql.Identifier(ANALYST)
    protected = []
    with conn.transaction():
        relations = conn.execute(
            "select c.oid, c.relname, c.relkind, c.relrowsecurity,"
            " exists (select from pg_attribute as a where a.attrelid = c.oid"
            "   and a.attname = %(column)s and a.attnum > 0 and not a.attisdropped),"
            " exists (select from pg_policy as p where p.polrelid = c.oid"
            "   and p.polname = %(policy)s),"
            " has_table_privilege(%(analyst)s, c.oid, 'select'),"
            " coalesce(c.reloptions, '{}') @> array['security_invoker=true']"
            " from pg_class as c join pg_namespace as n on n.oid = c.relnamespace"
            " where n.nspname = %(schema)s and c.relkind in ('r', 'p', 'v', 'm', 'f')"
            " order by c.relname",
            {"column": SCOPE_COLUMN, "policy": POLICY, "analyst": ANALYST, "schema": schema},
        ).fetchall()
        for oid, name, kind, rls, scoped, has_policy, readable, invoker in relations:
            table = sql.Identifier(schema, name)
            if scoped and kind in ("m", "f"):
                raise AccessError(
                    f"{schema}.{name} has {SCOPE_COLUMN} but row-level security cannot apply to"
                    " a materialized view or foreign table; publish it as a table"
                )
            if scoped and kind == "v" and not invoker:
                # a view reads its tables as its owner, who is not held by their policies
                conn.execute(sql.SQL("alter view {} set (security_invoker = true)").format(table))
                protected.append(f"{schema}.{name}")
            if scoped and kind in ("r", "p"):
                if not rls:
                    conn.execute(sql.SQL("alter table {} enable row level security").format(table))
                # look again: that alter table fired the event trigger, which may have added it
                if not has_policy and not _has_policy(conn, oid):
                    conn.execute(_province_policy(table))
                if not (rls and has_policy):
                    protected.append(f"{schema}.{name}")
            if not readable:
                conn.execute(sql.SQL("grant select on {} to {}").format(table, analyst))
    return protected


def province_codes() -> frozenset[str]:
    """GSO codes of the provinces of both maps (before and from 1 July 2025)."""
    return frozenset(u.code for u in reference.admin_unit_versions() if u.level == "province")


def _check_login(conn: psycopg.Connection, login: str) -> None:
    if not LOGIN_PATTERN.fullmatch(login) or login.startswith("pg_"):
        raise AccessError(
            f"login {login!r}: use lower-case letters, digits and _ (at most 63, not pg_…)"
        )
    if login in RUNTIME_ROLES or login in OWN_LOGINS:
        raise AccessError(f"{login} is one of nhandao's own roles, not an analyst login")
    found = _role_attributes(conn, login)
    if found is None:
        return
    if not found["rolcanlogin"] or any(found[a] for a in ELEVATED):
        raise AccessError(f"role {login} exists and is not a plain login: refusing to change it")
    owns = conn.execute(
        "select exists (select from pg_class where relowner = %s::regrole)"
        " or exists (select from pg_namespace where nspowner = %s::regrole)",
        (login, login),
    ).fetchone()[0]
    if owns:
        raise AccessError(f"role {login} owns objects in this database: not an analyst login")


def grant_analyst(
    conn: psycopg.Connection,
    login: str,
    provinces: list[str] | None,
    password: str | None = None,
) -> str:
    """Create (or update) an analyst login: a member of nhandao_analyst that sees the marts rows
    of `provinces` only, or of every province when `provinces` is None, its transactions
    read-only by default. Run as the admin. On the embedded server a login given no password
    keeps the one in the password file, or gets a new one there."""
    if provinces is not None:
        provinces = sorted({p.strip() for p in provinces})
        if not provinces:
            raise AccessError("no province given: pass None for an analyst of every province")
        known = province_codes()
        unknown = [p for p in provinces if not PROVINCE_PATTERN.fullmatch(p) or p not in known]
        if unknown:
            raise AccessError(f"unknown province code(s): {', '.join(unknown)}")
    if conn.execute("select to_regclass('access.analyst_scopes')").fetchone()[0] is None:
        raise AccessError("no access.analyst_scopes here: run `nhandao roles setup` first")
    _check_login(conn, login)
    password = login_passwords(conn, [login], {login: password})[login]
    status = _ensure_role(
        conn, login, login=True, password=password, member_of=ANALYST, read_only=True
    )
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('nhandao.access.roles'))")
        conn.execute("delete from access.analyst_scopes where role_name = %s", (login,))
        with conn.cursor() as cur:
            cur.executemany(
                "insert into access.analyst_scopes (role_name, province_code) values (%s, %s)",
                [(login, code) for code in provinces or [ALL_PROVINCES]],
            )
    scope = ", ".join(provinces) if provinces else "every province"
    return f"analyst {login}: {status}; sees {scope}"


def analyst_logins(conn: psycopg.Connection) -> list[str]:
    """The members of nhandao_analyst, directly or through other roles (superusers, which
    Postgres counts as members of every role, only when granted it)."""
    return [
        name
        for (name,) in conn.execute(
            "with recursive members (oid) as ("
            " select member from pg_auth_members where roleid = to_regrole(%s)"
            " union select m.member from pg_auth_members as m"
            " join members on m.roleid = members.oid)"
            " select rolname from pg_roles where oid in (select oid from members) order by 1",
            (ANALYST,),
        )
    ]


def revoke_analyst(conn: psycopg.Connection, login: str) -> None:
    """Remove an analyst login: its scope here, its privileges, the role itself. Run as the admin;
    the role must not hold privileges in another database."""
    found = _role_attributes(conn, login)
    if login in OWN_LOGINS or (
        found is not None
        and (
            login in RUNTIME_ROLES
            or any(found[a] for a in ELEVATED)
            or login not in analyst_logins(conn)
        )
    ):
        raise AccessError(f"{login} is not an analyst login")
    with conn.transaction():
        if conn.execute("select to_regclass('access.analyst_scopes')").fetchone()[0]:
            conn.execute("delete from access.analyst_scopes where role_name = %s", (login,))
        if found is not None:
            conn.execute(sql.SQL("drop owned by {}").format(sql.Identifier(login)))
            conn.execute(sql.SQL("drop role {}").format(sql.Identifier(login)))
    if warehouse.is_embedded_connection(conn):
        warehouse.forget_embedded_password(login)


def plain_analyst_problems(conn: psycopg.Connection) -> list[str]:
    """Why the login `conn` runs as is not a plain analyst (none: it is one). A plain analyst is
    a member of nhandao_analyst and of nothing else, with no elevated attribute, owns nothing
    here (an owner is not held by row-level security) and is read-only by default."""
    row = conn.execute(
        "select r.rolsuper, r.rolcreatedb, r.rolcreaterole, r.rolreplication, r.rolbypassrls,"
        " coalesce((select pg_has_role(r.oid, a.oid, 'member') from pg_roles as a"
        "   where a.rolname = %(analyst)s), false),"
        " array(select o.rolname::text from pg_roles as o where o.oid <> r.oid"
        "   and o.rolname <> %(analyst)s and pg_has_role(r.oid, o.oid, 'member') order by 1),"
        " exists (select from pg_class where relowner = r.oid)"
        "   or exists (select from pg_namespace where nspowner = r.oid)"
        "   or exists (select from pg_database where datname = current_database()"
        "     and datdba = r.oid),"
        " current_setting('default_transaction_read_only') = 'on',"
        " session_user = current_user"
        " from pg_roles as r where r.rolname = current_user",
        {"analyst": ANALYST},
    ).fetchone()
    *elevated, analyst, others, owns, read_only, itself = row
    names = ("a superuser", "CREATEDB", "CREATEROLE", "REPLICATION", "BYPASSRLS")
    problems = [f"has {name}" for name, on in zip(names, elevated, strict=True) if on]
    if problems:  # a superuser is a member of every role: the rest says nothing more
        return problems
    if not analyst:
        problems.append(f"is not a member of {ANALYST}")
    if others:
        problems.append(f"is also a member of {', '.join(others)}")
    if owns:
        problems.append("owns objects in this database")
    if not read_only:
        problems.append("is not read-only by default (default_transaction_read_only)")
    if not itself:
        problems.append("runs as another role than it logged in as")
    return problems


PRIVILEGES = ("select", "insert", "update", "delete", "truncate")


def show(conn: psycopg.Connection) -> str:
    """Who can do what: the roles and their attributes, each role's rights per schema, analysts'
    scopes and the marts tables under row-level security."""
    from tabulate import tabulate

    if conn.execute("select to_regrole(%s) is null", (ANALYST,)).fetchone()[0]:
        return "no nhandao roles on this server: run `nhandao roles setup`"
    analysts = analyst_logins(conn)
    roles = conn.execute(
        "select r.rolname, r.rolcanlogin, r.rolsuper, r.rolbypassrls, r.rolcreaterole,"
        " r.rolname = any(%(analysts)s::text[])"
        " from pg_roles as r where r.rolname = any(%(runtime)s::text[] || %(analysts)s::text[])"
        " order by r.rolname <> all(%(runtime)s::text[]), r.rolname",
        {"analysts": analysts, "runtime": list(RUNTIME_ROLES)},
    ).fetchall()
    scopes: dict[str, list[str]] = {}
    if conn.execute("select to_regclass('access.analyst_scopes')").fetchone()[0]:
        for name, code in conn.execute(
            "select role_name, province_code from access.analyst_scopes order by 1, 2"
        ):
            scopes.setdefault(name, []).append("all" if code == ALL_PROVINCES else code)
    yes = {True: "yes", False: "no"}
    role_rows = [
        (
            name,
            yes[login],
            yes[superuser or bypass or createrole],
            ", ".join(scopes.get(name, ["none: sees no province rows"])) if analyst else "",
        )
        for name, login, superuser, bypass, createrole, analyst in roles
    ]
    schemas = [
        row[0]
        for row in conn.execute(
            "select nspname from pg_namespace where nspname = any(%s) order by 1",
            (["raw", "monitoring", "access", "public", *TRANSFORMER_SCHEMAS],),
        )
    ]
    rights = []
    for role in RUNTIME_ROLES:
        if conn.execute("select to_regrole(%s)", (role,)).fetchone()[0] is None:
            continue
        for schema in schemas:
            usage, create = conn.execute(
                "select has_schema_privilege(%s, %s, 'usage'), has_schema_privilege(%s, %s,"
                " 'create')",
                (role, schema, role, schema),
            ).fetchone()
            tables = conn.execute(
                "select count(*), "
                + ", ".join(
                    f"count(*) filter (where has_table_privilege(%(role)s, c.oid, '{p}'))"
                    for p in PRIVILEGES
                )
                + " from pg_class as c join pg_namespace as n on n.oid = c.relnamespace"
                " where n.nspname = %(schema)s and c.relkind in ('r', 'p', 'v', 'm', 'f')",
                {"role": role, "schema": schema},
            ).fetchone()
            total, counts = tables[0], tables[1:]
            held = [
                p if n == total else f"{p} ({n})"
                for p, n in zip(PRIVILEGES, counts, strict=True)
                if n
            ]
            if usage or create:
                rights.append(
                    (
                        role,
                        schema,
                        ", ".join(["usage"] * usage + ["create"] * create),
                        f"{', '.join(held) or '-'} on {total} table(s)" if usage else "-",
                    )
                )
    secured = conn.execute(
        "select c.relname, c.relrowsecurity, exists (select from pg_policy as p"
        "   where p.polrelid = c.oid and p.polname = %s), pg_get_userbyid(c.relowner)"
        " from pg_class as c join pg_namespace as n on n.oid = c.relnamespace"
        " where n.nspname = 'marts' and c.relkind in ('r', 'p', 'v') order by 1",
        (POLICY,),
    ).fetchall()
    marts_rows = [
        (name, owner, "by province" if rls and policy else "every row")
        for name, rls, policy, owner in secured
    ]
    trigger = conn.execute(
        "select evtenabled <> 'D' from pg_event_trigger where evtname = %s", (PROTECT_TRIGGER,)
    ).fetchone()
    if trigger is None:
        protection = "missing: call secure_marts after creating marts tables"
    else:
        protection = "enabled" if trigger[0] else "disabled"
    return "\n\n".join(
        [
            f"event trigger {PROTECT_TRIGGER} (protects new marts tables): {protection}",
            tabulate(
                role_rows,
                headers=["role", "login", "superuser/bypassrls/createrole", "provinces"],
            ),
            tabulate(rights, headers=["role", "schema", "schema rights", "table rights"]),
            tabulate(marts_rows, headers=["marts table", "owner", "analysts see"])
            if marts_rows
            else "marts: no tables yet",
        ]
    )
