-- The problems listed in each row's problem_codes ('reason/column'), with the value seen.
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
