"""The quality gate: Great Expectations suites from expectations/suites/ run on the audit build.

A failed `critical` expectation blocks publication; a failed `warning` is recorded only. Every
result goes to `monitoring.gate_results`, and Data Docs are rebuilt for the person on call.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from nhandao import settings

BLOCKING = "critical"


@dataclass(frozen=True)
class ExpectationOutcome:
    suite_name: str
    expectation_type: str
    column: str | None
    severity: str
    success: bool
    observed_value: str | None
    unexpected_count: int | None
    notes: str | None

    @property
    def blocks(self) -> bool:
        return not self.success and self.severity == BLOCKING

    def describe(self) -> str:
        target = f"{self.suite_name}.{self.column}" if self.column else self.suite_name
        found = f" (observed {self.observed_value})" if self.observed_value is not None else ""
        count = f", {self.unexpected_count} rows" if self.unexpected_count else ""
        return f"{target}: {self.expectation_type}{found}{count} — {self.notes or ''}".rstrip(" —")


@dataclass
class GateResult:
    gate_run_id: str
    outcomes: list[ExpectationOutcome] = field(default_factory=list)
    data_docs_path: Path | None = None

    @property
    def passed(self) -> bool:
        return not any(outcome.blocks for outcome in self.outcomes)

    @property
    def blocking_failures(self) -> list[ExpectationOutcome]:
        return [outcome for outcome in self.outcomes if outcome.blocks]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity != BLOCKING]


class GateFailed(Exception):
    """The audit build broke at least one blocking expectation; nothing was published."""

    def __init__(self, result: GateResult):
        self.result = result
        lines = "\n".join(f"  - {o.describe()}" for o in result.blocking_failures)
        super().__init__(
            f"quality gate {result.gate_run_id} failed; marts left as they were:\n{lines}\n"
            f"Data Docs: {result.data_docs_path}"
        )


def sqlalchemy_url(url: str) -> str:
    """GX's SQLAlchemy engine needs a host in the URL even for a Unix socket (?host=/dir)."""
    parts = urlsplit(url)
    if parts.hostname:
        return url
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@localhost" if userinfo else "localhost"
    return parts._replace(netloc=netloc).geturl()


def load_suites(suites_dir: Path) -> list[dict]:
    """The suites as GX-format dicts, one per file, sorted by name."""
    suites = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(suites_dir.glob("*.json"))]
    if not suites:
        raise FileNotFoundError(f"no expectation suites in {suites_dir}")
    return suites


def _context(context_dir: Path):
    import great_expectations as gx

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="file", project_root_dir=str(context_dir))
    context.variables.progress_bars = {"globally": False}
    return context


def _validation_definition(context, datasource, suite_dict: dict, schema: str):
    import great_expectations as gx

    table = suite_dict["name"].split(".", 1)[1]
    try:
        asset = datasource.get_asset(table)
    except LookupError:
        asset = datasource.add_table_asset(name=table, table_name=table, schema_name=schema)
    try:
        batch = asset.get_batch_definition("whole_table")
    except (KeyError, LookupError):
        batch = asset.add_batch_definition_whole_table("whole_table")
    suite = context.suites.add_or_update(gx.ExpectationSuite(**suite_dict))
    return context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=f"{schema}.{table}", data=batch, suite=suite)
    )


def _exception_message(item) -> str | None:
    """The error an expectation raised, if it raised one (GX keeps it beside the result)."""
    info = getattr(item, "exception_info", None) or {}
    candidates = [info, *(v for v in info.values() if isinstance(v, dict))]
    for candidate in candidates:
        if candidate.get("raised_exception") and candidate.get("exception_message"):
            return str(candidate["exception_message"])[:500]
    return None


def _outcomes(checkpoint_result) -> list[ExpectationOutcome]:
    outcomes = []
    for validation in checkpoint_result.run_results.values():
        suite_name = validation.suite_name
        for item in validation.results:
            config = item.expectation_config
            observed = item.result.get("observed_value")
            error = _exception_message(item)
            if error:  # an expectation that could not be evaluated fails, and says why
                observed = f"error: {error}"
            outcomes.append(
                ExpectationOutcome(
                    suite_name=suite_name,
                    expectation_type=config.type,
                    column=config.kwargs.get("column"),
                    severity=str(getattr(config, "severity", BLOCKING) or BLOCKING)
                    .lower()
                    .removeprefix("failureseverity."),
                    success=bool(item.success),
                    observed_value=None if observed is None else str(observed),
                    unexpected_count=item.result.get("unexpected_count"),
                    notes=(config.meta or {}).get("notes"),
                )
            )
    return outcomes


def _record(conn: psycopg.Connection, result: GateResult) -> None:
    with conn.transaction():
        conn.execute(
            "insert into monitoring.gate_runs (gate_run_id, success, data_docs_path)"
            " values (%s, %s, %s)",
            (result.gate_run_id, result.passed, str(result.data_docs_path or "")),
        )
        with conn.cursor() as cur:
            cur.executemany(
                "insert into monitoring.gate_results (gate_run_id, suite_name, expectation_type,"
                " column_name, severity, success, observed_value, unexpected_count, notes)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        result.gate_run_id,
                        o.suite_name,
                        o.expectation_type,
                        o.column,
                        o.severity,
                        o.success,
                        o.observed_value,
                        o.unexpected_count,
                        o.notes,
                    )
                    for o in result.outcomes
                ],
            )


def run_gate(
    url: str,
    suites_dir: Path | None = None,
    context_dir: Path | None = None,
    schema: str = "audit",
    gate_run_id: str | None = None,
) -> GateResult:
    """Validate every suite against `schema`, record the results, rebuild Data Docs."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier

    suites = load_suites(suites_dir or settings.expectations_dir() / "suites")
    context = _context(context_dir or settings.home_dir() / "gx")
    datasource = context.data_sources.add_or_update_postgres(
        name="warehouse", connection_string=sqlalchemy_url(url)
    )
    definitions = [_validation_definition(context, datasource, s, schema) for s in suites]
    checkpoint = context.checkpoints.add_or_update(
        gx.Checkpoint(
            name="publish_gate",
            validation_definitions=definitions,
            actions=[gx.checkpoint.UpdateDataDocsAction(name="update_data_docs")],
            result_format="SUMMARY",
        )
    )
    gate_run_id = gate_run_id or f"gate_{uuid.uuid4().hex[:12]}"
    checkpoint_result = checkpoint.run(run_id=RunIdentifier(run_name=gate_run_id))
    docs = next(iter(context.get_docs_sites_urls()), {}).get("site_url", "")
    result = GateResult(
        gate_run_id=gate_run_id,
        outcomes=_outcomes(checkpoint_result),
        data_docs_path=Path(docs.removeprefix("file://")) if docs else None,
    )
    with psycopg.connect(url) as conn:
        _record(conn, result)
    return result


def enforce(result: GateResult) -> GateResult:
    """Raise GateFailed if a blocking expectation failed; return the result otherwise."""
    if not result.passed:
        raise GateFailed(result)
    return result
