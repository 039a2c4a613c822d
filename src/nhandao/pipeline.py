"""The steps the DAGs run, as plain functions: each takes what it needs and returns a summary.

DAG files in dags/ only wire these into tasks; the tests call them directly too.
"""

from __future__ import annotations

from nhandao import dbt, gate, landing, publish, warehouse

RAW_SUBMISSIONS_URI = "nhandao://warehouse/raw/submissions"
PUBLISHED_MARTS_URI = "nhandao://warehouse/marts"


def prepare_warehouse() -> str:
    """Start the embedded server if it is the default, create schemas and raw tables."""
    return warehouse.ensure_warehouse()


def find_new_files(landing_url: str | None = None) -> list[str]:
    """URLs of the files waiting in the landing zone."""
    return landing.pending(landing_url)


def load_files(urls: list[str]) -> dict:
    """Load each file in its own transaction, file it away; a summary with a line per file."""
    processed = landing.process(urls, prepare_warehouse())
    results = [result for result, _ in processed]
    summary = {
        status: sum(r.status == status for r in results)
        for status in ("loaded", "skipped", "rejected")
    }
    summary["rows_loaded"] = sum(r.rows_loaded for r in results)
    summary["rows_rejected"] = sum(r.rows_rejected for r in results)
    summary["lines"] = [f"{r.line()} → {moved}" for r, moved in processed]
    return summary


def validate_audit(gate_run_id: str | None = None) -> str:
    """Run the quality gate on the audit build; raise GateFailed if a blocking rule fails."""
    result = gate.enforce(gate.run_gate(warehouse.warehouse_url(), gate_run_id=gate_run_id))
    return result.gate_run_id


def publish_audit(gate_run_id: str) -> dict[str, int]:
    """Copy the published models from audit to marts in one transaction."""
    with warehouse.connect(warehouse.warehouse_url()) as conn:
        return publish.publish(conn, dbt.published_models(), gate_run_id)
