-- Discrete increments of additive figures, so that a year's total is never counted twice.
--
-- The rule: for each reporting unit, indicator, program and year, the figures are taken from
-- ONE kind of report, the first of: monthly (2024M09), quarterly (2024Q3), year-to-date
-- (2024YTD09), half-yearly (2024S1), annual (2024). A unit that sends both monthly and
-- year-to-date reports is counted from its monthly reports; the others are not added to them.
-- Year-to-date reports become increments: YTD06 covers January–June, then YTD09 − YTD06 covers
-- July–September (Q3). A cumulative total that goes down gives a negative increment, kept and
-- flagged. A difference is exact only when both totals are; otherwise it is approximate.
--
-- Incremental by unit, program and year: an increment depends on the earlier reports of its
-- year (YTD09 − YTD06) and on which kinds of report the unit sent that year, so a submission
-- logged since the last build (a new month, a resubmission or late file of an old one) has its
-- unit's program and year recomputed whole (see macros/incremental.sql).

{{ incremental_by_groups(
    unique_key=['reporting_unit_code', 'program_code', 'year'],
    built_from='int_figures_deduplicated',
) }}

with

{{ changed_cte() }}

periods as (

    select * from {{ ref('dim_period') }}

),

figures as (

    select figures.*
    from {{ ref('int_figures_deduplicated') }} as figures
    {% if is_incremental() %}
    -- a figure's year is its period's
    inner join periods
        on figures.period_code = periods.period_code
    {{ where_changed(['figures.reporting_unit_code', 'figures.program_code', 'periods.year']) }}
    {% endif %}

),

indicators as (

    select * from {{ ref('dim_indicator') }}

),

additive as (

    select
        figures.reporting_unit_code,
        figures.indicator_code,
        figures.program_code,
        figures.period_code,
        figures.value,
        figures.qualifier,
        periods.period_type,
        periods.year,
        periods.start_date,
        periods.end_date,
        periods.months_covered

    from figures
    inner join periods
        on figures.period_code = periods.period_code
    inner join indicators
        on figures.indicator_code = indicators.indicator_code
    where indicators.is_additive
        and periods.period_type in ('month', 'quarter', 'ytd', 'half', 'year')

),

ranked as (

    select
        *,
        case period_type
            when 'month' then 1
            when 'quarter' then 2
            when 'ytd' then 3
            when 'half' then 4
            when 'year' then 5
        end as source_preference

    from additive

),

preferred as (

    select
        *,
        min(source_preference) over (
            partition by reporting_unit_code, indicator_code, program_code, year
        ) as best_preference

    from ranked

),

chosen as (

    select * from preferred
    where source_preference = best_preference

),

with_previous as (

    select
        *,
        lag(value) over cumulative as previous_value,
        lag(qualifier) over cumulative as previous_qualifier,
        lag(end_date) over cumulative as previous_end_date

    from chosen
    window cumulative as (
        partition by reporting_unit_code, indicator_code, program_code, year, period_type
        order by end_date
    )

),

final as (

    select
        reporting_unit_code,
        indicator_code,
        program_code,
        year,
        period_type as source_period_type,
        period_code as source_period_code,
        case
            when period_type = 'ytd' and previous_end_date is not null
                then (previous_end_date + 1)
            else start_date
        end as start_date,
        end_date,
        case
            when period_type = 'ytd' and previous_value is not null
                then value - previous_value
            else value
        end as value,
        case
            when period_type <> 'ytd' or previous_value is null then qualifier
            when qualifier = 'exact' and previous_qualifier = 'exact' then 'exact'
            else 'approximate'
        end as qualifier,
        period_type = 'ytd' and previous_value is not null as is_derived,
        coalesce(period_type = 'ytd' and value < previous_value, false)
            as is_cumulative_decrease

    from with_previous

)

select * from final
