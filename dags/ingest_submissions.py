"""Load new submission files from the landing folder into raw, one transaction per file."""

from datetime import datetime

from airflow.sdk import dag, task
from airflow.sdk.exceptions import AirflowSkipException

from nhandao import pipeline
from nhandao.assets import RAW_SUBMISSIONS
from nhandao.monitor import alerts


@dag(
    dag_id="ingest_submissions",
    schedule="*/15 * * * *",
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["nhandao", "ingest"],
    doc_md=__doc__,
    on_failure_callback=alerts.dag_failed_alert,
)
def ingest_submissions():
    @task
    def find_new_files() -> list[str]:
        return pipeline.find_new_files()

    @task(outlets=[RAW_SUBMISSIONS])
    def load_files(paths: list[str]) -> dict:
        if not paths:
            raise AirflowSkipException("no new files in the landing folder")
        summary = pipeline.load_files(paths)  # logs a line per file and the outcome
        if not summary["loaded"]:
            raise AirflowSkipException("no file loaded: nothing new for the warehouse")
        return summary

    load_files(find_new_files())


ingest_submissions()
