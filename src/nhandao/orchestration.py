"""Cosmos configuration for running the dbt project as Airflow tasks.

Reads the prebuilt dbt manifest (LoadMode.DBT_MANIFEST), so parsing a DAG never calls dbt nor
touches the database.
"""

from __future__ import annotations

from cosmos import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import InvocationMode, LoadMode, TestBehavior

from nhandao import dbt, logins, settings, warehouse


def project_config() -> ProjectConfig:
    manifest = dbt.manifest_path()
    if not manifest.exists():
        raise FileNotFoundError(
            f"{manifest} is missing: build it with `nhandao dbt-parse` (make does this)"
        )
    return ProjectConfig(
        dbt_project_path=settings.dbt_project_dir(),
        manifest_path=manifest,
        install_dbt_deps=False,
        # dbt's profile variables for the transformer role (string parsing only, no connection)
        env_vars=dbt.dbt_env(warehouse.runtime_url(logins.TRANSFORMER)),
    )


def profile_config() -> ProfileConfig:
    return ProfileConfig(
        profile_name="nhandao",
        target_name="audit",
        profiles_yml_filepath=settings.dbt_project_dir() / "profiles.yml",
    )


def execution_config() -> ExecutionConfig:
    return ExecutionConfig(invocation_mode=InvocationMode.DBT_RUNNER)


def render_config() -> RenderConfig:
    return RenderConfig(
        load_method=LoadMode.DBT_MANIFEST,
        test_behavior=TestBehavior.BUILD,
        # relationship tests run once both the fact and the dimension are built
        should_detach_multiple_parents_tests=True,
        # the DAGs declare their own assets; Cosmos' per-model assets would need a TCP host
        emit_datasets=False,
        # the project's on-run-end hook runs inside every dbt invocation: no task of its own
        # (rendered, Cosmos would warn at every parse that it has no operator for it)
        exclude=["resource_type:operation"],
    )


def operator_args() -> dict:
    # incremental by default; a run triggered with {"full_refresh": true} rebuilds everything
    return {"append_env": True, "full_refresh": "{{ params.full_refresh }}"}
