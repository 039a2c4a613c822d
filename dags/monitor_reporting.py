"""Watch reporting: completeness and timeliness, late and missing reports per province, each
province's last good load and gate result, into monitoring.*; rewrite the status page; alert
provinces with missing reports.

Runs every morning (07:00, Vietnam time) and after each publication (the published_marts asset).
"""

from datetime import datetime

from airflow.sdk import dag, task
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable

from nhandao import pipeline
from nhandao.assets import PUBLISHED_MARTS
from nhandao.monitor import alerts
from nhandao.submission_format import VIETNAM


@dag(
    dag_id="monitor_reporting",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 7 * * *", timezone=VIETNAM.key),
        assets=[PUBLISHED_MARTS],
    ),
    start_date=datetime(2025, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["nhandao", "monitoring"],
    doc_md=__doc__,
    on_failure_callback=alerts.dag_failed_alert,
)
def monitor_reporting():
    @task
    def take_snapshot(run_id=None) -> dict:
        return pipeline.monitor_reporting(trigger=run_id)

    @task
    def alert_late_provinces(snapshot: dict) -> int:
        return pipeline.alert_late_provinces(snapshot["snapshot_id"], snapshot["status_page"])

    alert_late_provinces(take_snapshot())


monitor_reporting()
