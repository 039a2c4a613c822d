-- The scorecard: per unit, year and additive indicator, the unit's total in the map it reported
-- on: its own reported figure, or, when it reported none, the sum of the units under it (a
-- district's wards before the 2025 reform, a province's districts or communes), with the
-- qualifier carried (a sum that includes a lower
-- bound is a lower bound), the target, attainment recomputed from the sum, growth on the year
-- before, and the rank among the province's units of the same level ("first among 7
-- districts"; provinces are ranked among provinces).
--
-- Incremental by year (see macros/incremental.sql): a year whose figures or targets changed is
-- recomputed whole, and so is the year after it (its growth).

{{ incremental_by_groups(
    unique_key=['year'],
    built_from='mart_unit_year_totals',
    indexes=[{'columns': ['current_province_code', 'year']}],
) }}

with

{% if is_incremental() %}
-- a year's rows depend on that year's totals (sums of parts, ranks) and the year before's
-- (growth): the years logged since the last build and the years after them are recomputed
changed_years as (

    select year from ({{ changed_since_last_build() }}) as changed
    where year is not null

),

scored_years as (

    select year from changed_years
    union
    select year + 1 from changed_years

),
{% endif %}

yearly as (

    select * from {{ ref('mart_unit_year_totals') }}
    {% if is_incremental() %}
    where year in (select year from scored_years union select year - 1 from scored_years)
    {% endif %}

),

admin_units as (

    select * from {{ ref('dim_admin_unit') }}

),

targets as (

    select * from {{ ref('int_targets_current') }}

),

placed as (

    select
        yearly.admin_unit_id,
        yearly.year,
        yearly.indicator_code,
        yearly.total,
        yearly.qualifier,
        units.admin_unit_code,
        units.admin_level,
        units.district_code,
        units.province_code,
        units.is_current

    from yearly
    inner join admin_units as units
        on yearly.admin_unit_id = units.admin_unit_id

),

-- a unit's own figure for the year is its total (a district's report counts its wards
-- already); only when it reported none are the units under it added up
{% set own_or_sum %}
        case when bool_or(is_own) then sum(total) filter (where is_own) else sum(total) end
            as total,
        case
            when bool_or(is_own) then {{ rollup_qualifier('qualifier', 'is_own') }}
            else {{ rollup_qualifier('qualifier') }}
        end as qualifier,
        case
            when bool_or(is_own) then count(*) filter (where is_own) else count(*)
        end::integer as reporting_units,
        sum(total) filter (where not is_own) as parts_total
{% endset %}

ward_totals as (

    select
        admin_unit_code as answering_code,
        'ward' as answering_level,
        is_current,
        year,
        indicator_code,
        {{ own_or_sum }}
    from (select *, true as is_own from placed where admin_level = 'ward') as ward_parts
    group by admin_unit_code, is_current, year, indicator_code

),

district_totals as (

    select
        district_code as answering_code,
        'district' as answering_level,
        is_current,
        year,
        indicator_code,
        {{ own_or_sum }}
    from (
        select *, admin_level = 'district' as is_own
        from placed
        where district_code is not null and admin_level in ('district', 'ward')
    ) as district_parts
    group by district_code, is_current, year, indicator_code

),

province_totals as (

    select
        province_code as answering_code,
        'province' as answering_level,
        is_current,
        year,
        indicator_code,
        {{ own_or_sum }}
    from (
        select province_code, is_current, year, indicator_code, total, qualifier, true as is_own
        from placed
        where admin_level = 'province'

        union all

        select units.province_code, district_totals.is_current, district_totals.year,
            district_totals.indicator_code, district_totals.total, district_totals.qualifier,
            false
        from district_totals
        inner join admin_units as units
            on district_totals.answering_code = units.admin_unit_code
            and units.admin_level = 'district'

        union all

        select province_code, is_current, year, indicator_code, total, qualifier, false
        from placed
        where admin_level = 'ward' and district_code is null
    ) as province_parts
    group by province_code, is_current, year, indicator_code

),

rolled_up as (

    select * from ward_totals
    union all
    select * from district_totals
    union all
    select * from province_totals

),

scored as (

    select
        units.admin_unit_id,
        units.admin_unit_code,
        units.admin_unit_name,
        units.admin_level,
        units.province_code,
        coalesce(units.current_province_code, 'unknown') as current_province_code,
        rolled_up.year::integer as year,
        rolled_up.indicator_code,
        rolled_up.total,
        rolled_up.qualifier,
        rolled_up.reporting_units,
        rolled_up.parts_total,
        targets.target,
        targets.target_source,
        round(100 * rolled_up.total / nullif(targets.target, 0), 1) as attainment_pct,
        previous.total as previous_total,
        previous.qualifier as previous_qualifier,
        round(100 * (rolled_up.total - previous.total) / nullif(previous.total, 0), 1)
            as growth_pct,
        rank() over (
            partition by
                case when units.admin_level = 'province' then 'national'
                    else units.province_code end,
                units.admin_level, rolled_up.is_current, rolled_up.year,
                rolled_up.indicator_code
            order by rolled_up.total desc
        )::integer as rank_in_province,
        count(*) over (
            partition by
                case when units.admin_level = 'province' then 'national'
                    else units.province_code end,
                units.admin_level, rolled_up.is_current, rolled_up.year,
                rolled_up.indicator_code
        )::integer as units_ranked

    from rolled_up
    inner join admin_units as units
        on rolled_up.answering_code = units.admin_unit_code
        and rolled_up.answering_level = units.admin_level
        and rolled_up.is_current = units.is_current
    left join rolled_up as previous
        on rolled_up.answering_code = previous.answering_code
        and rolled_up.answering_level = previous.answering_level
        and rolled_up.is_current = previous.is_current
        and rolled_up.indicator_code = previous.indicator_code
        and rolled_up.year = previous.year + 1
    left join targets
        on rolled_up.answering_code = targets.reporting_unit_code
        and rolled_up.year = targets.year
        and rolled_up.indicator_code = targets.indicator_code

),

final as (

    select
        {{ surrogate_key(['admin_unit_id', 'year', 'indicator_code']) }} as scorecard_id,
        *
    from scored
    {% if is_incremental() %}
    where year in (select year from scored_years)
    {% endif %}

)

select * from final
