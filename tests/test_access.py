"""Postgres roles, logged in as each: the loader appends to raw, the transformer builds, analysts
read marts only, and a province-scoped analyst sees only their province's rows."""

import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from conftest import rows
from psycopg import errors

from nhandao import dbt, logins, warehouse
from nhandao.access import roles
from nhandao.access.roles import ANALYST, LOADER, QUERY, TRANSFORMER
from nhandao.cli import main
from nhandao.gate import validate
from nhandao.ingest import load
from nhandao.publish import release

REPORT = Path(__file__).parent / "data" / "hai_chau_2019.csv"
BUILT_SCHEMAS = ("staging", "intermediate", "audit", "marts")


def login(url: str, role: str) -> psycopg.Connection:
    """Log in as `role`. Analysts are read-only by default: lifted here, as any login may lift
    it, so that what is checked is their rights."""
    conn = psycopg.connect(logins.role_url(url, role), autocommit=True)
    conn.execute("set default_transaction_read_only = off")
    return conn


def denied(conn: psycopg.Connection, statement: str) -> None:
    with pytest.raises(errors.InsufficientPrivilege):
        conn.execute(statement)


def unique_login(label: str) -> str:
    return f"analyst_{label}_{uuid.uuid4().hex[:8]}"


@dataclass
class Warehouse:
    url: str
    scoped: str  # sees province 48 (Đà Nẵng) only
    unscoped: str  # sees every province

    @property
    def url_has_passfile(self) -> bool:
        """The embedded server's URL: the passwords are in its password file."""
        return "&passfile=" in self.url


def publish_like(conn: psycopg.Connection, table: str, rows_: list[tuple[str, str, int]]) -> None:
    """What the publisher does when a table's columns change: drop, create, fill, secure."""
    with conn.transaction():
        conn.execute(f"drop table if exists marts.{table}")
        conn.execute(
            f"create table marts.{table}"
            " (figure_id text primary key, current_province_code text, value numeric)"
        )
        with conn.cursor() as cur:
            cur.executemany(f"insert into marts.{table} values (%s, %s, %s)", rows_)
        roles.secure_marts(conn)


FIGURES = [("a", "48", 1), ("b", "48", 2), ("c", "01", 4)]


@pytest.fixture
def secured(warehouse_url):
    with psycopg.connect(warehouse_url, autocommit=True) as admin:
        roles.ensure_roles(admin)
    with login(warehouse_url, TRANSFORMER) as conn:
        publish_like(conn, "fct_test", FIGURES)
        conn.execute("create table marts.dim_test (province_code text)")
        conn.execute("insert into marts.dim_test values ('48'), ('01')")
    scoped, unscoped = unique_login("danang"), unique_login("all")
    with psycopg.connect(warehouse_url, autocommit=True) as admin:
        roles.grant_analyst(admin, scoped, ["48"])
        roles.grant_analyst(admin, unscoped, None)
    yield Warehouse(warehouse_url, scoped, unscoped)
    with psycopg.connect(warehouse_url, autocommit=True) as admin:
        for name in (scoped, unscoped):
            roles.revoke_analyst(admin, name)


def test_role_url_changes_only_the_user():
    url = "postgresql://postgres:secret@db.example:5433/nhandao?sslmode=require"
    assert (
        logins.role_url(url, "nhandao_loader", "p@ss/wörd")
        == "postgresql://nhandao_loader:p%40ss%2Fw%C3%B6rd@db.example:5433/nhandao?sslmode=require"
    )
    socket = "postgresql://postgres:@/nhandao?host=/tmp/pg%20data&user=postgres"
    assert logins.role_url(socket, "a1") == "postgresql://a1@/nhandao?host=/tmp/pg%20data"
    assert warehouse.split_url(logins.role_url(socket, "a1")).host == "/tmp/pg data"


def test_role_url_reads_the_runtime_roles_passwords(monkeypatch):
    monkeypatch.setenv("NHANDAO_TRANSFORMER_PASSWORD", "t0p")
    monkeypatch.setenv("NHANDAO_QUERY_PASSWORD", "q")
    monkeypatch.delenv("NHANDAO_LOADER_PASSWORD", raising=False)
    url = "postgresql://admin:x@h/db?user=admin"
    assert logins.role_url(url, TRANSFORMER) == "postgresql://nhandao_transformer:t0p@h/db"
    assert logins.role_url(url, LOADER) == "postgresql://nhandao_loader@h/db"
    assert logins.role_url(url, QUERY) == "postgresql://nhandao_query:q@h/db"
    # the URL's own user keeps the URL's password; any other gets none from it
    analyst = "postgresql://analyst_danang:s%40cret@h/db"
    assert logins.role_url(analyst, "analyst_danang") == analyst
    assert logins.role_url(analyst, "analyst_hue") == "postgresql://analyst_hue@h/db"


def test_no_runtime_role_can_widen_its_rights(secured):
    found = rows(
        secured.url,
        "select rolname, rolcanlogin, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb,"
        " rolreplication from pg_roles where rolname = any(%s) order by 1",
        ([LOADER, TRANSFORMER, ANALYST, QUERY, secured.scoped, secured.unscoped],),
    )
    assert [(name, can_login) for name, can_login, *_ in found] == sorted(
        [
            (ANALYST, False),
            (secured.scoped, True),
            (secured.unscoped, True),
            (LOADER, True),
            (QUERY, True),
            (TRANSFORMER, True),
        ]
    )
    assert all(not any(elevated) for _, _, *elevated in found)
    for role in (LOADER, TRANSFORMER, QUERY, secured.scoped):
        with login(secured.url, role) as conn:
            assert conn.execute("select current_user").fetchone()[0] == role
            denied(conn, "create role nhandao_mallory")
            denied(conn, f"alter role {role} bypassrls")
            denied(conn, "create schema mallory")
    # analysts own nothing, anywhere
    assert (
        rows(
            secured.url,
            "select relname from pg_class where relowner in (select oid from pg_roles"
            " where rolname = any(%s))",
            ([ANALYST, secured.scoped, secured.unscoped],),
        )
        == []
    )


def test_the_loader_appends_to_raw_and_touches_nothing_else(secured, tmp_path):
    report = tmp_path / REPORT.name
    report.write_bytes(REPORT.read_bytes())
    [result] = load.ingest_paths([report], logins.role_url(secured.url, LOADER))
    assert (result.status, result.rows_loaded) == ("loaded", 14)
    assert rows(secured.url, "select count(*) from raw.submission_rows") == [(14,)]
    with login(secured.url, LOADER) as conn:
        assert conn.execute("select count(*) from raw.submission_files").fetchone() == (1,)
        assert conn.execute("select raw.unit_name_key('P. Hòa Thuận Tây')").fetchone() == (
            "hoa thuan tay",
        )
        denied(conn, "update raw.submission_rows set value = '0'")
        denied(conn, "delete from raw.submission_files")
        denied(conn, "truncate raw.rejections")
        denied(conn, "create table raw.mallory (x int)")
        denied(conn, "select * from marts.fct_test")
        denied(conn, "insert into marts.fct_test values ('x', '48', 1)")
        denied(conn, "create table marts.mallory (x int)")
        for schema in ("reference", "staging", "intermediate", "audit", "monitoring", "access"):
            denied(conn, f"create table {schema}.mallory (x int)")
        denied(conn, "select * from monitoring.gate_runs")
        denied(conn, "select * from access.analyst_scopes")


def test_the_transformer_builds_but_never_rewrites_raw(secured):
    with login(secured.url, TRANSFORMER) as conn:
        assert conn.execute("select count(*) from raw.submission_rows").fetchone() == (0,)
        denied(
            conn,
            "insert into raw.submission_files (file_name, sha256, size_bytes,"
            " source_format, status) values ('x', 'x', 0, 'csv', 'loaded')",
        )
        denied(conn, "update raw.submission_files set status = 'rejected'")
        denied(conn, "delete from raw.submission_rows")
        denied(conn, "truncate raw.submission_rows")
        denied(conn, "create table raw.mallory (x int)")
        denied(conn, "drop table raw.rejections")
        for schema in BUILT_SCHEMAS:
            conn.execute(f"create table {schema}.scratch as select 1 as x")
            conn.execute(f"create or replace view {schema}.scratch_view as select 2 as x")
            conn.execute(f"drop table {schema}.scratch")
            conn.execute(f"alter table {schema}.scratch_view rename to scratch_view_old")
        conn.execute("create table reference.seed_like (code text)")
        conn.execute("insert into monitoring.gate_runs (gate_run_id, success) values ('g1', true)")
        conn.execute(
            "insert into monitoring.publications (gate_run_id, tables, row_counts)"
            " values ('g1', '{fct_test}', '{3}')"
        )
        denied(conn, "delete from monitoring.gate_runs")
        denied(conn, "select * from access.analyst_scopes")
        denied(conn, "insert into access.analyst_scopes values ('x', '*')")
        # it owns the published tables, so it sees every row of them
        assert conn.execute("select count(*) from marts.fct_test").fetchone() == (3,)


def test_analysts_read_marts_and_nothing_else(secured):
    with login(secured.url, secured.unscoped) as conn:
        assert conn.execute("select count(*) from marts.dim_test").fetchone() == (2,)
        for table in ("raw.submission_rows", "raw.submission_files", "monitoring.gate_runs"):
            denied(conn, f"select * from {table}")
        denied(conn, "insert into marts.fct_test values ('x', '48', 1)")
        denied(conn, "update marts.fct_test set value = 0")
        denied(conn, "delete from marts.dim_test")
        denied(conn, "truncate marts.dim_test")
        denied(conn, "drop table marts.dim_test")
        denied(conn, "alter table marts.fct_test disable row level security")
        for schema in (*BUILT_SCHEMAS, "reference", "raw", "monitoring", "public", "access"):
            denied(conn, f"create table {schema}.mallory (x int)")
        denied(conn, "create temp table mallory (x int)")
        denied(conn, "insert into access.analyst_scopes values (current_user, '01')")
        denied(conn, "delete from access.analyst_scopes")


def test_a_scoped_analyst_sees_only_their_province(secured):
    def visible(role: str, table: str = "fct_test") -> list[tuple]:
        with login(secured.url, role) as conn:
            return conn.execute(
                f"select current_province_code, sum(value) from marts.{table} group by 1 order by 1"
            ).fetchall()

    assert visible(secured.scoped) == [("48", 3)]
    assert visible(secured.unscoped) == [("01", 4), ("48", 3)]
    with login(secured.url, secured.scoped) as conn:
        # dimensions (no current_province_code) are read whole
        assert conn.execute("select count(*) from marts.dim_test").fetchone() == (2,)
        # their own scope only, and no way to widen it
        assert conn.execute(
            "select role_name, province_code from access.analyst_scopes"
        ).fetchall() == [(secured.scoped, "48")]
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("set row_security = off")
            conn.execute("select * from marts.fct_test")
        conn.execute("reset row_security")
        conn.execute(f"set role {ANALYST}")  # the group has no scope: no province rows at all
        assert conn.execute("select count(*) from marts.fct_test").fetchone() == (0,)
        conn.execute("reset role")
        assert conn.execute("select count(*) from marts.fct_test").fetchone() == (2,)
    # the admin narrows or widens a scope; the next query follows it
    with psycopg.connect(secured.url, autocommit=True) as admin:
        roles.grant_analyst(admin, secured.scoped, ["01", "48"])
    assert visible(secured.scoped) == [("01", 4), ("48", 3)]


def test_tables_created_after_setup_are_readable_and_scoped(secured):
    with login(secured.url, TRANSFORMER) as conn:
        # a new dimension: readable through the default privileges alone
        conn.execute("create table marts.dim_later (code text)")
        conn.execute("insert into marts.dim_later values ('x')")
        # a new province table, and a recreated one, published the way the publisher does
        publish_like(conn, "fct_later", [("d", "48", 8), ("e", "79", 16)])
        publish_like(conn, "fct_test", [*FIGURES, ("f", "79", 32)])
    with login(secured.url, secured.scoped) as conn:
        assert conn.execute("select count(*) from marts.dim_later").fetchone() == (1,)
        assert conn.execute("select sum(value) from marts.fct_later").fetchone() == (8,)
        assert conn.execute("select sum(value) from marts.fct_test").fetchone() == (3,)
    with login(secured.url, secured.unscoped) as conn:
        assert conn.execute("select sum(value) from marts.fct_later").fetchone() == (24,)
        assert conn.execute("select sum(value) from marts.fct_test").fetchone() == (39,)


def unprotect(conn: psycopg.Connection, table: str) -> None:
    conn.execute(f"drop policy analyst_province_scope on marts.{table}")
    conn.execute(f"alter table marts.{table} disable row level security")


def test_secure_marts_run_by_the_owner_protects_and_is_idempotent(secured):
    with login(secured.url, TRANSFORMER) as conn:
        # the owner may undo the protection, but the event trigger puts it back at once
        unprotect(conn, "fct_test")
        with login(secured.url, secured.scoped) as analyst:
            assert analyst.execute("select sum(value) from marts.fct_test").fetchone() == (3,)
    with psycopg.connect(secured.url, autocommit=True) as admin:
        admin.execute(f"alter event trigger {roles.PROTECT_TRIGGER} disable")
        try:
            with login(secured.url, TRANSFORMER) as conn:
                unprotect(conn, "fct_test")
                conn.execute("revoke select on marts.fct_test from nhandao_analyst")
                with login(secured.url, secured.scoped) as analyst:
                    denied(analyst, "select * from marts.fct_test")
                with conn.transaction():
                    assert roles.secure_marts(conn) == ["marts.fct_test"]
                assert roles.secure_marts(conn) == []
                assert roles.secure_marts(conn) == []
        finally:
            admin.execute(f"alter event trigger {roles.PROTECT_TRIGGER} enable")
    with login(secured.url, secured.scoped) as conn:
        assert conn.execute("select sum(value) from marts.fct_test").fetchone() == (3,)
    assert rows(
        secured.url,
        "select count(*) from pg_policy where polrelid = 'marts.fct_test'::regclass",
    ) == [(1,)]


def test_a_province_table_is_protected_as_it_is_created(secured):
    """The event trigger: even without secure_marts, a scoped analyst never sees other rows."""
    with login(secured.url, TRANSFORMER) as conn:
        conn.execute(
            "create table marts.fct_forgotten as select * from (values ('48', 1), ('01', 2))"
            " as figures (current_province_code, value)"
        )
        conn.execute("create view marts.v_forgotten as select * from marts.fct_forgotten")
        conn.execute("create table marts.fct_added (value int)")
        conn.execute("insert into marts.fct_added values (1), (2)")
        conn.execute("alter table marts.fct_added add column current_province_code text")
        with pytest.raises(errors.RaiseException):
            conn.execute(
                "create materialized view marts.m_forgotten as select * from marts.fct_forgotten"
            )
    with login(secured.url, secured.scoped) as conn:
        assert conn.execute("select sum(value) from marts.fct_forgotten").fetchone() == (1,)
        assert conn.execute("select sum(value) from marts.v_forgotten").fetchone() == (1,)
        assert conn.execute("select count(*) from marts.fct_added").fetchone() == (0,)


def test_ensure_roles_is_idempotent_and_safe_in_parallel(secured, server_url):
    other = f"nhandao_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"create database {other}")
    other_url = warehouse.with_database(server_url, other)
    racer = unique_login("race")  # one new role, created from two databases at once
    failures = []

    def setup(url: str) -> None:
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                roles.ensure_roles(conn)
                roles.grant_analyst(conn, racer, ["48"])
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            failures.append(exc)

    try:
        with warehouse.connect(other_url) as conn:
            warehouse.bootstrap(conn)
        threads = [
            threading.Thread(target=setup, args=(url,))
            for url in (secured.url, other_url, secured.url, other_url)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        with login(other_url, TRANSFORMER) as conn:
            publish_like(conn, "fct_test", [*FIGURES, ("z", "79", 64)])
        for url in (secured.url, other_url):
            with login(url, racer) as conn:
                assert conn.execute("select sum(value) from marts.fct_test").fetchone() == (3,)
        with login(other_url, secured.unscoped) as conn:
            # a login is the server's, its scope each database's: none in this one
            assert conn.execute("select count(*) from marts.fct_test").fetchone() == (0,)
    finally:
        for url in (other_url, secured.url):
            with psycopg.connect(url, autocommit=True) as admin:
                roles.revoke_analyst(admin, racer)
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f"drop database if exists {other} with (force)")
    assert rows(secured.url, "select count(*) from pg_roles where rolname = %s", (racer,)) == [(0,)]
    # the scopes and grants of the first database are intact
    with login(secured.url, secured.scoped) as conn:
        assert conn.execute("select sum(value) from marts.fct_test").fetchone() == (3,)


def test_setup_hands_an_existing_warehouse_to_the_transformer(warehouse_url):
    """A warehouse built before the roles existed (everything owned by the admin)."""
    with psycopg.connect(warehouse_url, autocommit=True) as admin:
        admin.execute("drop event trigger if exists nhandao_protect_marts")
        admin.execute("create table reference.programs as select 'tet' as program_code")
        admin.execute("create view staging.stg_old as select * from raw.submission_rows")
        admin.execute(
            "create table marts.fct_old as select * from (values ('48', 1), ('01', 2))"
            " as figures (current_province_code, value)"
        )
        done = roles.ensure_roles(admin)
        scoped = unique_login("old")
        roles.grant_analyst(admin, scoped, ["48"])
    try:
        assert any("reference.programs" in line and "marts.fct_old" in line for line in done)
        assert rows(
            warehouse_url,
            "select distinct pg_get_userbyid(relowner) from pg_class"
            " where oid in ('reference.programs'::regclass, 'staging.stg_old'::regclass,"
            " 'marts.fct_old'::regclass)",
        ) == [(TRANSFORMER,)]
        with login(warehouse_url, scoped) as conn:
            assert conn.execute("select sum(value) from marts.fct_old").fetchone() == (1,)
        with login(warehouse_url, TRANSFORMER) as conn:
            conn.execute("drop table reference.programs")  # dbt seeds replace their tables
            conn.execute("drop view staging.stg_old")
    finally:
        with psycopg.connect(warehouse_url, autocommit=True) as admin:
            roles.revoke_analyst(admin, scoped)


def test_grant_analyst_refuses_what_it_should(secured):
    with psycopg.connect(secured.url, autocommit=True) as admin:
        for name, provinces in [
            (unique_login("x"), ["99"]),
            (unique_login("x"), []),
            ("nhandao_loader", None),
            (QUERY, ["48"]),
            ("postgres", ["48"]),
            ("Robert'); drop table", None),
        ]:
            with pytest.raises(roles.AccessError):
                roles.grant_analyst(admin, name, provinces)
        with pytest.raises(roles.AccessError):
            roles.revoke_analyst(admin, "postgres")
        with pytest.raises(roles.AccessError):
            roles.revoke_analyst(admin, TRANSFORMER)
        with pytest.raises(roles.AccessError):
            roles.revoke_analyst(admin, QUERY)
    assert rows(secured.url, "select rolsuper from pg_roles where rolname = 'postgres'") == [
        (True,)
    ]


def test_a_password_is_stored_hashed(secured):
    name = unique_login("pw")
    with psycopg.connect(secured.url, autocommit=True) as admin:
        roles.grant_analyst(admin, name, ["48"], password="mật-khẩu-1")
        try:
            roles.grant_analyst(admin, name, ["48"], password="hunter2-long")
            [(secret,)] = admin.execute(
                "select rolpassword from pg_authid where rolname = %s", (name,)
            ).fetchall()
        finally:
            roles.revoke_analyst(admin, name)
    assert secret.startswith("SCRAM-SHA-256$4096:")
    # the server kept our secret as it is: it verifies the password, it is not a hash of a hash
    import base64
    import hashlib
    import hmac

    salt, keys = secret.split("$")[1].split(":")[1], secret.split("$")[2]
    salted = hashlib.pbkdf2_hmac("sha256", b"hunter2-long", base64.b64decode(salt), 4096)
    stored = hashlib.sha256(hmac.new(salted, b"Client Key", "sha256").digest()).digest()
    assert keys.split(":")[0] == base64.b64encode(stored).decode()


def test_the_cli_sets_up_grants_and_shows(warehouse_url, capsys, monkeypatch):
    name = unique_login("cli")
    assert main(["roles", "setup"]) == 0
    out = capsys.readouterr().out
    assert f"role {LOADER}:" in out and "grants on database" in out
    assert main(["roles", "grant-analyst", name, "--province", "48"]) == 0
    assert f"analyst {name}: created, password set, read-only by default; sees 48" in (
        capsys.readouterr().out
    )
    try:
        assert main(["roles", "grant-analyst", name, "--province", "999"]) == 2
        assert "unknown province" in capsys.readouterr().err
        monkeypatch.delenv("NHANDAO_TEST_ANALYST_PASSWORD", raising=False)
        assert (
            main(
                ["roles", "grant-analyst", name, "--password-env", "NHANDAO_TEST_ANALYST_PASSWORD"]
            )
            == 2
        )
        assert "NHANDAO_TEST_ANALYST_PASSWORD is not set" in capsys.readouterr().err
        monkeypatch.setenv("NHANDAO_TEST_ANALYST_PASSWORD", "s3cret-s3cret")
        assert (
            main(
                [
                    "roles",
                    "grant-analyst",
                    name,
                    "--province",
                    "48",
                    "--password-env",
                    "NHANDAO_TEST_ANALYST_PASSWORD",
                ]
            )
            == 0
        )
        assert "exists, password set; sees 48" in capsys.readouterr().out
        assert main(["roles", "show"]) == 0
        out = capsys.readouterr().out
        [line] = [line for line in out.splitlines() if line.startswith(name)]
        assert line.split()[1:] == ["yes", "no", "48"]
        [line] = [line for line in out.splitlines() if line.split()[:2] == [LOADER, "raw"]]
        assert "select, insert on" in line and "update" not in line
        assert f"{roles.PROTECT_TRIGGER} (protects new marts tables): enabled" in out
    finally:
        with psycopg.connect(warehouse_url, autocommit=True) as admin:
            roles.revoke_analyst(admin, name)


@pytest.mark.dbt
def test_the_pipeline_runs_as_its_roles(secured, manifest, tmp_path):
    """The real thing: load as the loader; dbt build, gate and publish as the transformer; read
    as analysts."""
    report = tmp_path / REPORT.name
    report.write_bytes(REPORT.read_bytes())
    [result] = load.ingest_paths([report], logins.role_url(secured.url, LOADER))
    assert result.status == "loaded"
    transformer_url = logins.role_url(secured.url, TRANSFORMER)
    started = time.monotonic()
    dbt.run(["build", "--quiet"], transformer_url)  # the password from the URL's passfile
    built = time.monotonic()
    # the gate as on a server of one's own: the password in the URL, which GX never stores
    password = warehouse.read_credentials().get(TRANSFORMER) if secured.url_has_passfile else None
    gate_url = logins.role_url(secured.url.split("&passfile=")[0], TRANSFORMER, password)
    checked = validate.run_gate(gate_url, context_dir=tmp_path / "gx")
    gated = time.monotonic()
    if password:
        stored = [
            p.read_text(errors="replace") for p in (tmp_path / "gx").rglob("*") if p.is_file()
        ]
        assert not any(password in text for text in stored)
        assert any("${NHANDAO_GATE_PASSWORD_" in text for text in stored)
    print(f"as {TRANSFORMER}: dbt build {built - started:.0f} s, gate {gated - built:.0f} s")
    with psycopg.connect(transformer_url) as conn:
        published = release.publish(conn, dbt.published_slices(), checked.gate_run_id)
    assert published.provinces_published == ["48"]
    assert published.row_counts["fct_blood_units"] > 0
    owners = rows(
        secured.url,
        "select distinct pg_get_userbyid(relowner) from pg_class as c"
        " join pg_namespace as n on n.oid = c.relnamespace"
        " where n.nspname = any(%s) and c.relkind in ('r', 'v')",
        (["reference", *BUILT_SCHEMAS],),
    )
    assert owners == [(TRANSFORMER,)]
    with login(secured.url, secured.scoped) as conn:
        assert conn.execute("select count(*) from marts.fct_blood_units").fetchone()[0] > 0
        denied(conn, "select * from audit.fct_blood_units")
        denied(conn, "select * from reference.admin_units")
    # an analyst of another province sees the published dimensions but none of these figures
    other = unique_login("hanoi")
    with psycopg.connect(secured.url, autocommit=True) as admin:
        roles.grant_analyst(admin, other, ["01"])
    try:
        with login(secured.url, other) as conn:
            assert conn.execute("select count(*) from marts.fct_blood_units").fetchone() == (0,)
            assert conn.execute("select count(*) from marts.dim_admin_unit").fetchone()[0] > 0
    finally:
        with psycopg.connect(secured.url, autocommit=True) as admin:
            roles.revoke_analyst(admin, other)


def test_great_expectations_never_keeps_a_password(warehouse_url, tmp_path):
    """A password in the gate's URL (a server of one's own) is a ${VAR} in GX's configuration,
    and one an earlier nhandao wrote there is replaced by its variable."""
    password = warehouse.read_credentials().get(TRANSFORMER) or "a-password-trust-ignores"
    url = logins.role_url(warehouse_url.split("&passfile=")[0], TRANSFORMER, password)
    context = validate._context(tmp_path)
    context.data_sources.add_postgres(
        name="warehouse_old", connection_string=validate.sqlalchemy_url(url)
    )
    config = tmp_path / "gx" / "great_expectations.yml"
    assert password in config.read_text()

    datasource = validate._datasource(context, url)
    assert password not in config.read_text()
    assert config.read_text().count("${NHANDAO_GATE_PASSWORD_") == 2
    for source in (datasource, context.data_sources.get("warehouse_old")):
        with source.get_engine().connect() as conn:
            assert conn.exec_driver_sql("select current_user").scalar() == TRANSFORMER
