"""`make demo`: the whole pipeline on one real province, through the real Airflow DAGs.

Starts the warehouse, prepares Airflow's metadata database and the dbt manifest, writes sample
submissions into the landing folder, runs `ingest_submissions` and then `build_warehouse` with
`dag.test()`, and prints a summary read from the published marts. Running it again loads nothing
twice: the files are byte-identical, so the loader skips them by sha256.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from nhandao import dbt, logins, settings, warehouse
from nhandao.access import roles
from nhandao.access.query import district_year_summary
from nhandao.sample import generate


class DagRunFailed(Exception):
    """A DAG run did not succeed."""


def prepare_airflow() -> None:
    """Create or upgrade Airflow's metadata database (idempotent)."""
    airflow = Path(sys.executable).with_name("airflow")
    env = {**os.environ, "PATH": f"{airflow.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run([str(airflow), "db", "migrate"], check=True, env=env, stdout=subprocess.DEVNULL)


def load_dags() -> dict:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(settings.dags_dir()))
    if bag.import_errors:
        raise DagRunFailed(f"DAG import errors: {bag.import_errors}")
    return bag.dags


def run_dag(dags: dict, dag_id: str):
    """Run a DAG once with dag.test(); raise DagRunFailed unless it succeeded."""
    run = dags[dag_id].test()
    if str(run.state) != "success":
        raise DagRunFailed(f"DAG {dag_id} ended in state {run.state}; see the task logs above")
    return run


def task_state(run, task_id: str) -> str:
    from airflow.utils.session import create_session

    with create_session() as session:
        ti = run.get_task_instance(task_id, session=session)
        return str(ti.state) if ti else "none"


def needs_build(url: str) -> bool:
    """True if raw holds files loaded after the last publication (or nothing is published)."""
    with warehouse.connect(url) as conn:
        last_load, last_publication = conn.execute(
            "select (select max(loaded_at) from raw.submission_files where status = 'loaded'),"
            " (select max(published_at) from monitoring.publications)"
        ).fetchone()
    return last_publication is None or (last_load is not None and last_load > last_publication)


def outcome(url: str, since) -> str:
    """One line for the run: files loaded and rejected since `since`, the last gate's verdict,
    where its report is."""
    with warehouse.connect(url) as conn:
        loaded, rejected, rows, rows_rejected = conn.execute(
            "select count(*) filter (where status = 'loaded'),"
            " count(*) filter (where status = 'rejected'),"
            " coalesce(sum(row_count), 0), coalesce(sum(rejected_row_count), 0)"
            " from raw.submission_files where loaded_at >= %s",
            (since,),
        ).fetchone()
        gate = conn.execute(
            "select gate_run_id, success, coalesce(provinces_held_back, '{}'), report_path"
            " from monitoring.gate_runs order by started_at desc limit 1"
        ).fetchone()
    line = (
        f"{loaded} file(s) loaded ({rows} rows), {rejected} rejected,"
        f" {rows_rejected} row(s) rejected"
    )
    if gate:
        gate_run_id, success, held_back, report = gate
        verdict = "passed" if success else f"held back {', '.join(held_back) or 'everything'}"
        line += f"; gate {gate_run_id}: {verdict}; report {report}"
    return line


def run_demo(province: str, years: range, seed: int, out=print) -> None:
    # the demo's console shows its own lines and the outcome; the tasks' INFO lines (every
    # file, every dbt node) are for the task logs of a real scheduler
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")
    settings.apply_airflow_environment()
    out("→ Kho dữ liệu / warehouse: starting")
    url = warehouse.ensure_warehouse()
    out(f"  {url}")
    if settings.run_as_roles():
        with warehouse.connect(url) as conn:
            roles.ensure_roles(conn)
        out(f"  the DAGs log in as {logins.LOADER} and {logins.TRANSFORMER}")
    out("→ Airflow metadata database and dbt manifest")
    prepare_airflow()
    dbt.parse()
    landing = settings.landing_dir()
    files = generate.generate_province(province, years, landing, seed=seed)
    out(f"→ {len(files)} sample submissions for province {province} in {landing}")
    dags = load_dags()
    with warehouse.connect(url) as conn:
        started = conn.execute("select now()").fetchone()[0]
    out("→ DAG ingest_submissions")
    ingest_run = run_dag(dags, "ingest_submissions")
    out(f"  load_files: {task_state(ingest_run, 'load_files')}")
    if needs_build(url):
        out("→ DAG build_warehouse (dbt build → Great Expectations gate → publish)")
        build_run = run_dag(dags, "build_warehouse")
        out(f"  publish_marts: {task_state(build_run, 'publish_marts')}")
    else:
        out("→ nothing new since the last publication: the marts are up to date")
    out("→ DAG monitor_reporting (completeness, freshness, gate history → monitoring.*)")
    run_dag(dags, "monitor_reporting")
    page = settings.reports_dir() / "status" / "index.html"
    out(f"  status page: {page}")
    out(f"  {outcome(url, started)}")
    with warehouse.connect(url) as conn:
        out("\nĐơn vị máu và giá trị trợ giúp theo quận/huyện và năm (marts):\n")
        out(district_year_summary(conn))
