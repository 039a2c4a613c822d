"""The set-wise path: a file's rows copied as text into a temporary table and read, checked and
stored in SQL, for all rows at once (the SQL is in nhandao/ingest/sql/).

Units, indicators and programs given by code or by name are resolved; Vietnamese values
(`1.085`, `13,8 tỷ đồng`, `hơn 200`, `đạt 109,5%`) are read into a number and a qualifier; every
rule of `ROW_CHECKS` is checked in the same pass. Good rows go to `raw.submission_rows` with what
they were read as, problems to `raw.rejections`; a file with no usable row is refused whole.
"""

from __future__ import annotations

import difflib
import re
from datetime import date
from functools import cache
from importlib import resources
from pathlib import Path

import psycopg

from nhandao import periods, reference
from nhandao.ingest import excel_form
from nhandao.ingest.files import Fingerprint, check_csv_header, read_csv_header, utf8_blocks
from nhandao.ingest.problems import REASONS, IngestResult, SubmissionError
from nhandao.periods import PERIOD_PATTERN
from nhandao.submission_format import (
    APPROXIMATE_WORDS,
    COLUMNS,
    LOWER_BOUND_WORDS,
    QUALIFIERS,
    TARGET_INCOMING_COLUMNS,
)
from nhandao.text import sql_name_words, unit_name_key


@cache
def _template(name: str) -> str:
    return resources.files("nhandao.ingest.sql").joinpath(f"{name}.sql").read_text("utf-8")


def render_sql(name: str, **values: str) -> str:
    """The statement of sql/NAME.sql with each `{{ placeholder }}` replaced by its value."""
    text = _template(name)
    wanted = set(re.findall(r"\{\{ (\w+) \}\}", text))
    if wanted != set(values):
        raise ValueError(f"{name}.sql takes {sorted(wanted)}, given {sorted(values)}")
    return re.sub(r"\{\{ (\w+) \}\}", lambda m: values[m[1]], text)


# Vietnamese value cells, read in SQL: qualifier words (nhandao.submission_format), scale
# words, currency, rates.
SCALE_WORDS = {"tỷ|tỉ": 1_000_000_000, "triệu": 1_000_000, "nghìn|ngàn": 1_000}

CURRENCY = r"đồng|đ|vnđ|vnd"

# A percentage as districts write it: `388%`, `109,5 %`, `đạt 102,3% kế hoạch`; a leading `đạt`
# (reached) changes nothing, `vượt 12%` (exceeded by) means 112%.
ATTAINMENT_WORDS = "đạt|vượt"

PERCENT_SUFFIX = r"\s*%(\s*((so với|của)\s+)?(kế hoạch|chỉ tiêu|kh))?$"

PERCENT_SQL = PERCENT_SUFFIX.replace("%", "%%")  # in SQL run with parameters


# Each check: reason code, the column it concerns, and the condition that flags a row. They are
# all evaluated in the single pass that reads the rows (see PARSE_SQL).
ROW_CHECKS: list[tuple[str, str, str]] = [
    ("missing_value", "reporting_unit_code", "unit_code_given is null and unit_name_given is null"),
    ("unknown_unit", "reporting_unit_code", "unit_code_given is not null and not unit_code_known"),
    (
        "unit_not_in_period",
        "reporting_unit_code",
        "unit_code_known and period_end is not null and unit_by_code is null"
        " and period_start <= %(today)s",
    ),
    (
        "unknown_unit_name",
        "reporting_unit_name",
        "unit_code_given is null and unit_name_given is not null and name_match_count is null",
    ),
    (
        "ambiguous_unit_name",
        "reporting_unit_name",
        "unit_code_given is null and name_match_count > 1",
    ),
    ("missing_value", "period", "period is null"),
    ("invalid_period", "period", "period is not null and not period_valid"),
    ("invalid_period", "period", "period_valid and period_end is null"),  # a campaign unknown
    ("future_period", "period", "not %(targets)s and period_start > %(today)s"),
    ("target_not_yearly", "period", "%(targets)s and period_valid and length(period) <> 4"),
    ("missing_value", "indicator_code", "indicator_given is null"),
    ("unknown_indicator", "indicator_code", "indicator_match = 'unknown'"),
    ("ambiguous_indicator", "indicator_code", "indicator_match = 'ambiguous'"),
    ("missing_value", "value", "value_given is null"),
    ("negative_value", "value", "is_negative"),
    ("rate_not_total", "value", "is_rate"),
    ("ambiguous_number", "value", "is_ambiguous"),
    (
        "invalid_number",
        "value",
        "value_given is not null and number is null"
        " and not (coalesce(is_negative, false) or coalesce(is_rate, false)"
        " or coalesce(is_ambiguous, false))",
    ),
    (
        "fraction_not_allowed",
        "value",
        "indicator_known and not allows_fraction and number <> trunc(number)",
    ),
    ("currency_on_count", "value", "has_currency and indicator_known and measure_unit <> 'vnd'"),
    (
        "percent_not_allowed",
        "value",
        "has_percent and indicator_known and measure_unit <> 'percent'",
    ),
    ("implausible_value", "value", "number > max_value"),
    (
        "invalid_qualifier",
        "qualifier",
        "qualifier_given is not null and not qualifier_given = any(%(qualifiers)s)",
    ),
    (
        "conflicting_qualifier",
        "qualifier",
        "cell_qualifier is not null and qualifier_given is not null"
        " and qualifier_given <> cell_qualifier",
    ),
    ("unknown_program", "program_code", "program_match = 'unknown'"),
    ("ambiguous_program", "program_code", "program_match = 'ambiguous'"),
]

PROBLEM_ARRAY = (
    "array_remove(array[\n            "
    + ",\n            ".join(
        f"case when {condition} then '{reason}/{column}' end"
        for reason, column, condition in ROW_CHECKS
    )
    + "\n        ], null)"
)

SCALE_CASES = "\n            ".join(
    f"when amount ~ '\\s*({words})\\s*({CURRENCY})?$' then {scale}"
    for words, scale in SCALE_WORDS.items()
)

SUFFIX_PATTERN = "\\s*(" + "|".join(SCALE_WORDS) + ")?\\s*(" + CURRENCY + ")?$"


def period_end_sql(period: str) -> str:
    """SQL for the last day of a well-formed period code (see nhandao.periods)."""
    year = f"left({period}, 4)::int"
    month_end = "make_date({y}, {m}, 1) + interval '1 month' - interval '1 day'"
    return f"""(case substr({period}, 5, 1)
        when 'M' then {month_end.format(y=year, m=f"right({period}, 2)::int")}
        when 'Q' then {month_end.format(y=year, m=f"right({period}, 1)::int * 3")}
        when 'S' then {month_end.format(y=year, m=f"right({period}, 1)::int * 6")}
        when 'Y' then {month_end.format(y=year, m=f"right({period}, 2)::int")}
        when '' then make_date({year}, 12, 31)
        else (select end_date from ref_campaigns where period_code = {period}) end)::date"""


def period_start_sql(period: str) -> str:
    """SQL for the first day of a well-formed period code."""
    year = f"left({period}, 4)::int"
    return f"""(case substr({period}, 5, 1)
        when 'M' then make_date({year}, right({period}, 2)::int, 1)
        when 'Q' then make_date({year}, right({period}, 1)::int * 3 - 2, 1)
        when 'S' then make_date({year}, right({period}, 1)::int * 6 - 5, 1)
        when 'Y' then make_date({year}, 1, 1)
        when '' then make_date({year}, 1, 1)
        else (select start_date from ref_campaigns where period_code = {period}) end)"""


PERIODS_SEEN_SQL = render_sql(
    "periods_seen", period_end=period_end_sql("period"), period_start=period_start_sql("period")
)
NAME_MATCHES_SQL = render_sql("name_matches")
CODE_MATCHES_SQL = render_sql("code_matches", name_words=sql_name_words("given"))
PARSE_SQL = render_sql(
    "parse",
    lower_bound_words="|".join(LOWER_BOUND_WORDS),
    approximate_words="|".join(APPROXIMATE_WORDS),
    attainment_words=ATTAINMENT_WORDS,
    scale_cases=SCALE_CASES,
    currency=CURRENCY,
    percent=PERCENT_SQL,
    suffix_pattern=SUFFIX_PATTERN,
    problem_checks=PROBLEM_ARRAY,
)
CSV_SCOPE_SQL = render_sql("csv_scope")
INSERT_ROWS_SQL = render_sql("insert_rows")
PROBLEMS_SQL = render_sql("problems")
DUPLICATES_SQL = render_sql("duplicates")
REJECTIONS_SELECT = render_sql("rejections")

# The reports (unit|period) the file's loaded rows are about (see raw.submission_files).
UNIT_PERIODS_SQL = (
    "select array_agg(distinct unit_code || '|' || period order by unit_code || '|' || period)"
    " from parsed where cardinality(problem_codes) = 0"
    " and not exists (select from problems where problems.record_number = parsed.record_number)"
)

INSERT_REJECTIONS_SQL = (
    "insert into raw.rejections (file_id, row_number, sheet_name, column_name, source_column,"
    " value_seen, reason_code, message_vi, message_en)\n" + REJECTIONS_SELECT
)


def _copy_csv(
    cur: psycopg.Cursor, path: Path, encoding: str, delimiter: str, kind: str = "figures"
) -> None:
    options = "format csv, header true, encoding 'UTF8'"
    if delimiter == "\t":
        options += ", delimiter E'\\t'"
    columns = COLUMNS if kind == "figures" else TARGET_INCOMING_COLUMNS
    sql = f"copy incoming ({', '.join(columns)}) from stdin with ({options})"
    with cur.copy(sql) as copy:
        for block in utf8_blocks(path, encoding):
            copy.write(block)


def _copy_rows(cur: psycopg.Cursor, rows: list[tuple]) -> None:
    columns = ["sheet_name", "source_row", "source_column", *COLUMNS]
    with cur.copy(f"copy incoming ({', '.join(columns)}) from stdin") as copy:
        for row in rows:
            copy.write_row(row)


# --- the session's reference tables --------------------------------------------------------


def _has_temp_table(conn: psycopg.Connection, name: str) -> bool:
    return conn.execute("select to_regclass(%s)", (f"pg_temp.{name}",)).fetchone()[0] is not None


def _temp_table(cur: psycopg.Cursor, definition: str, rows: list[tuple]) -> None:
    """A temporary table of the session (`name (columns)`) holding `rows`."""
    cur.execute(f"create temp table {definition}")
    name = definition.split(" ", 1)[0]
    width = len(rows[0]) if rows else 0
    cur.executemany(f"insert into {name} values ({', '.join(['%s'] * width)})", rows)


def prepare_campaigns(conn: psycopg.Connection) -> None:
    """The campaign periods, which period_end_sql and period_start_sql read (once per session)."""
    if _has_temp_table(conn, "ref_campaigns"):
        return
    with conn.transaction(), conn.cursor() as cur:
        _temp_table(
            cur,
            "ref_campaigns (period_code text primary key, start_date date, end_date date)",
            [(c.code, c.start, c.end) for c in periods.campaign_periods()],
        )


def prepare_session(conn: psycopg.Connection) -> None:
    """Load the reference lists into temporary tables of this connection (once per session)."""
    prepare_campaigns(conn)
    if _has_temp_table(conn, "ref_units"):
        return
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "create temp table ref_units (code text not null, valid_from date not null,"
            " valid_to date not null, name text, short_name text, parent_code text,"
            " scope_code text, name_key text)"
        )
        with cur.copy(
            "copy ref_units (code, valid_from, valid_to, name, short_name, parent_code,"
            " scope_code) from stdin"
        ) as copy:
            for unit in reference.admin_unit_versions():
                copy.write_row(
                    (
                        unit.code,
                        unit.valid_from,
                        unit.valid_to or "infinity",
                        unit.name,
                        unit.short_name,
                        unit.parent_code or None,
                        unit.scope_code,
                    )
                )
        cur.execute("update ref_units set name_key = raw.unit_name_key(short_name)")
        cur.execute("create index on ref_units (code)")
        # every name a unit answers to, as a compact key: its own, and its older names
        cur.execute(
            "create temp table ref_unit_names as"
            " select code, valid_from, valid_to, replace(name_key, ' ', '') as compact_key"
            " from ref_units"
        )
        cur.execute("create temp table ref_aliases (code text, compact_key text, map text)")
        with cur.copy("copy ref_aliases from stdin") as copy:
            for alias in reference.admin_unit_aliases():
                copy.write_row((alias.code, alias.key, alias.map))
        cur.execute(
            "insert into ref_unit_names select units.code, units.valid_from, units.valid_to,"
            " aliases.compact_key from ref_aliases as aliases inner join ref_units as units"
            " on units.code = aliases.code and (aliases.map = 'legacy')"
            " = (units.valid_from < date '2025-07-01')"
        )
        cur.execute("create index on ref_unit_names (compact_key)")
        _temp_table(
            cur,
            "ref_indicators (indicator_code text primary key, measure_unit text,"
            " allows_fraction boolean, max_value numeric)",
            [
                (i.code, i.measure_unit, i.allows_fraction, i.max_value)
                for i in reference.indicators().values()
            ],
        )
        _prepare_code_names(cur)
        _temp_table(
            cur,
            "ref_reasons (reason_code text primary key, message_vi text, message_en text)",
            [(code, vi, en) for code, (vi, en) in REASONS.items()],
        )
        cur.execute("analyze ref_units")
        cur.execute("analyze ref_unit_names")


def _prepare_code_names(cur: psycopg.Cursor) -> None:
    """Every name an indicator or program answers to, with the words it is matched on."""
    names = [
        ("indicator", ind.code, f"{ind.code} ({ind.name_vi} / {ind.name_en})", name)
        for ind in excel_form.indicators()
        for name in ind.names
    ]
    names += [
        ("program", prog.code, f"{prog.code} ({prog.name_vi} / {prog.name_en})", name)
        for prog in reference.programs().values()
        for name in (prog.code, prog.name_vi, prog.name_en)
    ]
    cur.execute(
        "create temp table ref_code_names (kind text, code text, title text, name text,"
        " words text[], name_key text)"
    )
    cur.executemany(
        "insert into ref_code_names (kind, code, title, name) values (%s, %s, %s, %s)", names
    )
    cur.execute(f"update ref_code_names set words = string_to_array({sql_name_words('name')}, ' ')")
    cur.execute("update ref_code_names set name_key = array_to_string(words, '')")
    cur.execute("create index on ref_code_names (kind, name_key)")


# --- reading one file's rows ---------------------------------------------------------------


def load(
    conn: psycopg.Connection, path: Path, print_: Fingerprint, file_format: str
) -> IngestResult:
    """Read, check and store one CSV or Excel form in one transaction (see the module's doc)."""
    kind = "figures"
    if file_format == "csv":
        header, delimiter = read_csv_header(path, print_.encoding)
        kind = check_csv_header(path, header)
        excel_content = None
    elif file_format == "xlsx":
        excel_content = excel_form.read_submission(path)
    else:
        raise SubmissionError(path.name, "unsupported_format", path.suffix or path.name)
    prepare_session(conn)
    try:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute(
                "create temp table incoming (record_number bigint generated always as identity,"
                " sheet_name text, source_row integer, source_column text,"
                f" {', '.join(f'{c} text' for c in COLUMNS)}) on commit drop"
            )
            if excel_content is None:
                _copy_csv(cur, path, print_.encoding, delimiter, kind)
            else:
                _copy_rows(cur, excel_content.rows)
            cur.execute(PERIODS_SEEN_SQL, {"period_pattern": PERIOD_PATTERN})
            if excel_content is None:
                scope, submitting_unit = _csv_scope(cur)
            else:
                scope = excel_content.scope
                submitting_unit = excel_content.submitting_unit_code
            _find_problems(cur, scope, targets=kind == "targets")
            total, bad = cur.execute(
                "select (select count(*) from parsed),"
                " (select count(distinct record_number) from problems)"
            ).fetchone()
            if total == bad:
                _raise_first_problem(cur, path)
            file_id = cur.execute(
                "insert into raw.submission_files (file_name, sha256, size_bytes, source_format,"
                " encoding, submitting_unit_code, submitted_at, submission_kind, status,"
                f" row_count, rejected_row_count, unit_periods) values (%s, %s, %s, %s, %s, %s,"
                f" %s, %s, 'loaded', %s, %s, ({UNIT_PERIODS_SQL})) returning file_id",
                (
                    path.name,
                    print_.sha256,
                    print_.size,
                    file_format,
                    print_.encoding,
                    submitting_unit,
                    print_.submitted_at,
                    kind,
                    total - bad,
                    bad,
                ),
            ).fetchone()[0]
            cur.execute(INSERT_ROWS_SQL, {"file_id": file_id})
            cur.execute(INSERT_REJECTIONS_SQL, {"file_id": file_id})
    except psycopg.errors.DataError as exc:  # malformed CSV: COPY names the line
        context = (exc.diag.context or "").strip()
        detail = f"{exc.diag.message_primary} ({context})" if context else str(exc)
        raise SubmissionError(path.name, "malformed_row", detail) from exc
    return IngestResult(
        path, "loaded", file_id=file_id, rows_loaded=total - bad, rows_rejected=bad, kind=kind
    )


def _csv_scope(cur: psycopg.Cursor) -> tuple[list[str] | None, str | None]:
    """Units a CSV's names may refer to (the districts, or from July 2025 the provinces, that its
    coded rows name, with their wards), and the submitting unit if there is exactly one."""
    cur.execute(CSV_SCOPE_SQL, {"period_pattern": PERIOD_PATTERN})
    scope, submitting_unit = cur.fetchone()
    return scope, submitting_unit


def _find_problems(cur: psycopg.Cursor, scope: list[str] | None, targets: bool = False) -> None:
    """Read every row (temp table `parsed`) and list its problems (temp table `problems`)."""
    cur.execute(NAME_MATCHES_SQL, {"scope": scope, "period_pattern": PERIOD_PATTERN})
    cur.execute("analyze name_matches")
    cur.execute(CODE_MATCHES_SQL)
    _suggest_codes(cur)
    cur.execute("analyze code_matches")
    cur.execute(
        PARSE_SQL,
        {
            "period_pattern": PERIOD_PATTERN,
            "today": date.today(),
            "qualifiers": list(QUALIFIERS),
            "targets": targets,
        },
    )
    cur.execute(PROBLEMS_SQL)
    cur.execute(DUPLICATES_SQL)
    _explain_unit_names(cur, scope)
    _explain_codes(cur)


def _explain_unit_names(cur: psycopg.Cursor, scope: list[str] | None) -> None:
    """Name the candidates for unit names that matched several units or none."""
    cur.execute(
        "update problems set detail = name_matches.candidates from name_matches"
        " where problems.reason_code = 'ambiguous_unit_name'"
        " and name_matches.name_key = raw.unit_name_key(problems.value_seen)"
    )
    unknown = [
        row[0]
        for row in cur.execute(
            "select distinct value_seen from problems where reason_code = 'unknown_unit_name'"
        )
    ]
    if not unknown:
        return
    in_scope = set(scope or ())
    pool = [u for u in reference.admin_unit_versions() if not in_scope or u.code in in_scope]
    by_key: dict[str, list[str]] = {}
    for unit in pool:
        by_key.setdefault(unit_name_key(unit.short_name), []).append(f"{unit.code} {unit.name}")
    for name in unknown:
        close = difflib.get_close_matches(unit_name_key(name), list(by_key), n=5, cutoff=0.6)
        suggestions = [label for key in close for label in by_key[key]]
        if not suggestions and scope:
            suggestions = sorted({f"{u.code} {u.name}" for u in pool if u.level == "ward"})[:30]
        cur.execute(
            "update problems set detail = %s where reason_code = 'unknown_unit_name'"
            " and value_seen = %s",
            ("; ".join(suggestions) or None, name),
        )


def _suggest_codes(cur: psycopg.Cursor) -> None:
    """Close names for indicators and programs not found: by difflib on the matched words, else
    every code."""
    unknown = cur.execute(
        "select kind, given, given_key, candidates from code_matches where status = 'unknown'"
    ).fetchall()
    if not unknown:
        return
    titles: dict[str, dict[str, set[str]]] = {}
    for kind, key, title in cur.execute("select kind, name_key, title from ref_code_names"):
        titles.setdefault(kind, {}).setdefault(key, set()).add(title)
    for kind, given, key, partial in unknown:
        close = difflib.get_close_matches(key, list(titles[kind]), n=5, cutoff=0.6)
        found = [partial] if partial else []
        found += [t for k in close for t in sorted(titles[kind][k]) if t not in found]
        if not found:
            found = sorted({t.split(" ", 1)[0] for by_key in titles[kind].values() for t in by_key})
        cur.execute(
            "update code_matches set candidates = %s where kind = %s and given = %s",
            ("; ".join(found), kind, given),
        )


def _explain_codes(cur: psycopg.Cursor) -> None:
    """Name the candidates for indicators and programs that matched several or none."""
    cur.execute(
        "update problems set detail = matches.candidates from code_matches as matches"
        " where problems.reason_code in ('unknown_indicator', 'ambiguous_indicator',"
        " 'unknown_program', 'ambiguous_program')"
        " and matches.kind = split_part(problems.reason_code, '_', 2)"
        " and matches.given = problems.value_seen"
    )


MAX_KEPT_PROBLEMS = 10_000


def _raise_first_problem(cur: psycopg.Cursor, path: Path) -> None:
    """No row is usable: refuse the file, keeping (up to 10,000 of) its row problems."""
    cur.execute(REJECTIONS_SELECT + f" limit {MAX_KEPT_PROBLEMS}", {"file_id": None})
    problems = cur.fetchall()
    if not problems:
        raise SubmissionError(path.name, "no_rows", row=2)
    _, row, sheet, column, _, value, reason, _, _ = problems[0]
    error = SubmissionError(path.name, reason, value or "", row=row, field=column, sheet=sheet)
    error.row_problems = [p[1:] for p in problems]
    raise error
