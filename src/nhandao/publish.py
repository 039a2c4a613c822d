"""Publish the audit build: copy each published model from `audit` to `marts` in one transaction.

Readers of `marts` see the old figures or the new ones, never a mix: the copy runs inside one
transaction (Postgres MVCC), and it is refused unless the named gate run passed.
"""

from __future__ import annotations

import psycopg
from psycopg import sql


class PublishRefused(Exception):
    """Publication was asked for without a passing gate run."""


def _columns(conn: psycopg.Connection, schema: str, table: str) -> list[tuple[str, str]]:
    return conn.execute(
        "select column_name, data_type from information_schema.columns"
        " where table_schema = %s and table_name = %s order by ordinal_position",
        (schema, table),
    ).fetchall()


def publish(conn: psycopg.Connection, tables: list[str], gate_run_id: str) -> dict[str, int]:
    """Replace marts.<table> with audit.<table> for every table, atomically; return row counts."""
    passed = conn.execute(
        "select success from monitoring.gate_runs where gate_run_id = %s", (gate_run_id,)
    ).fetchone()
    if not passed or not passed[0]:
        raise PublishRefused(f"gate run {gate_run_id!r} did not pass; nothing published")
    counts: dict[str, int] = {}
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('nhandao.publish'))")
        for table in tables:
            audit = sql.Identifier("audit", table)
            published = sql.Identifier("marts", table)
            source_columns = _columns(conn, "audit", table)
            if not source_columns:
                raise PublishRefused(f"audit.{table} does not exist; build before publishing")
            if _columns(conn, "marts", table) != source_columns:
                conn.execute(sql.SQL("drop table if exists {}").format(published))
                conn.execute(
                    sql.SQL("create table {} (like {} including all)").format(published, audit)
                )
            conn.execute(sql.SQL("delete from {}").format(published))
            cur = conn.execute(sql.SQL("insert into {} select * from {}").format(published, audit))
            counts[table] = cur.rowcount
        conn.execute(
            "insert into monitoring.publications (gate_run_id, tables, row_counts)"
            " values (%s, %s, %s)",
            (gate_run_id, list(counts), list(counts.values())),
        )
    return counts
