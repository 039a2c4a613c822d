-- The units a CSV's names may refer to (the districts, or from July 2025 the provinces, that
-- its coded rows name, with their wards), and the submitting unit if there is exactly one.
with

given as (
    select distinct coded.code, periods_seen.period_end
    from (
        select distinct trim(reporting_unit_code) as code, trim(period) as period
        from incoming
        where coalesce(trim(reporting_unit_code), '') <> ''
    ) as coded
    inner join periods_seen on periods_seen.period = coded.period
    where periods_seen.period_end is not null
),

scopes as (
    select distinct coded.scope_code
    from given
    inner join ref_units as coded
        on coded.code = given.code
        and given.period_end between coded.valid_from and coded.valid_to
)

select
    (select array_agg(distinct units.code) from ref_units as units
     where units.scope_code in (select scope_code from scopes)),
    (select case when count(*) = 1 then min(scope_code) end from scopes)
