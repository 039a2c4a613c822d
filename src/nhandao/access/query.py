"""Read-only SQL against the warehouse, printed for people (a table) or for tools (CSV)."""

from __future__ import annotations

from decimal import Decimal
from importlib import resources

import psycopg
from psycopg import errors
from tabulate import tabulate

from nhandao import logins, spreadsheet, warehouse
from nhandao.access import roles
from nhandao.submission_format import QUALIFIER_PREFIX

# What Postgres answers when a statement to prepare holds several commands (the extended
# query protocol takes exactly one).
SEVERAL_COMMANDS = "cannot insert multiple commands into a prepared statement"


class QueryRefused(Exception):
    """The query is not run: not a plain analyst login, no login at all, or several statements."""


def reader_url(login: str | None = None) -> str:
    """The URL queries run with: the warehouse's, logged in as `login` (default nhandao_query);
    starts the embedded server if it is the default."""
    return logins.role_url(warehouse.reader_url(), login or roles.QUERY)


def _what_to_do(login: str) -> str:
    """What makes `login` one `nhandao query` runs as, for the messages of connect_reader."""
    if login == roles.QUERY:
        variable = roles.PASSWORD_VARIABLES[login]
        return (
            "the admin runs `nhandao roles setup`, which creates it and sets its password"
            f" (kept in the embedded server's password file, or from {variable})"
        )
    if login in roles.RUNTIME_ROLES or login in roles.OWN_LOGINS:
        return f"queries run as {roles.QUERY} (the default) or an analyst login, never as {login}"
    return (
        f"an analyst login is made by the admin with `nhandao roles grant-analyst {login}"
        " [--province CODE]` and kept read-only by `nhandao roles setup`; its password comes"
        " from PGPASSWORD or a password file (the embedded server's, or ~/.pgpass)"
    )


def connect_reader(login: str | None = None) -> psycopg.Connection:
    """Connect as `login` (default nhandao_query) and make sure it is a plain analyst: a member
    of nhandao_analyst only, read-only by default, held by row-level security. Fails closed."""
    login = login or roles.QUERY
    try:
        conn = psycopg.connect(reader_url(login))
    except psycopg.OperationalError as exc:
        raise QueryRefused(
            f"không đăng nhập được / cannot log in as {login}: {str(exc).strip()}\n"
            f"To fix it: {_what_to_do(login)}."
        ) from exc
    try:
        problems = roles.plain_analyst_problems(conn)
        conn.rollback()  # the user's statement starts a transaction of its own
    except BaseException:
        conn.close()
        raise
    if problems:
        conn.close()
        raise QueryRefused(
            f"{login} không phải tài khoản phân tích chỉ đọc / is not a plain analyst login"
            f" ({'; '.join(problems)}): no query runs as it. To fix it: {_what_to_do(login)}."
        )
    return conn


def run_query(conn: psycopg.Connection, sql: str) -> tuple[list[str], list[tuple]]:
    """Run exactly one statement (comments and a final `;` allowed) in a read-only
    transaction; return column names and rows. Several statements are refused before any runs:
    the statement is prepared (the extended query protocol, which takes one command only)."""
    if conn.prepare_threshold is None:
        raise ValueError("run_query needs a connection that may prepare statements")
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("set transaction read only")
        try:
            cur.execute(sql, prepare=True)
        except errors.SyntaxError as exc:
            if SEVERAL_COMMANDS in str(exc):
                raise QueryRefused(
                    "mỗi lần chỉ chạy một câu lệnh SQL / one SQL statement at a time: this query"
                    " has several, and none of them was run"
                ) from exc
            raise
        if cur.description is None:
            return [], []
        return [col.name for col in cur.description], cur.fetchall()


def as_csv(columns: list[str], rows: list[tuple]) -> str:
    """The result as CSV, with spreadsheet formulas neutralised in text cells."""
    return spreadsheet.csv_text(columns, rows)


def as_table(columns: list[str], rows: list[tuple]) -> str:
    return tabulate(rows, headers=columns, tablefmt="simple", disable_numparse=True)


def vietnamese_number(value: Decimal | int | float | None, qualifier: str = "exact") -> str:
    """1234567 -> '1.234.567', with 'hơn'/'khoảng' in front of a lower bound or approximation."""
    if value is None:
        return ""
    text = f"{value:,.0f}".replace(",", ".")
    return QUALIFIER_PREFIX.get(qualifier or "exact", "") + text


def district_year_summary(conn: psycopg.Connection) -> str:
    """The demo's closing table: blood units and aid value per district per year."""
    sql = resources.files("nhandao.sql").joinpath("district_year_summary.sql")
    _, rows = run_query(conn, sql.read_text(encoding="utf-8"))
    table = [
        (code, name, year, vietnamese_number(blood, blood_q), vietnamese_number(aid, aid_q))
        for code, name, year, blood, blood_q, aid, aid_q in rows
    ]
    headers = ["Mã", "Quận/Huyện", "Năm", "Đơn vị máu", "Giá trị trợ giúp (đồng)"]
    return tabulate(
        table,
        headers=headers,
        tablefmt="simple",
        colalign=("left", "left", "left", "right", "right"),
        disable_numparse=True,
    )
