-- A figure given twice in one file: every occurrence after the first is a problem.
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
