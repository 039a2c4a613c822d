"""Province (and year) slices of a published table: how a table is cut, which slices it has, and a
fingerprint of each slice's rows. The gate judges slices; the publisher replaces them."""

from __future__ import annotations

import re
from dataclasses import dataclass

import psycopg
from psycopg import sql

SLICE_VALUE = re.compile(r"^[0-9A-Za-z_-]{1,32}$")  # province codes (and `unknown`)

COLUMN_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")

Slice = tuple[str, int | None]  # (province, year; None: all the province's rows)


@dataclass(frozen=True)
class Slicing:
    """How a table is cut into slices: by `column` (the province) and, if set, by the year
    `year_column` gives (an integer `year`, or text such as `period_code` beginning with it)."""

    column: str
    year_column: str | None = None
    year_is_text: bool = True

    def year(self) -> sql.Composable:
        if self.year_column is None:
            return sql.SQL("null::int")
        return sql.SQL("left({}::text, 4)::int").format(sql.Identifier(self.year_column))

    def condition(self, value: str, year: int | None) -> str:
        """The SQL condition selecting a slice's rows (in a form its index serves)."""
        for name in (self.column, self.year_column or self.column):
            if not COLUMN_NAME.match(name):
                raise ValueError(f"unexpected column name {name!r}")
        if not SLICE_VALUE.match(value):
            raise ValueError(f"unexpected {self.column} value {value!r}")
        condition = f"{self.column} = '{value}'"
        if year is None or self.year_column is None:
            return condition
        year = int(year)
        if not self.year_is_text:
            return f"{condition} and {self.year_column} = {year}"
        return (
            f"{condition} and {self.year_column} >= '{year:04d}'"
            f" and {self.year_column} < '{year + 1:04d}'"
        )


def column_types(conn: psycopg.Connection, schema: str, table: str) -> dict[str, str]:
    return dict(
        conn.execute(
            "select column_name, data_type from information_schema.columns"
            " where table_schema = %s and table_name = %s",
            (schema, table),
        ).fetchall()
    )


def slicing(
    conn: psycopg.Connection, schema: str, table: str, column: str, year_column: str | None
) -> Slicing:
    """How `table` is sliced: by province, and by year where it has the year column."""
    types = column_types(conn, schema, table)
    if year_column not in types:
        return Slicing(column)
    return Slicing(column, year_column, year_is_text=types[year_column] == "text")


def slice_keys(conn: psycopg.Connection, schema: str, table: str, by: Slicing) -> list[Slice]:
    """The slices to validate: every province (and year) in the audit build and in what is
    published now.

    A slice that is published but missing from the audit build is validated too (as an empty
    slice), so a build that lost a province's year holds the province back instead of
    unpublishing it.
    """
    keys: set[Slice] = set()
    for source in (schema, "marts"):
        types = column_types(conn, source, table)
        if by.column in types:
            year = by.year() if by.year_column in types else sql.SQL("null::int")
            query = sql.SQL("select distinct {}, {} from {} where {} is not null").format(
                sql.Identifier(by.column),
                year,
                sql.Identifier(source, table),
                sql.Identifier(by.column),
            )
            keys.update(conn.execute(query).fetchall())
    return sorted(keys, key=lambda key: (key[0], key[1] or 0))


def slice_sums(
    conn: psycopg.Connection, schema: str, table: str, by: Slicing, provinces: list[str]
) -> dict[Slice, tuple[int, object]]:
    """Each slice of `provinces`: its row count and the sum of a 64-bit hash of each row's
    text (one read of the table; what the gate and the publisher fingerprint slices by)."""
    query = sql.SQL(
        "select {column}, {year}, count(*), sum(hashtextextended(slice_rows::text, 0)::numeric)"
        " from {table} as slice_rows where {column} = any(%s) group by 1, 2"
    ).format(column=sql.Identifier(by.column), year=by.year(), table=sql.Identifier(schema, table))
    return {
        (value, year): (count, total)
        for value, year, count, total in conn.execute(query, (provinces,))
    }
