"""Seeds load only when they changed (dbt_project/macros/seed_when_changed.sql).

dbt's own seed materialization reloads every CSV on every build; ours leaves a table alone when
the marker in its comment (the CSV's checksum and the seed's config) says it already holds this
CSV. Every case is checked on a real Postgres: an unchanged seed keeps its table (same oid), a
stale marker (as after an edit of the CSV) reloads it, and so does `--full-refresh`.
"""

from __future__ import annotations

import psycopg
import pytest
from conftest import rows

from nhandao import dbt

pytestmark = pytest.mark.dbt

SEEDS = ["seed", "--select", "indicators programs", "--quiet"]


def state(url: str, table: str) -> tuple[int, str | None, int]:
    """(oid, comment, row count) of reference.<table>."""
    ((oid, comment),) = rows(
        url,
        "select oid::bigint, obj_description(oid, 'pg_class') from pg_class"
        " where oid = to_regclass(%s)",
        (f"reference.{table}",),
    )
    ((count,),) = rows(url, f"select count(*) from reference.{table}")
    return oid, comment, count


def test_unchanged_seed_is_left_alone_and_a_changed_one_reloads(warehouse_url, manifest):
    url = warehouse_url
    dbt.run(SEEDS, url)
    oid, marker, count = state(url, "indicators")
    assert marker.startswith("nhandao seed ") and count > 10

    dbt.run(SEEDS, url)  # unchanged: the same table, not dropped and created again
    assert state(url, "indicators") == (oid, marker, count)

    # as if the CSV had changed since the last load: the marker no longer matches
    with_rows_lost = rows(
        url,
        "with gone as (delete from reference.indicators where indicator_code in"
        " (select indicator_code from reference.indicators limit 3) returning 1)"
        " select count(*) from gone",
    )
    assert with_rows_lost == [(3,)]
    with psycopg.connect(url) as conn:
        conn.execute("comment on table reference.indicators is 'nhandao seed stale'")
    dbt.run(SEEDS, url)
    reloaded = state(url, "indicators")
    assert reloaded[0] != oid and reloaded[1:] == (marker, count)

    # --full-refresh reloads even an unchanged seed; the other seed selected is reloaded too
    programs_oid = state(url, "programs")[0]
    dbt.run([*SEEDS, "--full-refresh"], url)
    assert state(url, "indicators")[0] != reloaded[0]
    assert state(url, "programs")[0] != programs_oid
