-- One pass over the file's rows: read every field, resolve the unit, read the value the
-- Vietnamese way (only where it is not a plain number), and list the row's problems.
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
            when opening[2] ~ '^({{ lower_bound_words }})$' then 'lower_bound'
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
            '^(?:({{ attainment_words }})\s+)?(?:({{ lower_bound_words }}|{{ approximate_words }})\s+)?'
            '(?:({{ attainment_words }})\s+)?(.*)$'
        ) as opening
    ) as openings

),

scaled as (

    select
        qualified.*,
        case
            {{ scale_cases }}
            else 1
        end as scale,
        amount ~ '({{ currency }})$' as has_currency,
        amount ~ '^[0-9][^/]*/\s*\S' as is_rate,
        amount ~ '{{ percent }}' as has_percent,
        case when verb is distinct from 'vượt' or amount ~ '{{ percent }}' then
            regexp_replace(regexp_replace(amount, '{{ percent }}', ''), '{{ suffix_pattern }}', '')
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
            when digits ~ '^[0-9]{1,3}(\.[0-9]{3})+(,[0-9]+)?$'
                then replace(replace(digits, '.', ''), ',', '.')::numeric * scale
            when digits ~ '^[0-9]{1,3}( [0-9]{3})+(,[0-9]+)?$'
                then replace(replace(digits, ' ', ''), ',', '.')::numeric * scale
            when digits ~ '^[0-9]+(,[0-9]+)?$'
                then replace(digits, ',', '.')::numeric * scale
            when digits ~ '^[0-9]+\.[0-9]+$' and allows_fraction
                then digits::numeric * scale
        end + case when verb = 'vượt' then 100 else 0 end as number,
        digits ~ '^-\s*[0-9]' as is_negative,
        digits ~ '^[0-9]+\.[0-9]+$' and not allows_fraction
            and digits !~ '^[0-9]{1,3}\.[0-9]{3}$' as is_ambiguous
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
    {{ problem_checks }} as problem_codes
from numbers
