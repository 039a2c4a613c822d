"""The steps the DAGs run, as plain functions: each takes what it needs and returns a summary.

DAG files in dags/ only wire these into tasks; the tests call them directly too.
"""

from __future__ import annotations

import logging

from nhandao import dbt, logins, reference, settings, warehouse
from nhandao.gate import validate
from nhandao.gate.results import GateResult
from nhandao.ingest import landing, load
from nhandao.monitor import alerts, completeness, status_page
from nhandao.publish import release

log = logging.getLogger(__name__)


def prepare_warehouse() -> None:
    """Start the embedded server if it is the default, and check the warehouse is set up.

    With runtime roles (the default) the schemas and roles are the admin's job (`nhandao roles
    setup`); a pipeline step only checks it can log in. Without them, it creates the schemas.
    """
    if not settings.run_as_roles():
        warehouse.ensure_warehouse()
        return
    if warehouse.is_embedded():
        warehouse.ensure_embedded_server()
    warehouse.check_runtime(warehouse.runtime_url(logins.TRANSFORMER))


def find_new_files(landing_url: str | None = None) -> list[str]:
    """URLs of the files waiting in the landing zone."""
    found = landing.pending(landing_url)
    log.info("%d file(s) waiting in the landing zone %s", len(found), landing_url or "")
    return found


def load_files(urls: list[str]) -> dict:
    """Load each file in its own transaction, file it away; a summary with a line per file."""
    prepare_warehouse()
    processed = landing.process(urls, warehouse.runtime_url(logins.LOADER))
    results = [result for result, _ in processed]
    summary = {status: sum(r.status == status for r in results) for status in load.STATUSES}
    summary["rows_loaded"] = sum(r.rows_loaded for r in results)
    summary["rows_rejected"] = sum(r.rows_rejected for r in results)
    summary["lines"] = [f"{r.line()} → {moved}" for r, moved in processed]
    for line in summary["lines"]:
        log.info("%s", line)
    for result, _ in processed:
        for path in result.report_paths:
            log.info("  report: %s", path)
    log.info("%s", load.outcome(results))
    return summary


def validate_audit(gate_run_id: str | None = None) -> str:
    """Run the quality gate on the audit build, province by province.

    Raises GateFailed when nothing can be published (a shared table failed, or every province
    was held back); returns the gate run id otherwise, held-back provinces included.
    """
    url = warehouse.runtime_url(logins.TRANSFORMER)
    result = validate.run_gate(url, gate_run_id=gate_run_id)
    for line in verdict_lines(result):
        log.info("%s", line)
    if not result.passed:
        _send(alerts.gate_failed_alerts(result, report_url=result.report_path))
    return validate.enforce(result).gate_run_id


def verdict_lines(result: GateResult) -> list[str]:
    """The gate's verdict as an operator reads it: the run, then each province with the rules
    that failed (and how many rows broke each), then the report."""
    held_back = set(result.held_back_provinces)
    lines = [
        f"gate {result.gate_run_id}: {len(result.provinces) - len(held_back)} province(s)"
        f" pass, {len(held_back)} held back"
        + (f"; {result.reused} slice(s) judged before, unchanged" if result.reused else "")
    ]
    lines += [f"  every province held back by: {o.describe()}" for o in result.global_failures]
    for province in result.provinces:
        failed = [o for o in result.outcomes if o.province_code == province and not o.success]
        blocking = [o for o in failed if o.blocks]
        verdict = "HELD BACK" if province in held_back else "passes"
        warned = len(failed) - len(blocking)
        name = reference.province_name(province)
        lines.append(
            f"  {province} {name}: {verdict}" + (f", {warned} warning(s)" if warned else "")
        )
        lines += [f"    {'blocks' if o.blocks else 'warns'}: {o.describe()}" for o in failed]
    if result.report_path:
        lines.append(f"  report: {result.report_path}")
    return lines


def _send(pending: list) -> int:
    """Send alerts; a channel that fails is logged (and recorded), never fails the caller."""
    try:
        return len(alerts.send(pending, url=warehouse.runtime_url(logins.TRANSFORMER)))
    except alerts.AlertDeliveryFailed as exc:
        log.error("%s", exc)
        return 0


def publish_audit(gate_run_id: str) -> dict:
    """Publish what the gate run allows from audit to marts, in one transaction."""
    with warehouse.connect(warehouse.runtime_url(logins.TRANSFORMER)) as conn:
        published = release.publish(conn, dbt.published_slices(), gate_run_id)
    log.info(
        "published (gate %s): provinces %s; held back: %s",
        gate_run_id,
        ", ".join(published.provinces_published) or "none",
        ", ".join(published.provinces_held_back) or "none",
    )
    for table, count in sorted(published.row_counts.items()):
        log.info("  marts.%s: %d row(s) written", table, count)
    return {
        "row_counts": published.row_counts,
        "provinces_published": published.provinces_published,
        "provinces_held_back": published.provinces_held_back,
    }


def monitor_reporting(trigger: str) -> dict:
    """Snapshot completeness, overdue reports and province states; rewrite the status page."""
    prepare_warehouse()
    with warehouse.connect(warehouse.runtime_url(logins.TRANSFORMER)) as conn:
        snapshot_id = completeness.take_snapshot(conn, trigger)
        page = status_page.write(conn, settings.reports_dir() / "status")
        late = completeness.late_provinces(conn, snapshot_id)
    return {
        "snapshot_id": snapshot_id,
        "status_page": str(page),
        "late_provinces": [row["province_code"] for row in late],
    }


def alert_late_provinces(snapshot_id: int, status_page_path: str) -> int:
    """Tell each province with missing reports (once a day per province and period)."""
    with warehouse.connect(warehouse.runtime_url(logins.TRANSFORMER)) as conn:
        late = completeness.late_provinces(conn, snapshot_id)
    return _send(alerts.late_province_alerts(late, report_url=status_page_path))
