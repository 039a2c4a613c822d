-- Blood units and aid value per district and year, from the published marts. Monthly figures
-- are added up; a total that includes a "hơn" (lower-bound) figure is itself a lower bound.
with

blood as (

    select
        units.district_code,
        periods.year,
        sum(facts.value) as blood_units,
        {rollup_blood}
    from marts.fct_blood_units as facts
    inner join marts.dim_admin_unit as units on facts.admin_unit_code = units.admin_unit_code
    inner join marts.dim_period as periods on facts.period_code = periods.period_code
    where facts.indicator_code = 'blood_units' and periods.period_type = 'month'
    group by units.district_code, periods.year

),

aid as (

    select
        units.district_code,
        periods.year,
        sum(facts.value) as aid_value_vnd,
        {rollup_aid}
    from marts.fct_aid_value as facts
    inner join marts.dim_admin_unit as units on facts.admin_unit_code = units.admin_unit_code
    inner join marts.dim_period as periods on facts.period_code = periods.period_code
    where facts.indicator_code = 'aid_value_vnd' and periods.period_type = 'month'
    group by units.district_code, periods.year

)

select
    districts.admin_unit_code as district_code,
    districts.admin_unit_name as district_name,
    coalesce(blood.year, aid.year) as year,
    blood.blood_units,
    blood.blood_units_qualifier,
    aid.aid_value_vnd,
    aid.aid_value_qualifier
from blood
full outer join aid
    on blood.district_code = aid.district_code and blood.year = aid.year
inner join marts.dim_admin_unit as districts
    on districts.admin_unit_code = coalesce(blood.district_code, aid.district_code)
order by district_code, year
