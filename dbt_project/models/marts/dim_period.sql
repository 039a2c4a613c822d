-- Every reporting period from 2015 to 2035: years, halves, quarters, months, year-to-date
-- (January to the named month), and the campaigns of the reporting calendar (2024TET, the Tết
-- campaign; 2024NHANDAO, Humanitarian Month; 2024HTD, the Hành trình đỏ blood drives). Period
-- codes are those submissions use.

with

calendar as (

    select * from {{ ref('reporting_calendar') }}

),

years as (

    select generate_series(2015, 2035) as year

),

halves as (

    select year, half from years cross join generate_series(1, 2) as half

),

quarters as (

    select year, quarter from years cross join generate_series(1, 4) as quarter

),

months as (

    select year, month from years cross join generate_series(1, 12) as month

),

periods as (

    select
        year::text as period_code,
        'year' as period_type,
        year,
        make_date(year, 1, 1) as start_date,
        12 as months_covered
    from years

    union all

    select
        year::text || 'S' || half::text,
        'half',
        year,
        make_date(year, 6 * half - 5, 1),
        6
    from halves

    union all

    select
        year::text || 'Q' || quarter::text,
        'quarter',
        year,
        make_date(year, 3 * quarter - 2, 1),
        3
    from quarters

    union all

    select
        year::text || 'M' || lpad(month::text, 2, '0'),
        'month',
        year,
        make_date(year, month, 1),
        1
    from months

    union all

    select
        year::text || 'YTD' || lpad(month::text, 2, '0'),
        'ytd',
        year,
        make_date(year, 1, 1),
        month
    from months

),

dated as (

    select
        period_code,
        period_type,
        year,
        start_date,
        (start_date + make_interval(months => months_covered) - interval '1 day')::date
            as end_date,
        months_covered,
        period_type = 'ytd' as is_cumulative

    from periods

),

campaigns as (

    select
        period_code,
        'campaign' as period_type,
        left(period_code, 4)::integer as year,
        start_date::date as start_date,
        end_date::date as end_date,
        null::integer as months_covered,
        false as is_cumulative

    from calendar

),

unknown_member as (

    select
        'unknown' as period_code,
        'unknown' as period_type,
        null::integer as year,
        null::date as start_date,
        null::date as end_date,
        null::integer as months_covered,
        false as is_cumulative

),

final as (

    select * from dated
    union all
    select * from campaigns
    union all
    select * from unknown_member

)

select * from final
