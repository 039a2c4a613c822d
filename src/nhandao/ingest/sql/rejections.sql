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
