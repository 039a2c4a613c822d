"""The real scheduler, end to end: Airflow's own services run the pipeline from a landed file.

Unlike the dag.test() runs elsewhere, nothing here calls the DAGs in-process. The test starts
`airflow api-server`, `airflow scheduler` (LocalExecutor) and `airflow dag-processor` as separate
processes on a Postgres metadata database of their own, as a deployment runs them, because only
those processes together show that the DAG files parse in the DAG processor, that tasks run in
the executor's worker processes and report to the execution API, and that the scheduler turns
the ingest's `raw_submissions` asset event into a build run. It then lands one district's
monthly report, triggers the ingest through the REST API as an operator would (its cron is every
15 minutes), and waits, bounded, until the scheduler has started `build_warehouse` from the asset
event and the marts are published. Teardown stops every process it started and drops both
databases. `run_pipeline` is the same run for test_celery.py, under the CeleryExecutor.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg
import pytest
from conftest import rows
from harness.airflow_services import (
    TERMINAL_STATES,
    AirflowServices,
    ServiceFailed,
    metadata_db_url,
)

from nhandao import reference, settings, warehouse
from nhandao.sample import generate

pytestmark = [pytest.mark.dbt, pytest.mark.airflow, pytest.mark.slow]

INGEST, BUILD = "ingest_submissions", "build_warehouse"
# How long the whole test (from `airflow db migrate` to the last assertion) may wait before it
# gives up. It checks outcomes, never speed: the run takes 4-6 minutes on 2 idle cores, so the
# budget leaves room for a machine busy with other work (`make bench-*` measures speed).
BUDGET_SECONDS = 25 * 60
# third-party libraries only: a preloaded project module would hide later edits from the tasks
PRELOAD = (
    "airflow.sdk.execution_time.task_runner",
    "cosmos",
    "dbt.cli.main",
    "dbt.adapters.postgres",
)


def service_settings() -> dict[str, str]:
    """AIRFLOW__* settings of these tests, whatever the executor."""
    return {
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.dags_dir()),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        # two shared cores: a few task processes at a time, parse each DAG file once
        # (the first parse is immediate; later ones would only compete with the tasks)
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "600",
        "AIRFLOW__DAG_PROCESSOR__DAG_FILE_PROCESSOR_TIMEOUT": "180",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
    }


@contextmanager
def metadata_database(server_url: str) -> Iterator[str]:
    """A fresh database for Airflow's metadata on the test server (its URL); dropped after."""
    name = f"nhandao_airflow_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f"create database {name}")
    try:
        yield warehouse.with_database(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f"drop database if exists {name} with (force)")


@pytest.fixture
def airflow_services(server_url, warehouse_url, manifest, tmp_path):
    """Airflow's services in a temporary home, on a fresh Postgres metadata database."""
    with metadata_database(server_url) as metadata_url:
        services = AirflowServices(
            tmp_path / "airflow",
            metadata_db_url(metadata_url),
            settings={
                **service_settings(),
                # each of the ~55 build tasks imports dbt afresh (10-15 s on a busy 2-core
                # machine): the executor's workers come from a forkserver that imported it once
                "AIRFLOW__SCHEDULER__MP_START_METHOD": "forkserver",
                "AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD": ",".join(PRELOAD),
            },
        )
        try:
            yield services
        finally:
            services.stop()


def test_scheduler_ingests_builds_on_the_asset_and_publishes(airflow_services, warehouse_url):
    run_pipeline(airflow_services, warehouse_url)


def run_pipeline(
    services: AirflowServices,
    warehouse_url: str,
    workers: int = 0,
    budget: float = BUDGET_SECONDS,
) -> dict:
    """Start the services (and `workers` Celery workers), land a file, trigger the ingest, wait
    for the asset-triggered build and check what it published; return the two runs."""
    deadline = time.monotonic() + budget
    timings: dict[str, float] = {}
    started = time.monotonic()

    def lap(name: str) -> None:
        timings[name] = round(time.monotonic() - started, 1)

    try:
        services.migrate()
        lap("db migrate")
        services.start()
        names = services.start_workers(workers) if workers else []
        services.wait_for("the API server", services.health, deadline)
        lap("api up")
        services.wait_for("both DAGs parsed", lambda: dags_registered(services), deadline)
        lap("dags parsed")
        if names:
            services.wait_for(
                f"Celery workers {', '.join(names)}",
                lambda: set(names) <= services.celery_workers(),
                deadline,
            )
            lap("workers up")
        # Unpaused with catchup=False, the ingest DAG runs its latest 15-minute slot at once;
        # the landing folder is still empty, so that run loads nothing and emits no asset event.
        before = services.wait_for(
            "the ingest schedule to settle", lambda: quiet(services), deadline
        )
        before = before["runs"]
        lap("scheduled ingest done")
        assert before and all(run["state"] == "success" for run in before), before
        assert {run["run_type"] for run in before} == {"scheduled"}, before
        assert services.dag_runs(BUILD) == [], "a build ran without any new submission"

        # a district's report lands; the operator runs the ingest now rather than at :15
        landing = settings.landing_dir()
        landing.mkdir(parents=True, exist_ok=True)
        district = reference.unit_on("492", date(2024, 5, 1))
        figures = generate.district_month(7, district, 2024, 5)
        generate.write_csv(landing / "48-492-2024M05.csv", figures)
        manual = services.trigger(INGEST)
        assert manual["run_type"] == "manual"
        ingest = services.wait_for(
            "the triggered ingest run", lambda: finished(services, INGEST, manual), deadline
        )
        lap("ingest done")
        assert ingest["state"] == "success", services.diagnostics()
        assert services.task_states(INGEST, manual["dag_run_id"])["load_files"] == "success"

        # the scheduler, not the test, starts the build from the asset event
        build = services.wait_for(
            "an asset-triggered build run to finish",
            lambda: asset_triggered_build(services),
            deadline,
            every=5,
        )
        lap("build done")
    except (ServiceFailed, OSError) as error:
        pytest.fail(f"{error} (seconds since start: {timings})\n{services.diagnostics()}")
    print(f"\n{services.executor} end to end, seconds since start: {timings}")

    assert build["state"] == "success", services.diagnostics()
    states = services.task_states(BUILD, build["dag_run_id"])
    assert states["quality_gate"] == states["publish_marts"] == "success", states
    assert sum(task.startswith("dbt_build.") for task in states) >= 10, states
    events = services.request(
        "GET", f"/api/v2/dags/{BUILD}/dagRuns/{build['dag_run_id']}/upstreamAssetEvents"
    )["asset_events"]
    assert [(e["name"], e["source_dag_id"], e["source_run_id"]) for e in events] == [
        ("raw_submissions", INGEST, manual["dag_run_id"])
    ]
    assert [run["dag_run_id"] for run in services.dag_runs(BUILD)] == [build["dag_run_id"]]
    check_task_logs(services, manual["dag_run_id"], build["dag_run_id"], states)

    # the file was loaded and filed away, and the published marts hold its figures
    assert rows(warehouse_url, "select status from raw.submission_files") == [("loaded",)]
    assert not list(landing.glob("*.csv"))
    assert len(list((landing / "processed").glob("*-48-492-2024M05.csv"))) == 1
    for fact, indicator in (
        ("fct_blood_units", "blood_units"),
        ("fct_aid_value", "aid_value_vnd"),
        ("fct_households_helped", "households_supported"),
    ):
        expected = sum(Decimal(f.row()[4]) for f in figures if f.indicator == indicator)
        [(published,)] = rows(
            warehouse_url,
            f"select sum(value) from marts.{fact} where indicator_code = %s"
            " and period_code = '2024M05'",
            (indicator,),
        )
        assert expected > 0 and published == expected, (fact, indicator, published, expected)
    publications = rows(warehouse_url, "select published_at, tables from monitoring.publications")
    assert len(publications) == 1, publications
    [(published_at, tables)] = publications
    assert published_at > datetime.fromisoformat(build["start_date"])
    assert {"fct_blood_units", "fct_aid_value", "fct_households_helped"} <= set(tables)
    return {"ingest": ingest, "build": build}


def check_task_logs(services: AirflowServices, ingest_run: str, build_run: str, states) -> None:
    """What the operator reads in the Airflow UI: each task's log tells what it did."""
    found = services.task_log(INGEST, ingest_run, "find_new_files")
    assert "1 file(s) waiting in the landing zone" in found, found
    loaded = services.task_log(INGEST, ingest_run, "load_files")
    assert re.search(r"loaded +48-492-2024M05\.csv: \d+ rows", loaded), loaded
    assert "1 loaded, 0 skipped, 0 rejected file(s)" in loaded, loaded
    gate = services.task_log(BUILD, build_run, "quality_gate")
    assert re.search(r"gate gate_\S+: 1 province\(s\) pass, 0 held back", gate), gate
    assert "48 Thành phố Đà Nẵng: passes" in gate, gate
    assert "report: " in gate, gate
    published = services.task_log(BUILD, build_run, "publish_marts")
    assert "provinces 48; held back: none" in published, published
    assert re.search(r"marts\.fct_blood_units: \d+ row\(s\) written", published), published
    empty = [
        task
        for task, state in states.items()
        if state == "success" and not services.task_log(BUILD, build_run, task).strip()
    ]
    assert empty == [], f"empty task logs: {empty}"
    noise = ("openlineage/namespace", "XDG_RUNTIME_DIR", "Unavailable conversion function")
    for text in (found, loaded, gate, published):
        assert not any(word in text for word in noise), text


def dags_registered(services: AirflowServices) -> bool:
    """Both DAGs are in the metadata database, unpaused; fail at once on an import error."""
    errors = services.request("GET", "/api/v2/importErrors")
    if errors and errors["total_entries"]:
        details = "\n".join(f"{e['filename']}: {e['stack_trace']}" for e in errors["import_errors"])
        raise ServiceFailed(f"DAG import errors (a DAG file being edited? rerun):\n{details}")
    dags = [services.request("GET", f"/api/v2/dags/{dag_id}") for dag_id in (INGEST, BUILD)]
    return all(dag and not dag["is_paused"] for dag in dags)


def quiet(services: AirflowServices) -> dict | None:
    """The ingest runs so far, once none is active and its next scheduled run is still ahead."""
    # the DAG first: the scheduler moves next_dagrun on in the transaction that creates the run
    after = services.request("GET", f"/api/v2/dags/{INGEST}")["next_dagrun_run_after"]
    if after is None or datetime.fromisoformat(after) <= datetime.now(UTC):
        return None
    runs = services.dag_runs(INGEST)
    if any(run["state"] not in TERMINAL_STATES for run in runs):
        return None
    return {"runs": runs}


def finished(services: AirflowServices, dag_id: str, run: dict) -> dict | None:
    path = f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}"
    current = services.request("GET", path)
    return current if current["state"] in TERMINAL_STATES else None


def asset_triggered_build(services: AirflowServices) -> dict | None:
    for run in services.dag_runs(BUILD):
        if run["run_type"] == "asset_triggered" and run["state"] in TERMINAL_STATES:
            return run
    return None
