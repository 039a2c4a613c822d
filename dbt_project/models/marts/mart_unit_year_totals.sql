-- Totals per reporting unit, year, indicator and program, added up from discrete increments
-- (see int_figure_increments: one kind of report per unit and year, never counted twice). The
-- qualifier of a total carries its parts': a sum that includes a lower bound is a lower bound.
--
-- Incremental by unit, program and year, like int_figure_increments (see macros/incremental.sql).

{{ incremental_by_groups(
    unique_key=['admin_unit_code', 'program_code', 'year'],
    built_from='int_figure_increments',
    indexes=[{'columns': ['year']}, {'columns': ['current_province_code', 'year']}],
) }}

with

{{ changed_cte() }}

increments as (

    select * from {{ ref('int_figure_increments') }}
    {{ where_changed() }}

),

admin_units as (

    select * from {{ ref('dim_admin_unit') }}

),

yearly as (

    select
        reporting_unit_code,
        year,
        indicator_code,
        program_code,
        sum(value) as total,
        {{ rollup_qualifier('qualifier') }} as qualifier,
        min(source_period_type) as source_period_type,
        count(*)::integer as increments,
        min(start_date) as covered_from,
        max(end_date) as covered_through,
        bool_or(is_cumulative_decrease) as has_cumulative_decrease

    from increments
    group by reporting_unit_code, year, indicator_code, program_code

),

final as (

    select
        {{ surrogate_key(['yearly.reporting_unit_code', 'yearly.year',
                          'yearly.indicator_code', 'yearly.program_code']) }}
            as unit_year_total_id,
        coalesce(admin_units.admin_unit_id, 'unknown') as admin_unit_id,
        yearly.reporting_unit_code as admin_unit_code,
        admin_units.current_admin_unit_id,
        coalesce(admin_units.current_province_code, 'unknown') as current_province_code,
        coalesce(admin_units.is_split, false) as is_allocated,
        yearly.year::integer as year,
        yearly.indicator_code,
        yearly.program_code,
        yearly.total,
        yearly.qualifier,
        yearly.source_period_type,
        yearly.increments,
        yearly.covered_from,
        yearly.covered_through,
        (extract(year from age(yearly.covered_through + 1, yearly.covered_from)) * 12
            + extract(month from age(yearly.covered_through + 1, yearly.covered_from)))::integer
            as months_covered,
        yearly.has_cumulative_decrease

    from yearly
    left join admin_units
        on yearly.reporting_unit_code = admin_units.admin_unit_code
        and {{ valid_on('admin_units', 'yearly.covered_through') }}

)

select * from final
