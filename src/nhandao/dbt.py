"""Running dbt against the warehouse: environment for the profile, parse, build."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from nhandao import settings, warehouse


def dbt_env(url: str | None = None) -> dict[str, str]:
    """The variables dbt_project/profiles.yml reads, from a warehouse URL (no I/O). A URL that
    names a password file (`passfile=`, as the embedded server's do) gives PGPASSFILE instead
    of a password: libpq, under dbt, reads the password there."""
    url = url or warehouse.warehouse_url()
    parts = warehouse.split_url(url)
    env = {
        "NHANDAO_DBT_HOST": parts.host,
        "NHANDAO_DBT_PORT": str(parts.port),
        "NHANDAO_DBT_USER": parts.user,
        "NHANDAO_DBT_PASSWORD": parts.password,
        "NHANDAO_DBT_DBNAME": parts.dbname,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    }
    if passfile := parse_qs(urlsplit(url).query).get("passfile"):
        env["PGPASSFILE"] = passfile[0]
    return env


def manifest_path() -> Path:
    return settings.dbt_project_dir() / "target" / "manifest.json"


def run(args: list[str], url: str | None = None) -> None:
    """Run a dbt command in-process against the warehouse; raise if it fails."""
    from dbt.cli.main import dbtRunner

    os.environ.update(dbt_env(url))
    project = str(settings.dbt_project_dir())
    result = dbtRunner().invoke([*args, "--project-dir", project, "--profiles-dir", project])
    if not result.success:
        raise RuntimeError(
            f"dbt {' '.join(args)} failed: {result.exception or 'see the log above'}"
        )


def parse() -> Path:
    """Write target/manifest.json (no database needed); the DAGs read it instead of calling dbt."""
    run(["parse", "--quiet"])
    return manifest_path()


def published_models() -> list[str]:
    """Names of the models in marts/, which the publisher copies from `audit` to `marts`."""
    return sorted(published_slices())


def published_slices() -> dict[str, str | None]:
    """Each published model and the column it is published by (`meta.publish_slice`), if any.

    A model with a slice column (today's province) is validated and published province by
    province; one without (the dimensions) is validated and published whole.
    """
    import json

    manifest = json.loads(manifest_path().read_text(encoding="utf-8"))
    return {
        node["name"]: (node["config"].get("meta") or {}).get("publish_slice")
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["fqn"][1] == "marts"
    }


def published_years() -> dict[str, str]:
    """Each model published by province whose rows also belong to a year: the column that says
    which (`meta.publish_year`: `year`, or `period_code`, whose first four characters are it).

    Such a model is validated and published by province and year, so a new month redoes its
    year, not the province's history.
    """
    import json

    manifest = json.loads(manifest_path().read_text(encoding="utf-8"))
    return {
        node["name"]: meta["publish_year"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        and node["fqn"][1] == "marts"
        and (meta := node["config"].get("meta") or {}).get("publish_slice")
        and meta.get("publish_year")
    }
