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
