-- Targets and attainment: per unit, year and indicator with a target, the attainment recomputed
-- from the sum of figures (never from summed percentages), and the attainment the unit itself
-- stated (indicator target_attainment_pct for the year, about the indicator its note names, or
-- about its only target) flagged when it differs by more than 2 percentage points.

{{ config(indexes=[{'columns': ['current_province_code', 'year']}]) }}

with

scorecard as (

    select * from {{ ref('mart_unit_scorecard') }}
    where target is not null

),

figures as (

    select * from {{ ref('int_figures_deduplicated') }}

),

targets_per_unit as (

    select admin_unit_code, year, count(*) as targeted_indicators
    from scorecard
    group by admin_unit_code, year

),

-- the units' own yearly figures, looked up by unit and year (an index), not read whole; computed
-- once (materialized), not again for every row of the scorecard as the planner otherwise chose
stated as materialized (

    select
        figures.reporting_unit_code,
        targets_per_unit.year,
        nullif(trim(figures.note), '') as about_indicator,
        figures.value as stated_attainment_pct

    from targets_per_unit
    inner join figures
        on targets_per_unit.admin_unit_code = figures.reporting_unit_code
        and targets_per_unit.year::text = figures.period_code
    where figures.indicator_code = 'target_attainment_pct'

),

final as (

    select
        scorecard.scorecard_id as target_attainment_id,
        scorecard.admin_unit_id,
        scorecard.admin_unit_code,
        scorecard.admin_unit_name,
        scorecard.admin_level,
        scorecard.current_province_code,
        scorecard.year,
        scorecard.indicator_code,
        scorecard.target,
        scorecard.target_source,
        scorecard.total as actual,
        scorecard.qualifier as actual_qualifier,
        scorecard.attainment_pct,
        stated.stated_attainment_pct,
        coalesce(abs(stated.stated_attainment_pct - scorecard.attainment_pct) > 2, false)
            as is_stated_attainment_off

    from scorecard
    inner join targets_per_unit
        on scorecard.admin_unit_code = targets_per_unit.admin_unit_code
        and scorecard.year = targets_per_unit.year
    left join stated
        on scorecard.admin_unit_code = stated.reporting_unit_code
        and scorecard.year = stated.year
        and (
            stated.about_indicator = scorecard.indicator_code
            or (stated.about_indicator is null and targets_per_unit.targeted_indicators = 1)
        )

)

select * from final
