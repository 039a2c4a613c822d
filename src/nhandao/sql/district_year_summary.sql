-- Blood units and aid value per district and year, from the published marts: the yearly totals
-- of mart_unit_year_totals (never two kinds of report counted at once) added up per district.
-- A total that includes a "hơn" (lower-bound) figure is itself a lower bound. Districts were
-- abolished on 1 July 2025: later figures have no district and are not shown here.
with

totals as (

    select
        units.district_code,
        yearly.year,
        yearly.indicator_code,
        sum(yearly.total) as total,
        case
            when bool_or(yearly.qualifier = 'approximate') then 'approximate'
            when bool_or(yearly.qualifier = 'lower_bound') then 'lower_bound'
            else 'exact'
        end as qualifier
    from marts.mart_unit_year_totals as yearly
    inner join marts.dim_admin_unit as units on yearly.admin_unit_id = units.admin_unit_id
    where yearly.indicator_code in ('blood_units', 'aid_value_vnd')
        and units.district_code is not null
    group by units.district_code, yearly.year, yearly.indicator_code

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
