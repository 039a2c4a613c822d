-- The periods a file names, each read once (a file of a million rows names a handful).
create temp table periods_seen on commit drop as
select
    period,
    period_valid,
    case when period_valid then {{ period_end }} end as period_end,
    case when period_valid then {{ period_start }} end as period_start
from (
    select period, coalesce(period ~ %(period_pattern)s, false) as period_valid
    from (select distinct trim(period) as period from incoming) as distinct_periods
) as periods
