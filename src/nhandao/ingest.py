"""Load submission files into `raw`: one transaction per file, Postgres COPY, set-wise checks.

A file is copied as text into a temporary table, checked there in SQL (unit, period, indicator,
value, qualifier, program, duplicates) and its good rows appended to `raw.submission_rows`.
Row problems reject the row and keep the rest; structural problems (unreadable file, wrong
columns, no usable row) reject the whole file. Either way nothing partial is committed, every
problem is kept in `raw.rejections`, and a file already loaded (same sha256) is skipped.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import psycopg

from nhandao import reference
from nhandao.generate import COLUMNS
from nhandao.periods import PERIOD_PATTERN

SUPPORTED_SUFFIXES = (".csv",)
QUALIFIERS = ("exact", "lower_bound", "approximate")
COPY_CHUNK = 1 << 20

# reason code -> (Vietnamese message, English message); %s is the value seen.
REASONS: dict[str, tuple[str, str]] = {
    "unreadable_file": ("Không đọc được tệp: %s", "The file cannot be read: %s"),
    "unsupported_format": (
        "Định dạng tệp không được hỗ trợ: %s",
        "Unsupported file format: %s",
    ),
    "wrong_columns": (
        "Tiêu đề cột không đúng mẫu; thiếu hoặc thừa cột: %s",
        "The header does not match the template; missing or extra columns: %s",
    ),
    "malformed_row": ("Dòng không đúng định dạng CSV: %s", "The row is not valid CSV: %s"),
    "no_rows": ("Tệp không có dòng số liệu hợp lệ nào", "The file has no valid figure rows"),
    "missing_value": ("Thiếu giá trị bắt buộc", "A required value is missing"),
    "unknown_unit": (
        "Mã đơn vị '%s' không có trong danh mục đơn vị hành chính",
        "Unit code '%s' is not in the list of administrative units",
    ),
    "invalid_period": (
        "Kỳ báo cáo '%s' không hợp lệ (ví dụ đúng: 2024, 2024S1, 2024Q3, 2024M09, 2024YTD09)",
        "Period '%s' is not valid (valid examples: 2024, 2024S1, 2024Q3, 2024M09, 2024YTD09)",
    ),
    "future_period": (
        "Kỳ báo cáo '%s' chưa bắt đầu",
        "Period '%s' has not started yet",
    ),
    "unknown_indicator": (
        "Mã chỉ tiêu '%s' không có trong danh mục",
        "Indicator code '%s' is not in the list of indicators",
    ),
    "invalid_number": (
        "Giá trị '%s' không phải là số"
        " (dùng dấu chấm cho phần thập phân, không dùng dấu phân cách hàng nghìn)",
        "Value '%s' is not a number (use a point for decimals and no thousands separators)",
    ),
    "invalid_qualifier": (
        "Ghi chú độ chính xác '%s' không hợp lệ (exact, lower_bound, approximate)",
        "Qualifier '%s' is not valid (exact, lower_bound, approximate)",
    ),
    "unknown_program": (
        "Mã chương trình '%s' không có trong danh mục",
        "Program code '%s' is not in the list of programs",
    ),
    "duplicate_row": (
        "Số liệu '%s' bị lặp trong tệp (cùng đơn vị, kỳ, chỉ tiêu, chương trình)",
        "Figure '%s' is repeated in the file (same unit, period, indicator and program)",
    ),
}

NUMBER_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"

# The first day of a well-formed period code (see nhandao.periods), in SQL.
PERIOD_START_SQL = """make_date(left(trim(period), 4)::int, case
    when trim(period) ~ 'M' then right(trim(period), 2)::int
    when trim(period) ~ 'Q' then right(trim(period), 1)::int * 3 - 2
    when trim(period) ~ 'S' then right(trim(period), 1)::int * 6 - 5
    else 1 end, 1)"""

# Each check: reason code, the column it concerns, and the SQL condition that flags a row.
ROW_CHECKS: list[tuple[str, str, str]] = [
    ("missing_value", "reporting_unit_code", "coalesce(trim(reporting_unit_code), '') = ''"),
    ("missing_value", "period", "coalesce(trim(period), '') = ''"),
    ("missing_value", "indicator_code", "coalesce(trim(indicator_code), '') = ''"),
    ("missing_value", "value", "coalesce(trim(value), '') = ''"),
    (
        "unknown_unit",
        "reporting_unit_code",
        "trim(reporting_unit_code) <> '' and not trim(reporting_unit_code) = any(%(units)s)",
    ),
    ("invalid_period", "period", "trim(period) <> '' and trim(period) !~ %(period_pattern)s"),
    (
        "future_period",
        "period",
        f"trim(period) ~ %(period_pattern)s and {PERIOD_START_SQL} > %(today)s",
    ),
    (
        "unknown_indicator",
        "indicator_code",
        "trim(indicator_code) <> '' and not trim(indicator_code) = any(%(indicators)s)",
    ),
    ("invalid_number", "value", "trim(value) <> '' and trim(value) !~ %(number_pattern)s"),
    (
        "invalid_qualifier",
        "qualifier",
        "coalesce(trim(qualifier), '') <> '' and not trim(qualifier) = any(%(qualifiers)s)",
    ),
    (
        "unknown_program",
        "program_code",
        "coalesce(trim(program_code), '') <> '' and not trim(program_code) = any(%(programs)s)",
    ),
]


class SubmissionError(Exception):
    """A problem with a submission, located by file, row and field."""

    def __init__(
        self,
        file: str,
        reason_code: str,
        value: str = "",
        row: int | None = None,
        field: str | None = None,
    ):
        self.file, self.reason_code, self.value, self.row, self.field = (
            file,
            reason_code,
            value,
            row,
            field,
        )
        self.message_vi, self.message_en = (m.replace("%s", value) for m in REASONS[reason_code])
        where = ", ".join(
            part
            for part in (f"row {row}" if row else "", f"field {field}" if field else "")
            if part
        )
        super().__init__(f"{file}{f' ({where})' if where else ''}: {self.message_en}")


@dataclass(frozen=True)
class IngestResult:
    """What happened to one file."""

    path: Path
    status: str  # loaded, skipped, rejected
    file_id: int | None = None
    rows_loaded: int = 0
    rows_rejected: int = 0
    message: str = ""

    def line(self) -> str:
        if self.status == "loaded":
            extra = f", {self.rows_rejected} row(s) rejected" if self.rows_rejected else ""
            return f"loaded    {self.path.name}: {self.rows_loaded} rows{extra}"
        if self.status == "skipped":
            return (
                f"skipped   {self.path.name}: already loaded (same sha256) as file {self.file_id}"
            )
        return f"rejected  {self.path.name}: {self.message}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(COPY_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def pending_files(landing: Path) -> list[Path]:
    """Submission files in the landing folder, oldest name first (rejection reports excluded)."""
    if not landing.is_dir():
        return []
    return sorted(
        p
        for p in landing.iterdir()
        if p.is_file() and not p.name.startswith(".") and ".rejections." not in p.name
    )


def _read_header(path: Path) -> list[str]:
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            first = f.readline()
    except UnicodeDecodeError as exc:
        raise SubmissionError(path.name, "unreadable_file", "not UTF-8 text") from exc
    if not first.strip():
        raise SubmissionError(path.name, "no_rows", row=1)
    return [name.strip().strip('"').lower() for name in first.rstrip("\r\n").split(",")]


def _check_header(path: Path, header: list[str]) -> None:
    if header != COLUMNS:
        missing = [c for c in COLUMNS if c not in header]
        extra = [c for c in header if c not in COLUMNS]
        detail = "; ".join(
            part
            for part in (
                f"missing {', '.join(missing)}" if missing else "",
                f"extra {', '.join(extra)}" if extra else "",
                "columns out of order" if not missing and not extra else "",
            )
            if part
        )
        raise SubmissionError(path.name, "wrong_columns", detail, row=1)


def _copy_into_temp(cur: psycopg.Cursor, path: Path) -> None:
    column_list = ", ".join(COLUMNS)
    cur.execute(
        f"create temp table incoming (record_number bigint generated always as identity,"
        f" {', '.join(f'{c} text' for c in COLUMNS)}) on commit drop"
    )
    copy_sql = (
        f"copy incoming ({column_list}) from stdin with (format csv, header true, encoding 'UTF8')"
    )
    with open(path, "rb") as f, cur.copy(copy_sql) as copy:
        while block := f.read(COPY_CHUNK):
            copy.write(block)


def _find_row_problems(cur: psycopg.Cursor) -> None:
    """Fill the temp table `problems` with one row per problem found in `incoming`."""
    params = {
        "units": list(reference.admin_units()),
        "indicators": sorted(reference.indicator_codes()),
        "programs": sorted(reference.program_codes()),
        "qualifiers": list(QUALIFIERS),
        "period_pattern": PERIOD_PATTERN,
        "number_pattern": NUMBER_PATTERN,
        "today": date.today(),
    }
    cur.execute(
        "create temp table problems (record_number bigint, column_name text, value_seen text,"
        " reason_code text) on commit drop"
    )
    selects = [
        f"select record_number, '{column}', {column}, '{reason}' from incoming where {condition}"
        for reason, column, condition in ROW_CHECKS
    ]
    cur.execute("insert into problems " + "\nunion all\n".join(selects), params)
    cur.execute(
        """
        insert into problems
        select record_number, 'indicator_code',
               concat_ws(' / ', reporting_unit_code, period, indicator_code, program_code),
               'duplicate_row'
        from (
            select record_number,
                   reporting_unit_code, period, indicator_code, program_code,
                   row_number() over (
                       partition by trim(reporting_unit_code), trim(period),
                           trim(indicator_code), coalesce(nullif(trim(program_code), ''), 'general')
                       order by record_number
                   ) as occurrence
            from incoming
        ) as numbered
        where occurrence > 1
        """
    )


def _record_rejected_file(
    conn: psycopg.Connection, path: Path, sha: str, size: int, error: SubmissionError
) -> int:
    with conn.transaction():
        file_id = conn.execute(
            "insert into raw.submission_files (file_name, sha256, size_bytes, source_format,"
            " status) values (%s, %s, %s, %s, 'rejected') returning file_id",
            (path.name, sha, size, path.suffix.lstrip(".").lower() or "unknown"),
        ).fetchone()[0]
        conn.execute(
            "insert into raw.rejections (file_id, row_number, column_name, value_seen,"
            " reason_code, message_vi, message_en) values (%s, %s, %s, %s, %s, %s, %s)",
            (
                file_id,
                error.row,
                error.field,
                error.value,
                error.reason_code,
                error.message_vi,
                error.message_en,
            ),
        )
    return file_id


def ingest_file(conn: psycopg.Connection, path: Path) -> IngestResult:
    """Load one file in one transaction; record and report what happened."""
    path = Path(path)
    size = path.stat().st_size
    sha = sha256_of(path)
    already = conn.execute(
        "select file_id from raw.submission_files where sha256 = %s and status = 'loaded'",
        (sha,),
    ).fetchone()
    if already:
        return IngestResult(path, "skipped", file_id=already[0])
    try:
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            raise SubmissionError(path.name, "unsupported_format", path.suffix or path.name)
        _check_header(path, _read_header(path))
        return _load_checked(conn, path, sha, size)
    except SubmissionError as error:
        file_id = _record_rejected_file(conn, path, sha, size, error)
        return IngestResult(path, "rejected", file_id=file_id, message=str(error))


def _load_checked(conn: psycopg.Connection, path: Path, sha: str, size: int) -> IngestResult:
    reasons = [(code, vi, en) for code, (vi, en) in REASONS.items()]
    try:
        with conn.transaction(), conn.cursor() as cur:
            _copy_into_temp(cur, path)
            _find_row_problems(cur)
            total, bad = cur.execute(
                "select (select count(*) from incoming),"
                " (select count(distinct record_number) from problems)"
            ).fetchone()
            if total == bad:
                first = cur.execute(
                    "select record_number + 1, column_name, coalesce(value_seen, ''), reason_code"
                    " from problems order by record_number limit 1"
                ).fetchone()
                if first is None:
                    raise SubmissionError(path.name, "no_rows", row=2)
                raise SubmissionError(path.name, first[3], first[2], row=first[0], field=first[1])
            file_id = cur.execute(
                "insert into raw.submission_files (file_name, sha256, size_bytes, source_format,"
                " status, row_count, rejected_row_count) values (%s, %s, %s, 'csv', 'loaded',"
                " %s, %s) returning file_id",
                (path.name, sha, size, total - bad, bad),
            ).fetchone()[0]
            cur.execute(
                f"""
                insert into raw.submission_rows (file_id, row_number, {", ".join(COLUMNS)})
                select %s, record_number + 1, {", ".join(f"trim({c})" for c in COLUMNS)}
                from incoming
                where record_number not in (select record_number from problems)
                """,
                (file_id,),
            )
            cur.execute(
                "create temp table reasons (reason_code text, message_vi text, message_en text)"
                " on commit drop"
            )
            cur.executemany("insert into reasons values (%s, %s, %s)", reasons)
            cur.execute(
                """
                insert into raw.rejections (file_id, row_number, column_name, value_seen,
                                            reason_code, message_vi, message_en)
                select %s, problems.record_number + 1, problems.column_name, problems.value_seen,
                       problems.reason_code,
                       replace(reasons.message_vi, '%%s', coalesce(problems.value_seen, '')),
                       replace(reasons.message_en, '%%s', coalesce(problems.value_seen, ''))
                from problems
                inner join reasons on reasons.reason_code = problems.reason_code
                order by problems.record_number, problems.column_name
                """,
                (file_id,),
            )
    except psycopg.errors.DataError as exc:  # malformed CSV: COPY names the line
        context = (exc.diag.context or "").strip()
        detail = f"{exc.diag.message_primary} ({context})" if context else str(exc)
        raise SubmissionError(path.name, "malformed_row", detail) from exc
    return IngestResult(path, "loaded", file_id=file_id, rows_loaded=total - bad, rows_rejected=bad)


def ingest_paths(paths: list[Path], url: str | None = None) -> list[IngestResult]:
    """Load each file in its own transaction, in the order given."""
    from nhandao import warehouse

    results = []
    with warehouse.connect(url or warehouse.warehouse_url(), autocommit=True) as conn:
        for path in paths:
            results.append(ingest_file(conn, Path(path)))
    return results
