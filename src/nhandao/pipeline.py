"""The steps the DAGs run, as plain functions: each takes what it needs and returns a summary.

DAG files in dags/ only wire these into tasks; the tests call them directly too.
"""

from __future__ import annotations

from pathlib import Path

from nhandao import dbt, gate, ingest, publish, settings, warehouse

RAW_SUBMISSIONS_URI = "nhandao://warehouse/raw/submissions"
PUBLISHED_MARTS_URI = "nhandao://warehouse/marts"


def prepare_warehouse() -> str:
    """Start the embedded server if it is the default, create schemas and raw tables."""
    return warehouse.ensure_warehouse()


def find_new_files(landing: Path | None = None) -> list[str]:
    """Files in the landing folder whose content (sha256) has not been loaded yet."""
    url = prepare_warehouse()
    files = ingest.pending_files(landing or settings.landing_dir())
    with warehouse.connect(url) as conn:
        loaded = {
            row[0]
            for row in conn.execute(
                "select sha256 from raw.submission_files where status = 'loaded'"
            )
        }
    return [str(path) for path in files if ingest.sha256_of(path) not in loaded]


def load_files(paths: list[str]) -> dict:
    """Load each file in its own transaction; a summary with one line per file."""
    results = ingest.ingest_paths([Path(p) for p in paths], prepare_warehouse())
    summary = {
        status: sum(r.status == status for r in results)
        for status in ("loaded", "skipped", "rejected")
    }
    summary["rows_loaded"] = sum(r.rows_loaded for r in results)
    summary["lines"] = [r.line() for r in results]
    return summary


def validate_audit(gate_run_id: str | None = None) -> str:
    """Run the quality gate on the audit build; raise GateFailed if a blocking rule fails."""
    result = gate.enforce(gate.run_gate(warehouse.warehouse_url(), gate_run_id=gate_run_id))
    return result.gate_run_id


def publish_audit(gate_run_id: str) -> dict[str, int]:
    """Copy the published models from audit to marts in one transaction."""
    with warehouse.connect(warehouse.warehouse_url()) as conn:
        return publish.publish(conn, dbt.published_models(), gate_run_id)
