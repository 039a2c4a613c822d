-- Which unit owes which report by which date (seeds/reporting_obligations.csv): before the 2025
-- reform every district with wards owed a monthly report, from 1 July 2025 every commune, ward
-- and special zone does, due a number of days after the month ends. A unit owes a report only
-- for periods it existed at the end of, and only in provinces that report through nhandao, from
-- the first period they reported; periods not yet over are not expected.

with

obligations as (

    select * from {{ ref('reporting_obligations') }}

),

-- not materialized: read in place, so the planner joins the map through its real size and
-- indexes (as a materialized CTE it crossed every period with every unit: 3.5 million rows)
admin_units as not materialized (

    select * from {{ ref('dim_admin_unit') }}
    where admin_unit_id <> 'unknown'

),

periods as not materialized (

    select * from {{ ref('dim_period') }}

),

-- the units and periods with figures: one row each, not one per figure (this is read whole by
-- every build, so it must stay cheap)
reported as (

    select reporting_unit_code, period_code
    from {{ ref('int_figures_deduplicated') }}
    group by reporting_unit_code, period_code

),

districts_with_wards as (

    select distinct parent_code as admin_unit_code
    from admin_units
    where admin_level = 'ward' and not is_current

),

reported_units as (

    select
        admin_units.province_code,
        admin_units.current_province_code,
        admin_units.is_current,
        periods.start_date

    from reported
    inner join periods
        on reported.period_code = periods.period_code
    inner join admin_units
        on reported.reporting_unit_code = admin_units.admin_unit_code
        and {{ valid_on('admin_units', 'periods.end_date') }}

),

-- before the reform a province reports if its own units did; after it, a new province reports
-- if units that now lie in it did, on either map
reporting_provinces as (

    select false as is_current, province_code, min(start_date) as first_reported_on
    from reported_units
    where not is_current
    group by province_code

    union all

    select true, current_province_code, min(start_date)
    from reported_units
    group by current_province_code

),

final as (

    select
        obligations.obligation_code,
        admin_units.admin_unit_id,
        admin_units.admin_unit_code,
        admin_units.admin_unit_name,
        admin_units.province_code,
        admin_units.current_province_code,
        periods.period_code,
        periods.start_date as period_start_date,
        periods.end_date as period_end_date,
        periods.end_date + obligations.due_days_after_period_end as due_date

    from obligations
    inner join periods
        on periods.period_type = obligations.period_type
        and {{ valid_on('obligations', 'periods.end_date') }}
    inner join admin_units
        on admin_units.admin_level = obligations.admin_level
        and admin_units.is_current = (obligations.map = '2025')
        and {{ valid_on('admin_units', 'periods.end_date') }}
    inner join reporting_provinces
        on admin_units.is_current = reporting_provinces.is_current
        and admin_units.province_code = reporting_provinces.province_code
        and periods.start_date >= reporting_provinces.first_reported_on
    where periods.end_date < current_date
        and (
            obligations.admin_level <> 'district'
            or admin_units.admin_unit_code in (select admin_unit_code from districts_with_wards)
        )

)

select * from final
