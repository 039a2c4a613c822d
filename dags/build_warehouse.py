"""Build the warehouse with dbt into the audit schema, gate it with Great Expectations, publish.

Runs when new raw submissions arrive (the raw_submissions asset). If the gate fails, the
publish task does not run and the marts stay exactly as they were.

The dbt build is incremental: the facts and the heavy intermediate models rebuild only the
submissions logged since their last build. Trigger with `{"full_refresh": true}` to rebuild
every model from raw (after a change of a model's SQL or columns; changed seeds are picked up
on their own).
"""

from datetime import datetime

from airflow.sdk import Param, dag, task
from cosmos import DbtTaskGroup

from nhandao import orchestration, pipeline
from nhandao.assets import PUBLISHED_MARTS, RAW_SUBMISSIONS
from nhandao.monitor import alerts


@dag(
    dag_id="build_warehouse",
    schedule=[RAW_SUBMISSIONS],
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["nhandao", "dbt", "quality-gate"],
    doc_md=__doc__,
    on_failure_callback=alerts.dag_failed_alert,
    params={
        "full_refresh": Param(
            False,
            type="boolean",
            description="Rebuild every model from raw (dbt --full-refresh) instead of"
            " incrementally.",
        )
    },
)
def build_warehouse():
    @task
    def prepare_warehouse() -> None:
        pipeline.prepare_warehouse()

    dbt_build = DbtTaskGroup(
        group_id="dbt_build",
        project_config=orchestration.project_config(),
        profile_config=orchestration.profile_config(),
        execution_config=orchestration.execution_config(),
        render_config=orchestration.render_config(),
        operator_args=orchestration.operator_args(),
    )

    @task
    def quality_gate(run_id=None) -> str:
        return pipeline.validate_audit(gate_run_id=f"gate_{run_id}")

    @task(outlets=[PUBLISHED_MARTS])
    def publish_marts(gate_run_id: str) -> dict[str, int]:
        return pipeline.publish_audit(gate_run_id)

    gate_run_id = quality_gate()
    prepare_warehouse() >> dbt_build >> gate_run_id
    publish_marts(gate_run_id)


build_warehouse()
