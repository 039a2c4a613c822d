"""Publish the audit build: copy each published model from `audit` to `marts` in one transaction.

Write–audit–publish per province. A model published by province (dbt meta `publish_slice`)
has the rows of the provinces the gate passed replaced, and keeps the last good rows of the
provinces it held back; a model published whole (a dimension) is replaced whole. Everything
happens in one transaction, so a reader sees the old marts or the new ones, never a mix
(Postgres MVCC: readers are never blocked, and see nothing until the commit).

A model published by province and year (meta `publish_year`) has only the years whose rows
changed replaced: a fingerprint of each province's year as published is kept in
`monitoring.published_parts`, and a year whose rows in the audit build have the same one is
left as it is. So a new month rewrites this year's rows, not the history.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from nhandao import dbt
from nhandao.access import roles
from nhandao.slices import Slice, Slicing, slice_sums, slicing


class PublishRefused(Exception):
    """Publication was asked for without a gate run that allows it."""


@dataclass
class Publication:
    gate_run_id: str
    row_counts: dict[str, int] = field(default_factory=dict)  # rows (re)written per table
    provinces_published: list[str] = field(default_factory=list)
    provinces_held_back: list[str] = field(default_factory=list)


def _columns(conn: psycopg.Connection, schema: str, table: str) -> list[tuple[str, str]]:
    return conn.execute(
        "select column_name, data_type from information_schema.columns"
        " where table_schema = %s and table_name = %s order by ordinal_position",
        (schema, table),
    ).fetchall()


def _gate_run(conn: psycopg.Connection, gate_run_id: str) -> tuple[list[str], list[str]]:
    """The provinces the gate run checked and held back; refuse if it allows nothing."""
    run = conn.execute(
        "select success, coalesce(global_failure, not success and provinces_checked is null),"
        " coalesce(provinces_checked, '{}'), coalesce(provinces_held_back, '{}')"
        " from monitoring.gate_runs where gate_run_id = %s",
        (gate_run_id,),
    ).fetchone()
    if run is None:
        raise PublishRefused(f"no gate run {gate_run_id!r}; nothing published")
    success, global_failure, checked, held_back = run
    if global_failure or (not success and not set(checked) - set(held_back)):
        raise PublishRefused(f"gate run {gate_run_id!r} did not pass; nothing published")
    return checked, held_back


def _replace_whole(conn: psycopg.Connection, table: str) -> int:
    audit, published = sql.Identifier("audit", table), sql.Identifier("marts", table)
    if _columns(conn, "marts", table) != _columns(conn, "audit", table):
        conn.execute(sql.SQL("drop table if exists {}").format(published))
        conn.execute(sql.SQL("create table {} (like {} including all)").format(published, audit))
    conn.execute(sql.SQL("delete from {}").format(published))
    return conn.execute(
        sql.SQL("insert into {} select * from {}").format(published, audit)
    ).rowcount


def _replace_slices(
    conn: psycopg.Connection,
    table: str,
    by: Slicing,
    provinces: list[str],
    held_back: list[str],
) -> int:
    audit, published = sql.Identifier("audit", table), sql.Identifier("marts", table)
    if _columns(conn, "marts", table) != _columns(conn, "audit", table):
        if held_back and _columns(conn, "marts", table):
            raise PublishRefused(
                f"marts.{table} changed shape in this build, and provinces {held_back} are held"
                " back: their last good rows cannot be kept in the new shape. Fix their data so"
                " every province passes, then publish."
            )
        conn.execute(sql.SQL("drop table if exists {}").format(published))
        conn.execute(sql.SQL("create table {} (like {} including all)").format(published, audit))
        conn.execute("delete from monitoring.published_parts where table_name = %s", (table,))
    if by.year_column is None:
        in_slices = sql.SQL("{} = any(%s)").format(sql.Identifier(by.column))
        conn.execute(sql.SQL("delete from {} where {}").format(published, in_slices), (provinces,))
        return conn.execute(
            sql.SQL("insert into {} select * from {} where {}").format(published, audit, in_slices),
            (provinces,),
        ).rowcount
    changed = _changed_parts(conn, table, by, provinces)
    if not changed:
        return 0
    where = sql.SQL(" or ").join(
        sql.SQL("({})").format(sql.SQL(by.condition(province, year))) for province, year in changed
    )
    conn.execute(sql.SQL("delete from {} where {}").format(published, where))
    return conn.execute(
        sql.SQL("insert into {} select * from {} where {}").format(published, audit, where)
    ).rowcount


def _changed_parts(
    conn: psycopg.Connection, table: str, by: Slicing, provinces: list[str]
) -> list[Slice]:
    """The years of `provinces` whose rows in the audit build differ from those published (by
    their fingerprint: count and sum of a 64-bit hash of each row's text), recorded as they
    will be once published; None as the year stands for all of a province's."""
    built = {
        key: f"{count}:{total}"
        for key, (count, total) in slice_sums(conn, "audit", table, by, provinces).items()
    }
    published = {
        (p, y): fingerprint
        for p, y, fingerprint in conn.execute(
            "select province_code, year, fingerprint from monitoring.published_parts"
            " where table_name = %s and province_code = any(%s)",
            (table, provinces),
        )
    }
    changed = {
        key for key in built.keys() | published.keys() if built.get(key) != published.get(key)
    }
    if published.keys() - built.keys():
        conn.execute(
            "delete from monitoring.published_parts where table_name = %s"
            " and (province_code, year) in (select * from unnest(%s::text[], %s::int[]))",
            (table, *map(list, zip(*(published.keys() - built.keys()), strict=True))),
        )
    with conn.cursor() as cur:
        cur.executemany(
            "insert into monitoring.published_parts (table_name, province_code, year, fingerprint)"
            " values (%s, %s, %s, %s) on conflict (table_name, province_code, year)"
            " do update set fingerprint = excluded.fingerprint, published_at = now()",
            [(table, p, y, built[p, y]) for p, y in sorted(changed & built.keys())],
        )
    # a province none of whose years is left as published: replaced whole, in one condition
    whole = {
        p
        for p in provinces
        if all(key in changed for key in built.keys() | published.keys() if key[0] == p)
    }
    return sorted(
        {(p, None) for p, _ in changed if p in whole}
        | {key for key in changed if key[0] not in whole},
        key=lambda key: (key[0], key[1] or 0),
    )


def publish(
    conn: psycopg.Connection,
    slices: dict[str, str | None],
    gate_run_id: str,
    years: dict[str, str] | None = None,
) -> Publication:
    """Publish every table of `slices` (table → its province column, or None) from audit;
    a table of `years` (table → the column giving a row's year; default: the dbt models'
    meta) year by year.

    Only what gate run `gate_run_id` allows: the provinces it did not hold back, and the
    tables published whole only if no rule of theirs blocked.
    """
    years = dbt.published_years() if years is None else years
    checked, held_back = _gate_run(conn, gate_run_id)
    result = Publication(
        gate_run_id,
        provinces_published=[p for p in checked if p not in held_back],
        provinces_held_back=list(held_back),
    )
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('nhandao.publish.release'))")
        for table, column in sorted(slices.items()):
            if not _columns(conn, "audit", table):
                raise PublishRefused(f"audit.{table} does not exist; build before publishing")
            if column is None:
                result.row_counts[table] = _replace_whole(conn, table)
            else:
                by = slicing(conn, "audit", table, column, years.get(table))
                result.row_counts[table] = _replace_slices(
                    conn, table, by, result.provinces_published, held_back
                )
        if roles.is_set_up(conn):
            # row-level security on every province table, also on one created just now
            roles.secure_marts(conn)
        conn.execute(
            "insert into monitoring.publications (gate_run_id, tables, row_counts,"
            " provinces_published, provinces_held_back) values (%s, %s, %s, %s, %s)",
            (
                gate_run_id,
                list(result.row_counts),
                list(result.row_counts.values()),
                result.provinces_published,
                result.provinces_held_back,
            ),
        )
    return result
