-- Blood units and aid value per district and year, from the published marts. Monthly figures
-- are added up; a total that includes a "hơn" (lower-bound) figure is itself a lower bound.
-- Districts were abolished on 1 July 2025: later figures have no district and are not shown.
with

figures as (

    select admin_unit_id, period_code, indicator_code, value, qualifier
    from marts.fct_blood_units
    where indicator_code = 'blood_units'

    union all

    select admin_unit_id, period_code, indicator_code, value, qualifier
    from marts.fct_aid_value
    where indicator_code = 'aid_value_vnd'

),

totals as (

    select
        units.district_code,
        periods.year,
        figures.indicator_code,
        sum(figures.value) as total,
        case
            when bool_or(figures.qualifier = 'approximate') then 'approximate'
            when bool_or(figures.qualifier = 'lower_bound') then 'lower_bound'
            else 'exact'
        end as qualifier
    from figures
    inner join marts.dim_admin_unit as units on figures.admin_unit_id = units.admin_unit_id
    inner join marts.dim_period as periods on figures.period_code = periods.period_code
    where periods.period_type = 'month' and units.district_code is not null
    group by units.district_code, periods.year, figures.indicator_code

)

select
    districts.admin_unit_code as district_code,
    districts.admin_unit_name as district_name,
    totals.year,
    max(totals.total) filter (where totals.indicator_code = 'blood_units') as blood_units,
    max(totals.qualifier) filter (where totals.indicator_code = 'blood_units')
        as blood_units_qualifier,
    max(totals.total) filter (where totals.indicator_code = 'aid_value_vnd') as aid_value_vnd,
    max(totals.qualifier) filter (where totals.indicator_code = 'aid_value_vnd')
        as aid_value_qualifier
from totals
inner join marts.dim_admin_unit as districts
    on totals.district_code = districts.admin_unit_code and districts.admin_level = 'district'
group by districts.admin_unit_code, districts.admin_unit_name, totals.year
order by districts.admin_unit_code, totals.year
