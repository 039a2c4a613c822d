"""`nhandao query` as a user runs it: one statement, as a plain analyst login, read-only, on marts
only, with row-level security applied; every way out of that is refused and changes nothing."""

import uuid
from pathlib import Path

import psycopg
import pytest
from conftest import rows

from nhandao import cli, logins, warehouse
from nhandao.access import roles
from nhandao.access.roles import ANALYST, LOADER, QUERY, TRANSFORMER
from nhandao.cli import main

FIGURES = [("a", "48", 1), ("b", "48", 2), ("c", "01", 4)]
# a fingerprint of every row of the marts tables below, read as the admin (RLS does not apply)
MARTS_HASH = """
select md5(coalesce(string_agg(t::text, '|' order by t::text), ''))
from (
    select 'fct_test' as tbl, to_jsonb(f) as row_ from marts.fct_test as f
    union all select 'dim_test', to_jsonb(d) from marts.dim_test as d
) as t
"""
MARTS_TABLES = (
    "select array_agg(relname::text order by relname) from pg_class"
    " where relnamespace = 'marts'::regnamespace"
)


@pytest.fixture
def marts(warehouse_url):
    """A warehouse with two published tables (one by province), owned by the transformer."""
    with psycopg.connect(logins.role_url(warehouse_url, TRANSFORMER), autocommit=True) as conn:
        conn.execute(
            "create table marts.fct_test"
            " (figure_id text primary key, current_province_code text, value numeric)"
        )
        with conn.cursor() as cur:
            cur.executemany("insert into marts.fct_test values (%s, %s, %s)", FIGURES)
        conn.execute("create table marts.dim_test (province_code text)")
        conn.execute("insert into marts.dim_test values ('48'), ('01')")
        roles.secure_marts(conn)
    return warehouse_url


def state(url: str) -> tuple:
    return rows(url, MARTS_HASH)[0][0], rows(url, MARTS_TABLES)[0][0]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_a_query_runs_as_the_query_login_read_only(marts, capsys):
    code, out, _ = run(
        capsys,
        "query",
        "--csv",
        "select current_user, session_user, current_setting('transaction_read_only') as ro,"
        f" r.rolsuper, r.rolbypassrls, pg_has_role(current_user, '{ANALYST}', 'member') as analyst"
        " from pg_roles as r where r.rolname = current_user",
    )
    assert code == 0
    assert out.splitlines() == [
        "current_user,session_user,ro,rolsuper,rolbypassrls,analyst",
        f"{QUERY},{QUERY},on,False,False,True",
    ]
    assert rows(
        marts,
        "select setconfig from pg_db_role_setting where setrole = %s::regrole",
        (QUERY,),
    ) == [(["default_transaction_read_only=on"],)]


def test_the_query_login_sees_every_province(marts, capsys):
    code, out, _ = run(
        capsys,
        "query",
        "--csv",
        "select current_province_code, sum(value) from marts.fct_test group by 1 order by 1",
    )
    assert (code, out) == (0, "current_province_code,sum\r\n01,4\r\n48,3\r\n")


def test_comments_and_a_final_semicolon_are_one_statement(marts, capsys):
    code, out, _ = run(
        capsys,
        "query",
        "--csv",
        "-- figures of Đà Nẵng\nselect sum(value) as total /* ; */ from marts.fct_test"
        " where current_province_code = '48';  -- done\n",
    )
    assert (code, out) == (0, "total\r\n3\r\n")


ESCAPES = {
    "set transaction read write; update marts.fct_test set value = 0": "một câu lệnh",
    "commit; create table marts.x as select 1 as y": "một câu lệnh",
    "select 1; select 2": "one SQL statement",
    "update marts.fct_test set value = 0": "read-only transaction",
    "delete from marts.dim_test": "read-only transaction",
    "select set_config('default_transaction_read_only', 'off', false)"
    " from marts.dim_test": None,  # one harmless statement: it runs, and the next starts afresh
    "create table marts.x (y int)": "read-only transaction",
    "select * from raw.submission_files": "permission denied for schema raw",
    "select * from monitoring.gate_runs": "permission denied for schema monitoring",
    "select * from audit.fct_blood_units": "permission denied for schema audit",
}


@pytest.mark.parametrize("sql", list(ESCAPES))
def test_no_statement_writes_or_reads_beyond_marts(marts, capsys, sql):
    before = state(marts)
    code, _, err = run(capsys, "query", sql)
    expected = ESCAPES[sql]
    if expected is None:
        assert code == 0
    else:
        assert code in (1, 2) and expected in err, err
    assert state(marts) == before
    # and the login is still read-only for the next query
    code, out, _ = run(capsys, "query", "--csv", "show transaction_read_only")
    assert (code, out) == (0, "transaction_read_only\r\non\r\n")


def test_copy_to_program_runs_no_command(marts, capsys):
    target = Path(f"/tmp/nhandao-escape-{uuid.uuid4().hex}")
    try:
        code, _, err = run(capsys, "query", f"copy (select 1) to program 'touch {target}'")
        assert code == 1 and "permission denied" in err
        assert not target.exists()
        code, _, err = run(capsys, "query", "copy marts.dim_test to '/tmp/nhandao-escape.csv'")
        assert code == 1 and "permission denied" in err
    finally:
        target.unlink(missing_ok=True)


def test_a_province_analyst_uses_their_own_login(marts, capsys, monkeypatch):
    login = f"analyst_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(marts, autocommit=True) as admin:
        roles.grant_analyst(admin, login, ["48"], password="mat-khau-da-nang")
    try:
        select = "select current_province_code, sum(value) from marts.fct_test group by 1"
        code, out, _ = run(capsys, "query", "--login", login, "--csv", select)
        assert (code, out) == (0, "current_province_code,sum\r\n48,3\r\n")
        # the same with the password given the way an analyst would, through libpq's PGPASSWORD
        without_passfile = f"{marts.split('?')[0]}?host={warehouse.split_url(marts).host}"
        monkeypatch.setenv("NHANDAO_WAREHOUSE_URL", without_passfile)
        monkeypatch.setenv("PGPASSWORD", "mat-khau-da-nang")
        code, out, _ = run(capsys, "query", "--login", login, "--csv", select)
        assert (code, out) == (0, "current_province_code,sum\r\n48,3\r\n")
        monkeypatch.setenv("PGPASSWORD", "wrong")
        code, _, err = run(capsys, "query", "--login", login, select)
        assert code == 2 and f"cannot log in as {login}" in err
    finally:
        with psycopg.connect(marts, autocommit=True) as admin:
            roles.revoke_analyst(admin, login)


def test_only_a_plain_analyst_login_runs_queries(marts, capsys):
    """Fail closed: a login with more than an analyst's rights never runs the user's SQL."""
    login = f"analyst_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(marts, autocommit=True) as admin:
        roles.grant_analyst(admin, login, ["48"])
    marker = "select count(*) as n from marts.dim_test"
    try:
        assert run(capsys, "query", "--login", login, "--csv", marker)[:2] == (0, "n\r\n2\r\n")
        for role in (TRANSFORMER, LOADER):
            code, _, err = run(capsys, "query", "--login", role, marker)
            assert code == 2 and "is not a plain analyst login" in err
            assert f"is not a member of {ANALYST}" in err
        with psycopg.connect(marts, autocommit=True) as admin:
            admin.execute(f"grant {LOADER} to {login}")
        code, _, err = run(capsys, "query", "--login", login, marker)
        assert code == 2 and f"is also a member of {LOADER}" in err
        with psycopg.connect(marts, autocommit=True) as admin:
            admin.execute(f"revoke {LOADER} from {login}")
            admin.execute(f"alter role {login} reset default_transaction_read_only")
        code, _, err = run(capsys, "query", "--login", login, marker)
        assert code == 2 and "not read-only by default" in err
        with psycopg.connect(marts, autocommit=True) as admin:
            admin.execute(f"alter role {QUERY} bypassrls")
        code, _, err = run(capsys, "query", marker)
        assert code == 2 and "has BYPASSRLS" in err and "nhandao roles setup" in err
        code, out, _ = run(capsys, "roles", "setup")  # the admin puts both right
        assert code == 0 and f"now read-only by default: {login}" in out
        assert run(capsys, "query", "--csv", marker)[:2] == (0, "n\r\n2\r\n")
        assert run(capsys, "query", "--login", login, "--csv", marker)[:2] == (0, "n\r\n2\r\n")
    finally:
        with psycopg.connect(marts, autocommit=True) as admin:
            admin.execute(f"alter role {QUERY} nobypassrls")
            roles.revoke_analyst(admin, login)


def test_status_and_report_read_as_the_transformer_read_only(marts):
    with cli._monitor_connection("status") as conn:
        assert conn.execute(
            "select current_user, current_setting('transaction_read_only')"
        ).fetchone() == (TRANSFORMER, "on")
