"""Airflow's own services for one Airflow home: API server, scheduler and DAG processor, and
with the CeleryExecutor any number of Celery workers.

Each runs as `airflow <service>` in its own process group, logging to `<home>/services/`, on a
Postgres metadata database, with the LocalExecutor (tasks run in the scheduler's processes) or the
CeleryExecutor (tasks go through a Redis broker to `airflow celery worker` processes; their
results are kept in the metadata database). The REST API is reached with a token from the simple
auth manager (user `admin`, password in `<home>/passwords.json`).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

SERVICES = ("api-server", "scheduler", "dag-processor")
EXECUTORS = ("LocalExecutor", "CeleryExecutor")
WORKER_HOSTNAME_VARIABLE = "NHANDAO_WORKER_HOSTNAME"
TERMINAL_STATES = ("success", "failed")


class ServiceFailed(RuntimeError):
    """An Airflow service exited, or did not get where it should within its time."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def metadata_db_url(postgres_url: str) -> str:
    """Airflow's metadata database URL (SQLAlchemy, psycopg2) for a postgresql://… URL."""
    scheme, rest = postgres_url.split("://", 1)
    if scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a Postgres URL: {scheme}://…")
    return f"postgresql+psycopg2://{rest}"


def airflow_executable() -> Path:
    return Path(sys.executable).with_name("airflow")


def tail(path: Path, lines: int = 40, skip: str | None = None) -> str:
    """The last `lines` lines of a log file (without those containing `skip`)."""
    if not path.exists():
        return f"({path} does not exist)"
    with open(path, encoding="utf-8", errors="replace") as f:
        return "".join(deque((line for line in f if not skip or skip not in line), maxlen=lines))


def worker_hostname() -> str:
    """Airflow's `[core] hostname_callable` for Celery workers that share a machine: the worker's
    node name (NHANDAO_WORKER_HOSTNAME), so task_instance.hostname tells them apart; else FQDN."""
    return os.environ.get(WORKER_HOSTNAME_VARIABLE) or socket.getfqdn()


def _running(processes: list) -> list:
    """Those of the psutil processes still running (an exited one may linger as a zombie)."""
    import psutil

    running = []
    for process in processes:
        with suppress(psutil.NoSuchProcess):
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                running.append(process)
    return running


class AirflowServices:
    """The three services of one Airflow home (and its Celery workers); start() them, talk to the
    API, stop() them."""

    def __init__(
        self,
        home: Path,
        metadata_url: str,
        *,
        environment: Mapping[str, str] | None = None,
        api_port: int | None = None,
        settings: Mapping[str, str] | None = None,
        executor: str = "LocalExecutor",
        broker_url: str | None = None,
        worker_preload: Sequence[str] = (),
    ):
        """`metadata_url` is a SQLAlchemy Postgres URL; `settings` are extra AIRFLOW__* values.

        With `executor="CeleryExecutor"`, `broker_url` names the Redis broker; the Celery results
        go to the metadata database, and each worker imports `worker_preload` (third-party
        modules) once before it forks its pool, so its tasks need not import them again."""
        if executor not in EXECUTORS:
            raise ValueError(f"executor {executor!r} is not one of {', '.join(EXECUTORS)}")
        if (executor == "CeleryExecutor") != bool(broker_url):
            raise ValueError("a broker_url is needed with the CeleryExecutor, and only with it")
        self.home = Path(home)
        self.executor = executor
        self.broker_url = broker_url
        self.api_port = api_port or free_port()
        self.api_url = f"http://127.0.0.1:{self.api_port}"
        self.password = secrets.token_urlsafe(16)
        self.processes: dict[str, subprocess.Popen] = {}
        self._token: str | None = None
        base = dict(os.environ if environment is None else environment)
        self.env = {
            **base,
            "PATH": f"{airflow_executable().parent}{os.pathsep}{base.get('PATH', '')}",
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # the task runner reports to the API server's execution API, with tokens signed by
            # the scheduler: every process must share the secret
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(32),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.passwords_file),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            **(celery_settings(metadata_url, broker_url, worker_preload) if broker_url else {}),
            **(settings or {}),
        }
        self.workers: list[str] = []

    @property
    def passwords_file(self) -> Path:
        return self.home / "passwords.json"

    @property
    def log_dir(self) -> Path:
        return self.home / "services"

    def airflow(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """Run an `airflow` CLI command in this home; raise ServiceFailed if it fails."""
        done = subprocess.run(
            [str(airflow_executable()), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise ServiceFailed(
                f"airflow {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}"
            )
        return done

    def migrate(self) -> None:
        """Create or upgrade the metadata database."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.airflow("db", "migrate")

    def start(self) -> None:
        """Start the API server, the scheduler and the DAG processor, each in its own group."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(exist_ok=True)
        self.passwords_file.write_text(json.dumps({"admin": self.password}), encoding="utf-8")
        self.passwords_file.chmod(0o600)
        for service in SERVICES:
            self._spawn(service, [service], self.env)

    def start_workers(self, count: int, concurrency: int = 2) -> list[str]:
        """Start `count` more `airflow celery worker` processes, each running up to `concurrency`
        tasks at a time under a node name of its own (worker1@host, …); return their names."""
        if self.executor != "CeleryExecutor":
            raise ValueError(f"Celery workers need the CeleryExecutor, not {self.executor}")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        host = socket.gethostname()
        started = []
        for number in range(len(self.workers) + 1, len(self.workers) + count + 1):
            name = f"worker{number}@{host}"
            env = {
                **self.env,
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.worker_hostname",
                # ...which the worker imports from here: tests/, where this harness lives
                "PYTHONPATH": os.pathsep.join(
                    filter(
                        None, [str(Path(__file__).resolve().parents[1]), self.env.get("PYTHONPATH")]
                    )
                ),
                WORKER_HOSTNAME_VARIABLE: name,
                # each worker serves its task logs on a port of its own
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            }
            command = ["celery", "worker", "--celery-hostname", name]
            self._spawn(f"worker{number}", [*command, "--concurrency", str(concurrency)], env)
            self.workers.append(name)
            started.append(name)
        return started

    def _spawn(self, service: str, args: list[str], env: Mapping[str, str]) -> None:
        with open(self.log_dir / f"{service}.log", "ab") as log:
            self.processes[service] = subprocess.Popen(
                [str(airflow_executable()), *args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self, grace: float = 20) -> None:
        """SIGTERM each service's process group, the scheduler's first (running tasks report their
        end through the API server), then each Celery worker (a warm shutdown: it finishes its
        tasks), then the API server; SIGKILL what outlives `grace`, and any descendant."""
        import psutil

        family: list[psutil.Process] = []
        for process in self.processes.values():
            with suppress(psutil.NoSuchProcess):
                family += psutil.Process(process.pid).children(recursive=True)
        workers = [name for name in self.processes if name.startswith("worker")]
        # a Celery worker's main process ends its pool itself, once its tasks are done
        stages = (
            (("scheduler", "dag-processor"), os.killpg),
            (workers, os.kill),
            (("api-server",), os.killpg),
        )
        for services, terminate in stages:
            group = [self.processes[name] for name in services if name in self.processes]
            group = [process for process in group if process.poll() is None]
            for process in group:
                with suppress(ProcessLookupError):
                    terminate(process.pid, signal.SIGTERM)
            deadline = time.monotonic() + grace
            for process in group:
                with suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
            for process in group:
                if process.poll() is None:
                    with suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
        # task processes run in process groups of their own: end any descendant still alive
        deadline = time.monotonic() + 5
        while (alive := _running(family)) and time.monotonic() < deadline:
            time.sleep(0.2)
        for leftover in alive:
            with suppress(psutil.NoSuchProcess):
                leftover.kill()

    def __enter__(self) -> AirflowServices:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def check_running(self) -> None:
        for service, process in self.processes.items():
            if process.poll() is not None:
                raise ServiceFailed(f"airflow {service} exited with {process.returncode}")

    # The REST API

    def request(self, method: str, path: str, body: Any = None, token: str | None = "auto"):
        """Call the API server; return the decoded JSON, or None for a 404."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token == "auto":
            token = self.token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.api_url + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=60) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            if error.code == 404:
                return None
            detail = error.read().decode(errors="replace")[:2000]
            raise ServiceFailed(f"{method} {path}: HTTP {error.code} {detail}") from error

    def token(self) -> str:
        """A JWT from the simple auth manager's token endpoint, as `admin`."""
        if self._token is None:
            answer = self.request(
                "POST",
                "/auth/token",
                {"username": "admin", "password": self.password},
                token=None,
            )
            self._token = answer["access_token"]
        return self._token

    def celery_workers(self, timeout: float = 1.0) -> set[str]:
        """The node names of the Celery workers that answer a ping through the broker."""
        from celery import Celery

        app = Celery(broker=self.broker_url)
        try:
            replies = app.control.ping(timeout=timeout)
        finally:
            app.close()
        return {name for reply in replies for name in reply}

    def health(self) -> dict | None:
        """The API server's health report, or None while it does not answer."""
        try:
            return self.request("GET", "/api/v2/monitor/health", token=None)
        except (urllib.error.URLError, ConnectionError, TimeoutError, ServiceFailed):
            return None

    def dag_runs(self, dag_id: str) -> list[dict]:
        answer = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=100&order_by=run_after")
        return list(answer["dag_runs"]) if answer else []

    def trigger(self, dag_id: str, conf: dict | None = None) -> dict:
        """Trigger a manual run now, as an operator would from the UI."""
        body = {"logical_date": None, "conf": conf or {}}
        return self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=1000"
        return {ti["task_id"]: ti["state"] for ti in self.request("GET", path)["task_instances"]}

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        """A task's log as the UI shows it (through the REST API), one line per event."""
        quoted = urllib.parse.quote(run_id, safe="")
        path = (
            f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances/{task_id}/logs/{try_number}"
            "?full_content=true"
        )
        answer = self.request("GET", path) or {}
        content = answer.get("content") or []
        if isinstance(content, str):
            return content
        return "\n".join(
            str(item.get("event", item)) if isinstance(item, dict) else str(item)
            for item in content
        )

    def wait_for(self, what: str, check: Callable[[], Any], deadline: float, every: float = 2):
        """Poll `check` until it returns something truthy; ServiceFailed once past `deadline`."""
        last_error = None
        while True:
            self.check_running()
            try:
                if result := check():
                    return result
            except OSError as error:  # the API server is slow or restarting: ask again
                last_error = error
            if time.monotonic() > deadline:
                raise ServiceFailed(f"timed out waiting for {what} (last error: {last_error})")
            time.sleep(every)

    def diagnostics(self, lines: int = 40, task_logs: int = 4) -> str:
        """Tails of each service's log and of the task logs (failed ones first), for a report."""
        parts = []
        for service in self.processes or SERVICES:
            path = self.log_dir / f"{service}.log"
            parts.append(f"===== {path} =====\n{tail(path, lines, skip='[http.access]')}")
        logs = sorted((self.home / "logs").glob("dag_id=*/**/*.log"), key=os.path.getmtime)
        failed = [path for path in logs if '"level":"error"' in path.read_text(errors="replace")]
        for path in dict.fromkeys(failed[-task_logs:] + logs[-2:]):
            parts.append(f"===== {path} =====\n{tail(path, lines)}")
        return "\n".join(parts)


def celery_settings(metadata_url: str, broker_url: str, preload: Sequence[str] = ()) -> dict:
    """AIRFLOW__* settings of the CeleryExecutor: the broker, the results in the metadata database
    (with the worker that ran each task, `result_extended`), modules each worker preloads."""
    extra = {"result_extended": True, "imports": list(preload)}
    return {
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata_url}",
        "AIRFLOW__CELERY__EXTRA_CELERY_CONFIG": json.dumps(extra),
    }
