"""Harnesses for tests: Airflow's own services (scheduler, API server, DAG processor, triggerer,
Celery workers) started as separate processes for the real-scheduler tests."""
