"""The Airflow Assets the DAGs hand on to each other, declared once: submissions loaded into `raw`
(which the build waits for) and marts published (which the monitor waits for)."""

from airflow.sdk import Asset

RAW_SUBMISSIONS = Asset(name="raw_submissions", uri="nhandao://warehouse/raw/submissions")
PUBLISHED_MARTS = Asset(name="published_marts", uri="nhandao://warehouse/marts")
