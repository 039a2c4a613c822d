"""Load narrative reports (.docx, .md, .txt in sentences) into `raw` as figures to review.

A report's text rarely says unambiguously which unit and period it is about, so its file name
does: `<unit code>-<period>-<anything>.docx` (`492-2024M09-bao-cao.docx`; a province code may
come first, as in the generator's `48-492-2024M09.csv`). Every figure the extractor reads
(nhandao.ingest.narrative) is kept in `raw.narrative_figures` with its sentence, in the same
transaction as the file's `raw.submission_files` row; none counts until a person accepts it
(nhandao.ingest.review). A name that does not give a unit and period the warehouse knows
rejects the whole file.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import psycopg

from nhandao import reference
from nhandao.ingest import narrative
from nhandao.ingest.files import Fingerprint
from nhandao.ingest.problems import IngestResult, SubmissionError
from nhandao.periods import PERIOD_PATTERN, parse_period

PROGRAM = "general"  # a narrative report's figures count in the general program

FILE_NAME = re.compile(
    r"^(?:(?P<province>\d{2})-)?(?P<unit>\d{2,5})-(?P<period>\d{4}[0-9A-Za-z]*)(?:[-_ .].*)?$"
)
_PERIOD = re.compile(PERIOD_PATTERN)

FIGURE_COLUMNS = [
    "file_id",
    "figure_number",
    "reporting_unit_code",
    "period",
    "program_code",
    "indicator_code",
    "value",
    "qualifier",
    "text",
    "sentence",
    "start_offset",
    "end_offset",
    "unit_mention",
    "period_mention",
]


def unit_and_period(path: Path, today: date | None = None) -> tuple[str, str]:
    """The reporting unit and period the file's name gives; SubmissionError if it gives none
    the warehouse knows (the unit must exist on the period's last day)."""
    match = FILE_NAME.match(path.stem)
    period_code = match["period"].upper() if match else ""
    if not match or not _PERIOD.match(period_code):
        raise SubmissionError(path.name, "narrative_file_name", path.name, field="file_name")
    try:
        period = parse_period(period_code)
    except ValueError as exc:  # a campaign the reporting calendar does not know
        raise SubmissionError(path.name, "invalid_period", period_code, field="file_name") from exc
    if period.start > (today or date.today()):
        raise SubmissionError(path.name, "future_period", period_code, field="file_name")
    code = match["unit"]
    versions = [u for u in reference.admin_unit_versions() if u.code == code]
    if not versions:
        raise SubmissionError(path.name, "unknown_unit", code, field="file_name")
    unit = next((u for u in versions if u.valid_on(period.end)), None)
    if unit is None:
        raise SubmissionError(path.name, "unit_not_in_period", code, field="file_name")
    if match["province"] and match["province"] != unit.province_code:
        raise SubmissionError(path.name, "unit_not_in_province", code, field="file_name")
    return code, period_code


def load(conn: psycopg.Connection, path: Path, print_: Fingerprint) -> IngestResult:
    """Load one narrative report in one transaction: its file row and every figure read."""
    unit_code, period_code = unit_and_period(path)
    try:
        figures = narrative.extract_file(path)
    except narrative.UnreadableReport as exc:
        raise SubmissionError(path.name, "unreadable_file", exc.reason) from exc
    if not figures:
        raise SubmissionError(path.name, "no_figures")
    with conn.transaction(), conn.cursor() as cur:
        file_id = cur.execute(
            "insert into raw.submission_files (file_name, sha256, size_bytes, source_format,"
            " encoding, submitting_unit_code, submitted_at, submission_kind, status,"
            " row_count, rejected_row_count)"
            " values (%s, %s, %s, 'narrative', %s, %s, %s, 'narrative', 'loaded', %s, 0)"
            " returning file_id",
            (
                path.name,
                print_.sha256,
                print_.size,
                None if path.suffix.lower() == ".docx" else print_.encoding,
                unit_code,
                print_.submitted_at,
                len(figures),
            ),
        ).fetchone()[0]
        with cur.copy(
            f"copy raw.narrative_figures ({', '.join(FIGURE_COLUMNS)}) from stdin"
        ) as copy:
            for number, figure in enumerate(figures, start=1):
                copy.write_row(
                    (
                        file_id,
                        number,
                        unit_code,
                        period_code,
                        PROGRAM,
                        figure.indicator,
                        figure.value,
                        figure.qualifier,
                        figure.text,
                        figure.sentence,
                        figure.start,
                        figure.end,
                        figure.unit_mention,
                        figure.period_mention,
                    )
                )
    return IngestResult(path, "loaded", file_id=file_id, rows_loaded=len(figures), kind="narrative")
