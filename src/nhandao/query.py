"""Read-only SQL against the warehouse, printed for people (a table) or for tools (CSV)."""

from __future__ import annotations

from decimal import Decimal
from importlib import resources

import psycopg
from tabulate import tabulate

from nhandao import spreadsheet

QUALIFIER_WORDS = {"lower_bound": "hơn ", "approximate": "khoảng ", "exact": ""}


def run_query(conn: psycopg.Connection, sql: str) -> tuple[list[str], list[tuple]]:
    """Run one statement in a read-only transaction; return column names and rows."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("set transaction read only")
        cur.execute(sql)
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
    return QUALIFIER_WORDS.get(qualifier or "exact", "") + text


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
