"""More than one worker: the same DAGs, unchanged, under Airflow's CeleryExecutor.

The run of test_scheduler.py (land a file, trigger the ingest through the REST API, wait for the
asset-triggered build to publish), but the scheduler hands every task through a Redis broker to
two `airflow celery worker` processes, as workers on separate machines would run them, with the
Celery results in the metadata database. Each worker reports its own node name as its hostname
(on one machine they would otherwise share it), so the metadata database says which worker ran
each task: the test checks both did, and that Celery's own record of each task agrees. Redis is a
private `redis-server` on a free port when the binary is installed, else the Redis that
NHANDAO_REDIS_URL names (or 127.0.0.1:6379, database 15), with a queue of the test's own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from conftest import rows
from harness.airflow_services import AirflowServices, free_port, metadata_db_url
from test_scheduler import BUILD, INGEST, PRELOAD, metadata_database, run_pipeline, service_settings

pytestmark = [pytest.mark.dbt, pytest.mark.airflow, pytest.mark.slow]

WORKERS = 2
# the same work as test_scheduler's, with more processes on the same two cores; a bound on
# waiting, not a target (the run takes 4-7 minutes on 2 idle cores)
BUDGET_SECONDS = 30 * 60
SHARED_REDIS = "redis://127.0.0.1:6379/15"


def answers(url: str) -> bool:
    try:
        return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except redis.RedisError:
        return False


@pytest.fixture
def redis_url(tmp_path) -> Iterator[str]:
    """A private redis-server for this test, or a reachable Redis database it may use."""
    server = shutil.which("redis-server")
    if server is None:
        url = os.environ.get("NHANDAO_REDIS_URL") or SHARED_REDIS
        if not answers(url):
            pytest.fail(
                f"no Redis for the Celery test: {url} does not answer and redis-server is not on "
                "PATH. Install it (Debian: apt-get install redis-server) or set NHANDAO_REDIS_URL "
                "to redis://host:port/db, a database this test may use."
            )
        yield url
        return
    folder = tmp_path / "redis"
    folder.mkdir()
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    process = subprocess.Popen(
        [server, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(folder)]
        + ["--save", "", "--appendonly", "no", "--logfile", str(folder / "redis.log")],
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                log = (folder / "redis.log").read_text(errors="replace")[-2000:]
                pytest.fail(f"redis-server on port {port} did not start:\n{log}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def celery_services(server_url, warehouse_url, manifest, redis_url, tmp_path):
    """Airflow's services with the CeleryExecutor, on a fresh metadata database, and its URL."""
    with metadata_database(server_url) as metadata_url:
        services = AirflowServices(
            tmp_path / "airflow",
            metadata_db_url(metadata_url),
            executor="CeleryExecutor",
            broker_url=redis_url,
            # each worker imports dbt once, before it forks the processes that run the tasks
            worker_preload=PRELOAD,
            settings={
                **service_settings(),
                # a queue of this test's own, should the Redis be shared
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": f"nhandao-test-{uuid.uuid4().hex[:8]}",
            },
        )
        try:
            yield services, metadata_url
        finally:
            services.stop()


def test_celery_workers_run_the_pipeline(celery_services, warehouse_url):
    services, metadata_url = celery_services
    runs = run_pipeline(services, warehouse_url, workers=WORKERS, budget=BUDGET_SECONDS)
    workers = set(services.workers)
    assert len(workers) == WORKERS

    # every task instance of the two runs ran, on one of the workers, and both workers had some
    ran = rows(
        metadata_url,
        "select dag_id, task_id, map_index, state, hostname, external_executor_id"
        " from task_instance where (dag_id, run_id) in ((%s, %s), (%s, %s))",
        (INGEST, runs["ingest"]["dag_run_id"], BUILD, runs["build"]["dag_run_id"]),
    )
    assert len(ran) >= 12, ran
    assert all(state == "success" for *_, state, _, _ in ran), ran
    hostnames = {hostname for *_, hostname, _ in ran}
    assert hostnames == workers, (hostnames, workers)
    per_worker = {name: sum(hostname == name for *_, hostname, _ in ran) for name in workers}
    print(f"\ntask instances per worker: {per_worker}")

    # Celery's own record of each task (the result backend, in the metadata database) names the
    # worker that took it off the queue: the same as the task instance's hostname
    taken = dict(rows(metadata_url, "select task_id, worker from celery_taskmeta"))
    assert {hostname for *_, hostname, _ in ran} == {taken[task] for *_, task in ran}
    mismatched = [row for row in ran if taken[row[-1]] != row[-2]]
    assert not mismatched, mismatched
