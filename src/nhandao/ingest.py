"""Load submission files into `raw`: one transaction per file, Postgres COPY, set-wise checks.

A file (long CSV v1 in UTF-8, UTF-8 with BOM, UTF-16 or Windows-1258; or the province's Excel
form) is copied as text into a temporary table. There, in SQL and for all rows at once, units,
indicators and programs given by code or by name are resolved, Vietnamese values (`1.085`,
`13,8 tỷ đồng`, `hơn 200`, `đạt 109,5%`) are read into a number and a qualifier, and every rule
is checked. Good rows are appended to `raw.submission_rows` with what they were read as (the
indicator and program as their codes). Row problems reject the row and keep the rest;
structural problems (unreadable file, wrong columns, wrong header cells, no usable row) reject
the whole file. Either way nothing partial is committed, every problem is kept in
`raw.rejections`, a report is written beside the file, and a file already loaded (same sha256)
is skipped.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import hashlib
import logging
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path

import psycopg

from nhandao import reference, reports, resubmission
from nhandao.generate import COLUMNS
from nhandao.periods import PERIOD_PATTERN, parse_period
from nhandao.text import sql_name_words, unit_name_key

log = logging.getLogger(__name__)

CSV_SUFFIXES = (".csv", ".txt", ".tsv")
# Targets the level above assigns, per unit, year and indicator, as a file of their own.
TARGET_COLUMNS = [
    "reporting_unit_code",
    "reporting_unit_name",
    "year",
    "indicator_code",
    "target",
    "note",
]
# ...read into the same table as figures: the year is the period, the target the value.
TARGET_INCOMING_COLUMNS = [
    "reporting_unit_code",
    "reporting_unit_name",
    "period",
    "indicator_code",
    "value",
    "note",
]
EXCEL_SUFFIXES = (".xlsx",)
QUALIFIERS = ("exact", "lower_bound", "approximate")
COPY_CHUNK = 1 << 20
# why a file is skipped when another process loaded the same content while this one waited
LOADED_ELSEWHERE = "loaded by another process (same sha256)"

# reason code -> (Vietnamese message, English message); %s is the value seen.
REASONS: dict[str, tuple[str, str]] = {
    "unreadable_file": ("Không đọc được tệp: %s", "The file cannot be read: %s"),
    "suspicious_file": ("Tệp bị từ chối vì không an toàn: %s", "The file is refused as unsafe: %s"),
    "unsupported_format": (
        "Định dạng tệp không được hỗ trợ: %s (dùng .csv, biểu mẫu .xlsx, báo cáo .docx/.md/.txt)",
        "Unsupported file format: %s (use .csv, the .xlsx form or a .docx/.md/.txt report)",
    ),
    "wrong_columns": (
        "Tiêu đề cột không đúng mẫu: %s",
        "The column headers do not match the form: %s",
    ),
    "missing_header": (
        "Thiếu thông tin đầu biểu mẫu: %s",
        "A header cell of the form is missing: %s",
    ),
    "malformed_row": ("Dòng không đúng định dạng CSV: %s", "The row is not valid CSV: %s"),
    "no_rows": ("Tệp không có dòng số liệu hợp lệ nào", "The file has no valid figure rows"),
    "missing_value": ("Thiếu giá trị bắt buộc", "A required value is missing"),
    "unknown_unit": (
        "Mã đơn vị '%s' không có trong danh mục đơn vị hành chính",
        "Unit code '%s' is not in the list of administrative units",
    ),
    "unit_not_in_period": (
        "Đơn vị mã '%s' không tồn tại vào ngày cuối của kỳ báo cáo (bản đồ hành chính đã thay đổi"
        " từ 01/7/2025)",
        "Unit code '%s' did not exist on the last day of the period (the administrative map"
        " changed on 1 July 2025)",
    ),
    "unknown_unit_name": (
        "Không tìm thấy đơn vị tên '%s' trong đơn vị gửi báo cáo",
        "No unit named '%s' in the submitting unit",
    ),
    "ambiguous_unit_name": (
        "Tên đơn vị '%s' trùng với nhiều đơn vị; hãy ghi mã đơn vị",
        "Unit name '%s' matches several units; give the unit code",
    ),
    "invalid_period": (
        "Kỳ báo cáo '%s' không hợp lệ (ví dụ đúng: 2024, 2024S1, 2024Q3, 2024M09, 2024YTD09)",
        "Period '%s' is not valid (valid examples: 2024, 2024S1, 2024Q3, 2024M09, 2024YTD09)",
    ),
    "future_period": ("Kỳ báo cáo '%s' chưa bắt đầu", "Period '%s' has not started yet"),
    "target_not_yearly": (
        "Chỉ tiêu kế hoạch giao theo năm: '%s' không phải là một năm",
        "Targets are set per year: '%s' is not a year",
    ),
    "unknown_indicator": (
        "Chỉ tiêu '%s' không có trong danh mục (ghi mã, tên tiếng Việt hoặc tên tiếng Anh của"
        " chỉ tiêu)",
        "Indicator '%s' is not in the list of indicators (give its code, its Vietnamese or its"
        " English name)",
    ),
    "ambiguous_indicator": (
        "Tên chỉ tiêu '%s' khớp với nhiều chỉ tiêu; hãy ghi mã chỉ tiêu",
        "Indicator name '%s' matches several indicators; give the indicator code",
    ),
    "invalid_number": (
        "Giá trị '%s' không phải là số (ví dụ đúng: 1.085; 109,5; 13,8 tỷ đồng; hơn 200)",
        "Value '%s' is not a number (valid examples: 1.085; 109,5; 13,8 tỷ đồng; hơn 200)",
    ),
    "ambiguous_number": (
        "Giá trị '%s' không rõ ràng: dấu chấm ngăn cách hàng nghìn (1.085), dấu phẩy là"
        " thập phân (1,5)",
        "Value '%s' is ambiguous: a point separates thousands (1.085), a comma is the"
        " decimal mark (1,5)",
    ),
    "fraction_not_allowed": (
        "Giá trị '%s' phải là số nguyên cho chỉ tiêu này",
        "Value '%s' must be a whole number for this indicator",
    ),
    "negative_value": ("Giá trị '%s' là số âm", "Value '%s' is negative"),
    "rate_not_total": (
        "Giá trị '%s' là định mức (trên tháng, trên phần…), không phải tổng số",
        "Value '%s' is a rate (per month, per package…), not a total",
    ),
    "currency_on_count": (
        "Giá trị '%s' ghi đơn vị tiền cho một chỉ tiêu không tính bằng tiền",
        "Value '%s' carries a currency for an indicator that is not money",
    ),
    "percent_not_allowed": (
        "Giá trị '%s' ghi theo phần trăm (%) nhưng chỉ tiêu này không tính bằng phần trăm",
        "Value '%s' is a percentage, but this indicator is not measured in percent",
    ),
    "implausible_value": (
        "Giá trị '%s' vượt quá mức hợp lý của chỉ tiêu",
        "Value '%s' is beyond the plausible maximum of the indicator",
    ),
    "invalid_qualifier": (
        "Ghi chú độ chính xác '%s' không hợp lệ (exact, lower_bound, approximate)",
        "Qualifier '%s' is not valid (exact, lower_bound, approximate)",
    ),
    "conflicting_qualifier": (
        "Cột độ chính xác '%s' mâu thuẫn với chữ 'hơn'/'gần'/'khoảng' trong ô giá trị",
        "Qualifier '%s' contradicts the 'hơn'/'gần'/'khoảng' written in the value",
    ),
    "unknown_program": (
        "Chương trình '%s' không có trong danh mục (ghi mã, tên tiếng Việt hoặc tên tiếng Anh"
        " của chương trình)",
        "Program '%s' is not in the list of programs (give its code, its Vietnamese or its"
        " English name)",
    ),
    "ambiguous_program": (
        "Tên chương trình '%s' khớp với nhiều chương trình; hãy ghi mã chương trình",
        "Program name '%s' matches several programs; give the program code",
    ),
    "duplicate_row": (
        "Số liệu '%s' bị lặp trong tệp (cùng đơn vị, kỳ, chỉ tiêu, chương trình)",
        "Figure '%s' is repeated in the file (same unit, period, indicator and program)",
    ),
    # narrative reports (nhandao.narrative_ingest): the file's name gives the unit and period
    "narrative_file_name": (
        "Tên tệp báo cáo '%s' không theo quy ước <mã đơn vị>-<kỳ báo cáo>-<tên tùy ý>.docx"
        " (hoặc .txt, .md), ví dụ 492-2024M09-bao-cao.docx: mã đơn vị hành chính, rồi kỳ báo"
        " cáo như 2024M09, 2024Q3, 2024YTD09, 2024S1, 2024",
        "The report's file name '%s' does not follow <unit code>-<period>-<anything>.docx"
        " (or .txt, .md), e.g. 492-2024M09-bao-cao.docx: an administrative unit code, then a"
        " period such as 2024M09, 2024Q3, 2024YTD09, 2024S1, 2024",
    ),
    "unit_not_in_province": (
        "Đơn vị '%s' trong tên tệp không thuộc tỉnh ghi ở đầu tên tệp",
        "Unit '%s' in the file name is not in the province the name starts with",
    ),
    "no_figures": (
        "Không tìm thấy số liệu nào trong văn bản báo cáo (một con số kèm đơn vị: 1.085 đơn vị"
        " máu, 350 suất quà, 120 triệu đồng)",
        "No figure was found in the report's text (a number with its measure word: 1.085 đơn"
        " vị máu, 350 suất quà, 120 triệu đồng)",
    ),
}

# Vietnamese value cells, read in SQL: qualifier words, scale words, currency, rates.
LOWER_BOUND_WORDS = "hơn|trên"
APPROXIMATE_WORDS = "gần|khoảng|hàng|ước|xấp xỉ|chừng"
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


# The periods a file names, each read once (a file of a million rows names a handful).
PERIODS_SEEN_SQL = f"""
create temp table periods_seen on commit drop as
select
    period,
    period_valid,
    case when period_valid then {period_end_sql("period")} end as period_end,
    case when period_valid then {period_start_sql("period")} end as period_start
from (
    select period, coalesce(period ~ %(period_pattern)s, false) as period_valid
    from (select distinct trim(period) as period from incoming) as distinct_periods
) as periods
"""


# Unit names given without a code (their own names or older ones), matched once per distinct name
# and period among the units of the file's scope that existed on the period's last day.
NAME_MATCHES_SQL = """
create temp table name_matches on commit drop as
select
    keys.name_key,
    keys.period_end,
    count(distinct units.code) as match_count,
    min(units.code) as code,
    string_agg(distinct units.code || ' ' || units.name, '; ') as candidates
from (
    select distinct named.name_key, periods_seen.period_end
    from (
        select distinct raw.unit_name_key(trim(reporting_unit_name)) as name_key,
            trim(period) as period
        from incoming
        where coalesce(trim(reporting_unit_code), '') = ''
            and coalesce(trim(reporting_unit_name), '') <> ''
    ) as named
    inner join periods_seen on periods_seen.period = named.period
) as keys
inner join ref_unit_names as names
    on names.compact_key = replace(keys.name_key, ' ', '')
    and keys.period_end between names.valid_from and names.valid_to
inner join ref_units as units
    on units.code = names.code
    and units.valid_from = names.valid_from
where units.code = any(%(scope)s) or %(scope)s is null
group by keys.name_key, keys.period_end
"""
# Indicators and programs given by code or by name, matched once per distinct spelling: on the
# words of a name (see nhandao.text.sql_name_words) equal to those of one of its names (resolved;
# several codes: ambiguous), else contained in the names of several (ambiguous) or of one or none
# (unknown, the one offered as a suggestion).
CODE_MATCHES_SQL = f"""
create temp table code_matches on commit drop as
with

given as (

    -- the distinct pairs first: one hash over the file's rows (a union would sort them twice)
    select kind, given
    from (select indicator_code, program_code from incoming group by 1, 2) as pairs
    cross join lateral (
        values
            ('indicator', nullif(trim(indicator_code), '')),
            ('program', nullif(trim(program_code), ''))
    ) as spellings (kind, given)
    group by kind, given

),

keyed as (

    select kind, given, string_to_array({sql_name_words("given")}, ' ') as words
    from given
    where given is not null

),

exact as (

    select
        keyed.kind,
        keyed.given,
        count(distinct names.code) as match_count,
        min(names.code) as code,
        string_agg(distinct names.title, '; ') as titles
    from keyed
    inner join ref_code_names as names
        on names.kind = keyed.kind
        and names.name_key = array_to_string(keyed.words, '')
    group by keyed.kind, keyed.given

),

partial as (

    select
        keyed.kind,
        keyed.given,
        count(distinct names.code) as match_count,
        string_agg(distinct names.title, '; ') as titles
    from keyed
    inner join ref_code_names as names
        on names.kind = keyed.kind
        and names.words @> keyed.words
    where cardinality(keyed.words) > 0
    group by keyed.kind, keyed.given

)

select
    keyed.kind,
    keyed.given,
    array_to_string(keyed.words, '') as given_key,
    case
        when exact.match_count = 1 then 'resolved'
        when exact.match_count > 1 or partial.match_count > 1 then 'ambiguous'
        else 'unknown'
    end as status,
    case when exact.match_count = 1 then exact.code end as code,
    case when exact.match_count > 1 then exact.titles else partial.titles end as candidates
from keyed
left join exact on exact.kind = keyed.kind and exact.given = keyed.given
left join partial on partial.kind = keyed.kind and partial.given = keyed.given
"""
# One pass over the file's rows: read every field, resolve the unit, read the value the
# Vietnamese way (only where it is not a plain number), and list the row's problems.
PARSE_SQL = f"""
create temp table parsed on commit drop as
with

base as (

    select
        record_number,
        sheet_name,
        coalesce(source_row, record_number + 1) as source_row,
        source_column,
        nullif(trim(reporting_unit_code), '') as unit_code_given,
        nullif(trim(reporting_unit_name), '') as unit_name_given,
        nullif(trim(incoming.period), '') as period,
        nullif(trim(indicator_code), '') as indicator_given,
        nullif(trim(value), '') as value_given,
        nullif(lower(trim(qualifier)), '') as qualifier_given,
        nullif(trim(program_code), '') as program_given,
        note,
        value ~ '^[0-9]+$' as is_plain,
        coalesce(periods_seen.period_valid, false) as period_valid,
        periods_seen.period_end,
        periods_seen.period_start,
        case when nullif(trim(reporting_unit_code), '') is null
            then raw.unit_name_key(nullif(trim(reporting_unit_name), '')) end as name_key
    from incoming
    left join periods_seen on periods_seen.period = trim(incoming.period)
    offset 0  -- a fence: each expression is computed once per row, not at every reference

),

qualified as (

    select
        base.*,
        case
            when opening[2] ~ '^({LOWER_BOUND_WORDS})$' then 'lower_bound'
            when opening[2] is not null then 'approximate'
        end as cell_qualifier,
        coalesce(opening[1], opening[3]) as verb,
        case when opening[1] is null or opening[3] is null then opening[4] end as amount
    from base
    cross join lateral (
        select case when not is_plain then lower(normalize(value_given, NFC)) end as words
    ) as reading
    -- a qualifier word, before or after a leading đạt/vượt: "đạt hơn 100", "gần đạt 98"
    cross join lateral (
        select regexp_match(
            words,
            '^(?:({ATTAINMENT_WORDS})\\s+)?(?:({LOWER_BOUND_WORDS}|{APPROXIMATE_WORDS})\\s+)?'
            '(?:({ATTAINMENT_WORDS})\\s+)?(.*)$'
        ) as opening
    ) as openings

),

scaled as (

    select
        qualified.*,
        case
            {SCALE_CASES}
            else 1
        end as scale,
        amount ~ '({CURRENCY})$' as has_currency,
        amount ~ '^[0-9][^/]*/\\s*\\S' as is_rate,
        amount ~ '{PERCENT_SQL}' as has_percent,
        case when verb is distinct from 'vượt' or amount ~ '{PERCENT_SQL}' then
            regexp_replace(regexp_replace(amount, '{PERCENT_SQL}', ''), '{SUFFIX_PATTERN}', '')
        end as digits
    from qualified
    offset 0

),

looked_up as (

    select
        scaled.*,
        indicators.indicator_code is not null as indicator_known,
        indicator_matches.status as indicator_match,
        indicators.indicator_code,
        indicators.measure_unit,
        coalesce(indicators.allows_fraction, false) as allows_fraction,
        indicators.max_value,
        by_code.code as unit_by_code,
        scaled.unit_code_given in (select code from ref_units) as unit_code_known,
        name_matches.match_count as name_match_count,
        program_matches.status as program_match,
        program_matches.code as program_code,
        coalesce(by_code.code, case when name_matches.match_count = 1
            then name_matches.code end) as unit_code
    from scaled
    left join code_matches as indicator_matches
        on indicator_matches.kind = 'indicator'
        and indicator_matches.given = scaled.indicator_given
    left join ref_indicators as indicators
        on indicators.indicator_code = indicator_matches.code
    left join ref_units as by_code
        on by_code.code = scaled.unit_code_given
        and scaled.period_end between by_code.valid_from and by_code.valid_to
    left join name_matches
        on name_matches.name_key = scaled.name_key
        and name_matches.period_end = scaled.period_end
    left join code_matches as program_matches
        on program_matches.kind = 'program'
        and program_matches.given = scaled.program_given
    offset 0

),

numbers as (

    select
        looked_up.*,
        case
            when is_plain then value_given::numeric
            when digits ~ '^[0-9]{{1,3}}(\\.[0-9]{{3}})+(,[0-9]+)?$'
                then replace(replace(digits, '.', ''), ',', '.')::numeric * scale
            when digits ~ '^[0-9]{{1,3}}( [0-9]{{3}})+(,[0-9]+)?$'
                then replace(replace(digits, ' ', ''), ',', '.')::numeric * scale
            when digits ~ '^[0-9]+(,[0-9]+)?$'
                then replace(digits, ',', '.')::numeric * scale
            when digits ~ '^[0-9]+\\.[0-9]+$' and allows_fraction
                then digits::numeric * scale
        end + case when verb = 'vượt' then 100 else 0 end as number,
        digits ~ '^-\\s*[0-9]' as is_negative,
        digits ~ '^[0-9]+\\.[0-9]+$' and not allows_fraction
            and digits !~ '^[0-9]{{1,3}}\\.[0-9]{{3}}$' as is_ambiguous
    from looked_up
    offset 0

)

select
    record_number,
    sheet_name,
    source_row,
    source_column,
    unit_code_given,
    unit_name_given,
    unit_code,
    period,
    indicator_given,
    indicator_code,
    value_given,
    qualifier_given,
    program_given,
    case when program_given is null then 'general' else program_code end as program_code,
    note,
    number,
    coalesce(cell_qualifier, qualifier_given, 'exact') as parsed_qualifier,
    {PROBLEM_ARRAY} as problem_codes
from numbers
"""

INSERT_ROWS_SQL = """
insert into raw.submission_rows (
    file_id, record_number, row_number, sheet_name, source_column,
    reporting_unit_code, reporting_unit_name, period, indicator_code, value, qualifier,
    program_code, note, resolved_unit_code, parsed_value, parsed_qualifier
)
select
    %(file_id)s, record_number, source_row, sheet_name, source_column,
    unit_code_given, unit_name_given, period, indicator_code,
    value_given, qualifier_given, program_code,
    nullif(trim(note), ''), unit_code, number, parsed_qualifier
from parsed
where cardinality(problem_codes) = 0
    and not exists (select from problems where problems.record_number = parsed.record_number)
"""

# The problems listed in each row's problem_codes ('reason/column'), with the value seen.
PROBLEMS_SQL = """
create temp table problems on commit drop as
select
    parsed.record_number,
    split_part(code, '/', 2) as column_name,
    case split_part(code, '/', 2)
        when 'reporting_unit_code' then parsed.unit_code_given
        when 'reporting_unit_name' then parsed.unit_name_given
        when 'period' then parsed.period
        when 'indicator_code' then parsed.indicator_given
        when 'value' then parsed.value_given
        when 'qualifier' then parsed.qualifier_given
        when 'program_code' then parsed.program_given
    end as value_seen,
    split_part(code, '/', 1) as reason_code,
    null::text as detail
from parsed
cross join lateral unnest(parsed.problem_codes) as code
where cardinality(parsed.problem_codes) > 0
"""

# A figure given twice in one file: every occurrence after the first is a problem.
DUPLICATES_SQL = """
insert into problems
select
    parsed.record_number,
    'indicator_code',
    concat_ws(' / ', parsed.unit_code, parsed.period, parsed.indicator_code, parsed.program_code),
    'duplicate_row',
    null
from parsed
inner join (
    select unit_code, period, indicator_code, program_code, min(record_number) as first_record
    from parsed
    where unit_code is not null
    group by unit_code, period, indicator_code, program_code
    having count(*) > 1
) as repeated
    on parsed.unit_code = repeated.unit_code
    and parsed.period = repeated.period
    and parsed.indicator_code = repeated.indicator_code
    and parsed.program_code = repeated.program_code
    and parsed.record_number > repeated.first_record
"""

# The reports (unit|period) the file's loaded rows are about (see raw.submission_files).
UNIT_PERIODS_SQL = (
    "select array_agg(distinct unit_code || '|' || period order by unit_code || '|' || period)"
    " from parsed where cardinality(problem_codes) = 0"
    " and not exists (select from problems where problems.record_number = parsed.record_number)"
)

REJECTIONS_SELECT = """
select %(file_id)s::bigint, parsed.source_row, parsed.sheet_name, problems.column_name,
       parsed.source_column, problems.value_seen, problems.reason_code,
       replace(reasons.message_vi, '%%s', coalesce(problems.value_seen, ''))
           || coalesce(': ' || problems.detail, ''),
       replace(reasons.message_en, '%%s', coalesce(problems.value_seen, ''))
           || coalesce(': ' || problems.detail, '')
from problems
inner join parsed on parsed.record_number = problems.record_number
inner join ref_reasons as reasons on reasons.reason_code = problems.reason_code
order by parsed.source_row, parsed.source_column nulls first, problems.column_name
"""
INSERT_REJECTIONS_SQL = (
    "insert into raw.rejections (file_id, row_number, sheet_name, column_name, source_column,"
    " value_seen, reason_code, message_vi, message_en)" + REJECTIONS_SELECT
)


class SubmissionError(Exception):
    """A problem that rejects a whole file, located by file, sheet, row and field."""

    def __init__(
        self,
        file: str,
        reason_code: str,
        value: str = "",
        row: int | None = None,
        field: str | None = None,
        sheet: str | None = None,
        value_vi: str | None = None,
    ):
        self.file, self.reason_code, self.value = file, reason_code, value
        self.row, self.field, self.sheet = row, field, sheet
        template_vi, template_en = REASONS[reason_code]
        self.message_vi = template_vi.replace("%s", value_vi or value)
        self.message_en = template_en.replace("%s", value)
        # every row problem, when the file is refused because no row is usable
        self.row_problems: list[tuple] = []
        where = ", ".join(
            part
            for part in (
                f"sheet {sheet}" if sheet else "",
                f"row {row}" if row else "",
                f"field {field}" if field else "",
            )
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
    report_paths: tuple[Path, ...] = field(default_factory=tuple)
    kind: str = "figures"  # figures or targets (CSV, Excel), narrative (figures read from text)
    # for a file of figures that resends reports: what it changes, keeps and withdraws
    effect: resubmission.Effect | None = None

    def line(self) -> str:
        if self.status == "loaded" and self.kind == "narrative":
            return f"loaded    {self.path.name}: {self.rows_loaded} figures to review"
        if self.status == "loaded":
            extra = f", {self.rows_rejected} row(s) rejected" if self.rows_rejected else ""
            if self.effect and self.effect.resubmissions:
                extra += f"; {self.effect.summary()}"
            return f"loaded    {self.path.name}: {self.rows_loaded} rows{extra}"
        if self.status == "skipped" and self.message == LOADED_ELSEWHERE:
            return f"skipped   {self.path.name}: {LOADED_ELSEWHERE} as file {self.file_id}"
        if self.status == "skipped":
            return (
                f"skipped   {self.path.name}: already loaded (same sha256) as file {self.file_id}"
            )
        return f"rejected  {self.path.name}: {self.message}"

    def details(self, limit: int = 20) -> list[str]:
        """The figures of earlier versions this file keeps or withdraws, one line each."""
        if not self.effect:
            return []
        moved = self.effect.kept + self.effect.withdrawn
        lines = [f"{figure.outcome}: {figure.describe()}" for figure in moved[:limit]]
        if len(moved) > limit:
            lines.append(f"… and {len(moved) - limit} more (marts.fct_figure_revisions)")
        return lines


@dataclass(frozen=True)
class Fingerprint:
    path: Path
    sha256: str
    size: int
    head: bytes  # the first bytes: a byte-order mark tells UTF-8-with-BOM and UTF-16
    has_quotes: bool  # any '"' in the file (values with quoted newlines are possible)
    submitted_at: datetime  # when the file landed: its modification time

    @cached_property
    def encoding(self) -> str:
        """utf-8, utf-8-sig, utf-16 or cp1258 (read only when a path needs it: a whole pass)."""
        if self.head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if self.head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        decoder = codecs.getincrementaldecoder("utf-8")()
        with open(self.path, "rb") as f:
            try:
                while block := f.read(COPY_CHUNK):
                    decoder.decode(block)
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                return "cp1258"
        return "utf-8"


def fingerprint(path: Path) -> Fingerprint:
    """sha256, size, first bytes and whether any quote appears, in one pass over the file."""
    digest = hashlib.sha256()
    size, head, has_quotes = 0, b"", False
    with open(path, "rb") as f:
        while block := f.read(COPY_CHUNK):
            if not head:
                head = block[:4]
            digest.update(block)
            size += len(block)
            has_quotes = has_quotes or b'"' in block
    modified = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    return Fingerprint(path, digest.hexdigest(), size, head, has_quotes, modified)


def sha256_of(path: Path) -> str:
    return fingerprint(path).sha256


# --- reading files -------------------------------------------------------------------------


def _csv_text_lines(path: Path, encoding: str) -> Iterator[str]:
    with open(path, encoding=encoding, newline="") as f:
        yield from f


def _read_csv_header(path: Path, encoding: str) -> tuple[list[str], str]:
    """The header's column names (normalised) and the delimiter (comma, or tab for Excel text)."""
    try:
        first = next(_csv_text_lines(path, encoding), "")
    except UnicodeDecodeError as exc:
        raise SubmissionError(path.name, "unreadable_file", f"not {encoding} text") from exc
    first = first.lstrip("\ufeff")
    if not first.strip():
        raise SubmissionError(path.name, "no_rows", row=1)
    delimiter = "\t" if "\t" in first and "," not in first else ","
    names = next(csv.reader([first], delimiter=delimiter))
    return [unicodedata.normalize("NFC", n).strip().lower() for n in names], delimiter


def _check_csv_header(path: Path, header: list[str]) -> str:
    """The kind of submission the header announces: figures (format v1) or targets."""
    if header == COLUMNS:
        return "figures"
    if header == TARGET_COLUMNS:
        return "targets"
    missing = [c for c in COLUMNS if c not in header]
    extra = [c for c in header if c not in COLUMNS]
    detail = "; ".join(
        part
        for part in (
            f"missing {', '.join(missing)}" if missing else "",
            f"unexpected {', '.join(extra)}" if extra else "",
            "columns out of order" if not missing and not extra else "",
        )
        if part
    )
    raise SubmissionError(
        path.name,
        "wrong_columns",
        f"{detail} (expected: {','.join(COLUMNS)}; or, for targets: {','.join(TARGET_COLUMNS)})",
        row=1,
    )


def _utf8_blocks(path: Path, encoding: str) -> Iterator[bytes]:
    r"""The file as UTF-8 bytes (as it is if already UTF-8, else decoded and NFC-normalised),
    every line ending `\n` (see _unix_line_ends)."""
    return _unix_line_ends(_decoded_blocks(path, encoding))


def _decoded_blocks(path: Path, encoding: str) -> Iterator[bytes]:
    """The file as UTF-8 bytes: as it is if already UTF-8, else decoded and NFC-normalised."""
    if encoding in ("utf-8", "utf-8-sig"):
        with open(path, "rb") as f:
            while block := f.read(COPY_CHUNK):
                yield block
        return
    buffer: list[str] = []
    size = 0
    for line in _csv_text_lines(path, encoding):
        buffer.append(line)
        size += len(line)
        if size >= COPY_CHUNK:
            yield unicodedata.normalize("NFC", "".join(buffer)).encode("utf-8")
            buffer, size = [], 0
    if buffer:
        yield unicodedata.normalize("NFC", "".join(buffer)).encode("utf-8")


def _unix_line_ends(blocks: Iterator[bytes]) -> Iterator[bytes]:
    r"""The blocks of a UTF-8 CSV with `\r\n` and a lone `\r` ending a line made `\n`, as the
    bulk path's reader takes them (COPY wants one kind of line end in a file); a line break
    inside a quoted value is data and stays as written. A `\r` that ends a block waits for the
    next one, which may start with its `\n`."""
    quoted = False  # inside a quoted value at the start of the block
    carried = b""
    for block in blocks:
        block, carried = carried + block, b""
        if block.endswith(b"\r"):
            block, carried = block[:-1], b"\r"
        if b"\r" in block:
            block, quoted = _unix_line_ends_of(block, quoted)
        else:
            quoted ^= bool(block.count(b'"') & 1)
        yield block
    if carried:
        yield carried if quoted else b"\n"


def _unix_line_ends_of(block: bytes, quoted: bool) -> tuple[bytes, bool]:
    r"""One block's line ends made `\n` outside quoted values; whether it ends inside one.
    Quotes toggle: an escaped quote (`""`) toggles twice, as COPY reads it."""
    parts = block.split(b'"')
    for i in range(1 if quoted else 0, len(parts), 2):  # the parts outside quotes
        parts[i] = parts[i].replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return b'"'.join(parts), quoted ^ bool((len(parts) - 1) & 1)


def _copy_csv(
    cur: psycopg.Cursor, path: Path, encoding: str, delimiter: str, kind: str = "figures"
) -> None:
    options = "format csv, header true, encoding 'UTF8'"
    if delimiter == "\t":
        options += ", delimiter E'\\t'"
    columns = COLUMNS if kind == "figures" else TARGET_INCOMING_COLUMNS
    sql = f"copy incoming ({', '.join(columns)}) from stdin with ({options})"
    with cur.copy(sql) as copy:
        for block in _utf8_blocks(path, encoding):
            copy.write(block)


@dataclass(frozen=True)
class ExcelContent:
    submitting_unit_code: str
    scope: list[str]
    rows: list[tuple]


def _read_excel(path: Path) -> ExcelContent:
    """The form's figures as rows for `incoming`; structural problems raise SubmissionError."""
    from nhandao import excel

    try:
        workbook = excel.read_workbook(path)
    except excel.WorkbookError as error:
        raise SubmissionError(
            path.name,
            error.reason_code,
            error.detail,
            row=error.row,
            field=error.column,
            sheet=error.sheet,
            value_vi=error.detail_vi,
        ) from error
    known_codes = {u.code for u in reference.admin_unit_versions()}
    rows: list[tuple] = []
    scope: set[str] = set()
    for report in workbook:
        header = {"sheet": report.sheet, "field": "Mã đơn vị báo cáo"}
        if report.unit_code not in known_codes:
            raise SubmissionError(path.name, "unknown_unit", report.unit_code, **header)
        try:
            period = parse_period(report.period)
        except ValueError as exc:
            raise SubmissionError(
                path.name, "invalid_period", report.period, sheet=report.sheet, field="Kỳ báo cáo"
            ) from exc
        if period.start > date.today():
            raise SubmissionError(
                path.name, "future_period", report.period, sheet=report.sheet, field="Kỳ báo cáo"
            )
        unit = reference.unit_on(report.unit_code, period.end)
        if unit is None:
            raise SubmissionError(path.name, "unit_not_in_period", report.unit_code, **header)
        scope |= {unit.code, *(u.code for u in reference.children(unit.code, period.end))}
        rows.extend(
            (
                cell.sheet,
                cell.row,
                cell.column,
                cell.reporting_unit_code,
                cell.reporting_unit_name,
                report.period,
                cell.indicator_code,
                cell.value,
                "",
                report.program_code,
                cell.note,
            )
            for cell in report.rows
        )
    if not rows:
        raise SubmissionError(path.name, "no_rows")
    return ExcelContent(workbook[0].unit_code, sorted(scope), rows)


def _copy_rows(cur: psycopg.Cursor, rows: list[tuple]) -> None:
    columns = ["sheet_name", "source_row", "source_column", *COLUMNS]
    with cur.copy(f"copy incoming ({', '.join(columns)}) from stdin") as copy:
        for row in rows:
            copy.write_row(row)


# --- the session's reference tables --------------------------------------------------------


def prepare_campaigns(conn: psycopg.Connection) -> None:
    """The campaign periods, which period_end_sql and period_start_sql read (once per session)."""
    if conn.execute("select to_regclass('pg_temp.ref_campaigns')").fetchone()[0]:
        return
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "create temp table ref_campaigns (period_code text primary key, start_date date,"
            " end_date date)"
        )
        cur.executemany(
            "insert into ref_campaigns values (%s, %s, %s)",
            [(c.code, c.start, c.end) for c in reference.campaign_periods()],
        )


def prepare_session(conn: psycopg.Connection) -> None:
    """Load the reference lists into temporary tables of this connection (once per session)."""
    prepare_campaigns(conn)
    if conn.execute("select to_regclass('pg_temp.ref_units')").fetchone()[0]:
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
        cur.execute(
            "create temp table ref_indicators (indicator_code text primary key,"
            " measure_unit text, allows_fraction boolean, max_value numeric)"
        )
        cur.executemany(
            "insert into ref_indicators values (%s, %s, %s, %s)",
            [
                (i.code, i.measure_unit, i.allows_fraction, i.max_value)
                for i in reference.indicators().values()
            ],
        )
        _prepare_code_names(cur)
        cur.execute(
            "create temp table ref_reasons (reason_code text primary key, message_vi text,"
            " message_en text)"
        )
        cur.executemany(
            "insert into ref_reasons values (%s, %s, %s)",
            [(code, vi, en) for code, (vi, en) in REASONS.items()],
        )
        cur.execute("analyze ref_units")
        cur.execute("analyze ref_unit_names")


def _prepare_code_names(cur: psycopg.Cursor) -> None:
    """Every name an indicator or program answers to, with the words it is matched on."""
    from nhandao import excel

    names = [
        ("indicator", ind.code, f"{ind.code} ({ind.name_vi} / {ind.name_en})", name)
        for ind in excel.indicators()
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


# --- loading one file ----------------------------------------------------------------------


def _csv_scope(cur: psycopg.Cursor) -> tuple[list[str] | None, str | None]:
    """Units a CSV's names may refer to (the districts, or from July 2025 the provinces, that its
    coded rows name, with their wards), and the submitting unit if there is exactly one."""
    cur.execute(
        """
        with

        given as (
            select distinct coded.code, periods_seen.period_end
            from (
                select distinct trim(reporting_unit_code) as code, trim(period) as period
                from incoming
                where coalesce(trim(reporting_unit_code), '') <> ''
            ) as coded
            inner join periods_seen on periods_seen.period = coded.period
            where periods_seen.period_end is not null
        ),

        scopes as (
            select distinct coded.scope_code
            from given
            inner join ref_units as coded
                on coded.code = given.code
                and given.period_end between coded.valid_from and coded.valid_to
        )

        select
            (select array_agg(distinct units.code) from ref_units as units
             where units.scope_code in (select scope_code from scopes)),
            (select case when count(*) = 1 then min(scope_code) end from scopes)
        """,
        {"period_pattern": PERIOD_PATTERN},
    )
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


def _record_rejected_file(
    conn: psycopg.Connection, path: Path, print_: Fingerprint, error: SubmissionError
) -> int:
    file_format = _format_of(path)
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


def _format_of(path: Path) -> str:
    from nhandao import narrative_ingest

    if narrative_ingest.is_narrative(path):
        return "narrative"
    suffix = path.suffix.lower()
    if suffix in EXCEL_SUFFIXES:
        return "xlsx"
    if suffix in CSV_SUFFIXES:
        return "csv"
    return suffix.lstrip(".") or "unknown"


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
    from nhandao import narrative_ingest

    try:
        if narrative_ingest.is_narrative(path):  # a report in sentences: figures to review
            result = narrative_ingest.load(conn, path, print_)
        else:
            result = _load(conn, path, print_)
    except SubmissionError as error:
        file_id = _record_rejected_file(conn, path, print_, error)
        result = IngestResult(path, "rejected", file_id=file_id, message=str(error))
    if result.status == "loaded" and result.kind == "figures":
        result = replace(result, effect=resubmission.effect(conn, result.file_id))
    if write_report and (result.status == "rejected" or result.rows_rejected):
        written = reports.write_rejection_report(conn, result.file_id, path.parent)
        result = replace(result, report_paths=tuple(written))
    return result


def _load(conn: psycopg.Connection, path: Path, print_: Fingerprint) -> IngestResult:
    file_format = _format_of(path)
    kind = "figures"
    if file_format == "csv":
        loaded = _try_bulk(conn, path, print_)
        if loaded is not None:
            return loaded
        header, delimiter = _read_csv_header(path, print_.encoding)
        kind = _check_csv_header(path, header)
        excel_content = None
    elif file_format == "xlsx":
        excel_content = _read_excel(path)
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


def _try_bulk(conn: psycopg.Connection, path: Path, print_: Fingerprint) -> IngestResult | None:
    """The bulk path for a clean UTF-8 figures CSV (nhandao.bulk_csv); None: take the SQL path."""
    from nhandao import bulk_csv

    if print_.head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    encoding = "utf-8-sig" if print_.head.startswith(codecs.BOM_UTF8) else "utf-8"
    try:
        header, delimiter = _read_csv_header(path, encoding)
    except SubmissionError:
        return None
    if header != COLUMNS or delimiter != ",":
        return None
    prepare_campaigns(conn)
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


def ingest_paths(paths: list[Path], url: str | None = None) -> list[IngestResult]:
    """Load each file in its own transaction, in the order given."""
    from nhandao import warehouse

    results = []
    with warehouse.connect(url or warehouse.warehouse_url(), autocommit=True) as conn:
        for path in paths:
            results.append(ingest_file(conn, Path(path)))
    return results
