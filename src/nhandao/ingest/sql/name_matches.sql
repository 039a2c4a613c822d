-- Unit names given without a code (their own names or older ones), matched once per distinct name
-- and period among the units of the file's scope that existed on the period's last day.
create temp table name_matches on commit drop as
select
    keys.name_key,
    keys.period_end,
    count(distinct units.code) as match_count,
    min(units.code) as code,
    string_agg(distinct units.code || ' ' || units.name, '; ') as candidates
from (
    select distinct named.name_key, periods_seen.period_end
    from (
        select distinct raw.unit_name_key(trim(reporting_unit_name)) as name_key,
            trim(period) as period
        from incoming
        where coalesce(trim(reporting_unit_code), '') = ''
            and coalesce(trim(reporting_unit_name), '') <> ''
    ) as named
    inner join periods_seen on periods_seen.period = named.period
) as keys
inner join ref_unit_names as names
    on names.compact_key = replace(keys.name_key, ' ', '')
    and keys.period_end between names.valid_from and names.valid_to
inner join ref_units as units
    on units.code = names.code
    and units.valid_from = names.valid_from
where units.code = any(%(scope)s) or %(scope)s is null
group by keys.name_key, keys.period_end
