"""Load submission files into `raw`: one transaction per file, each file once.

A file is fingerprinted (nhandao.ingest.files) and loaded under a lock on its sha256, so two
processes never load the same content twice. A clean UTF-8 CSV takes the bulk path
(nhandao.ingest.bulk_csv); any other CSV, the Excel form, or a CSV the bulk path declines takes the
set-wise path (nhandao.ingest.setwise); a narrative report becomes figures to review
(nhandao.ingest.narrative_load). Row problems reject the row and keep the rest; structural
problems reject the whole file. Either way nothing partial is committed, every problem is kept in
`raw.rejections`, a report is written beside the file (nhandao.ingest.rejection_report), and a
resubmission's effect on earlier figures is worked out (nhandao.ingest.resubmission).
"""

from __future__ import annotations

import codecs
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import psycopg

from nhandao import warehouse
from nhandao.ingest import bulk_csv, narrative_load, rejection_report, resubmission, setwise
from nhandao.ingest.files import Fingerprint, fingerprint, format_of, read_csv_header
from nhandao.ingest.problems import LOADED_ELSEWHERE, IngestResult, SubmissionError
from nhandao.submission_format import COLUMNS

log = logging.getLogger(__name__)

STATUSES = ("loaded", "skipped", "rejected")


def _record_rejected_file(
    conn: psycopg.Connection,
    path: Path,
    print_: Fingerprint,
    file_format: str,
    error: SubmissionError,
) -> int:
    with conn.transaction():
        file_id = conn.execute(
            "insert into raw.submission_files (file_name, sha256, size_bytes, source_format,"
            " encoding, submitted_at, submission_kind, status)"
            " values (%s, %s, %s, %s, %s, %s, %s, 'rejected') returning file_id",
            (
                path.name,
                print_.sha256,
                print_.size,
                file_format,
                print_.encoding,
                print_.submitted_at,
                "narrative" if file_format == "narrative" else "figures",
            ),
        ).fetchone()[0]
        if error.row_problems:
            with conn.cursor() as cur:
                cur.executemany(
                    "insert into raw.rejections (file_id, row_number, sheet_name, column_name,"
                    " source_column, value_seen, reason_code, message_vi, message_en)"
                    " values (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [(file_id, *problem) for problem in error.row_problems],
                )
        else:
            conn.execute(
                "insert into raw.rejections (file_id, row_number, sheet_name, column_name,"
                " value_seen, reason_code, message_vi, message_en)"
                " values (%s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    file_id,
                    error.row,
                    error.sheet,
                    error.field,
                    error.value,
                    error.reason_code,
                    error.message_vi,
                    error.message_en,
                ),
            )
    return file_id


def _loaded_file_id(conn: psycopg.Connection, sha256: str) -> int | None:
    found = conn.execute(
        "select file_id from raw.submission_files where sha256 = %s and status = 'loaded'",
        (sha256,),
    ).fetchone()
    return found[0] if found else None


@contextmanager
def _loading_lock(conn: psycopg.Connection, sha256: str) -> Iterator[None]:
    """Hold the warehouse-wide lock on loading this content (a session advisory lock keyed by the
    sha256): a second process loading the same file waits here, then finds it loaded."""
    key = int(sha256[:16], 16) - (1 << 63)  # the first 64 bits, as a signed bigint
    conn.execute("select pg_advisory_lock(%s)", (key,))
    try:
        yield
    finally:
        conn.execute("select pg_advisory_unlock(%s)", (key,))


def ingest_file(conn: psycopg.Connection, path: Path, write_report: bool = True) -> IngestResult:
    """Load one file in one transaction; record what happened and write its report."""
    path = Path(path)
    print_ = fingerprint(path)
    already = _loaded_file_id(conn, print_.sha256)
    if already:
        return IngestResult(path, "skipped", file_id=already)
    with _loading_lock(conn, print_.sha256):
        already = _loaded_file_id(conn, print_.sha256)
        if already:  # another process loaded it while this one waited for the lock
            return IngestResult(path, "skipped", file_id=already, message=LOADED_ELSEWHERE)
        return _ingest_new_file(conn, path, print_, write_report)


def _ingest_new_file(
    conn: psycopg.Connection, path: Path, print_: Fingerprint, write_report: bool
) -> IngestResult:
    file_format = format_of(path)
    try:
        result = _load(conn, path, print_, file_format)
    except SubmissionError as error:
        file_id = _record_rejected_file(conn, path, print_, file_format, error)
        result = IngestResult(path, "rejected", file_id=file_id, message=str(error))
    if result.status == "loaded" and result.kind == "figures":
        result = replace(result, effect=resubmission.effect(conn, result.file_id))
    if write_report and (result.status == "rejected" or result.rows_rejected):
        written = rejection_report.write_rejection_report(conn, result.file_id, path.parent)
        result = replace(result, report_paths=tuple(written))
    return result


def _load(
    conn: psycopg.Connection, path: Path, print_: Fingerprint, file_format: str
) -> IngestResult:
    """The path a file takes: a report in sentences becomes figures to review; a clean CSV takes
    the bulk path; any other CSV, and the Excel form, the set-wise one."""
    if file_format == "narrative":
        return narrative_load.load(conn, path, print_)
    if file_format == "csv":
        loaded = _try_bulk(conn, path, print_)
        if loaded is not None:
            return loaded
    return setwise.load(conn, path, print_, file_format)


def _try_bulk(conn: psycopg.Connection, path: Path, print_: Fingerprint) -> IngestResult | None:
    """The bulk path for a clean UTF-8 figures CSV (nhandao.ingest.bulk_csv); None: the set-wise
    path reads it."""
    if print_.head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    encoding = "utf-8-sig" if print_.head.startswith(codecs.BOM_UTF8) else "utf-8"
    try:
        header, delimiter = read_csv_header(path, encoding)
    except SubmissionError:
        return None
    if header != COLUMNS or delimiter != ",":
        return None
    setwise.prepare_campaigns(conn)
    try:
        loaded = bulk_csv.load(
            conn,
            path,
            sha256=print_.sha256,
            size=print_.size,
            encoding=encoding,
            submitted_at=print_.submitted_at,
            has_quotes=print_.has_quotes,
        )
    except bulk_csv.NotClean as why:
        log.info("%s: the set-wise path reads this file (%s)", path.name, why)
        return None
    return IngestResult(path, "loaded", file_id=loaded.file_id, rows_loaded=loaded.rows)


def ingest_paths(paths: list[Path], url: str | None = None) -> list[IngestResult]:
    """Load each file in its own transaction, in the order given."""
    results = []
    with warehouse.connect(url or warehouse.warehouse_url(), autocommit=True) as conn:
        for path in paths:
            results.append(ingest_file(conn, Path(path)))
    return results


def outcome(results: list[IngestResult]) -> str:
    """One line for a batch of files: how many were loaded, skipped and rejected, and rows."""
    count = {status: sum(r.status == status for r in results) for status in STATUSES}
    return (
        f"{count['loaded']} loaded, {count['skipped']} skipped, {count['rejected']} rejected"
        f" file(s); {sum(r.rows_loaded for r in results)} rows loaded,"
        f" {sum(r.rows_rejected for r in results)} rows rejected"
    )
