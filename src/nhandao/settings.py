"""Where things live: the project checkout, the state folder, the landing zone.

Every path can be overridden by an environment variable so the same code runs in a checkout, in
the tests (a temporary state folder) and in the Docker image.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def project_dir() -> Path:
    """The folder holding dbt_project/, expectations/, seeds/ and dags/."""
    if env := os.environ.get("NHANDAO_PROJECT_DIR"):
        return Path(env).resolve()
    checkout = PACKAGE_DIR.parents[1]
    if (checkout / "dbt_project").is_dir():
        return checkout
    return Path.cwd().resolve()


def home_dir() -> Path:
    """The state folder: embedded Postgres, Airflow home, GX results, landing zone."""
    if env := os.environ.get("NHANDAO_HOME"):
        return Path(env).resolve()
    return project_dir() / ".nhandao"


def landing_url() -> str:
    """Where districts' submission files arrive: a folder, or any fsspec URL (s3://…, gs://…)."""
    env = os.environ.get("NHANDAO_LANDING", "")
    if "://" in env:
        return env
    return (Path(env).resolve() if env else home_dir() / "landing").as_uri()


def landing_dir() -> Path:
    """The landing zone as a local folder (only when it is one)."""
    url = landing_url()
    if not url.startswith("file://"):
        raise ValueError(f"the landing zone {url} is not a local folder")
    return Path(url.removeprefix("file://"))


def run_as_roles() -> bool:
    """Whether the pipeline logs in as nhandao_loader and nhandao_transformer (the default; the
    admin creates them with `nhandao roles setup`) or as the warehouse URL's own user
    (NHANDAO_RUN_AS_ROLES=false, for a single-user development database)."""
    value = os.environ.get("NHANDAO_RUN_AS_ROLES", "true")
    return value.strip().lower() not in ("0", "false", "no", "off")


def gate_workers() -> int:
    """Processes the quality gate validates slices in (NHANDAO_GATE_WORKERS; default: the cores,
    at most 4). Postgres runs one validation's queries while Great Expectations prepares the
    next one's in another process."""
    if env := os.environ.get("NHANDAO_GATE_WORKERS"):
        return max(1, int(env))
    return max(1, min(os.cpu_count() or 1, 4))


def reports_dir() -> Path:
    """Where HTML reports are written: gate runs, the status page (NHANDAO_REPORTS overrides)."""
    if env := os.environ.get("NHANDAO_REPORTS"):
        return Path(env).resolve()
    return home_dir() / "reports"


def dbt_project_dir() -> Path:
    return project_dir() / "dbt_project"


def seeds_dir() -> Path:
    return project_dir() / "seeds"


def expectations_dir() -> Path:
    return project_dir() / "expectations"


def dags_dir() -> Path:
    return project_dir() / "dags"


def airflow_environment() -> dict[str, str]:
    """Airflow settings for running the DAGs from this checkout (only those not already set)."""
    home = home_dir()
    defaults = {
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_dir()),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__COSMOS__CACHE_DIR": str(home / "cosmos"),
        "AIRFLOW__COSMOS__ENABLE_CACHE": "True",
        # task logs tell the story (files loaded, the gate's verdict, what was published)
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        # Cosmos asks for OpenLineage's namespace and says the provider is missing (it is,
        # until lineage is wanted); dbt's own lines stay in the dbt tasks' logs
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "nhandao",
        "AIRFLOW__LOGGING__NAMESPACE_LEVELS": "cosmos.operators.local=ERROR",
        "GX_ANALYTICS_ENABLED": "False",
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    }
    return {key: value for key, value in defaults.items() if key not in os.environ}


def apply_airflow_environment() -> None:
    """Set the Airflow defaults in this process; call before importing airflow."""
    os.environ.update(airflow_environment())
