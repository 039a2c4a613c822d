"""Publish the audit build: copy each published model from `audit` to `marts` in one transaction.

Write–audit–publish per province. A model published by province (dbt meta `publish_slice`)
has the rows of the provinces the gate passed replaced, and keeps the last good rows of the
provinces it held back; a model published whole (a dimension) is replaced whole. Everything
happens in one transaction, so a reader sees the old marts or the new ones, never a mix
(Postgres MVCC: readers are never blocked, and see nothing until the commit).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import psycopg
from psycopg import sql

from nhandao import access


class PublishRefused(Exception):
    """Publication was asked for without a gate run that allows it."""


@dataclass
class Publication:
    gate_run_id: str
    row_counts: dict[str, int] = field(default_factory=dict)  # rows written per table
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
    conn: psycopg.Connection, table: str, column: str, provinces: list[str], held_back: list[str]
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
    in_slices = sql.SQL("{} = any(%s)").format(sql.Identifier(column))
    conn.execute(sql.SQL("delete from {} where {}").format(published, in_slices), (provinces,))
    return conn.execute(
        sql.SQL("insert into {} select * from {} where {}").format(published, audit, in_slices),
        (provinces,),
    ).rowcount


def publish(
    conn: psycopg.Connection, slices: dict[str, str | None], gate_run_id: str
) -> Publication:
    """Publish every table of `slices` (table → its province column, or None) from audit.

    Only what gate run `gate_run_id` allows: the provinces it did not hold back, and the
    tables published whole only if no rule of theirs blocked.
    """
    checked, held_back = _gate_run(conn, gate_run_id)
    result = Publication(
        gate_run_id,
        provinces_published=[p for p in checked if p not in held_back],
        provinces_held_back=list(held_back),
    )
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('nhandao.publish'))")
        for table, column in sorted(slices.items()):
            if not _columns(conn, "audit", table):
                raise PublishRefused(f"audit.{table} does not exist; build before publishing")
            if column is None:
                result.row_counts[table] = _replace_whole(conn, table)
            else:
                result.row_counts[table] = _replace_slices(
                    conn, table, column, result.provinces_published, held_back
                )
        if access.is_set_up(conn):
            # row-level security on every province table, also on one created just now
            access.secure_marts(conn)
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
